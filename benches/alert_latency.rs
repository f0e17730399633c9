//! Alert latency benchmark: the time from the Zoom webhook that creates a safeguarding breach
//! to the alert arriving at the school's case system, with 1,000 calls in progress.
//!
//! The real service runs in-process as in production (SQLite in a temporary folder; the
//! processor, the evaluator and the dispatcher running on their own, nothing drained by hand).
//! A local HTTP receiver stands in for the case system and verifies every delivery's Standard
//! Webhooks signature.
//!
//! - Set-up: a directory of 2,000 staff and 1,000 pupils, imported with the
//!   `two-staff-code-of-conduct` preset reduced to its `two_adults` rule with a grace period
//!   of 0 s (so a breach is immediate) and one signed webhook as the only alert recipient.
//! - Phase 1: 1,000 compliant calls are put in progress (`meeting.started`, the host, a
//!   second member of staff and a pupil join), `SETUP_CONCURRENCY` calls at a time, and the
//!   service is left to settle: no event pending, no call waiting for evaluation and (unless
//!   `BENCH_WAIT_FOR_ENRICHMENT=0`) no enrichment job due, so that phase 2 measures the steady
//!   state rather than phase 1's backlog. There must be no finding.
//! - Phase 2: in `BENCH_BREACHES` calls (default 300) the second member of staff leaves, at
//!   `BENCH_RATE` events/s (default 20) on a fixed schedule, each in its own task. The
//!   receiver maps each alert to its call by the pupil named in its summary.
//!
//! Latency is receipt minus send. The benchmark panics if any alert is missing after
//! `ALERT_TIMEOUT`, arrives twice, is for a call that was not breached, or fails its
//! signature check, or if any webhook is refused. Run with `cargo bench --bench
//! alert_latency` (see BENCHMARKS.md).

mod common;

use common::{env_or, percentile_ms, random_hex, runtime};

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chaperone::alerts::channels::verify_standard_webhook;
use chaperone::config::{Secret, Settings};
use chaperone::db::Db;
use chaperone::startup::Application;
use chaperone::zoom::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use sqlx::Row;
use tokio::sync::oneshot;

/// Calls in progress while the breaches are measured.
const CALLS: usize = 1_000;
/// Two members of staff per call.
const STAFF: usize = 2 * CALLS;
/// Calls being set up at the same time in phase 1.
const SETUP_CONCURRENCY: usize = 32;
/// A request not answered within this counts as refused.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long phase 1's events may take to be processed and evaluated, and the enrichment
/// jobs they asked for to be worked off.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long after the last breach is sent the alerts may take to arrive.
const ALERT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to keep listening for duplicates once every expected alert is in.
const DUPLICATE_WATCH: Duration = Duration::from_secs(2);
const SETTLE_POLL_INTERVAL: Duration = Duration::from_millis(100);
const ALERT_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// The project's acceptance figure.
const GOAL_P99: Duration = Duration::from_secs(2);
/// The environment variable the school file names for the webhook's signing secret.
const WEBHOOK_SECRET_VARIABLE: &str = "CHAPERONE_BENCH_ALERT_WEBHOOK_SECRET";
const RECEIVER_PATH: &str = "/hooks/chaperone";
const TOPIC: &str = "Y9 mentoring – bench";
/// The first Zoom participant `user_id` (session key); each call uses four from here on.
const FIRST_SESSION_ID: u64 = 30_000_000;
const FIRST_MEETING_NUMBER: u64 = 82_000_000_000;

/// What the environment asks for; every value has a default for a full run.
struct BenchSettings {
    breaches: usize,
    rate_per_sec: f64,
    /// Worker threads of the load generator's runtime (the service gets one per core).
    client_threads: usize,
    /// Whether phase 2 waits until phase 1's enrichment jobs are worked off.
    wait_for_enrichment: bool,
}

