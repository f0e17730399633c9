//! Ingestion benchmark: starts the real service in-process (SQLite in a temporary folder, the
//! processor running beside the HTTP server) and sends it distinct, really signed Zoom
//! `meeting.participant_joined` webhooks over loopback.
//!
//! - Phase A, throughput: a closed loop of `BENCH_CONCURRENCY` connections (default 64) for
//!   `BENCH_SECONDS` (default 10) after `BENCH_WARMUP_SECONDS` (default 2) of warm-up.
//! - Between the phases the processor is given up to `BENCH_DRAIN_SECONDS` (default 120) to
//!   work off phase A's backlog, so phase B measures the steady state.
//! - Phase B, latency: an open loop offering `BENCH_RATE` events/s (default 1000) for
//!   `BENCH_SECONDS`, sent on a fixed schedule whatever the answers, each in its own task.
//!
//! Afterwards every acknowledged event must be in the inbox, or the benchmark panics; so does
//! any answer other than 200. Run with `cargo bench --bench ingest` (see BENCHMARKS.md).

mod common;

use common::{env_or, percentile_ms, random_hex, runtime};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaperone::config::{Secret, Settings};
use chaperone::db::Db;
use chaperone::inbox;
use chaperone::startup::Application;
use chaperone::state::AppState;
use chaperone::telemetry::metrics::WebhookOutcome;
use chaperone::zoom::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use chrono::{DateTime, Utc};
use sqlx::Row;
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The Zoom user id of the one staff member in the imported school; even-numbered joins
/// carry it, so the processor resolves a known person as well as anonymous guests.
const HOST_ZOOM_ID: &str = "BenchHostZoomUserId00A";
/// A request not answered within this is counted as a transport failure (Zoom gives up at 3 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A hard bound on the requests of any one phase, whatever the settings.
const MAX_REQUESTS_PER_PHASE: u64 = 5_000_000;
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The variable the school file names for its connection's webhook secret.
const WEBHOOK_SECRET_VARIABLE: &str = "BENCH_ZOOM_WEBHOOK_SECRET";

/// What the environment asks for; every value has a default for a full run.
struct BenchSettings {
    warmup: Duration,
    duration: Duration,
    concurrency: usize,
    rate_per_sec: u64,
    drain: Duration,
    /// Worker threads of the load generator's runtime (the service gets one per core).
    client_threads: usize,
}

impl BenchSettings {
    fn from_env() -> Self {
        let settings = BenchSettings {
            warmup: Duration::from_secs_f64(env_or("BENCH_WARMUP_SECONDS", 2.0)),
            duration: Duration::from_secs_f64(env_or("BENCH_SECONDS", 10.0)),
            concurrency: env_or("BENCH_CONCURRENCY", 64),
            rate_per_sec: env_or("BENCH_RATE", 1000),
            drain: Duration::from_secs_f64(env_or("BENCH_DRAIN_SECONDS", 120.0)),
            client_threads: env_or("BENCH_CLIENT_THREADS", 2),
        };
        assert!(
            settings.concurrency > 0,
            "BENCH_CONCURRENCY must be at least 1"
        );
        assert!(settings.rate_per_sec > 0, "BENCH_RATE must be at least 1");
        assert!(
            settings.client_threads > 0,
            "BENCH_CLIENT_THREADS must be at least 1"
        );
        settings
    }
}

/// Everything a request needs: shared by every task of the load generator.
struct Target {
    client: reqwest::Client,
    url: String,
    secret: Secret,
    account_id: String,
    run_id: String,
    next_sequence: AtomicU64,
}

enum Answer {
    Acknowledged,
    Status(u16),
    Failed,
}

impl Target {
    /// Sends the next distinct event, signed now, and waits for the whole answer.
    async fn send_next(&self) -> Answer {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let now = Utc::now();
        let body = participant_joined(&self.account_id, &self.run_id, sequence, now);
        let timestamp_secs = now.timestamp();
        let signature = signature::sign(&self.secret, timestamp_secs, body.as_bytes());
        let sent = self
            .client
            .post(&self.url)
            .header(SIGNATURE_HEADER, signature)
            .header(TIMESTAMP_HEADER, timestamp_secs.to_string())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(_) => return Answer::Failed,
        };
        let status = response.status();
        // Read the body to the end so the connection goes back to the pool.
        if response.bytes().await.is_err() {
            return Answer::Failed;
        }
        if status == reqwest::StatusCode::OK {
            Answer::Acknowledged
        } else {
            Answer::Status(status.as_u16())
        }
    }
}

