//! PostgreSQL scale-out benchmark: the real `chaperone` binary, one instance and then two on
//! one PostgreSQL database, each run on a fresh database of its own (made on the server at
//! `CHAPERONE_BENCH_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432, and dropped
//! afterwards).
//!
//! Each run imports a school that checks only for unknown participants and sends each alert
//! to a signed webhook received here, starts the instances (`chaperone serve`, configured by
//! CHAPERONE__ variables, as the fault suite does), and sends them distinct, really signed Zoom
//! `meeting.participant_joined` webhooks in turn over loopback: a closed loop of
//! `BENCH_CONCURRENCY` connections (default 64) for `BENCH_SECONDS` (default 10) after
//! `BENCH_WARMUP_SECONDS` (default 2), whose backlog is worked off first. It prints the
//! events acknowledged per second and the end-to-end rate: acknowledged, processed and chained
//! by the ledger (inbox backlog and `ledger_pending` both zero), from the start of the load.
//!
//! Then it checks that nothing was lost or duplicated, and panics otherwise: every
//! acknowledged event in the inbox and processed, none set aside; one unknown-participant
//! finding per acknowledged guest and none twice; each finding's alert sent once and
//! received once; and `chaperone verify` holds the ledger intact.
//! Run with `cargo bench --bench scale_out` (see BENCHMARKS.md).

mod common;

use common::zoom_load::{Expect, ZoomSender, HOST_ZOOM_ID};
use common::{
    closed_loop, cpu_line, cpu_sample, latency_line, random_hex, runtime, wait_settled,
    BenchSettings, Settled, Tally,
};

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chaperone::alerts::channels::verify_standard_webhook;
use chaperone::config::Secret;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Executor, Row};
use tokio::runtime::Runtime;

const POSTGRES_URL_VARIABLE: &str = "CHAPERONE_BENCH_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// The variables the school file names for the connection's and the alert webhook's secrets.
const ZOOM_SECRET_VARIABLE: &str = "BENCH_ZOOM_WEBHOOK_SECRET";
const ALERT_SECRET_VARIABLE: &str = "BENCH_ALERT_WEBHOOK_SECRET";
/// How long an instance may take to answer `/readyz` 200.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long an instance gets to stop after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// A second sending of an alert would come within this of the last one.
const LATE_ALERT_GRACE: Duration = Duration::from_secs(2);

/// The alerts' receiver: every delivery verified, recorded by finding and `webhook-id`.
#[derive(Default)]
struct Received {
    /// finding id → the `webhook-id` of each arrival.
    alerts: Mutex<HashMap<i64, Vec<String>>>,
    unverified: std::sync::atomic::AtomicU64,
}

impl Received {
    fn distinct_findings(&self) -> usize {
        self.alerts.lock().unwrap().len()
    }

    fn arrivals(&self) -> usize {
        self.alerts.lock().unwrap().values().map(Vec::len).sum()
    }

    /// Findings alerted under more than one `webhook-id`: a receiver would take them twice.
    fn under_two_ids(&self) -> usize {
        self.alerts
            .lock()
            .unwrap()
            .values()
            .filter(|ids| ids.iter().collect::<HashSet<_>>().len() > 1)
            .count()
    }

    fn clear(&self) {
        self.alerts.lock().unwrap().clear();
    }
}

struct AlertReceiver {
    received: Arc<Received>,
    url: String,
}

impl AlertReceiver {
    fn start(runtime: &Runtime, secret: &str) -> AlertReceiver {
        let received = Arc::new(Received::default());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port for the alert receiver");
        let url = format!(
            "http://{}/alerts",
            listener.local_addr().expect("the receiver's address")
        );
        let app = Router::new()
            .route("/alerts", post(receive))
            .with_state((received.clone(), Secret::new(secret.to_string())));
        runtime.spawn(async move { axum::serve(listener, app).await });
        AlertReceiver { received, url }
    }
}

