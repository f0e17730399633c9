//! What the benchmarks share: settings from the environment, percentiles, and the harness of
//! the ingestion benchmarks. The harness starts the real service in-process (SQLite in a
//! temporary folder, the workers beside the HTTP server), offers it load in a closed and an
//! open loop, reads the machine's CPU use from /proc, and checks that every acknowledged
//! delivery is in the inbox.
// Each benchmark compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod zoom_load;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaperone::config::Settings;
use chaperone::db::Db;
use chaperone::inbox;
use chaperone::startup::Application;
use chaperone::state::AppState;
use chaperone::telemetry::metrics::WebhookOutcome;
use sqlx::Row;
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A request not answered within this is counted as a transport failure (Zoom gives up at
/// 3 s, Pub/Sub's default acknowledgement deadline is 10 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A hard bound on the requests of any one phase, whatever the settings.
const MAX_REQUESTS_PER_PHASE: u64 = 5_000_000;
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// What the pipeline answers for a delivery it committed (`webhooks::acknowledged`).
const ACCEPTED_BODY: &[u8] = br#"{"status":"accepted"}"#;

/// A setting from the environment, or `default`; a value that does not parse stops the run.
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {value:?}")),
        Err(_) => default,
    }
}

/// The `q` quantile of `sorted`, in milliseconds (nearest rank).
pub fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// A random lowercase hex string (std's per-process random hash keys are enough here).
pub fn random_hex(chars: usize) -> String {
    let mut text = String::with_capacity(chars + 16);
    let mut counter = 0u64;
    while text.len() < chars {
        let _ = write!(text, "{:016x}", RandomState::new().hash_one(counter));
        counter += 1;
    }
    text.truncate(chars);
    text
}

/// A multi-threaded tokio runtime with named threads.
pub fn runtime(name: &str, worker_threads: Option<usize>) -> Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    builder
        .thread_name(name)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// What the environment asks of an ingestion benchmark; every value has a default for a
/// full run.
pub struct BenchSettings {
    pub warmup: Duration,
    pub duration: Duration,
    pub concurrency: usize,
    pub rate_per_sec: u64,
    pub drain: Duration,
    /// Worker threads of the load generator's runtime (the service gets one per core).
    pub client_threads: usize,
}

impl BenchSettings {
    pub fn from_env() -> Self {
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

    /// The load generator's HTTP client: keep-alive, loopback only.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(self.concurrency.max(64))
            .build()
            .expect("an HTTP client")
    }
}

/// How one request was answered.
pub enum Answer {
    /// 200, committed to the inbox.
    Acknowledged,
    /// 200 without keeping it (`not_monitored`, `duplicate`, `set_aside`, `ignored`): the
    /// benchmark's deliveries were meant to be kept, so this is a fault of the set-up.
    NotKept(String),
    Status(u16),
    Failed,
}

/// Reads a webhook answer to the end (so the connection goes back to the pool).
pub async fn answer_of(sent: reqwest::Result<reqwest::Response>) -> Answer {
    let Ok(response) = sent else {
        return Answer::Failed;
    };
    let status = response.status();
    let Ok(body) = response.bytes().await else {
        return Answer::Failed;
    };
    if status != reqwest::StatusCode::OK {
        return Answer::Status(status.as_u16());
    }
    if body.as_ref() == ACCEPTED_BODY {
        return Answer::Acknowledged;
    }
    let said = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|answer| answer["status"].as_str().map(str::to_string));
    Answer::NotKept(said.unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()))
}

/// A load generator's sender: each call sends the next distinct delivery, signed now, and
/// waits for the whole answer.
pub trait Sender: Send + Sync + 'static {
    fn send_next(&self) -> impl Future<Output = Answer> + Send;
}

/// What one phase (or one of its tasks) saw.
#[derive(Default)]
pub struct Tally {
    pub acknowledged: u64,
    /// 200 answers for deliveries that were not kept, by the answer's `status`.
    pub not_kept: BTreeMap<String, u64>,
    /// Answers other than 200, by status.
    pub refused: BTreeMap<u16, u64>,
    /// Requests that got no complete answer.
    pub failed: u64,
    /// Ack latency of every answered request.
    pub latencies: Vec<Duration>,
    /// How late each open-loop request started against its schedule.
    pub lags: Vec<Duration>,
}