impl BenchSettings {
    fn from_env() -> Self {
        let settings = BenchSettings {
            breaches: env_or("BENCH_BREACHES", 300),
            rate_per_sec: env_or("BENCH_RATE", 20.0),
            client_threads: env_or("BENCH_CLIENT_THREADS", 2),
            wait_for_enrichment: env_or::<u8>("BENCH_WAIT_FOR_ENRICHMENT", 1) != 0,
        };
        assert!(
            (1..=CALLS).contains(&settings.breaches),
            "BENCH_BREACHES must be between 1 and {CALLS}"
        );
        assert!(
            settings.rate_per_sec > 0.0 && settings.rate_per_sec <= 10_000.0,
            "BENCH_RATE must be above 0 and at most 10000"
        );
        assert!(
            settings.client_threads > 0,
            "BENCH_CLIENT_THREADS must be at least 1"
        );
        settings
    }
}

fn staff_ref(staff: usize) -> String {
    format!("STAFF-{staff:04}")
}

fn staff_email(staff: usize) -> String {
    format!("staff{staff:04}@bench.example")
}

/// A Zoom user id in Zoom's shape (22 characters).
fn staff_zoom_id(staff: usize) -> String {
    format!("BenchStaff{staff:04}ZoomUser")
}

fn pupil_email(pupil: usize) -> String {
    format!("pupil{pupil:04}@pupils.bench.example")
}

/// The MIS export: staff with Zoom user ids, pupils with an email each (they join signed
/// out of Zoom and are recognised by it).
fn people_csv() -> String {
    let mut csv =
        String::from("ref,kind,role,forename,surname,email,other_emails,zoom_user_id,children\n");
    for staff in 0..STAFF {
        let _ = writeln!(
            csv,
            "{},staff,staff,Staff,{staff:04},{},,{},",
            staff_ref(staff),
            staff_email(staff),
            staff_zoom_id(staff)
        );
    }
    for pupil in 0..CALLS {
        let _ = writeln!(
            csv,
            "PUPIL-{pupil:04},pupil,,Pupil,{pupil:04},{},,,",
            pupil_email(pupil)
        );
    }
    csv
}

/// The school: every rule of the preset off except `two_adults`, which has no grace period;
/// one signed webhook and no email contacts.
fn school_toml(account_id: &str, receiver_url: &str) -> String {
    let mut overrides = String::new();
    for rule in [
        "school_account",
        "dsl_invited",
        "chat_disabled",
        "school_hours",
        "approved_in_advance",
        "recording",
        "parental_consent",
        "invite_via_parent",
        "unknown_participant",
        "outcome_logged",
    ] {
        let _ = writeln!(
            overrides,
            "[school.policy.overrides.{rule}]\nenabled = false"
        );
    }
    format!(
        r#"[[school]]
slug = "bench"
name = "Benchmark School"
timezone = "Europe/London"
people_csv = "people.csv"

[[school.zoom_accounts]]
account_id = "{account_id}"
label = "benchmark account"

[school.policy]
preset = "two-staff-code-of-conduct"

{overrides}
[school.policy.overrides.two_adults]
enabled = true
grace_secs = 0

[school.alerts]

[[school.alerts.webhooks]]
url = "{receiver_url}"
secret_env = "{WEBHOOK_SECRET_VARIABLE}"
"#
    )
}

/// Who takes part in a call.
#[derive(Clone, Copy)]
enum Role {
    Host,
    SecondStaff,
    Pupil,
}

/// Everything a request to the service needs: shared by every task of the load generator.
struct Target {
    client: reqwest::Client,
    base_url: String,
    zoom_secret: Secret,
    admin_token: String,
    account_id: String,
    run_id: String,
    /// The calls' common start (whole seconds, as Zoom sends it).
    started_at: DateTime<Utc>,
}

