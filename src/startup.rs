//! Start-up: connect and migrate, bind the listener (so tests can use port 0), then run the
//! HTTP server and the processor side by side until a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::alerts::channels::{Channels, SmtpSecurity, SmtpSettings};
use crate::alerts::dispatcher::Dispatcher;
use crate::alerts::links::LinkSigner;
use crate::config::Settings;
use crate::db::Db;
use crate::directory::accounts::MonitoredAccounts;
use crate::enrichment::worker::{Enricher, SilenceCheck};
use crate::enrichment::ReconciliationTiming;
use crate::evaluation::Evaluator;
use crate::inbox::writer::InboxWriter;
use crate::policy::calendar::BankHolidays;
use crate::processor::Processor;
use crate::retry::{RetryPolicy, PLATFORM_RETRY_AFTER_CAP};
use crate::state::AppState;
use crate::telemetry::metrics::Metrics;
use crate::zoom::api::{ZoomApi, ZoomApiSettings};
use crate::zoom::enrich::ZoomFetcher;
use crate::{acknowledge, api, ops, webhooks};

/// The whole HTTP surface: webhooks, the admin API and the operations endpoints.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.settings.server.max_body_bytes;
    Router::new()
        .merge(webhooks::router())
        .merge(api::router(state.clone()))
        .merge(ops::router())
        .merge(acknowledge::router())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

pub struct Application {
    listener: Option<TcpListener>,
    state: AppState,
    writer_task: JoinHandle<()>,
    wake_processor: Arc<Notify>,
    wake_evaluator: Arc<Notify>,
    wake_dispatcher: Arc<Notify>,
    wake_enricher: Arc<Notify>,
    bank_holidays: Arc<BankHolidays>,
    channels: Arc<Channels>,
    zoom: Arc<ZoomFetcher>,
}