impl Tally {
    pub fn record(&mut self, answer: Answer, latency: Duration) {
        match answer {
            Answer::Acknowledged => self.acknowledged += 1,
            Answer::NotKept(status) => *self.not_kept.entry(status).or_default() += 1,
            Answer::Status(status) => *self.refused.entry(status).or_default() += 1,
            Answer::Failed => {
                self.failed += 1;
                return;
            }
        }
        self.latencies.push(latency);
    }

    pub fn merge(&mut self, other: Tally) {
        self.acknowledged += other.acknowledged;
        for (status, count) in other.not_kept {
            *self.not_kept.entry(status).or_default() += count;
        }
        for (status, count) in other.refused {
            *self.refused.entry(status).or_default() += count;
        }
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        self.lags.extend(other.lags);
    }

    pub fn not_acknowledged(&self) -> u64 {
        self.not_kept.values().sum::<u64>() + self.refused.values().sum::<u64>() + self.failed
    }

    pub fn describe_failures(&self) -> String {
        let mut text = format!("{} without a complete answer", self.failed);
        for (status, count) in &self.refused {
            let _ = write!(text, ", {count} answered {status}");
        }
        for (status, count) in &self.not_kept {
            let _ = write!(text, ", {count} answered 200 {status:?} (not kept)");
        }
        text
    }
}

pub struct PhaseResult {
    pub tally: Tally,
    pub elapsed: Duration,
}