async fn receive(
    State((received, secret)): State<(Arc<Received>, Secret)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = chrono::Utc::now().timestamp();
    if verify_standard_webhook(&secret, &headers, &body, now).is_err() {
        received
            .unverified
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    let message: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if message["type"] == "finding.alert" {
        let webhook_id = headers
            .get("webhook-id")
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let finding_id = message["finding_id"].as_i64().unwrap_or(-1);
        received
            .alerts
            .lock()
            .unwrap()
            .entry(finding_id)
            .or_default()
            .push(webhook_id);
    }
    StatusCode::NO_CONTENT
}

/// One run's database on the PostgreSQL server, dropped by [`Database::drop_now`].
struct Database {
    server: String,
    name: String,
}

impl Database {
    async fn create(server: &str, label: &str) -> Database {
        let server = server.trim_end_matches('/').to_string();
        let name = format!(
            "chaperone_bench_scale_{label}_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        );
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|error| panic!("PostgreSQL at {server} cannot be reached: {error}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("a database for the run");
        Database { server, name }
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    async fn drop_now(self) {
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", self.server))
            .await
            .expect("PostgreSQL can be reached to drop the run's database");
        admin
            .execute(format!("DROP DATABASE {} WITH (FORCE)", self.name).as_str())
            .await
            .expect("the run's database is dropped");
    }
}

/// What every instance of a run is started with.
struct Deployment {
    database_url: String,
    zoom_secret: String,
    alert_secret: String,
    secrets_key: String,
    admin_token: String,
}

impl Deployment {
    fn command(&self, args: &[&str], port: u16) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaperone"));
        command
            .args(args)
            .env("CHAPERONE__DATABASE__URL", &self.database_url)
            .env("CHAPERONE__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("CHAPERONE__SERVER__WORKER_ENABLED", "true")
            // Each connection has a secret of its own; the shared endpoint is not used.
            .env("CHAPERONE__ZOOM__SHARED_ENDPOINT", "false")
            .env("CHAPERONE__API__ADMIN_TOKEN", &self.admin_token)
            .env("CHAPERONE__SECRETS__KEY", &self.secrets_key)
            .env("CHAPERONE__LOG__LEVEL", "error")
            .env(ZOOM_SECRET_VARIABLE, &self.zoom_secret)
            .env(ALERT_SECRET_VARIABLE, &self.alert_secret)
            // For experiments (CHAPERONE__DATABASE__MAX_CONNECTIONS, say); they win.
            .envs(std::env::vars().filter(|(name, _)| name.starts_with("CHAPERONE__")))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command
    }

    /// `chaperone import FILE`, or `chaperone verify`: runs to the end, answers its status
    /// and what it wrote to stderr.
    fn run_tool(&self, args: &[&str]) -> (bool, String) {
        let output = self
            .command(args, free_port())
            .stderr(Stdio::piped())
            .output()
            .expect("chaperone runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        )
    }
}

/// A `chaperone serve` process; dropping it kills it.
struct Instance {
    child: Child,
    base_url: String,
}

impl Instance {
    fn start(deployment: &Deployment, load: &Runtime) -> Instance {
        let port = free_port();
        let child = deployment
            .command(&["serve"], port)
            .spawn()
            .expect("chaperone serve starts");
        let mut instance = Instance {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        let ready = load.block_on(async {
            while started.elapsed() < START_DEADLINE {
                let answered = client
                    .get(format!("{}/readyz", instance.base_url))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if answered.is_ok_and(|response| response.status().is_success()) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            false
        });
        assert!(
            ready && instance.child.try_wait().expect("process state").is_none(),
            "chaperone serve did not become ready"
        );
        instance
    }

    /// User and system CPU time so far, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        cpu_ticks_of(&self.child.id().to_string())
    }

    /// SIGTERM, then waits for a graceful stop (SIGKILL past [`STOP_DEADLINE`]).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < STOP_DEADLINE {
            if self.child.try_wait().expect("process state").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("an instance did not stop within {STOP_DEADLINE:?} of SIGTERM; killing it");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// User and system CPU time of process `pid` so far, in clock ticks (0 once it is gone).
fn cpu_ticks_of(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(end) = stat.rfind(')') else {
        return 0;
    };
    // After the command name in parentheses come the state (field 3), ..., utime (14), stime (15).
    let fields: Vec<&str> = stat[end + 1..].split_whitespace().collect();
    let field = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// The CPU time of every PostgreSQL server process on this machine so far, in clock ticks:
/// with the server on the same machine, where the database's share of the time goes.
fn postgres_cpu_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.bytes().all(|byte| byte.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(|pid| cpu_ticks_of(&pid))
        .sum()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn school_file(folder: &Path, account_id: &str, alert_url: &str) -> std::path::PathBuf {
    let mut school = format!(
        r#"[[school]]
slug = "bench"
name = "Benchmark School"
timezone = "Europe/London"

[[school.connections]]
platform = "zoom"
account_id = "{account_id}"
label = "benchmark account"
webhook_secret_env = "{ZOOM_SECRET_VARIABLE}"

[[school.people]]
ref = "BENCH-STAFF-1"
kind = "staff"
role = "staff"
name = "Bench Host"
emails = ["host@bench.example"]
zoom_user_ids = ["{HOST_ZOOM_ID}"]

[school.policy]
preset = "two-staff-code-of-conduct"
"#
    );
    // Only unknown participants are checked: one finding per guest, none for the staff.
    for rule in [
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
    ] {
        school.push_str(&format!(
            "[school.policy.overrides.{rule}]\nenabled = {}\n",
            rule == "unknown_participant"
        ));
    }
    school.push_str(&format!(
        "[school.alerts]\nescalate_after_mins = 600\ndigest_hour = -1\n\
         [[school.alerts.webhooks]]\nurl = \"{alert_url}\"\nsecret_env = \"{ALERT_SECRET_VARIABLE}\"\n\
         min_severity = \"low\"\n"
    ));
    let file = folder.join("school.toml");
    std::fs::write(&file, school).expect("the school file is written");
    file
}

/// What a run measured and found.
struct RunResult {
    instances: usize,
    acknowledged_rate: f64,
    end_to_end_rate: Option<f64>,
    problems: Vec<String>,
}

async fn count(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .try_get::<i64, _>(0)
        .expect("a count")
}

fn run(
    instances: usize,
    server: &str,
    bench: &BenchSettings,
    load: &Runtime,
    receiver: &AlertReceiver,
    alert_secret: &str,
    alerts_limit: Duration,
) -> RunResult {
    println!("--- {instances} instance(s) on one PostgreSQL database");
    receiver.received.clear();
    let database = load.block_on(Database::create(server, &format!("{instances}i")));
    let folder = tempfile::tempdir().expect("a temporary folder");
    let account_id = format!("bench{}", random_hex(17));
    let deployment = Deployment {
        database_url: database.url(),
        zoom_secret: random_hex(32),
        alert_secret: alert_secret.to_string(),
        secrets_key: STANDARD.encode(random_hex(32)),
        admin_token: random_hex(48),
    };
    let school = school_file(folder.path(), &account_id, &receiver.url);
    let (imported, said) = deployment.run_tool(&["import", &school.display().to_string()]);
    assert!(imported, "chaperone import failed: {said}");

    let running: Vec<Instance> = (0..instances)
        .map(|_| Instance::start(&deployment, load))
        .collect();
    sqlx::any::install_default_drivers();
    let pool = load
        .block_on(
            AnyPoolOptions::new()
                .max_connections(2)
                .connect(&deployment.database_url),
        )
        .expect("the benchmark reads the database");
    let endpoint: String = load
        .block_on(
            sqlx::query("SELECT endpoint_id FROM platform_accounts WHERE endpoint_id IS NOT NULL")
                .fetch_one(&pool),
        )
        .expect("the connection has an endpoint")
        .try_get(0)
        .expect("an endpoint id");
    let urls = running
        .iter()
        .map(|instance| format!("{}/webhooks/zoom/{endpoint}", instance.base_url))
        .collect();
    let sender = Arc::new(ZoomSender::new(
        bench.client(),
        urls,
        &deployment.zoom_secret,
        &account_id,
        Expect::Accepted,
    ));

    let warmup = load.block_on(closed_loop(sender.clone(), bench.concurrency, bench.warmup));
    let before = load.block_on(wait_settled(&pool, bench.drain));
    println!(
        "warm-up: {} events acknowledged in {:.1} s; caught up {}",
        warmup.tally.acknowledged,
        warmup.elapsed.as_secs_f64(),
        if before.settled.is_some() {
            "before the measured load".to_string()
        } else {
            format!("NOT: {:?} left", before.left)
        }
    );

    let cpu_before = cpu_sample();
    let ticks_before: Vec<u64> = running.iter().map(Instance::cpu_ticks).collect();
    let postgres_before = postgres_cpu_ticks();
    let started = Instant::now();
    let mut phase = load.block_on(closed_loop(
        sender.clone(),
        bench.concurrency,
        bench.duration,
    ));
    let load_ended = Instant::now();
    let cpu_after = cpu_sample();
    let left = load.block_on(common::backlog(&pool)).expect("the backlog");
    let settled: Settled = load.block_on(wait_settled(&pool, bench.drain));
    let ticks_after: Vec<u64> = running.iter().map(Instance::cpu_ticks).collect();
    let postgres_after = postgres_cpu_ticks();
    let window_secs = started.elapsed().as_secs_f64();
    let acknowledged_rate = phase.tally.acknowledged as f64 / phase.elapsed.as_secs_f64();
    println!(
        "load (closed loop, {} connections over {instances} instance(s), {:.1} s): {:.0} events/s \
         acknowledged ({} events), {} not acknowledged",
        bench.concurrency,
        phase.elapsed.as_secs_f64(),
        acknowledged_rate,
        phase.tally.acknowledged,
        phase.tally.not_acknowledged(),
    );
    println!(
        "  ack latency under saturation: {}",
        latency_line(&mut phase.tally.latencies)
    );
    println!("  during the load: {}", cpu_line(cpu_before, cpu_after));
    println!(
        "    (the instances are other processes: \"everything else\" includes them and PostgreSQL)"
    );
    // Linux's USER_HZ.
    let ticks_per_sec = 100.0;
    let busy = |ticks: u64| {
        let secs = ticks as f64 / ticks_per_sec;
        format!(
            "{secs:.1} s of CPU ({:.0} % of one core)",
            100.0 * secs / window_secs
        )
    };
    println!("  from the start of the load until caught up ({window_secs:.1} s):");
    for (index, (before, after)) in ticks_before.iter().zip(&ticks_after).enumerate() {
        println!(
            "    instance {}: {}",
            index + 1,
            busy(after.saturating_sub(*before))
        );
    }
    println!(
        "    PostgreSQL (every server process): {}",
        busy(postgres_after.saturating_sub(postgres_before))
    );
    println!(
        "  backlog when the load ended: {} events to process, {} records to chain, {} \
         evaluations due",
        left.inbox_pending, left.ledger_pending, left.evaluations_due
    );
    let end_to_end_rate = settled.processed_and_chained.map(|done| {
        let rate = phase.tally.acknowledged as f64 / (done - started).as_secs_f64();
        println!(
            "end to end: {rate:.0} events/s acknowledged, processed and chained ({} events in \
             {:.2} s from the start of the load); inbox and ledger empty {:.2} s after the load \
             ended{}",
            phase.tally.acknowledged,
            (done - started).as_secs_f64(),
            done.saturating_duration_since(load_ended).as_secs_f64(),
            settled.settled.map_or_else(
                || " (evaluations still due)".to_string(),
                |all| format!(
                    ", nothing left to evaluate {:.2} s after",
                    all.saturating_duration_since(load_ended).as_secs_f64()
                )
            ),
        );
        rate
    });
    println!("  {}", common::catch_up_line(&settled, load_ended));
    if end_to_end_rate.is_none() {
        println!(
            "end to end: NOT caught up {:.0} s after the load ended: {:?}",
            bench.drain.as_secs_f64(),
            settled.left
        );
    }

    let mut problems = audit(
        &pool,
        load,
        &[&warmup.tally, &phase.tally],
        sender.guests_acknowledged(),
        receiver,
        alerts_limit,
    );
    for instance in running {
        instance.stop();
    }
    let unchained = load.block_on(count(&pool, "SELECT COUNT(*) FROM ledger_pending"));
    load.block_on(pool.close());
    println!("records not yet chained when the instances stopped: {unchained}");
    problems.extend(verify_ledger(&deployment));
    if std::env::var("BENCH_KEEP_DATABASE").is_ok_and(|keep| keep == "1") {
        println!(
            "kept the database (BENCH_KEEP_DATABASE=1): {}",
            database.name
        );
    } else {
        load.block_on(database.drop_now());
    }
    RunResult {
        instances,
        acknowledged_rate,
        end_to_end_rate,
        problems,
    }
}

/// Holds the store to what was acknowledged; answers what is wrong (nothing, if all is well).
fn audit(
    pool: &AnyPool,
    load: &Runtime,
    tallies: &[&Tally],
    guests: u64,
    receiver: &AlertReceiver,
    alerts_limit: Duration,
) -> Vec<String> {
    let mut problems = Vec::new();
    let acknowledged: u64 = tallies.iter().map(|tally| tally.acknowledged).sum();
    for tally in tallies {
        if tally.not_acknowledged() > 0 {
            problems.push(format!(
                "requests not acknowledged: {}",
                tally.describe_failures()
            ));
        }
    }
    let counts =
        load.block_on(async {
            [
            count(pool, "SELECT COUNT(*) FROM inbox").await,
            count(
                pool,
                "SELECT COUNT(*) FROM inbox WHERE processed_at IS NOT NULL AND failed_at IS NULL",
            )
            .await,
            count(pool, "SELECT COUNT(*) FROM inbox WHERE failed_at IS NOT NULL").await,
            count(pool, "SELECT COUNT(*) FROM participant_sessions").await,
        ]
        });
    let [rows, processed, failed, sessions] = counts.map(|n| n as u64);
    println!(
        "inbox: {rows} rows for {acknowledged} acknowledged events, {processed} processed, \
         {failed} set aside; {sessions} participant sessions in the register"
    );
    if rows != acknowledged {
        problems.push(format!(
            "the inbox holds {rows} events for {acknowledged} acknowledged"
        ));
    }
    if processed != acknowledged || failed > 0 {
        problems.push(format!(
            "{processed} of {acknowledged} events processed, {failed} set aside"
        ));
    }
    if sessions != acknowledged {
        problems.push(format!(
            "{sessions} participant sessions for {acknowledged} joins"
        ));
    }

    // Every finding is made by the time the backlog settled; the alerts follow.
    let findings_sql = "SELECT COUNT(*) FROM findings WHERE rule = 'unknown_participant'";
    let findings = load.block_on(count(pool, findings_sql)) as u64;
    let alerts_started = Instant::now();
    let all_alerted = load.block_on(async {
        while alerts_started.elapsed() < alerts_limit {
            if receiver.received.distinct_findings() as u64 >= findings {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let alerts_took = alerts_started.elapsed();
    std::thread::sleep(LATE_ALERT_GRACE);
    let (findings_twice, other_findings, deliveries, deliveries_twice) = load.block_on(async {
        (
            count(
                pool,
                "SELECT COUNT(*) FROM (SELECT subject FROM findings WHERE rule = \
                 'unknown_participant' GROUP BY subject HAVING COUNT(*) > 1) AS twice",
            )
            .await,
            count(
                pool,
                "SELECT COUNT(*) FROM findings WHERE rule <> 'unknown_participant'",
            )
            .await,
            sqlx::query("SELECT status, COUNT(*) AS n FROM alert_deliveries GROUP BY status")
                .fetch_all(pool)
                .await
                .expect("the deliveries can be read")
                .into_iter()
                .map(|row| {
                    (
                        row.try_get::<String, _>("status").expect("a status"),
                        row.try_get::<i64, _>("n").expect("a count"),
                    )
                })
                .collect::<HashMap<String, i64>>(),
            count(
                pool,
                "SELECT COUNT(*) FROM (SELECT finding_id FROM alert_deliveries \
                 WHERE kind = 'alert' GROUP BY finding_id, recipient HAVING COUNT(*) > 1) AS twice",
            )
            .await,
        )
    });
    let received = &receiver.received;
    let arrivals = received.arrivals();
    let distinct = received.distinct_findings();
    let unverified = received
        .unverified
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "findings: {findings} unknown-participant findings for {guests} acknowledged guests, \
         {findings_twice} guests with more than one, {other_findings} of other rules"
    );
    println!(
        "alerts: {distinct} findings alerted ({arrivals} arrivals, {} under two webhook-ids, \
         {unverified} unverified), all in {:.1} s after the backlog settled{}; deliveries by \
         status {deliveries:?}",
        received.under_two_ids(),
        alerts_took.as_secs_f64(),
        if all_alerted { "" } else { " (NOT ALL)" },
    );
    if findings != guests || findings_twice > 0 {
        problems.push(format!(
            "{findings} findings for {guests} guests, {findings_twice} made twice"
        ));
    }
    if !all_alerted || distinct as u64 != findings {
        problems.push(format!("{distinct} of {findings} findings alerted"));
    }
    if arrivals != distinct || deliveries_twice > 0 || unverified > 0 {
        problems.push(format!(
            "alerts duplicated: {arrivals} arrivals for {distinct} findings, {deliveries_twice} \
             queued twice, {unverified} unverified"
        ));
    }
    problems
}

/// `chaperone verify` on the run's database, once every instance has stopped and so every
/// record written is chained: answers a problem if the ledger does not hold.
fn verify_ledger(deployment: &Deployment) -> Option<String> {
    let (verified, said) = deployment.run_tool(&["verify"]);
    println!(
        "chaperone verify (instances stopped): {}: {said}",
        if verified { "passed" } else { "FAILED" }
    );
    (!verified).then(|| format!("chaperone verify failed: {said}"))
}

fn main() {
    let bench = BenchSettings::from_env();
    let server =
        std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
    let alerts_limit = Duration::from_secs_f64(common::env_or("BENCH_ALERTS_SECONDS", 300.0));
    let load = runtime("load", Some(bench.client_threads));
    // The receiver has a thread of its own, so alerts are taken while the load runs.
    let receiving = runtime("alerts", Some(1));
    let alert_secret = format!("whsec_{}", STANDARD.encode(random_hex(32)));
    let receiver = AlertReceiver::start(&receiving, &alert_secret);
    println!(
        "chaperone scale-out benchmark: PostgreSQL, the release binary, {} cores, load \
         generator on {} threads",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.client_threads
    );

    let one = run(
        1,
        &server,
        &bench,
        &load,
        &receiver,
        &alert_secret,
        alerts_limit,
    );
    let two = run(
        2,
        &server,
        &bench,
        &load,
        &receiver,
        &alert_secret,
        alerts_limit,
    );

    println!("--- summary");
    for result in [&one, &two] {
        println!(
            "{} instance(s): {:.0} events/s acknowledged, {} end to end",
            result.instances,
            result.acknowledged_rate,
            result.end_to_end_rate.map_or_else(
                || "not caught up".to_string(),
                |rate| format!("{rate:.0} events/s")
            ),
        );
    }
    println!(
        "two instances against one: {:.2}× acknowledged, {} end to end (goal at least 1.6×)",
        two.acknowledged_rate / one.acknowledged_rate,
        match (one.end_to_end_rate, two.end_to_end_rate) {
            (Some(one), Some(two)) => format!("{:.2}×", two / one),
            _ => "no figure".to_string(),
        }
    );
    let problems: Vec<String> = [one, two]
        .into_iter()
        .flat_map(|result| {
            let instances = result.instances;
            result
                .problems
                .into_iter()
                .map(move |problem| format!("{instances} instance(s): {problem}"))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "LOST OR DUPLICATED: {}",
        problems.join("; ")
    );
}
