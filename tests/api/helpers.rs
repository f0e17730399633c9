//! Spawns the real application on port 0 with a fresh database (a SQLite file, or a new
//! PostgreSQL database when CHAPERONE_TEST_POSTGRES_URL is set) and talks to it over HTTP.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chaperone::alerts::dispatcher::Dispatcher;
use chaperone::config::{Secret, Settings};
use chaperone::db::Db;
use chaperone::enrichment::worker::Enricher;
use chaperone::evaluation::Evaluator;
use chaperone::processor::Processor;
use chaperone::startup::Application;
use chaperone::zoom::signature;
use sqlx::{Connection, Row};
use tokio::sync::oneshot;

pub const ZOOM_SECRET: &str = "test-zoom-secret-token";
/// The key that seals stored secrets in tests (32 bytes, base64).
pub const SECRETS_KEY: &str = "dGVzdC1rZXktdGhhdC1zZWFscy1zZWNyZXRzLTMyYiE=";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123";
/// The Zoom account that the example school monitors.
pub const SCHOOL_ACCOUNT: &str = "gA7kQ2xYTvOeW3mN9pLr4A";
/// Zoom user ids in the example directory.
pub const HOST_ZOOM_ID: &str = "Hs8dK2lPQw6vB1nZ0yXc3E";
pub const DSL_ZOOM_ID: &str = "Dk4mQ9zPLw2vB7nX1yTc0A";

/// Set to a server URL without a database (postgres://postgres@127.0.0.1:5432) to run the
/// suite on PostgreSQL; each test then gets a database of its own.
pub const POSTGRES_URL_VARIABLE: &str = "CHAPERONE_TEST_POSTGRES_URL";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub processor: Processor,
    pub evaluator: Evaluator,
    pub dispatcher: Dispatcher,
    pub enricher: Enricher,
    pub ledger: chaperone::ledger::Keeper,
    pub state: chaperone::state::AppState,
    pub folder: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    run: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A database URL for one test: a file in `folder`, or a new PostgreSQL database.
pub async fn fresh_database_url(folder: &Path) -> String {
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(server) if !server.is_empty() => {
            let name = format!(
                "chaperone_test_{}_{}_{}",
                std::process::id(),
                NEXT_DATABASE.fetch_add(1, Ordering::Relaxed),
                chrono::Utc::now().timestamp_micros()
            );
            let server = server.trim_end_matches('/');
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "{POSTGRES_URL_VARIABLE} is set but PostgreSQL cannot be reached: {error}"
                    )
                });
            sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create a test database");
            format!("{server}/{name}")
        }
        _ => format!("sqlite://{}/chaperone.db", folder.display()),
    }
}

/// Settings for a test instance, with `overrides` as CHAPERONE__ variables.
pub fn test_settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut env = vec![
        (
            "CHAPERONE__SERVER__BIND".to_string(),
            "127.0.0.1:0".to_string(),
        ),
        (
            "CHAPERONE__SERVER__WORKER_ENABLED".to_string(),
            "false".to_string(),
        ),
        (
            "CHAPERONE__DATABASE__URL".to_string(),
            database_url.to_string(),
        ),
        (
            "CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN".to_string(),
            ZOOM_SECRET.to_string(),
        ),
        (
            "CHAPERONE__API__ADMIN_TOKEN".to_string(),
            ADMIN_TOKEN.to_string(),
        ),
        (
            "CHAPERONE__SECRETS__KEY".to_string(),
            SECRETS_KEY.to_string(),
        ),
        ("CHAPERONE__LOG__LEVEL".to_string(), "warn".to_string()),
    ];
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let settings = Settings::load_from(None, env).expect("test settings load");
    settings
        .validate_for_serve()
        .expect("test settings are valid");
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the application with the example school imported and the processor stopped
/// (tests drain it, so they never sleep).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let folder = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database_url(folder.path()).await;
    let app = spawn_app_on(folder, &database_url, overrides).await;
    chaperone::import::import_path(&app.db, &app.state.secrets, &example_school_file(), None)
        .await
        .expect("example school imports");
    app
}

