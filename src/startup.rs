//! Start-up: connect and migrate, bind the listener (so tests can use port 0), then run the
//! HTTP server and the supervised roles (inbox writer, workers) side by side until a shutdown
//! signal, or until a role has panicked too often.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::alerts::channels::{Channels, SmtpSecurity, SmtpSettings};
use crate::alerts::dispatcher::Dispatcher;
use crate::alerts::links::LinkSigner;
use crate::config::Settings;
use crate::connections::{self, Connections};
use crate::db::Db;
use crate::directory::accounts::MonitoredAccounts;
use crate::enrichment::platform::Platforms;
use crate::enrichment::worker::{Enricher, EnrichmentTuning};
use crate::enrichment::ReconciliationTiming;
use crate::evaluation::Evaluator;
use crate::google::api::{GoogleApi, GoogleApiSettings};
use crate::google::fetcher::GoogleFetcher;
use crate::google::push_token::GoogleKeys;
use crate::inbox::writer::{InboxWriter, WriterLoop};
use crate::ledger::{HeadSigner, Keeper};
use crate::policy::calendar::BankHolidays;
use crate::processor::Processor;
use crate::retry::{RetryPolicy, PLATFORM_RETRY_AFTER_CAP};
use crate::secrets::{load_keys, KeyOrigin, SecretKeys};
use crate::state::AppState;
use crate::supervision::{RestartPolicy, Role, Roles, Supervisor};
use crate::telemetry::metrics::Metrics;
use crate::worker::{Cadence, Wakeups, Worker};
use crate::zoom::api::{ZoomApi, ZoomApiSettings};
use crate::zoom::enrich::ZoomFetcher;
use crate::{http, timers, worker};

pub struct Application {
    listener: Option<TcpListener>,
    state: AppState,
    writer: WriterLoop,
    wakeups: Wakeups,
    bank_holidays: Arc<BankHolidays>,
    channels: Arc<Channels>,
    platforms: Platforms,
}

impl Application {
    /// Connects to the database, applies pending migrations and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let (db, secrets) = open_database(&settings).await?;
        let links = LinkSigner::load_or_create(&db, &secrets)
            .await
            .context("failed to load the link-signing key")?;
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
        let google_api = GoogleApi::new(http.clone(), GoogleApiSettings::from(&settings.google));
        let platforms = Platforms::default()
            .with(Arc::new(ZoomFetcher::new(
                zoom_api,
                db.clone(),
                secrets.clone(),
            )))
            .with(Arc::new(GoogleFetcher::new(
                google_api,
                db.clone(),
                secrets.clone(),
            )));
        let wakeups = Wakeups::default();
        let (inbox, writer) = InboxWriter::new(
            db.clone(),
            settings.inbox.max_batch,
            wakeups.inbox_committed.clone(),
        );
        let roles = Roles::new(settings.supervision.heartbeat_stale_after);
        let google_keys = GoogleKeys::new(
            http.clone(),
            settings.google.keys_url.clone(),
            settings.google.keys_min_refresh,
        );
        let head_signer = Arc::new(HeadSigner::new(&secrets));
        let state = AppState {
            head_signer,
            google_keys,
            accounts: MonitoredAccounts::new(db.clone()),
            connections: Connections::new(
                db.clone(),
                secrets.clone(),
                settings.server.connection_cache,
            ),
            secrets,
            links,
            db,
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            inbox,
            roles,
            bank_holidays: bank_holidays.clone(),
        };
        Ok(Application {
            listener,
            state,
            writer,
            wakeups,
            bank_holidays,
            channels: Arc::new(channels),
            platforms,
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
            self.wakeups.clone(),
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
            self.platforms.clone(),
            EnrichmentTuning {
                retry: RetryPolicy {
                    base_delay: settings.retry_base,
                    max_delay: settings.retry_max_delay,
                    max_attempts: settings.max_attempts,
                    max_retry_after: PLATFORM_RETRY_AFTER_CAP,
                },
                silent_after: settings.silence_after,
            },
            self.state.metrics.clone(),
            self.bank_holidays.clone(),
            self.wakeups.clone(),
        )
    }

    /// The ledger keeper, for tests and tools that drain it.
    pub fn ledger_keeper(&self) -> Keeper {
        Keeper::new(self.state.db.clone(), self.state.head_signer.clone())
    }