/// A `meeting.participant_joined` body shaped like Zoom's (see `JOINED` in
/// src/zoom/payload.rs). Each sequence number is a new participant session, so no event is
/// a duplicate; two sessions share each meeting instance, as in a one-to-one call.
fn participant_joined(account_id: &str, run_id: &str, sequence: u64, now: DateTime<Utc>) -> String {
    let meeting = sequence / 2;
    let meeting_number = 80_000_000_000 + meeting;
    let user_id = 16_000_000 + sequence;
    let platform_user_id = if sequence % 2 == 0 { HOST_ZOOM_ID } else { "" };
    let event_ts = now.timestamp_millis();
    let join_time = now.format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"event":"meeting.participant_joined","event_ts":{event_ts},"payload":{{"account_id":"{account_id}","object":{{"uuid":"{run_id}{meeting:010}==","participant":{{"user_id":"{user_id}","user_name":"Bench {sequence}","registrant_id":"","participant_user_id":"{platform_user_id}","id":"","participant_uuid":"{run_id}-{sequence:012}","join_time":"{join_time}","email":""}},"id":"{meeting_number}","type":2,"topic":"Y9 mentoring – bench","host_id":"{HOST_ZOOM_ID}","duration":30,"start_time":"{join_time}","timezone":"Europe/London"}}}}}}"#
    )
}

/// What one phase (or one of its tasks) saw.
#[derive(Default)]
struct Tally {
    acknowledged: u64,
    /// Answers other than 200, by status.
    refused: BTreeMap<u16, u64>,
    /// Requests that got no complete answer.
    failed: u64,
    /// Ack latency of every answered request.
    latencies: Vec<Duration>,
    /// How late each open-loop request started against its schedule.
    lags: Vec<Duration>,
}

impl Tally {
    fn record(&mut self, answer: Answer, latency: Duration) {
        match answer {
            Answer::Acknowledged => self.acknowledged += 1,
            Answer::Status(status) => *self.refused.entry(status).or_default() += 1,
            Answer::Failed => {
                self.failed += 1;
                return;
            }
        }
        self.latencies.push(latency);
    }

    fn merge(&mut self, other: Tally) {
        self.acknowledged += other.acknowledged;
        for (status, count) in other.refused {
            *self.refused.entry(status).or_default() += count;
        }
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        self.lags.extend(other.lags);
    }

    fn not_acknowledged(&self) -> u64 {
        self.refused.values().sum::<u64>() + self.failed
    }

    fn describe_failures(&self) -> String {
        let mut text = format!("{} without a complete answer", self.failed);
        for (status, count) in &self.refused {
            let _ = write!(text, ", {count} answered {status}");
        }
        text
    }
}

struct PhaseResult {
    tally: Tally,
    elapsed: Duration,
}

/// Phase A: each of `concurrency` tasks sends one request at a time until `duration` is up.
async fn closed_loop(target: Arc<Target>, concurrency: usize, duration: Duration) -> PhaseResult {
    let started = Instant::now();
    let deadline = started + duration;
    let sent = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let target = target.clone();
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS_PER_PHASE
                {
                    let request_started = Instant::now();
                    let answer = target.send_next().await;
                    tally.record(answer, request_started.elapsed());
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await.expect("a load task panicked"));
    }
    PhaseResult {
        tally,
        elapsed: started.elapsed(),
    }
}

/// Phase B: starts one request every 1/`rate_per_sec` s on a fixed schedule, each in its own
/// task, whether or not earlier ones were answered.
async fn open_loop(target: Arc<Target>, rate_per_sec: u64, duration: Duration) -> PhaseResult {
    let total =
        ((rate_per_sec as f64 * duration.as_secs_f64()).round() as u64).min(MAX_REQUESTS_PER_PHASE);
    let period = Duration::from_secs_f64(1.0 / rate_per_sec as f64);
    let started = Instant::now();
    let mut requests = Vec::with_capacity(total as usize);
    for index in 0..total {
        let scheduled = started + period.mul_f64(index as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let target = target.clone();
        requests.push(tokio::spawn(async move {
            let request_started = Instant::now();
            let answer = target.send_next().await;
            (
                answer,
                request_started.elapsed(),
                request_started - scheduled,
            )
        }));
    }
    let mut tally = Tally::default();
    for request in requests {
        let (answer, latency, lag) = request.await.expect("a request task panicked");
        tally.record(answer, latency);
        tally.lags.push(lag);
    }
    PhaseResult {
        tally,
        elapsed: started.elapsed(),
    }
}

fn latency_line(latencies: &mut [Duration]) -> String {
    latencies.sort_unstable();
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile_ms(latencies, 0.50),
        percentile_ms(latencies, 0.90),
        percentile_ms(latencies, 0.99),
        percentile_ms(latencies, 0.999),
        percentile_ms(latencies, 1.0),
    )
}