impl Application {
    /// Connects to the database, applies pending migrations and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = Db::connect(&settings.database)
            .await
            .context("failed to open the database")?;
        db.migrate()
            .await
            .context("failed to migrate the database")?;
        crate::directory::fill_missing_name_keys(&db)
            .await
            .context("failed to fold the directory's names")?;
        let listener = if settings.server.api_enabled {
            Some(
                TcpListener::bind(settings.server.bind)
                    .await
                    .with_context(|| {
                        format!(
                            "failed to listen on {} (CHAPERONE__SERVER__BIND)",
                            settings.server.bind
                        )
                    })?,
            )
        } else {
            None
        };
        let bank_holidays = Arc::new(load_bank_holidays(&settings)?);
        let http = reqwest::Client::builder()
            .timeout(settings.alerts.http_timeout)
            .build()
            .context("failed to build the HTTP client")?;
        let channels = Channels::new(http.clone(), smtp_settings(&settings))
            .context("failed to set up the alert channels")?;
        let zoom_settings = &settings.zoom;
        let zoom_api = ZoomApi::new(
            http.clone(),
            ZoomApiSettings {
                api_base_url: zoom_settings.api_base_url.clone(),
                oauth_token_url: zoom_settings.oauth_token_url.clone(),
                requests_per_second: zoom_settings.api_requests_per_second,
                concurrency: zoom_settings.api_concurrency,
            },
        );
        let zoom = Arc::new(ZoomFetcher::new(zoom_api, db.clone()));
        let wake_processor = Arc::new(Notify::new());
        let (inbox, writer_task) =
            InboxWriter::spawn(db.clone(), settings.inbox.max_batch, wake_processor.clone());
        let state = AppState {
            accounts: MonitoredAccounts::new(db.clone()),
            links: LinkSigner::new(&settings.api.admin_token),
            db,
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            inbox,
        };
        Ok(Application {
            listener,
            state,
            writer_task,
            wake_processor,
            wake_evaluator: Arc::new(Notify::new()),
            wake_dispatcher: Arc::new(Notify::new()),
            wake_enricher: Arc::new(Notify::new()),
            bank_holidays,
            channels: Arc::new(channels),
            zoom,
        })
    }

    /// The port actually bound (useful with port 0), if the API is enabled.
    pub fn port(&self) -> Option<u16> {
        self.listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .map(|address| address.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A processor over this application's database, for tests and tools that drain it.
    pub fn processor(&self) -> Processor {
        let enrichment = &self.state.settings.enrichment;
        Processor::new(
            self.state.db.clone(),
            self.state.metrics.clone(),
            self.state.settings.processor.max_attempts,
            self.wake_evaluator.clone(),
            self.wake_enricher.clone(),
            ReconciliationTiming {
                first_after: chrono::Duration::from_std(enrichment.reconcile_after)
                    .unwrap_or_default(),
                give_up_after: chrono::Duration::from_std(enrichment.reconcile_deadline)
                    .unwrap_or_default(),
            },
        )
    }

    /// The platform API worker, for tests and tools that drain it.
    pub fn enricher(&self) -> Enricher {
        let settings = &self.state.settings.enrichment;
        Enricher::new(
            self.state.db.clone(),
            self.zoom.clone(),
            RetryPolicy {
                base_delay: settings.retry_base,
                max_delay: settings.retry_max_delay,
                max_attempts: settings.max_attempts,
                max_retry_after: PLATFORM_RETRY_AFTER_CAP,
            },
            self.state.metrics.clone(),
            self.bank_holidays.clone(),
            SilenceCheck {
                every: settings.silence_check_interval,
                silent_after: settings.silence_after,
            },
            self.wake_evaluator.clone(),
            self.wake_dispatcher.clone(),
        )
    }

    /// The policy evaluation worker, for tests and tools that drain it.
    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(
            self.state.db.clone(),
            self.bank_holidays.clone(),
            self.wake_dispatcher.clone(),
        )
    }

    /// The alert dispatcher, for tests and tools that drain it.
    pub fn dispatcher(&self) -> Dispatcher {
        let settings = &self.state.settings;
        Dispatcher::new(
            self.state.db.clone(),
            self.channels.clone(),
            self.state.links.clone(),
            settings.server.public_url.clone(),
            RetryPolicy {
                base_delay: settings.alerts.retry_base,
                max_delay: settings.alerts.retry_max_delay,
                max_attempts: settings.alerts.max_attempts,
                max_retry_after: settings.alerts.max_retry_after,
            },
            self.state.metrics.clone(),
        )
    }

    /// Serves and processes until `shutdown` completes, then finishes in-flight requests and
    /// the current event within the configured grace period.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let settings = self.state.settings.clone();
        let processor = self.processor();
        let evaluator = self.evaluator();
        let dispatcher = self.dispatcher();
        let enricher = self.enricher();
        let (stop_sender, stop) = watch::channel(false);

        let mut workers = Vec::new();
        if settings.server.worker_enabled {
            let retention =
                std::time::Duration::from_secs(settings.inbox.retention_days * 24 * 3600);
            workers.push(tokio::spawn(processor.run(
                self.wake_processor.clone(),
                settings.processor.poll_interval,
                retention,
                stop.clone(),
            )));
            workers.push(tokio::spawn(evaluator.run(
                self.wake_evaluator.clone(),
                settings.evaluation.poll_interval,
                stop.clone(),
            )));
            workers.push(tokio::spawn(dispatcher.run(
                self.wake_dispatcher.clone(),
                settings.alerts.poll_interval,
                stop.clone(),
            )));
            workers.push(tokio::spawn(enricher.run(
                self.wake_enricher.clone(),
                settings.enrichment.poll_interval,
                stop.clone(),
            )));
        }

        match self.listener {
            Some(listener) => {
                if let Ok(address) = listener.local_addr() {
                    tracing::info!(%address, "listening");
                }
                axum::serve(listener, router(self.state))
                    .with_graceful_shutdown(shutdown)
                    .await
                    .context("the HTTP server failed")?;
            }
            None => {
                drop(self.state);
                shutdown.await;
            }
        }
        tracing::info!("shutting down");
        let _ = stop_sender.send(true);
        let finish = async {
            for worker in workers {
                let _ = worker.await;
            }
            let _ = self.writer_task.await;
        };
        if tokio::time::timeout(settings.server.shutdown_grace, finish)
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period ended with work still running");
        }
        Ok(())
    }
}

fn load_bank_holidays(settings: &Settings) -> anyhow::Result<BankHolidays> {
    let path = settings.evaluation.bank_holidays_file.trim();
    if path.is_empty() {
        return Ok(BankHolidays::shipped());
    }
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the bank holidays file {path} (CHAPERONE__EVALUATION__BANK_HOLIDAYS_FILE)"
        )
    })?;
    BankHolidays::from_toml(&text)
        .with_context(|| format!("the bank holidays file {path} is not valid"))
}

/// The mail relay for email alerts, if one is configured.
fn smtp_settings(settings: &Settings) -> Option<SmtpSettings> {
    let smtp = &settings.smtp;
    if smtp.host.trim().is_empty() {
        return None;
    }
    Some(SmtpSettings {
        host: smtp.host.clone(),
        port: smtp.port,
        security: match smtp.security.as_str() {
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            _ => SmtpSecurity::StartTls,
        },
        username: (!smtp.username.is_empty()).then(|| smtp.username.clone()),
        password: (!smtp.password.is_empty()).then(|| smtp.password.clone()),
        from: smtp.from.clone(),
        timeout: smtp.timeout,
    })
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
