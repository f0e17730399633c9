//! Live calls benchmark: the resident memory of the real service with many calls in
//! progress, and the time to judge one changed call as the number of other live calls grows.
//!
//! The service is the release `chaperone` binary as a child process (`import`, then `serve`
//! with the workers on), on SQLite in a temporary folder, configured through `CHAPERONE__*`
//! variables as in production; its memory is its own, not the load generator's.
//!
//! - Set-up: a directory of two staff and one pupil per call, imported with the
//!   `two-staff-code-of-conduct` preset as shipped (every rule it enables) and no alert
//!   recipients.
//! - Calls are put in progress level by level (`BENCH_LEVELS`, default 100, 1000, 10000),
//!   `BENCH_SETUP_CONCURRENCY` calls at a time (default 32): `meeting.started`, then the host
//!   (a known member of staff, by Zoom user id), a second member of staff, a pupil (known by
//!   email) and a guest known only by a display name (a possible pupil) join. Four
//!   participants a call. The service is left to settle: no event pending, no call due for
//!   evaluation, no enrichment job due.
//! - At each level the service's VmRSS and VmHWM are read from /proc, and then
//!   `BENCH_CHANGES` calls spread over the live ones (default 100), one after another, each
//!   get one more guest. Each change is timed from its acknowledgement to its evaluation
//!   committed: the evaluator records every participant's identity basis, so the new
//!   session's basis appearing in the database is the evaluation being done. The database
//!   is polled read-only every `POLL_INTERVAL`.
//! - Then the evaluator's own step is timed in this process, on the same database: the
//!   same calls are queued one at a time and `Evaluator::evaluate_next` is timed around each,
//!   apart from whatever else the service's workers do on its one SQLite connection.
//!
//! The benchmark panics if any webhook is not acknowledged or a change is not evaluated
//! within `CHANGE_TIMEOUT`. Build with `cargo bench --bench live_calls --no-run` and run the
//! binary, or `cargo bench --bench live_calls` (see BENCHMARKS.md).

mod common;

use common::{env_or, percentile_ms, random_hex, runtime};

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaperone::config::{Secret, Settings};
use chaperone::db::Db;
use chaperone::evaluation::{queue, Evaluator, Step, Target as EvaluationTarget};
use chaperone::policy::calendar::BankHolidays;
use chaperone::worker::Wakeups;
use chaperone::zoom::payload::{self, ZoomDelivery};
use chaperone::zoom::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

/// A request not answered within this counts as refused.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a level's set-up may take to be processed and evaluated.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(900);
const SETTLE_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long one change may take to be evaluated.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// The project's acceptance figure for resident memory at 10,000 calls.
const GOAL_RESIDENT_MIB: f64 = 200.0;
const TOPIC: &str = "Y9 mentoring – bench";
const FIRST_MEETING_NUMBER: u64 = 83_000_000_000;
/// The first Zoom participant `user_id` (session key); each call uses eight from here on
/// (four at set-up, the rest for changes).
const FIRST_SESSION_ID: u64 = 50_000_000;
const SESSIONS_PER_CALL: u64 = 8;

struct BenchSettings {
    levels: Vec<usize>,
    changes: usize,
    setup_concurrency: usize,
    client_threads: usize,
}

impl BenchSettings {
    fn from_env() -> Self {
        let levels: Vec<usize> = std::env::var("BENCH_LEVELS")
            .unwrap_or_else(|_| "100,1000,10000".into())
            .split(',')
            .map(|level| {
                level
                    .trim()
                    .parse()
                    .expect("BENCH_LEVELS is a comma-separated list of numbers")
            })
            .collect();
        assert!(
            !levels.is_empty() && levels.windows(2).all(|pair| pair[0] < pair[1]) && levels[0] > 0,
            "BENCH_LEVELS must be increasing numbers of calls, the first at least 1"
        );
        let settings = BenchSettings {
            levels,
            changes: env_or("BENCH_CHANGES", 100),
            setup_concurrency: env_or("BENCH_SETUP_CONCURRENCY", 32),
            client_threads: env_or("BENCH_CLIENT_THREADS", 2),
        };
        assert!(settings.changes > 0, "BENCH_CHANGES must be at least 1");
        assert!(
            settings.setup_concurrency > 0 && settings.client_threads > 0,
            "BENCH_SETUP_CONCURRENCY and BENCH_CLIENT_THREADS must be at least 1"
        );
        settings
    }
}