/// Phase A: each of `concurrency` tasks sends one request at a time until `duration` is up.
pub async fn closed_loop<S: Sender>(
    target: Arc<S>,
    concurrency: usize,
    duration: Duration,
) -> PhaseResult {
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
pub async fn open_loop<S: Sender>(
    target: Arc<S>,
    rate_per_sec: u64,
    duration: Duration,
) -> PhaseResult {
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

pub fn latency_line(latencies: &mut [Duration]) -> String {
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
pub struct CpuSample {
    machine_total: u64,
    machine_busy: u64,
    this_process: u64,
}

/// Reads Linux's /proc; `None` elsewhere, and the CPU lines are then left out.
pub fn cpu_sample() -> Option<CpuSample> {
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
pub fn cpu_line(before: Option<CpuSample>, after: Option<CpuSample>) -> String {
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
pub struct Service {
    runtime: Runtime,
    pub state: AppState,
    pub port: u16,
    pub worker_enabled: bool,
    stop: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
    /// Holds the database; removed when the benchmark ends.
    _folder: TempDir,
}

impl Service {
    /// Builds the application exactly as `chaperone serve` would, with `settings` (as
    /// `CHAPERONE__*` pairs) over the benchmark's own, imports `school_file`, and starts
    /// serving on 127.0.0.1 with the workers running. Also gives the `CHAPERONE__*`
    /// variables of the environment, which win over both.
    pub fn start(
        settings: Vec<(String, String)>,
        school_file: &str,
    ) -> (Service, Vec<(String, String)>) {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let env = [
            ("CHAPERONE__SERVER__BIND", "127.0.0.1:0".to_string()),
            ("CHAPERONE__SERVER__WORKER_ENABLED", "true".to_string()),
            (
                "CHAPERONE__DATABASE__URL",
                format!("sqlite://{}/bench.db", folder.path().display()),
            ),
            ("CHAPERONE__API__ADMIN_TOKEN", random_hex(48)),
            ("CHAPERONE__LOG__LEVEL", "warn".to_string()),
        ]
        .map(|(name, value)| (name.to_string(), value));
        // For experiments such as CHAPERONE__INBOX__MAX_BATCH or
        // CHAPERONE__SERVER__WORKER_ENABLED=false.
        let overrides: Vec<(String, String)> = std::env::vars()
            .filter(|(name, _)| name.starts_with("CHAPERONE__"))
            .collect();
        let all = env.into_iter().chain(settings).chain(overrides.clone());
        let settings = Settings::load_from(None, all).expect("benchmark settings load");
        settings
            .validate_for_serve()
            .expect("benchmark settings are valid");
        chaperone::telemetry::init(&settings.log);
        let worker_enabled = settings.server.worker_enabled;

        let school_path = folder.path().join("school.toml");
        std::fs::write(&school_path, school_file).expect("the school file is written");
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

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Runs `work` (set-up SQL, say) on the service's runtime.
    pub fn block_on<F: Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }

    /// The path of the imported school's first connection's own endpoint.
    pub fn endpoint(&self) -> String {
        let connections = self
            .block_on(chaperone::connections::store::list(self.db()))
            .expect("the connections can be listed");
        connections
            .into_iter()
            .next()
            .map(|connection| connection.endpoint)
            .expect("the benchmark school has a connection")
    }

    pub fn pending(&self) -> i64 {
        self.block_on(inbox::counts(self.db()))
            .expect("the inbox can be counted")
            .pending
    }

    /// Lets the workers run alone until nothing is pending (at most `limit`); returns how
    /// many events the processor applied and how many are left.
    pub fn drain(&self, limit: Duration) -> (i64, i64) {
        self.block_on(async {
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

    pub fn inbox_rows(&self) -> u64 {
        let rows = self.block_on(count(self.db(), "TRUE"));
        u64::try_from(rows).expect("a row count is not negative")
    }

    /// What is left to do (see [`Backlog`]).
    pub fn backlog(&self) -> Backlog {
        self.block_on(backlog(&self.db().pool))
            .expect("the backlog can be read")
    }

    /// Waits until the workers have caught up (see [`wait_settled`]), at most `limit`.
    pub fn wait_settled(&self, limit: Duration) -> Settled {
        self.block_on(wait_settled(&self.db().pool, limit))
    }

    /// Stops serving and waits for the in-flight work to finish.
    pub fn stop(self) {
        // The inbox writer ends only when every handle on it is gone, ours included.
        drop(self.state);
        let _ = self.stop.send(());
        self.runtime
            .block_on(self.server)
            .expect("the server task ends")
            .expect("the server shuts down cleanly");
    }
}

/// What is still to do after the load: events not yet processed, records not yet chained by
/// the ledger keeper, and meetings whose evaluation is due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub inbox_pending: i64,
    pub ledger_pending: i64,
    pub evaluations_due: i64,
}

impl Backlog {
    /// Every event processed and every record it wrote chained.
    pub fn processed_and_chained(&self) -> bool {
        self.inbox_pending == 0 && self.ledger_pending == 0
    }

    /// And no meeting waiting to be judged.
    pub fn settled(&self) -> bool {
        self.processed_and_chained() && self.evaluations_due == 0
    }
}

/// Reads the backlog of the database behind `pool` (SQLite or PostgreSQL).
pub async fn backlog(pool: &sqlx::AnyPool) -> Result<Backlog, sqlx::Error> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL AND failed_at IS NULL) \
             AS inbox_pending, \
           (SELECT COUNT(*) FROM ledger_pending) AS ledger_pending, \
           (SELECT COUNT(*) FROM evaluation_queue WHERE due_at <= $1) AS evaluations_due",
    )
    .bind(now_ms)
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        inbox_pending: row.try_get("inbox_pending")?,
        ledger_pending: row.try_get("ledger_pending")?,
        evaluations_due: row.try_get("evaluations_due")?,
    })
}

/// When the backlog first emptied after a load.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    /// The inbox backlog empty: the processor caught up.
    pub processed: Option<Instant>,
    /// Inbox and ledger both empty: the end-to-end figure's end.
    pub processed_and_chained: Option<Instant>,
    /// And no evaluation due.
    pub settled: Option<Instant>,
    /// What was left when the wait ended (empty unless `limit` ran out).
    pub left: Backlog,
}

/// When each part of the work caught up, counted from the end of the load: where the time
/// after it went.
pub fn catch_up_line(settled: &Settled, load_ended: Instant) -> String {
    let after = |at: Option<Instant>| {
        at.map_or_else(
            || "not yet".to_string(),
            |at| {
                format!(
                    "{:.2} s",
                    at.saturating_duration_since(load_ended).as_secs_f64()
                )
            },
        )
    };
    format!(
        "caught up after the load ended: inbox (processor) {}, inbox and ledger (keeper) {}, \
         evaluations too {}",
        after(settled.processed),
        after(settled.processed_and_chained),
        after(settled.settled),
    )
}

/// How often the backlog is read while waiting for it to empty: fine enough to tell whether
/// it emptied within a second of the load ending, coarse enough not to slow the workers.
const SETTLE_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Reads the backlog every [`SETTLE_POLL_INTERVAL`] until it has settled, or `limit`.
pub async fn wait_settled(pool: &sqlx::AnyPool, limit: Duration) -> Settled {
    let deadline = Instant::now() + limit;
    let mut settled = Settled {
        processed: None,
        processed_and_chained: None,
        settled: None,
        left: Backlog::default(),
    };
    loop {
        let now = Instant::now();
        let seen = backlog(pool).await.expect("the backlog can be read");
        settled.left = seen;
        if seen.inbox_pending == 0 {
            settled.processed.get_or_insert(now);
        }
        if seen.processed_and_chained() {
            settled.processed_and_chained.get_or_insert(now);
        } else {
            // Evaluation writes findings, which the ledger chains again.
            settled.processed_and_chained = None;
        }
        if seen.settled() {
            settled.settled = Some(now);
            return settled;
        }
        if now >= deadline {
            return settled;
        }
        tokio::time::sleep(SETTLE_POLL_INTERVAL).await;
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

/// Prints the `CHAPERONE__*` settings taken from the environment, secrets and addresses
/// left out.
pub fn print_overrides(overrides: &[(String, String)]) {
    for (name, value) in overrides {
        let shown = if name.contains("TOKEN") || name.contains("URL") || name.contains("KEY") {
            "<redacted>"
        } else {
            value.as_str()
        };
        println!("  override from the environment: {name}={shown}");
    }
}

/// Runs the phases against `service`, prints each figure, stops the service, then panics
/// if any acknowledged delivery is missing from the inbox or any request was not
/// acknowledged. `platform` is the service's metric label, `unit` what a request is called
/// ("events", "pushes").
pub fn run_phases<S: Sender>(
    service: Service,
    load: &Runtime,
    target: Arc<S>,
    bench: &BenchSettings,
    platform: &'static str,
    unit: &str,
) {
    // Whatever is fetched or built on first use (Google's key set, pooled connections) is
    // so before the warm-up, whatever its length.
    let mut first = Tally::default();
    let first_started = Instant::now();
    let answer = load.block_on(target.send_next());
    first.record(answer, first_started.elapsed());
    println!(
        "first request, alone: {:.2} ms",
        first_started.elapsed().as_secs_f64() * 1e3
    );

    let warmup = load.block_on(closed_loop(target.clone(), bench.concurrency, bench.warmup));
    println!(
        "warm-up: {} {unit} acknowledged in {:.1} s",
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
        "phase A (closed loop, {} connections, {:.1} s): {:.0} {unit}/s acknowledged \
         ({} {unit}), {} not acknowledged",
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
    println!("  processor backlog at the end of phase A: {backlog} {unit}");

    if service.worker_enabled {
        let drain_started = Instant::now();
        let cpu_before = cpu_sample();
        let (drained, left) = service.drain(bench.drain);
        let cpu_after = cpu_sample();
        let drain_secs = drain_started.elapsed().as_secs_f64();
        println!(
            "  processor then applied {drained} {unit} alone in {drain_secs:.1} s \
             ({:.0} {unit}/s); {left} still pending",
            drained as f64 / drain_secs,
        );
        println!("    {}", cpu_line(cpu_before, cpu_after));
    }

    let cpu_before = cpu_sample();
    let mut latency = load.block_on(open_loop(target, bench.rate_per_sec, bench.duration));
    let cpu_after = cpu_sample();
    println!(
        "phase B (open loop, {} {unit}/s offered for {:.1} s): {} acknowledged, {} not \
         acknowledged; achieved {:.0} {unit}/s",
        bench.rate_per_sec,
        bench.duration.as_secs_f64(),
        latency.tally.acknowledged,
        latency.tally.not_acknowledged(),
        latency.tally.acknowledged as f64 / latency.elapsed.as_secs_f64(),
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

    let phases = [&first, &warmup.tally, &throughput.tally, &latency.tally];
    let acknowledged: u64 = phases.iter().map(|tally| tally.acknowledged).sum();
    let not_acknowledged: u64 = phases.iter().map(|tally| tally.not_acknowledged()).sum();
    let rows = service.inbox_rows();
    println!(
        "inbox rows: {rows}; 200 answers: {acknowledged}; accepted by the service's own count: \
         {}; still pending processing: {}",
        service
            .state
            .metrics
            .webhook_count(platform, WebhookOutcome::Accepted),
        service.pending(),
    );
    service.stop();

    assert!(
        rows >= acknowledged,
        "{} ACKNOWLEDGED DELIVERIES ARE MISSING from the inbox ({rows} rows for {acknowledged} \
         200 answers)",
        acknowledged - rows,
    );
    assert_eq!(
        not_acknowledged,
        0,
        "requests were not acknowledged: first {}; warm-up {}; phase A {}; phase B {}",
        first.describe_failures(),
        warmup.tally.describe_failures(),
        throughput.tally.describe_failures(),
        latency.tally.describe_failures(),
    );
    assert_eq!(
        rows, acknowledged,
        "the inbox holds deliveries that were never acknowledged"
    );
}