/// CPU time in clock ticks, summed over all cores: the machine's and this process's.
#[derive(Clone, Copy)]
struct CpuSample {
    machine_total: u64,
    machine_busy: u64,
    this_process: u64,
}

/// Reads Linux's /proc; `None` elsewhere, and the CPU lines are then left out.
fn cpu_sample() -> Option<CpuSample> {
    let machine = std::fs::read_to_string("/proc/stat").ok()?;
    // cpu user nice system idle iowait irq softirq steal ...
    let ticks: Vec<u64> = machine
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let machine_total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    let process = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name in parentheses come the state (field 3), ..., utime (14), stime (15).
    let fields: Vec<&str> = process[process.rfind(')')? + 1..]
        .split_whitespace()
        .collect();
    let this_process =
        fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(CpuSample {
        machine_total,
        machine_busy: machine_total - idle,
        this_process,
    })
}

/// How busy the machine was between two samples, and who kept it busy. On a shared machine
/// the second figure says whether a run can be trusted.
fn cpu_line(before: Option<CpuSample>, after: Option<CpuSample>) -> String {
    let (Some(before), Some(after)) = (before, after) else {
        return "CPU use not available on this system".into();
    };
    let total = after
        .machine_total
        .saturating_sub(before.machine_total)
        .max(1) as f64;
    let busy = after.machine_busy.saturating_sub(before.machine_busy) as f64;
    let ours = after.this_process.saturating_sub(before.this_process) as f64;
    format!(
        "CPU of the whole machine: {:.0}% busy, {:.0}% this benchmark (service and load \
         generator), {:.0}% everything else",
        100.0 * busy / total,
        100.0 * ours.min(busy) / total,
        100.0 * (busy - ours).max(0.0) / total,
    )
}

/// The service under test, running in its own runtime on a fresh SQLite database.
struct Service {
    runtime: Runtime,
    state: AppState,
    port: u16,
    worker_enabled: bool,
    stop: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
    /// Holds the database; removed when the benchmark ends.
    _folder: TempDir,
}