fn staff_zoom_id(staff: usize) -> String {
    format!("BenchStaff{staff:05}ZoomUse")
}

fn staff_email(staff: usize) -> String {
    format!("staff{staff:05}@bench.example")
}

fn pupil_email(pupil: usize) -> String {
    format!("pupil{pupil:05}@pupils.bench.example")
}

/// The MIS export: two staff with Zoom user ids and one pupil with an email per call.
fn people_csv(calls: usize) -> String {
    let mut csv =
        String::from("ref,kind,role,forename,surname,email,other_emails,zoom_user_id,children\n");
    for staff in 0..2 * calls {
        let _ = writeln!(
            csv,
            "STAFF-{staff:05},staff,staff,Staff,{staff:05},{},,{},",
            staff_email(staff),
            staff_zoom_id(staff)
        );
    }
    for pupil in 0..calls {
        let _ = writeln!(
            csv,
            "PUPIL-{pupil:05},pupil,,Pupil,{pupil:05},{},,,",
            pupil_email(pupil)
        );
    }
    csv
}

/// The shipped preset as it is, and nobody to alert: the engine does all its work, the
/// dispatcher none.
fn school_toml(account_id: &str) -> String {
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
"#
    )
}

/// Who joins a call.
#[derive(Clone, Copy)]
enum Role {
    Host,
    SecondStaff,
    Pupil,
    /// A guest with only a display name; `n` numbers the guests of one call.
    Guest(u64),
}

/// Everything a request needs: shared by every task of the load generator.
struct Target {
    client: reqwest::Client,
    base_url: String,
    zoom_secret: Secret,
    account_id: String,
    run_id: String,
    started_at: DateTime<Utc>,
}

fn zoom_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Target {
    fn call_uuid(&self, call: usize) -> String {
        format!("{}-call{call:05}==", self.run_id)
    }

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

    fn started(&self, call: usize) -> String {
        self.event(call, "meeting.started", self.started_at, json!({}))
    }

    /// The session key (Zoom's participant `user_id`) of `role` in `call`.
    fn session_key(call: usize, role: Role) -> String {
        let offset = match role {
            Role::Host => 0,
            Role::SecondStaff => 1,
            Role::Pupil => 2,
            Role::Guest(n) => 3 + n,
        };
        assert!(offset < SESSIONS_PER_CALL, "too many guests in one call");
        (FIRST_SESSION_ID + SESSIONS_PER_CALL * call as u64 + offset).to_string()
    }

    fn joined(&self, call: usize, role: Role, at: DateTime<Utc>) -> String {
        let (name, zoom_id, email) = match role {
            Role::Host => (
                format!("Staff {:05}", 2 * call),
                staff_zoom_id(2 * call),
                staff_email(2 * call),
            ),
            Role::SecondStaff => (
                format!("Staff {:05}", 2 * call + 1),
                staff_zoom_id(2 * call + 1),
                staff_email(2 * call + 1),
            ),
            Role::Pupil => (format!("P {call}"), String::new(), pupil_email(call)),
            Role::Guest(n) => (format!("Guest {call} {n}"), String::new(), String::new()),
        };
        let session_key = Self::session_key(call, role);
        let participant = json!({
            "user_id": session_key,
            "user_name": name,
            "registrant_id": "",
            "participant_user_id": zoom_id,
            "id": zoom_id,
            "participant_uuid": format!("{}-{session_key}", self.run_id),
            "join_time": zoom_time(at),
            "email": email
        });
        self.event(
            call,
            "meeting.participant_joined",
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
        if status == reqwest::StatusCode::OK && text.contains("accepted") {
            Ok(())
        } else {
            Err(format!("answered {status}: {text}"))
        }
    }

    /// `name` from GET /metrics.
    async fn metric(&self, name: &str) -> i64 {
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
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("/metrics has {name}"))
    }
}