fn zoom_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Target {
    fn call_uuid(&self, call: usize) -> String {
        format!("{}-call{call:04}==", self.run_id)
    }

    /// A Zoom event about `call` (shapes as in tests/api/zoom_events.rs), with `extra`
    /// fields in the payload's object.
    fn event(
        &self,
        call: usize,
        name: &str,
        at: DateTime<Utc>,
        extra: serde_json::Value,
    ) -> String {
        let mut object = json!({
            "uuid": self.call_uuid(call),
            "id": (FIRST_MEETING_NUMBER + call as u64).to_string(),
            "host_id": staff_zoom_id(2 * call),
            "topic": TOPIC,
            "type": 2,
            "start_time": zoom_time(self.started_at),
            "timezone": "Europe/London",
            "duration": 30
        });
        if let (Some(object), serde_json::Value::Object(extra)) = (object.as_object_mut(), extra) {
            object.extend(extra);
        }
        json!({
            "event": name,
            "event_ts": at.timestamp_millis(),
            "payload": { "account_id": self.account_id, "object": object }
        })
        .to_string()
    }

    fn participant(
        &self,
        call: usize,
        role: Role,
        time_field: &str,
        at: DateTime<Utc>,
    ) -> serde_json::Value {
        let (offset, name, zoom_id, email) = match role {
            Role::Host => (
                0,
                format!("Staff {:04}", 2 * call),
                staff_zoom_id(2 * call),
                staff_email(2 * call),
            ),
            Role::SecondStaff => (
                1,
                format!("Staff {:04}", 2 * call + 1),
                staff_zoom_id(2 * call + 1),
                staff_email(2 * call + 1),
            ),
            // Display names identify nobody; the email does.
            Role::Pupil => (2, format!("P {call}"), String::new(), pupil_email(call)),
        };
        let session_id = FIRST_SESSION_ID + 4 * call as u64 + offset;
        json!({
            "user_id": session_id.to_string(),
            "user_name": name,
            "registrant_id": "",
            "participant_user_id": zoom_id,
            "id": zoom_id,
            "participant_uuid": format!("{}-{session_id}", self.run_id),
            time_field: zoom_time(at),
            "email": email
        })
    }

    fn started(&self, call: usize) -> String {
        self.event(call, "meeting.started", self.started_at, json!({}))
    }

    fn joined(&self, call: usize, role: Role, at: DateTime<Utc>) -> String {
        let participant = self.participant(call, role, "join_time", at);
        self.event(
            call,
            "meeting.participant_joined",
            at,
            json!({ "participant": participant }),
        )
    }

    fn left(&self, call: usize, role: Role, at: DateTime<Utc>) -> String {
        let mut participant = self.participant(call, role, "leave_time", at);
        participant["leave_reason"] = json!("left the meeting. Reason : left the meeting");
        self.event(
            call,
            "meeting.participant_left",
            at,
            json!({ "participant": participant }),
        )
    }

    /// Posts `body` to the Zoom endpoint, signed now, and reads the whole answer.
    async fn post_zoom(&self, body: String) -> Result<(), String> {
        let timestamp_secs = Utc::now().timestamp();
        let signature = signature::sign(&self.zoom_secret, timestamp_secs, body.as_bytes());
        let response = self
            .client
            .post(format!("{}/webhooks/zoom", self.base_url))
            .header(SIGNATURE_HEADER, signature)
            .header(TIMESTAMP_HEADER, timestamp_secs.to_string())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|error| format!("no answer: {error}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| format!("incomplete answer: {error}"))?;
        if status == reqwest::StatusCode::OK {
            Ok(())
        } else {
            Err(format!("answered {status}: {text}"))
        }
    }

    async fn get_api(&self, path: &str) -> serde_json::Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        assert_eq!(response.status(), reqwest::StatusCode::OK, "GET {path}");
        response.json().await.expect("the API answers JSON")
    }

    /// `chaperone_inbox_pending` from GET /metrics.
    async fn inbox_pending(&self) -> i64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics are text");
        text.lines()
            .find_map(|line| line.strip_prefix("chaperone_inbox_pending "))
            .and_then(|value| value.trim().parse().ok())
            .expect("/metrics has chaperone_inbox_pending")
    }
}

/// One alert as the receiver saw it.
struct Arrival {
    at: Instant,
    wall: DateTime<Utc>,
}