impl Service {
    /// Builds the application exactly as `chaperone serve` would, imports one school that
    /// monitors `account_id`, and starts serving on 127.0.0.1 with the processor running.
    fn start(secret: &str, account_id: &str) -> (Service, Vec<(String, String)>) {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let env = [
            ("CHAPERONE__SERVER__BIND", "127.0.0.1:0".to_string()),
            ("CHAPERONE__SERVER__WORKER_ENABLED", "true".to_string()),
            (
                "CHAPERONE__DATABASE__URL",
                format!("sqlite://{}/bench.db", folder.path().display()),
            ),
            ("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", secret.to_string()),
            ("CHAPERONE__API__ADMIN_TOKEN", random_hex(48)),
            ("CHAPERONE__LOG__LEVEL", "warn".to_string()),
        ]
        .map(|(name, value)| (name.to_string(), value));
        // CHAPERONE__* variables in the environment come last and so win: for experiments
        // such as CHAPERONE__INBOX__MAX_BATCH or CHAPERONE__SERVER__WORKER_ENABLED=false.
        let overrides: Vec<(String, String)> = std::env::vars()
            .filter(|(name, _)| name.starts_with("CHAPERONE__"))
            .collect();
        let settings = Settings::load_from(None, env.into_iter().chain(overrides.clone()))
            .expect("benchmark settings load");
        settings
            .validate_for_serve()
            .expect("benchmark settings are valid");
        chaperone::telemetry::init(&settings.log);
        let worker_enabled = settings.server.worker_enabled;

        // The connection's secret is named in the school file, as a school's would be.
        std::env::set_var(WEBHOOK_SECRET_VARIABLE, secret);
        let school_path = folder.path().join("school.toml");
        std::fs::write(&school_path, school_file(account_id)).expect("the school file is written");
        // One worker thread per core, as `chaperone serve` would have.
        let runtime = runtime("service", None);
        let application = runtime.block_on(async {
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
        let state = application.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = runtime.spawn(application.run_until(async move {
            let _ = stopped.await;
        }));
        let service = Service {
            runtime,
            state,
            port,
            worker_enabled,
            stop,
            server,
            _folder: folder,
        };
        (service, overrides)
    }

    fn db(&self) -> &Db {
        &self.state.db
    }

    /// The connection's own endpoint, or with `BENCH_ENDPOINT=shared` the shared
    /// `/webhooks/zoom` of installations from before connections.
    fn endpoint(&self) -> String {
        if std::env::var("BENCH_ENDPOINT").is_ok_and(|endpoint| endpoint == "shared") {
            return "/webhooks/zoom".to_string();
        }
        let connections = self
            .runtime
            .block_on(chaperone::connections::store::list(self.db()))
            .expect("the connections can be listed");
        connections
            .into_iter()
            .next()
            .map(|connection| connection.endpoint)
            .expect("the benchmark school has a connection")
    }

    fn pending(&self) -> i64 {
        self.runtime
            .block_on(inbox::counts(self.db()))
            .expect("the inbox can be counted")
            .pending
    }

    /// Lets the processor work alone until nothing is pending (at most `limit`); returns
    /// how many events it applied and how many are left.
    fn drain(&self, limit: Duration) -> (i64, i64) {
        self.runtime.block_on(async {
            let processed_before = count(self.db(), "processed_at IS NOT NULL").await;
            let deadline = Instant::now() + limit;
            let mut pending = count(self.db(), "processed_at IS NULL AND failed_at IS NULL").await;
            while pending > 0 && Instant::now() < deadline {
                tokio::time::sleep(DRAIN_POLL_INTERVAL).await;
                pending = count(self.db(), "processed_at IS NULL AND failed_at IS NULL").await;
            }
            let processed = count(self.db(), "processed_at IS NOT NULL").await - processed_before;
            (processed, pending)
        })
    }

    fn inbox_rows(&self) -> u64 {
        let rows = self.runtime.block_on(count(self.db(), "TRUE"));
        u64::try_from(rows).expect("a row count is not negative")
    }

    fn accepted_by_its_own_count(&self) -> u64 {
        self.state
            .metrics
            .webhook_count("zoom", WebhookOutcome::Accepted)
    }

    /// Stops serving and waits for the in-flight work to finish.
    fn stop(self) {
        // The inbox writer ends only when every handle on it is gone, ours included.
        drop(self.state);
        let _ = self.stop.send(());
        self.runtime
            .block_on(self.server)
            .expect("the server task ends")
            .expect("the server shuts down cleanly");
    }
}

/// Inbox rows matching `condition` (a constant written in this file, never input).
async fn count(db: &Db, condition: &str) -> i64 {
    sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM inbox WHERE {condition}"
    ))
    .fetch_one(&db.pool)
    .await
    .expect("the inbox can be counted")
    .try_get("n")
    .expect("COUNT(*) is an integer")
}

fn school_file(account_id: &str) -> String {
    format!(
        r#"[[school]]
slug = "bench"
name = "Benchmark School"
timezone = "Europe/London"

[[school.connections]]
platform = "zoom"
account_id = "{account_id}"
label = "benchmark account"
webhook_secret_env = "{WEBHOOK_SECRET_VARIABLE}"

[[school.people]]
ref = "BENCH-STAFF-1"
kind = "staff"
role = "staff"
name = "Bench Host"
emails = ["host@bench.example"]
zoom_user_ids = ["{HOST_ZOOM_ID}"]
"#
    )
}