/// Puts calls `from..to` in progress, `concurrency` calls at a time, each call's events in
/// order.
async fn put_calls_in_progress(target: Arc<Target>, from: usize, to: usize, concurrency: usize) {
    let next_call = Arc::new(AtomicUsize::new(from));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let target = target.clone();
            let next_call = next_call.clone();
            tokio::spawn(async move {
                loop {
                    let call = next_call.fetch_add(1, Ordering::Relaxed);
                    if call >= to {
                        return;
                    }
                    let mut bodies = vec![target.started(call)];
                    for role in [Role::Host, Role::SecondStaff, Role::Pupil, Role::Guest(0)] {
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

/// A count from the service's database (a constant query written in this file).
async fn count(db: &SqlitePool, sql: &str, now_ms: i64) -> i64 {
    sqlx::query(sql)
        .bind(now_ms)
        .fetch_one(db)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .try_get(0)
        .expect("COUNT(*) is an integer")
}

const DUE_EVALUATIONS: &str = "SELECT COUNT(*) FROM evaluation_queue WHERE due_at <= $1";
const DUE_ENRICHMENT: &str =
    "SELECT COUNT(*) FROM enrichment_jobs WHERE status = 'pending' AND due_at <= $1";
const LIVE_CALLS: &str =
    "SELECT COUNT(*) FROM meeting_instances WHERE ended_at IS NULL AND $1 IS NOT NULL";
const FINDINGS: &str = "SELECT COUNT(*) FROM findings WHERE $1 IS NOT NULL";

/// Waits until nothing is pending, due for evaluation or due for enrichment.
async fn settle(target: &Target, db: &SqlitePool) -> Duration {
    let started = Instant::now();
    loop {
        let now_ms = Utc::now().timestamp_millis();
        let pending = target.metric("chaperone_inbox_pending").await;
        let due = count(db, DUE_EVALUATIONS, now_ms).await;
        let enrichment = count(db, DUE_ENRICHMENT, now_ms).await;
        if pending == 0 && due == 0 && enrichment == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < SETTLE_TIMEOUT,
            "did not settle within {SETTLE_TIMEOUT:?}: {pending} events pending, {due} calls \
             due for evaluation, {enrichment} enrichment jobs due"
        );
        tokio::time::sleep(SETTLE_POLL_INTERVAL).await;
    }
}

/// One change, timed.
struct Change {
    ack: Duration,
    evaluated: Duration,
    /// Acknowledgement to the processor's commit, and that to the evaluation, from the
    /// inbox's `processed_at` (wall clock, millisecond resolution).
    processed: Duration,
    judged: Duration,
}

/// A new guest joins `call`; waits until the evaluation has identified the guest.
async fn change_one(target: &Target, db: &SqlitePool, call: usize, guest: u64) -> Change {
    let role = Role::Guest(guest);
    let body = target.joined(call, role, Utc::now());
    let dedup_key = match payload::parse(body.as_bytes()) {
        Ok(ZoomDelivery::Event { dedup_key, .. }) => dedup_key,
        other => panic!("a participant_joined body parses as an event, not {other:?}"),
    };
    let instance_key = target.call_uuid(call);
    let session_key = Target::session_key(call, role);
    let sent = Instant::now();
    if let Err(error) = target.post_zoom(body).await {
        panic!("call {call}: a change was not acknowledged: {error}");
    }
    let acked = Instant::now();
    let acked_ms = Utc::now().timestamp_millis();
    loop {
        let basis: Option<String> = sqlx::query(
            "SELECT s.identity_basis FROM participant_sessions s \
             JOIN meeting_instances i ON i.id = s.instance_id \
             WHERE i.instance_key = $1 AND s.session_key = $2",
        )
        .bind(&instance_key)
        .bind(&session_key)
        .fetch_optional(db)
        .await
        .expect("the register can be read")
        .and_then(|row| row.try_get(0).ok())
        .flatten();
        if basis.is_some() {
            break;
        }
        assert!(
            acked.elapsed() < CHANGE_TIMEOUT,
            "call {call}: the change was not evaluated within {CHANGE_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let evaluated = acked.elapsed();
    let evaluated_ms = Utc::now().timestamp_millis();
    let processed_ms: i64 = sqlx::query("SELECT processed_at FROM inbox WHERE dedup_key = $1")
        .bind(&dedup_key)
        .fetch_one(db)
        .await
        .expect("the inbox can be read")
        .try_get::<Option<i64>, _>(0)
        .expect("processed_at is a number")
        .expect("an evaluated change was processed");
    let span = |from: i64, to: i64| Duration::from_millis(u64::try_from(to - from).unwrap_or(0));
    Change {
        ack: acked - sent,
        evaluated,
        processed: span(acked_ms, processed_ms),
        judged: span(processed_ms, evaluated_ms),
    }
}

/// Times `Evaluator::evaluate_next` for each call in `instance_ids`, queued one at a time;
/// answers the times and how many passes found something else to do (the service's own
/// evaluator took the call first, or another call's timer was due first).
async fn time_evaluator(
    evaluator: &Evaluator,
    db: &Db,
    instance_ids: &[i64],
) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(instance_ids.len());
    let mut other = 0;
    for &id in instance_ids {
        let mut connection = db.pool.acquire().await.expect("a connection");
        queue::enqueue(&mut connection, EvaluationTarget::Instance(id), Utc::now())
            .await
            .expect("the call is queued");
        drop(connection);
        let started = Instant::now();
        match evaluator.evaluate_next(Utc::now()).await {
            Ok(Step::Evaluated { .. }) => times.push(started.elapsed()),
            Ok(Step::Deferred | Step::Empty) => other += 1,
            Err(error) => panic!("call {id} could not be evaluated: {error}"),
        }
    }
    (times, other)
}

/// `count` call ids spread over the calls in progress.
async fn spread_instance_ids(db: &SqlitePool, count: usize) -> Vec<i64> {
    let ids: Vec<i64> = sqlx::query("SELECT id FROM meeting_instances ORDER BY id")
        .fetch_all(db)
        .await
        .expect("the calls can be listed")
        .iter()
        .map(|row| row.try_get(0).expect("an id"))
        .collect();
    let count = count.min(ids.len());
    (0..count)
        .map(|index| ids[index * ids.len() / count])
        .collect()
}

fn latency_line(latencies: &mut [Duration]) -> String {
    latencies.sort_unstable();
    format!(
        "min {:.2} ms, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        latencies
            .first()
            .map_or(f64::NAN, |least| least.as_secs_f64() * 1e3),
        percentile_ms(latencies, 0.50),
        percentile_ms(latencies, 0.90),
        percentile_ms(latencies, 0.99),
        percentile_ms(latencies, 1.0),
        latencies.len(),
    )
}

/// VmRSS and VmHWM of process `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/PID/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "not available".into())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `chaperone import` and `chaperone serve` with the benchmark's settings.
struct Service {
    env: Vec<(String, String)>,
}

impl Service {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaperone"));
        command
            .args(args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command
    }

    fn import(&self, school_file: &Path) {
        let status = self
            .command(&["import", &school_file.display().to_string()])
            .status()
            .expect("chaperone import runs");
        assert!(status.success(), "chaperone import failed: {status}");
    }
}

/// The serving process; killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(base_url: &str, serving: &mut Serving) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < START_DEADLINE {
        let ready = client
            .get(format!("{base_url}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|response| response.status() == reqwest::StatusCode::OK);
        if ready {
            return;
        }
        if let Ok(Some(status)) = serving.0.try_wait() {
            panic!("chaperone serve exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("chaperone serve did not become ready within {START_DEADLINE:?}");
}

fn main() {
    let bench = BenchSettings::from_env();
    let calls = *bench.levels.last().expect("at least one level");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let zoom_secret = random_hex(32);
    let account_id = format!("bench{}", random_hex(17));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let database = folder.path().join("bench.db");
    let mut env: Vec<(String, String)> = [
        ("CHAPERONE__SERVER__BIND", format!("127.0.0.1:{port}")),
        ("CHAPERONE__SERVER__WORKER_ENABLED", "true".to_string()),
        (
            "CHAPERONE__DATABASE__URL",
            format!("sqlite://{}", database.display()),
        ),
        ("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", zoom_secret.clone()),
        ("CHAPERONE__API__ADMIN_TOKEN", random_hex(48)),
        ("CHAPERONE__LOG__LEVEL", "error".to_string()),
    ]
    .map(|(name, value)| (name.to_string(), value))
    .into();
    // CHAPERONE__* variables of the environment are passed on by the child's inherited
    // environment; they are named here so that the report says what was changed.
    let overrides: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("CHAPERONE__"))
        .collect();
    env.retain(|(name, _)| !overrides.iter().any(|(other, _)| other == name));
    let database_settings = Settings::load_from(None, env.iter().cloned())
        .expect("benchmark settings load")
        .database;
    let service = Service { env };

    std::fs::write(folder.path().join("people.csv"), people_csv(calls))
        .expect("the CSV is written");
    let school_path = folder.path().join("school.toml");
    std::fs::write(&school_path, school_toml(&account_id)).expect("the school file is written");
    let import_started = Instant::now();
    service.import(&school_path);
    let import_secs = import_started.elapsed().as_secs_f64();

    let load = runtime("load", Some(bench.client_threads));
    let base_url = format!("http://127.0.0.1:{port}");
    let mut serving = Serving(
        service
            .command(&["serve"])
            .spawn()
            .expect("chaperone serve starts"),
    );
    load.block_on(wait_ready(&base_url, &mut serving));
    let pid = serving.0.id();

    let db = load.block_on(async {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", database.display()))
            .expect("the database path is a URL")
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("the benchmark reads the service's database")
    });
    let evaluator_db = load.block_on(async {
        Db::connect(&database_settings)
            .await
            .expect("the benchmark opens the service's database")
    });
    let evaluator = Evaluator::new(
        evaluator_db.clone(),
        Arc::new(BankHolidays::shipped()),
        Wakeups::default(),
    );
    let target = Arc::new(Target {
        client: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(bench.setup_concurrency.max(8))
            .build()
            .expect("an HTTP client"),
        base_url,
        zoom_secret: Secret::new(zoom_secret),
        account_id,
        run_id: random_hex(12),
        started_at: DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now is a time"),
    });

    let (rss_idle, _) = memory_kib(pid);
    println!(
        "chaperone live calls benchmark: release binary as a process (pid {pid}), SQLite, \
         workers on, {} cores, load generator on {} threads",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.client_threads
    );
    println!(
        "  directory of {} staff and {calls} pupils imported in {import_secs:.1} s; policy: \
         two-staff-code-of-conduct as shipped; no alert recipients",
        2 * calls
    );
    common::print_overrides(&overrides);
    println!("  service resident after start: {:.1} MiB", mib(rss_idle));

    let mut live = 0;
    let mut summary: Vec<(usize, u64, u64, f64, f64)> = Vec::new();
    for &level in &bench.levels {
        let load_before = load_average();
        let setup_started = Instant::now();
        load.block_on(put_calls_in_progress(
            target.clone(),
            live,
            level,
            bench.setup_concurrency,
        ));
        let sent = setup_started.elapsed();
        load.block_on(settle(&target, &db));
        let settled = setup_started.elapsed();
        let events = 5 * (level - live);
        live = level;
        let (rss, hwm) = memory_kib(pid);
        let (live_calls, findings) = load.block_on(async {
            (
                count(&db, LIVE_CALLS, 0).await,
                count(&db, FINDINGS, 0).await,
            )
        });
        assert_eq!(
            live_calls as usize, level,
            "every call set up is in progress"
        );
        println!(
            "{level} calls live ({} participants): set-up sent in {:.1} s ({} events), \
             processed and evaluated by {:.1} s; {findings} findings",
            4 * level,
            sent.as_secs_f64(),
            events,
            settled.as_secs_f64(),
        );
        println!(
            "  service resident: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
            mib(rss),
            mib(hwm)
        );

        let changes = bench.changes.min(level);
        let guest = 1 + summary.len() as u64;
        let measured = load.block_on(async {
            let mut measured = Vec::with_capacity(changes);
            for index in 0..changes {
                let call = index * level / changes;
                measured.push(change_one(&target, &db, call, guest).await);
            }
            measured
        });
        let load_after = load_average();
        let load_before_direct = load_average();
        let (mut direct, other) = load.block_on(async {
            let ids = spread_instance_ids(&db, changes).await;
            time_evaluator(&evaluator, &evaluator_db, &ids).await
        });
        let load_after_direct = load_average();
        let direct_p50 = {
            direct.sort_unstable();
            percentile_ms(&direct, 0.5)
        };
        let mut evaluated: Vec<Duration> = measured.iter().map(|c| c.evaluated).collect();
        let mut acks: Vec<Duration> = measured.iter().map(|c| c.ack).collect();
        let mut processed: Vec<Duration> = measured.iter().map(|c| c.processed).collect();
        let mut judged: Vec<Duration> = measured.iter().map(|c| c.judged).collect();
        let p50 = {
            evaluated.sort_unstable();
            percentile_ms(&evaluated, 0.5)
        };
        println!("  {changes} changes (a guest joins), one at a time:");
        println!(
            "    acknowledged -> evaluation committed: {}",
            latency_line(&mut evaluated)
        );
        println!(
            "      acknowledged -> processed: {}",
            latency_line(&mut processed)
        );
        println!(
            "      processed -> evaluated: {}",
            latency_line(&mut judged)
        );
        println!("    send -> acknowledged: {}", latency_line(&mut acks));
        println!("  load average before {load_before}, after {load_after}");
        println!(
            "  the evaluator's step alone (in this process, {} calls queued one at a time): {}; \
             {other} passes found other work",
            direct.len() + other,
            latency_line(&mut direct)
        );
        println!("  load average before {load_before_direct}, after {load_after_direct}");
        summary.push((level, rss, hwm, p50, direct_p50));
    }

    let (rss, hwm) = memory_kib(pid);
    println!("summary:");
    for (level, rss, hwm, p50, direct_p50) in &summary {
        println!(
            "  {level:>6} calls live: VmRSS {:.1} MiB, VmHWM {:.1} MiB, change evaluated p50 \
             {p50:.1} ms, evaluator step p50 {direct_p50:.2} ms",
            mib(*rss),
            mib(*hwm)
        );
    }
    println!(
        "  goal: resident under {GOAL_RESIDENT_MIB:.0} MiB with {calls} calls live: {} \
         (VmRSS {:.1} MiB, VmHWM {:.1} MiB)",
        if mib(rss) < GOAL_RESIDENT_MIB {
            "met"
        } else {
            "NOT met"
        },
        mib(rss),
        mib(hwm)
    );
    drop(serving);
}