#[derive(Default)]
struct ReceiverLog {
    /// Alerts by the call (pupil number) their summary names.
    by_call: HashMap<usize, Vec<Arrival>>,
    /// Deliveries that verified but are not a two-adults alert naming a benchmark pupil.
    unrecognised: Vec<String>,
    /// Deliveries whose signature did not verify.
    bad_signatures: usize,
}

/// The school's case system: verifies each delivery over the raw body, then records when
/// the alert for each call arrived.
#[derive(Clone)]
struct Receiver {
    secret: Arc<Secret>,
    log: Arc<Mutex<ReceiverLog>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let wall = Utc::now();
    let mut log = receiver
        .log
        .lock()
        .expect("the receiver log is not poisoned");
    if verify_standard_webhook(&receiver.secret, &headers, &body, wall.timestamp()).is_err() {
        log.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let alert: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match call_named_in(&alert) {
        Some(call) => log
            .by_call
            .entry(call)
            .or_default()
            .push(Arrival { at, wall }),
        None => log
            .unrecognised
            .push(format!("{} {}", alert["type"], alert["summary"])),
    }
    StatusCode::NO_CONTENT
}

/// The call an alert is about, from its summary: "Pupil 0042 (pupil) was in ...".
fn call_named_in(alert: &serde_json::Value) -> Option<usize> {
    if alert["type"] != "finding.alert" || alert["rule"] != "two_adults" {
        return None;
    }
    let (number, rest) = alert["summary"]
        .as_str()?
        .strip_prefix("Pupil ")?
        .split_once(' ')?;
    if !rest.starts_with("(pupil) was in ") || number.len() != 4 {
        return None;
    }
    number.parse().ok().filter(|call| *call < CALLS)
}

async fn start_receiver(secret: Secret) -> (Receiver, String) {
    let receiver = Receiver {
        secret: Arc::new(secret),
        log: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the receiver binds");
    let url = format!(
        "http://{}{RECEIVER_PATH}",
        listener.local_addr().expect("the receiver has an address")
    );
    let app = Router::new()
        .route(RECEIVER_PATH, post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

/// Phase 1: `SETUP_CONCURRENCY` tasks each set up one call at a time, its events in order.
async fn put_calls_in_progress(target: Arc<Target>) {
    let next_call = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..SETUP_CONCURRENCY)
        .map(|_| {
            let target = target.clone();
            let next_call = next_call.clone();
            tokio::spawn(async move {
                loop {
                    let call = next_call.fetch_add(1, Ordering::Relaxed);
                    if call >= CALLS {
                        return;
                    }
                    let mut bodies = vec![target.started(call)];
                    for role in [Role::Host, Role::SecondStaff, Role::Pupil] {
                        bodies.push(target.joined(call, role, Utc::now()));
                    }
                    for body in bodies {
                        if let Err(error) = target.post_zoom(body).await {
                            panic!("call {call}: a set-up event was not acknowledged: {error}");
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a set-up task panicked");
    }
}

/// One breaching event as sent.
struct Sent {
    call: usize,
    at: Instant,
    wall: DateTime<Utc>,
    ack: Duration,
    /// How late the request started against its schedule.
    lag: Duration,
    answer: Result<(), String>,
}

/// Phase 2: the second member of staff leaves `calls`, one every 1/`rate_per_sec` s on a
/// fixed schedule, each in its own task whether or not earlier ones were answered.
async fn send_breaches(target: Arc<Target>, calls: Vec<usize>, rate_per_sec: f64) -> Vec<Sent> {
    let period = Duration::from_secs_f64(1.0 / rate_per_sec);
    let started = Instant::now();
    let mut requests = Vec::with_capacity(calls.len());
    for (index, call) in calls.into_iter().enumerate() {
        let scheduled = started + period.mul_f64(index as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let target = target.clone();
        requests.push(tokio::spawn(async move {
            let wall = Utc::now();
            let body = target.left(call, Role::SecondStaff, wall);
            let at = Instant::now();
            let answer = target.post_zoom(body).await;
            Sent {
                call,
                at,
                wall,
                ack: at.elapsed(),
                lag: at - scheduled,
                answer,
            }
        }));
    }
    let mut sent = Vec::with_capacity(requests.len());
    for request in requests {
        sent.push(request.await.expect("a breach task panicked"));
    }
    sent
}

/// Waits until every call in `expected` has an alert or `limit` passes; returns how many do.
async fn wait_for_alerts(receiver: &Receiver, expected: &[usize], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let arrived = {
            let log = receiver
                .log
                .lock()
                .expect("the receiver log is not poisoned");
            expected
                .iter()
                .filter(|call| log.by_call.contains_key(call))
                .count()
        };
        if arrived == expected.len() || Instant::now() >= deadline {
            return arrived;
        }
        tokio::time::sleep(ALERT_POLL_INTERVAL).await;
    }
}

/// Enrichment jobs (platform API reads the calls' events asked for) due now and not yet
/// taken; a job whose attempt failed waits out its lease and does not count.
async fn enrichment_jobs_due(db: &Db) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM enrichment_jobs WHERE status = 'pending' AND due_at <= $1",
    )
    .bind(Utc::now().timestamp_millis())
    .fetch_one(&db.pool)
    .await
    .expect("the enrichment jobs can be counted")
    .try_get("n")
    .expect("COUNT(*) is an integer")
}

/// Enrichment jobs by status, with pending ones split by whether they are due.
async fn enrichment_jobs_by_status(db: &Db) -> String {
    let rows = sqlx::query(
        "SELECT CASE WHEN status = 'pending' AND due_at > $1 THEN 'pending (not yet due)' \
         ELSE status END AS state, COUNT(*) AS n FROM enrichment_jobs GROUP BY 1 ORDER BY 1",
    )
    .bind(Utc::now().timestamp_millis())
    .fetch_all(&db.pool)
    .await
    .expect("the enrichment jobs can be counted");
    let counts: Vec<String> = rows
        .iter()
        .map(|row| {
            let state: String = row.try_get("state").expect("state is text");
            let count: i64 = row.try_get("n").expect("COUNT(*) is an integer");
            format!("{count} {state}")
        })
        .collect();
    if counts.is_empty() {
        "none".into()
    } else {
        counts.join(", ")
    }
}

async fn evaluation_queue_len(db: &Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM evaluation_queue")
        .fetch_one(&db.pool)
        .await
        .expect("the evaluation queue can be counted")
        .try_get("n")
        .expect("COUNT(*) is an integer")
}

/// When the service itself saw each breach, by call: the inbox writer's batch start, the
/// processor's commit time, and the evaluator's clock when it took the call (the finding's
/// `opened_at`). All in the machine's wall clock, as milliseconds since the epoch.
#[derive(Default, Clone, Copy)]
struct ServiceTimes {
    stored_ms: Option<i64>,
    processed_ms: Option<i64>,
    evaluated_ms: Option<i64>,
}

async fn service_times(db: &Db, run_id: &str) -> HashMap<usize, ServiceTimes> {
    let call_in = |text: &str| -> Option<usize> {
        let marker = format!("{run_id}-call");
        let start = text.find(&marker)? + marker.len();
        text.get(start..start + 4)?.parse().ok()
    };
    let mut times: HashMap<usize, ServiceTimes> = HashMap::new();
    let left = sqlx::query(
        "SELECT received_at, processed_at, body FROM inbox WHERE event_type = 'participant_left'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the inbox can be read");
    for row in left {
        let body: String = row.try_get("body").expect("body is text");
        if let Some(call) = call_in(&body) {
            let entry = times.entry(call).or_default();
            entry.stored_ms = row.try_get("received_at").ok();
            entry.processed_ms = row.try_get::<Option<i64>, _>("processed_at").ok().flatten();
        }
    }
    let findings = sqlx::query(
        "SELECT f.opened_at, i.instance_key FROM findings f \
         JOIN meeting_instances i ON i.id = f.meeting_instance_id WHERE f.rule = 'two_adults'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the findings can be read");
    for row in findings {
        let key: String = row.try_get("instance_key").expect("instance_key is text");
        if let Some(call) = call_in(&key) {
            times.entry(call).or_default().evaluated_ms = row.try_get("opened_at").ok();
        }
    }
    times
}

fn latency_line(latencies: &mut [Duration]) -> String {
    latencies.sort_unstable();
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        percentile_ms(latencies, 0.50),
        percentile_ms(latencies, 0.90),
        percentile_ms(latencies, 0.99),
        percentile_ms(latencies, 1.0),
        latencies.len(),
    )
}

/// A span between two wall-clock readings in milliseconds; negative spans (clock reads on
/// different threads a hair apart) count as zero.
fn span(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms - from_ms).unwrap_or(0))
}

fn main() {
    let bench = BenchSettings::from_env();
    let folder = tempfile::tempdir().expect("a temporary folder");
    let zoom_secret = random_hex(32);
    let admin_token = random_hex(48);
    let account_id = format!("bench{}", random_hex(17));
    let webhook_secret = format!("whsec_{}", BASE64.encode(random_hex(32)));
    // The import reads the webhook secret from the environment; set it before any other
    // thread exists.
    std::env::set_var(WEBHOOK_SECRET_VARIABLE, &webhook_secret);

    let env = [
        ("CHAPERONE__SERVER__BIND", "127.0.0.1:0".to_string()),
        ("CHAPERONE__SERVER__WORKER_ENABLED", "true".to_string()),
        (
            "CHAPERONE__DATABASE__URL",
            format!("sqlite://{}/bench.db", folder.path().display()),
        ),
        ("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", zoom_secret.clone()),
        ("CHAPERONE__API__ADMIN_TOKEN", admin_token.clone()),
        ("CHAPERONE__LOG__LEVEL", "warn".to_string()),
    ]
    .map(|(name, value)| (name.to_string(), value));
    // CHAPERONE__* variables in the environment come last and so win: for experiments such
    // as CHAPERONE__ALERTS__POLL_INTERVAL_MS.
    let overrides: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("CHAPERONE__"))
        .collect();
    let settings = Settings::load_from(None, env.into_iter().chain(overrides.iter().cloned()))
        .expect("benchmark settings load");
    settings
        .validate_for_serve()
        .expect("benchmark settings are valid");
    chaperone::telemetry::init(&settings.log);
    let worker_enabled = settings.server.worker_enabled;

    // The service gets a runtime of its own (one worker per core, as `chaperone serve`
    // would); the load generator and the receiver share another; both share the cores.
    let service = runtime("service", None);
    let load = runtime("load", Some(bench.client_threads));
    let (receiver, receiver_url) = load.block_on(start_receiver(Secret::new(webhook_secret)));

    std::fs::write(folder.path().join("people.csv"), people_csv()).expect("the CSV is written");
    let school_path = folder.path().join("school.toml");
    std::fs::write(&school_path, school_toml(&account_id, &receiver_url))
        .expect("the school file is written");
    let application = service.block_on(async {
        let application = Application::build(settings)
            .await
            .expect("the application builds");
        chaperone::import::import_path(
            &application.state().db,
            &application.state().secrets,
            &school_path,
            None,
        )
        .await
        .expect("the benchmark school imports");
        application
    });
    let port = application.port().expect("the API is enabled");
    let db = application.state().db.clone();
    let (stop_server, stop) = oneshot::channel::<()>();
    let server = service.spawn(application.run_until(async move {
        let _ = stop.await;
    }));

    let target = Arc::new(Target {
        client: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client"),
        base_url: format!("http://127.0.0.1:{port}"),
        zoom_secret: Secret::new(zoom_secret),
        admin_token,
        account_id,
        run_id: random_hex(12),
        started_at: DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now is a time"),
    });

    println!(
        "chaperone alert latency benchmark: SQLite, workers {}, {} cores, load generator and \
         receiver on {} threads",
        if worker_enabled { "on" } else { "OFF" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.client_threads
    );
    println!(
        "  policy: two-staff-code-of-conduct with only two_adults enabled, grace_secs = 0 (a \
         breach is immediate); alerts: one signed webhook, no email"
    );
    for (name, value) in &overrides {
        let shown = if name.contains("TOKEN") || name.contains("URL") || name.contains("PASSWORD") {
            "<redacted>"
        } else {
            value.as_str()
        };
        println!("  override from the environment: {name}={shown}");
    }

    // Phase 1: 1,000 compliant calls in progress.
    let setup_started = Instant::now();
    load.block_on(put_calls_in_progress(target.clone()));
    let setup_sent = setup_started.elapsed();
    let mut evaluated = None;
    loop {
        let pending = load.block_on(target.inbox_pending());
        let queued = service.block_on(evaluation_queue_len(&db));
        let enrichment = service.block_on(enrichment_jobs_due(&db));
        if pending == 0 && queued == 0 {
            evaluated.get_or_insert(setup_started.elapsed());
            if !bench.wait_for_enrichment || enrichment == 0 {
                break;
            }
        }
        assert!(
            setup_started.elapsed() < SETTLE_TIMEOUT,
            "phase 1 did not settle within {SETTLE_TIMEOUT:?}: {pending} events pending, \
             {queued} calls waiting for evaluation, {enrichment} enrichment jobs due"
        );
        std::thread::sleep(SETTLE_POLL_INTERVAL);
    }
    let evaluated = evaluated.unwrap_or_default();
    let settled = setup_started.elapsed();
    let enrichment_jobs = service.block_on(enrichment_jobs_by_status(&db));
    let (meetings, findings) = load.block_on(async {
        (
            target
                .get_api(&format!("/api/v1/meetings?limit={}", CALLS + 1))
                .await,
            target.get_api("/api/v1/findings").await,
        )
    });
    let meetings = meetings.as_array().expect("the register is a list").clone();
    assert_eq!(meetings.len(), CALLS, "the register shows every call");
    let incomplete = meetings
        .iter()
        .filter(|meeting| {
            meeting["ended_at"].is_null()
                && (meeting["participant_count"] != 3 || meeting["unknown_participant_count"] != 0)
        })
        .count();
    assert_eq!(
        incomplete, 0,
        "every call is in progress with three known participants"
    );
    assert_eq!(
        findings.as_array().map(Vec::len),
        Some(0),
        "compliant calls have no findings: {findings}"
    );
    println!(
        "phase 1: {CALLS} calls in progress ({} events, {SETUP_CONCURRENCY} calls at a time): \
         sent in {:.1} s, processed and evaluated by {:.1} s; register shows {} calls, \
         {} findings",
        4 * CALLS,
        setup_sent.as_secs_f64(),
        evaluated.as_secs_f64(),
        meetings.len(),
        findings.as_array().map_or(0, Vec::len)
    );
    println!(
        "  enrichment jobs (no API credentials configured): {enrichment_jobs}; {}",
        if bench.wait_for_enrichment {
            format!("none due any more by {:.1} s", settled.as_secs_f64())
        } else {
            "phase 2 starts without waiting for them (BENCH_WAIT_FOR_ENRICHMENT=0)".to_string()
        }
    );

    // Phase 2: breaches at a steady rate, spread over the calls.
    let breached: Vec<usize> = (0..bench.breaches)
        .map(|index| index * CALLS / bench.breaches)
        .collect();
    let sending_started = Instant::now();
    let sent = load.block_on(send_breaches(
        target.clone(),
        breached.clone(),
        bench.rate_per_sec,
    ));
    let sending = sending_started.elapsed();
    let arrived = load.block_on(async {
        let arrived = wait_for_alerts(&receiver, &breached, ALERT_TIMEOUT).await;
        tokio::time::sleep(DUPLICATE_WATCH).await;
        arrived
    });
    let times = service.block_on(service_times(&db, &target.run_id));

    let log = receiver
        .log
        .lock()
        .expect("the receiver log is not poisoned");
    let mut latencies = Vec::new();
    let mut stages: [Vec<Duration>; 4] = Default::default();
    let mut acks: Vec<Duration> = sent.iter().map(|s| s.ack).collect();
    let mut lags: Vec<Duration> = sent.iter().map(|s| s.lag).collect();
    for sent in &sent {
        let Some(first) = log.by_call.get(&sent.call).and_then(|all| all.first()) else {
            continue;
        };
        latencies.push(first.at - sent.at);
        let service = times.get(&sent.call).copied().unwrap_or_default();
        let sent_ms = sent.wall.timestamp_millis();
        if let (Some(stored), Some(processed), Some(evaluated)) = (
            service.stored_ms,
            service.processed_ms,
            service.evaluated_ms,
        ) {
            stages[0].push(span(sent_ms, stored));
            stages[1].push(span(stored, processed));
            stages[2].push(span(processed, evaluated));
            stages[3].push(span(evaluated, first.wall.timestamp_millis()));
        }
    }
    latencies.sort_unstable();
    let p99 = Duration::from_secs_f64(percentile_ms(&latencies, 0.99).max(0.0) / 1e3);
    println!(
        "phase 2: {} breaches offered at {} /s over {:.1} s, {CALLS} calls in progress",
        sent.len(),
        bench.rate_per_sec,
        sending.as_secs_f64()
    );
    println!(
        "  alerts received: {arrived} of {} (signature verified)",
        breached.len()
    );
    println!(
        "  breach webhook to alert received: {}",
        latency_line(&mut latencies)
    );
    println!(
        "  goal p99 < {} ms: {}",
        GOAL_P99.as_millis(),
        if arrived == breached.len() && p99 < GOAL_P99 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!("  where the time goes (wall clock, ms resolution):");
    for (label, stage) in [
        "sent -> stored in the inbox (HTTP, signature, writer batch)",
        "stored -> processed (processor queue and apply)",
        "processed -> evaluation started (evaluator queue)",
        "evaluation started -> alert received (evaluate, commit, dispatcher, send)",
    ]
    .iter()
    .zip(stages.iter_mut())
    {
        println!("    {label}: {}", latency_line(stage));
    }
    println!(
        "  breach webhook acknowledged (send -> 200): {}",
        latency_line(&mut acks)
    );
    lags.sort_unstable();
    println!(
        "  load generator lag behind schedule: p99 {:.1} ms, max {:.1} ms",
        percentile_ms(&lags, 0.99),
        percentile_ms(&lags, 1.0)
    );

    let refused: Vec<String> = sent
        .iter()
        .filter_map(|s| {
            s.answer
                .as_ref()
                .err()
                .map(|e| format!("call {}: {e}", s.call))
        })
        .collect();
    let missing: Vec<usize> = breached
        .iter()
        .copied()
        .filter(|call| !log.by_call.contains_key(call))
        .collect();
    let duplicated: BTreeMap<usize, usize> = log
        .by_call
        .iter()
        .filter(|(_, arrivals)| arrivals.len() > 1)
        .map(|(call, arrivals)| (*call, arrivals.len()))
        .collect();
    let unexpected: Vec<usize> = log
        .by_call
        .keys()
        .copied()
        .filter(|call| !breached.contains(call))
        .collect();
    let bad_signatures = log.bad_signatures;
    let unrecognised = log.unrecognised.clone();
    drop(log);

    let _ = stop_server.send(());
    service
        .block_on(server)
        .expect("the server task ends")
        .expect("the server shuts down cleanly");

    assert!(
        refused.is_empty(),
        "breach webhooks were refused: {refused:?}"
    );
    assert_eq!(
        bad_signatures, 0,
        "deliveries failed signature verification"
    );
    assert!(
        unrecognised.is_empty(),
        "unrecognised alerts: {unrecognised:?}"
    );
    assert!(
        missing.is_empty(),
        "{} alerts missing after {ALERT_TIMEOUT:?}: calls {missing:?}",
        missing.len()
    );
    assert!(
        duplicated.is_empty(),
        "alerts received more than once: {duplicated:?}"
    );
    assert!(
        unexpected.is_empty(),
        "alerts for calls never breached: {unexpected:?}"
    );
}