fn main() {
    let bench = BenchSettings::from_env();
    let secret = random_hex(32);
    let account_id = format!("bench{}", random_hex(17));
    let (service, overrides) = Service::start(&secret, &account_id);

    let load = runtime("load", Some(bench.client_threads));
    let target = Arc::new(Target {
        client: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(bench.concurrency.max(64))
            .build()
            .expect("an HTTP client"),
        url: format!("http://127.0.0.1:{}{}", service.port, service.endpoint()),
        secret: Secret::new(secret),
        account_id,
        run_id: random_hex(12),
        next_sequence: AtomicU64::new(0),
    });

    println!(
        "chaperone ingest benchmark: SQLite, processor {}, inbox max_batch {}, {} cores, \
         load generator on {} threads",
        if service.worker_enabled { "on" } else { "OFF" },
        service.state.settings.inbox.max_batch,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.client_threads
    );
    println!(
        "  endpoint: {}",
        if target.url.ends_with("/webhooks/zoom") {
            "the shared /webhooks/zoom"
        } else {
            "the connection's own /webhooks/zoom/{endpoint id}"
        }
    );
    for (name, value) in &overrides {
        let shown = if name.contains("TOKEN") || name.contains("URL") || name.contains("KEY") {
            "<redacted>"
        } else {
            value.as_str()
        };
        println!("  override from the environment: {name}={shown}");
    }

    let warmup = load.block_on(closed_loop(target.clone(), bench.concurrency, bench.warmup));
    println!(
        "warm-up: {} events acknowledged in {:.1} s",
        warmup.tally.acknowledged,
        warmup.elapsed.as_secs_f64()
    );

    let cpu_before = cpu_sample();
    let mut throughput = load.block_on(closed_loop(
        target.clone(),
        bench.concurrency,
        bench.duration,
    ));
    let cpu_after = cpu_sample();
    let backlog = service.pending();
    println!(
        "phase A (closed loop, {} connections, {:.1} s): {:.0} events/s acknowledged \
         ({} events), {} not acknowledged",
        bench.concurrency,
        throughput.elapsed.as_secs_f64(),
        throughput.tally.acknowledged as f64 / throughput.elapsed.as_secs_f64(),
        throughput.tally.acknowledged,
        throughput.tally.not_acknowledged(),
    );
    println!(
        "  ack latency under saturation: {}",
        latency_line(&mut throughput.tally.latencies)
    );
    println!("  {}", cpu_line(cpu_before, cpu_after));
    println!("  processor backlog at the end of phase A: {backlog} events");

    if service.worker_enabled {
        let drain_started = Instant::now();
        let cpu_before = cpu_sample();
        let (drained, left) = service.drain(bench.drain);
        let cpu_after = cpu_sample();
        let drain_secs = drain_started.elapsed().as_secs_f64();
        println!(
            "  processor then applied {drained} events alone in {drain_secs:.1} s \
             ({:.0} events/s); {left} still pending",
            drained as f64 / drain_secs,
        );
        println!("    {}", cpu_line(cpu_before, cpu_after));
    }

    let cpu_before = cpu_sample();
    let mut latency = load.block_on(open_loop(target, bench.rate_per_sec, bench.duration));
    let cpu_after = cpu_sample();
    println!(
        "phase B (open loop, {} events/s offered for {:.1} s): {} acknowledged, {} not acknowledged",
        bench.rate_per_sec,
        bench.duration.as_secs_f64(),
        latency.tally.acknowledged,
        latency.tally.not_acknowledged(),
    );
    println!(
        "  ack latency: {}",
        latency_line(&mut latency.tally.latencies)
    );
    latency.tally.lags.sort_unstable();
    println!(
        "  load generator lag behind schedule: p99 {:.2} ms, max {:.2} ms",
        percentile_ms(&latency.tally.lags, 0.99),
        percentile_ms(&latency.tally.lags, 1.0),
    );
    println!("  {}", cpu_line(cpu_before, cpu_after));

    let phases = [&warmup.tally, &throughput.tally, &latency.tally];
    let acknowledged: u64 = phases.iter().map(|tally| tally.acknowledged).sum();
    let not_acknowledged: u64 = phases.iter().map(|tally| tally.not_acknowledged()).sum();
    let rows = service.inbox_rows();
    println!(
        "inbox rows: {rows}; 200 answers: {acknowledged}; accepted by the service's own count: \
         {}; still pending processing: {}",
        service.accepted_by_its_own_count(),
        service.pending(),
    );
    service.stop();

    assert!(
        rows >= acknowledged,
        "{} ACKNOWLEDGED EVENTS ARE MISSING from the inbox ({rows} rows for {acknowledged} 200 answers)",
        acknowledged - rows,
    );
    assert_eq!(
        not_acknowledged,
        0,
        "requests were not acknowledged: warm-up {}; phase A {}; phase B {}",
        warmup.tally.describe_failures(),
        throughput.tally.describe_failures(),
        latency.tally.describe_failures(),
    );
    assert_eq!(
        rows, acknowledged,
        "the inbox holds events that were never acknowledged"
    );
}