    /// The policy evaluation worker, for tests and tools that drain it.
    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(
            self.state.db.clone(),
            self.bank_holidays.clone(),
            self.wakeups.clone(),
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
    /// the current event within the configured grace period. Ends with an error naming the
    /// role if one panicked more often than `supervision` allows (after the same graceful
    /// stop of everything else).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let settings = self.state.settings.clone();
        let (stop_sender, stop) = watch::channel(false);
        let stop_sender = Arc::new(stop_sender);
        let (failure_sender, mut failures) = mpsc::unbounded_channel();
        let supervisor = Supervisor {
            roles: self.state.roles.clone(),
            metrics: self.state.metrics.clone(),
            policy: RestartPolicy::from_settings(&settings.supervision),
            shutdown: stop.clone(),
            failures: failure_sender,
        };
        let roles = self.start_roles(&supervisor, &stop);
        // Dropped so that `failures` closes once every role has ended.
        drop(supervisor);

        // Stops everything on the signal, or when a role has to be given up on.
        let stopping = tokio::spawn({
            let stop_sender = stop_sender.clone();
            async move {
                let failure = tokio::select! {
                    _ = shutdown => None,
                    Some(failure) = failures.recv() => Some(failure),
                };
                let _ = stop_sender.send(true);
                failure
            }
        });
        let served = match self.listener {
            Some(listener) => {
                if let Ok(address) = listener.local_addr() {
                    tracing::info!(%address, "listening");
                }
                let header_read_timeout = self.state.settings.server.header_read_timeout;
                http::serve::serve(
                    listener,
                    http::router(self.state),
                    header_read_timeout,
                    stopped(stop.clone()),
                )
                .await;
                Ok(())
            }
            None => {
                drop(self.state);
                stopped(stop.clone()).await;
                Ok(())
            }
        };
        tracing::info!("shutting down");
        let _ = stop_sender.send(true);
        // Already finished unless the server failed first.
        stopping.abort();
        let failure = stopping.await.ok().flatten();
        let finish = async {
            for role in roles {
                let _ = role.await;
            }
        };
        if tokio::time::timeout(settings.server.shutdown_grace, finish)
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period ended with work still running");
        }
        match failure {
            Some(failure) => Err(failure.into()),
            None => served,
        }
    }

    /// Starts the inbox writer (with the API) and the workers (if enabled) under supervision.
    fn start_roles(
        &self,
        supervisor: &Supervisor,
        stop: &watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let settings = &self.state.settings;
        let mut roles = Vec::new();
        if self.listener.is_some() {
            let writer = self.writer.clone();
            roles.push(supervisor.start(Role::InboxWriter, move |heartbeat| writer.run(heartbeat)));
        }
        if !settings.server.worker_enabled {
            return roles;
        }
        let processor = self.processor();
        roles.push(self.start_worker(
            supervisor,
            processor,
            settings.processor.poll_interval,
            stop,
        ));
        let evaluator = self.evaluator();
        roles.push(self.start_worker(
            supervisor,
            evaluator,
            settings.evaluation.poll_interval,
            stop,
        ));
        let dispatcher = self.dispatcher();
        roles.push(self.start_worker(supervisor, dispatcher, settings.alerts.poll_interval, stop));
        let enricher = self.enricher();
        roles.push(self.start_worker(
            supervisor,
            enricher,
            settings.enrichment.poll_interval,
            stop,
        ));
        let keeper = self.ledger_keeper();
        roles.push(self.start_worker(supervisor, keeper, LEDGER_POLL_INTERVAL, stop));
        roles
    }

    /// Starts `worker` under supervision, with its poll interval and its timers.
    fn start_worker<W: Worker + Clone>(
        &self,
        supervisor: &Supervisor,
        worker: W,
        poll_interval: std::time::Duration,
        stop: &watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let cadence = Arc::new(Cadence {
            poll_interval,
            timers: timers::of(W::ROLE, &self.state.settings),
        });
        let (wakeups, stop) = (self.wakeups.clone(), stop.clone());
        supervisor.start(W::ROLE, move |heartbeat| {
            let (worker, wakeups, cadence, stop) = (
                worker.clone(),
                wakeups.clone(),
                cadence.clone(),
                stop.clone(),
            );
            async move { worker::run(&worker, heartbeat, &wakeups, &cadence, stop).await }
        })
    }
}

/// The ledger keeper looks for noted records this often when nothing wakes it: chaining a
/// second late costs nothing, and batches more records per transaction.
const LEDGER_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Connects, migrates, and brings rows made by earlier releases up to date: folded names,
/// an endpoint for every connection, plain-text secrets sealed. Refuses to go on when stored
/// secrets were sealed with a key this instance does not hold.
pub async fn open_database(settings: &Settings) -> anyhow::Result<(Db, Arc<SecretKeys>)> {
    let (keys, origin) = load_keys(&settings.secrets, settings.database.url.expose())
        .context("failed to load the secrets key")?;
    match origin {
        KeyOrigin::Generated(path) => tracing::warn!(
            path = %path.display(),
            key_id = keys.current_key_id(),
            "made a new secrets key: back it up with the database (stored secrets cannot be read without it)"
        ),
        KeyOrigin::File(_) | KeyOrigin::Environment => {
            tracing::debug!(key_id = keys.current_key_id(), "secrets key loaded")
        }
    }
    let db = Db::connect(&settings.database)
        .await
        .context("failed to open the database")?;
    db.migrate()
        .await
        .context("failed to migrate the database")?;
    crate::directory::fill_missing_name_keys(&db)
        .await
        .context("failed to fold the directory's names")?;
    connections::store::fill_missing_endpoint_ids(&db)
        .await
        .context("failed to give connections their endpoints")?;
    let unknown = connections::store::unknown_key_ids(&db, &keys)
        .await
        .context("failed to read the stored secrets")?;
    if !unknown.is_empty() {
        anyhow::bail!(
            "stored secrets were sealed with key {} but this instance holds key {}: set \
             CHAPERONE__SECRETS__KEY to the key the database was sealed with (or list it in \
             CHAPERONE__SECRETS__PREVIOUS_KEYS after a rotation)",
            unknown.join(", "),
            keys.current_key_id()
        );
    }
    let sealed = connections::store::seal_plaintext_secrets(&db, &keys)
        .await
        .context("failed to seal stored secrets")?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "sealed client secrets stored in plain text by an earlier release"
        );
    }
    Ok((db, Arc::new(keys)))
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
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
        ca_file: (!smtp.ca_file.trim().is_empty()).then(|| smtp.ca_file.trim().into()),
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