/// Starts the application on a database that already exists (made by an earlier release,
/// say), importing nothing.
pub async fn spawn_app_on(
    folder: tempfile::TempDir,
    database_url: &str,
    overrides: &[(&str, &str)],
) -> TestApp {
    let settings = test_settings(database_url, overrides);
    let application = Application::build(settings)
        .await
        .expect("application builds");
    let port = application.port().expect("api enabled");
    let db = application.state().db.clone();
    let state = application.state().clone();
    let processor = application.processor();
    let evaluator = application.evaluator();
    let dispatcher = application.dispatcher();
    let enricher = application.enricher();
    let ledger = application.ledger_keeper();
    let (shutdown, stop) = oneshot::channel();
    let run = tokio::spawn(application.run_until(async move {
        let _ = stop.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        db,
        processor,
        evaluator,
        dispatcher,
        enricher,
        ledger,
        state,
        folder,
        shutdown: Some(shutdown),
        run: Some(run),
    }
}

pub fn example_school_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example-school.toml")
}

/// Every rule of a school policy.
pub const ALL_RULES: [&str; 11] = [
    "school_account",
    "dsl_invited",
    "chat_disabled",
    "school_hours",
    "two_adults",
    "approved_in_advance",
    "recording",
    "parental_consent",
    "invite_via_parent",
    "unknown_participant",
    "outcome_logged",
];

/// A `[school.policy]` section: the strict preset with only `rules` switched on.
pub fn policy_checking_only(rules: &[&str]) -> String {
    let mut policy = String::from("[school.policy]\npreset = \"two-staff-code-of-conduct\"\n");
    for rule in ALL_RULES {
        policy.push_str(&format!(
            "[school.policy.overrides.{rule}]\nenabled = {}\n",
            rules.contains(&rule)
        ));
    }
    policy
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl TestApp {
    /// How `run_until` ended, if it ends by itself within `within`.
    pub async fn ended_within(&mut self, within: Duration) -> Option<anyhow::Result<()>> {
        let run = self.run.take()?;
        let ended = tokio::time::timeout(within, run).await.ok()?;
        Some(ended.expect("run_until does not panic"))
    }

    /// The status and JSON body of `GET /readyz`.
    pub async fn readiness(&self) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(format!("{}/readyz", self.address))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// Posts `body` to the Zoom endpoint, signed for real with the test secret at `now`.
    pub async fn post_zoom(&self, body: &str) -> reqwest::Response {
        self.post_zoom_signed_at(body, now_secs()).await
    }

    pub async fn post_zoom_signed_at(&self, body: &str, timestamp: i64) -> reqwest::Response {
        let signature = signature::sign(&Secret::new(ZOOM_SECRET), timestamp, body.as_bytes());
        self.post_zoom_raw(
            body.as_bytes().to_vec(),
            &[
                ("x-zm-request-timestamp", &timestamp.to_string()),
                ("x-zm-signature", &signature),
            ],
        )
        .await
    }

    pub async fn post_zoom_raw(
        &self,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/zoom", self.address))
            .header("content-type", "application/json; charset=utf-8")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    /// Posts each body and asserts it was acknowledged.
    pub async fn deliver(&self, bodies: &[String]) {
        for body in bodies {
            let response = self.post_zoom(body).await;
            assert_eq!(
                response.status(),
                200,
                "delivery refused: {}",
                response.text().await.unwrap_or_default()
            );
        }
    }

    pub async fn drain(&self) -> usize {
        self.processor.drain().await.expect("processor drains")
    }

    /// Processes every event, evaluates every meeting due by `now`, and sends every alert
    /// due by `now` (escalations included).
    pub async fn settle_at(&self, now: chrono::DateTime<chrono::Utc>) {
        self.drain().await;
        // What the processor just queued is due at its own clock, a moment after `now`.
        let now = now.max(chrono::Utc::now());
        self.enricher.drain(now).await.expect("enricher drains");
        self.evaluator.drain(now).await.expect("evaluator drains");
        self.dispatcher.drain(now).await.expect("dispatcher drains");
        self.ledger.drain().await.expect("the ledger keeper drains");
    }

    /// Imports a school file written from `text` into the test's folder.
    pub async fn import_toml(&self, text: &str) -> chaperone::import::ImportReport {
        let path = self.folder.path().join(format!(
            "school-{}.toml",
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).expect("write the school file");
        chaperone::import::import_path(&self.db, &self.state.secrets, &path, None)
            .await
            .expect("school file imports")
    }

    pub async fn metrics_text(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_api(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get_api(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json body")
    }

    /// Row counts of every table that events or imports write: a refused request must
    /// leave all of them as they were.
    pub async fn snapshot(&self) -> Vec<(&'static str, i64)> {
        let mut counts = Vec::new();
        for table in [
            "schools",
            "platform_accounts",
            "people",
            "person_emails",
            "person_platform_ids",
            "guardianships",
            "inbox",
            "scheduled_meetings",
            "schedule_revisions",
            "meeting_instances",
            "participant_sessions",
            "instance_signals",
            "ledger_entries",
            "ledger_pending",
        ] {
            let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
                .fetch_one(&self.db.pool)
                .await
                .expect("count rows");
            counts.push((table, row.try_get::<i64, _>("n").expect("count")));
        }
        counts
    }

    pub async fn inbox_count(&self) -> i64 {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM inbox")
            .fetch_one(&self.db.pool)
            .await
            .expect("count inbox");
        row.try_get("n").expect("count")
    }

    /// The only meeting record in the register, with database ids removed so records
    /// from different databases compare equal.
    pub async fn only_meeting(&self) -> serde_json::Value {
        let list = self.get_json("/api/v1/meetings").await;
        let meetings = list.as_array().expect("a list");
        assert_eq!(meetings.len(), 1, "expected one meeting: {list}");
        let id = meetings[0]["id"].as_i64().expect("id");
        let mut record = self.get_json(&format!("/api/v1/meetings/{id}")).await;
        strip_ids(&mut record);
        record
    }
}

fn strip_ids(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("id");
            map.values_mut().for_each(strip_ids);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_ids),
        _ => {}
    }
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
