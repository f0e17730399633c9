//! Ingestion benchmark: chaperone beside a do-nothing HTTP server, in one run, with the same
//! load generator. The service runs in-process (SQLite in a temporary folder, the workers
//! beside the HTTP server) and is sent distinct, really signed Zoom
//! `meeting.participant_joined` webhooks over loopback. The floor is an axum router served by
//! the service's own `http::serve` on a runtime of its own (one worker thread per core, like
//! the service's): it reads each body to the end and answers 200 with nothing.
//!
//! - Phase A, throughput: a closed loop of `BENCH_CONCURRENCY` connections (default 64) for
//!   `BENCH_SECONDS` (default 10) after `BENCH_WARMUP_SECONDS` (default 2) of warm-up; the
//!   floor first, then chaperone, whose warm-up backlog is worked off before phase A starts.
//! - End to end: from the start of chaperone's phase A until every event is processed and
//!   every record it wrote is chained by the ledger keeper (inbox backlog and
//!   `ledger_pending` both zero), waiting at most `BENCH_DRAIN_SECONDS` (default 120).
//! - Phase B, latency: an open loop offering `BENCH_RATE` events/s (default 1000) for
//!   `BENCH_SECONDS`, sent on a fixed schedule whatever the answers, each in its own task;
//!   the floor, then chaperone.
//!
//! Afterwards every event chaperone acknowledged must be in the inbox, or the benchmark
//! panics; so does any answer other than 200 "accepted" (any 200 from the floor). Run with
//! `cargo bench --bench ingest` (see BENCHMARKS.md).

mod common;

use common::zoom_load::{Expect, ZoomSender, HOST_ZOOM_ID};
use common::{
    catch_up_line, closed_loop, cpu_line, cpu_sample, latency_line, open_loop, percentile_ms,
    print_overrides, random_hex, runtime, BenchSettings, PhaseResult, Service, Tally,
};

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::Router;
use chaperone::telemetry::metrics::WebhookOutcome;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The variable the school file names for its connection's webhook secret.
const WEBHOOK_SECRET_VARIABLE: &str = "BENCH_ZOOM_WEBHOOK_SECRET";
/// The floor's connections are closed if a request head takes longer (the service's default).
const FLOOR_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The do-nothing HTTP server: the same hyper/axum stack and serving loop as the service,
/// with no work behind it.
struct Floor {
    runtime: Runtime,
    port: u16,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl Floor {
    fn start() -> Floor {
        // One worker thread per core, as the service has.
        let runtime = runtime("floor", None);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port for the floor");
        let port = listener.local_addr().expect("the floor's address").port();
        // Taking `Bytes` reads the whole body before the answer.
        let router = Router::new().fallback(|_body: Bytes| async { StatusCode::OK });
        let (stop, stopped) = oneshot::channel::<()>();
        let server = runtime.spawn(chaperone::http::serve::serve(
            listener,
            router,
            FLOOR_HEADER_READ_TIMEOUT,
            async move {
                let _ = stopped.await;
            },
        ));
        Floor {
            runtime,
            port,
            stop,
            server,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.runtime
            .block_on(self.server)
            .expect("the floor's server ends");
    }
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

/// The connection's own endpoint, or with `BENCH_ENDPOINT=shared` the shared
/// `/webhooks/zoom` of installations from before connections.
fn endpoint(service: &Service) -> String {
    if std::env::var("BENCH_ENDPOINT").is_ok_and(|endpoint| endpoint == "shared") {
        return "/webhooks/zoom".to_string();
    }
    service.endpoint()
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Phase A against one target: warm-up, then the measured closed loop. Prints its line.
fn throughput(
    name: &str,
    load: &Runtime,
    target: &Arc<ZoomSender>,
    bench: &BenchSettings,
) -> (PhaseResult, PhaseResult) {
    let warmup = load.block_on(closed_loop(target.clone(), bench.concurrency, bench.warmup));
    println!(
        "{name} warm-up: {} events acknowledged in {:.1} s",
        warmup.tally.acknowledged,
        warmup.elapsed.as_secs_f64()
    );
    let measured = measured_closed_loop(name, load, target, bench);
    (warmup, measured)
}

fn measured_closed_loop(
    name: &str,
    load: &Runtime,
    target: &Arc<ZoomSender>,
    bench: &BenchSettings,
) -> PhaseResult {
    let cpu_before = cpu_sample();
    let mut result = load.block_on(closed_loop(
        target.clone(),
        bench.concurrency,
        bench.duration,
    ));
    let cpu_after = cpu_sample();
    println!(
        "{name} phase A (closed loop, {} connections, {:.1} s): {:.0} events/s acknowledged \
         ({} events), {} not acknowledged",
        bench.concurrency,
        result.elapsed.as_secs_f64(),
        per_sec(result.tally.acknowledged, result.elapsed),
        result.tally.acknowledged,
        result.tally.not_acknowledged(),
    );
    println!(
        "  ack latency under saturation: {}",
        latency_line(&mut result.tally.latencies)
    );
    println!("  {}", cpu_line(cpu_before, cpu_after));
    result
}

/// Phase B against one target. Prints its lines; answers the p99 ack latency in ms.
fn latency(
    name: &str,
    load: &Runtime,
    target: &Arc<ZoomSender>,
    bench: &BenchSettings,
) -> (PhaseResult, f64) {
    let cpu_before = cpu_sample();
    let mut result = load.block_on(open_loop(
        target.clone(),
        bench.rate_per_sec,
        bench.duration,
    ));
    let cpu_after = cpu_sample();
    println!(
        "{name} phase B (open loop, {} events/s offered for {:.1} s): {} acknowledged, {} not \
         acknowledged",
        bench.rate_per_sec,
        bench.duration.as_secs_f64(),
        result.tally.acknowledged,
        result.tally.not_acknowledged(),
    );
    println!(
        "  ack latency: {}",
        latency_line(&mut result.tally.latencies)
    );
    result.tally.lags.sort_unstable();
    println!(
        "  load generator lag behind schedule: p99 {:.2} ms, max {:.2} ms",
        percentile_ms(&result.tally.lags, 0.99),
        percentile_ms(&result.tally.lags, 1.0),
    );
    println!("  {}", cpu_line(cpu_before, cpu_after));
    let p99 = percentile_ms(&result.tally.latencies, 0.99);
    (result, p99)
}

fn main() {
    let bench = BenchSettings::from_env();
    let secret = random_hex(32);
    let account_id = format!("bench{}", random_hex(17));
    // The connection's secret is named in the school file, as a school's would be.
    std::env::set_var(WEBHOOK_SECRET_VARIABLE, &secret);
    let (service, overrides) = Service::start(
        vec![(
            "CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN".to_string(),
            secret.clone(),
        )],
        &school_file(&account_id),
    );
    let floor = Floor::start();

    let load = runtime("load", Some(bench.client_threads));
    let client = bench.client();
    let service_url = format!("http://127.0.0.1:{}{}", service.port, endpoint(&service));
    let shared_endpoint = service_url.ends_with("/webhooks/zoom");
    let chaperone = Arc::new(ZoomSender::new(
        client.clone(),
        vec![service_url],
        &secret,
        &account_id,
        Expect::Accepted,
    ));
    let nothing = Arc::new(ZoomSender::new(
        client,
        vec![format!("http://127.0.0.1:{}/webhooks/zoom", floor.port)],
        &secret,
        &account_id,
        Expect::AnyOk,
    ));

    println!(
        "chaperone ingest benchmark: SQLite, workers {}, inbox max_batch {}, {} cores, \
         load generator on {} threads",
        if service.worker_enabled { "on" } else { "OFF" },
        service.state.settings.inbox.max_batch,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.client_threads
    );
    println!(
        "  endpoint: {}",
        if shared_endpoint {
            "the shared /webhooks/zoom"
        } else {
            "the connection's own /webhooks/zoom/{endpoint id}"
        }
    );
    print_overrides(&overrides);

    // The floor first: the same events, concurrency and client.
    let (floor_warmup, floor_a) = throughput("floor", &load, &nothing, &bench);

    let (warmup, chaperone_a, end_to_end) = {
        let warmup = load.block_on(closed_loop(
            chaperone.clone(),
            bench.concurrency,
            bench.warmup,
        ));
        println!(
            "chaperone warm-up: {} events acknowledged in {:.1} s",
            warmup.tally.acknowledged,
            warmup.elapsed.as_secs_f64()
        );
        // Phase A starts with nothing left to do, so the end-to-end figure is its own.
        let before = service.wait_settled(bench.drain);
        if before.settled.is_none() {
            println!(
                "  the warm-up's backlog did not clear in {:.0} s: {:?}",
                bench.drain.as_secs_f64(),
                before.left
            );
        }
        let started = Instant::now();
        let result = measured_closed_loop("chaperone", &load, &chaperone, &bench);
        let load_ended = Instant::now();
        let backlog = service.backlog();
        println!(
            "  backlog at the end of phase A: {} events to process, {} records to chain, {} \
             evaluations due",
            backlog.inbox_pending, backlog.ledger_pending, backlog.evaluations_due
        );
        let cpu_before = cpu_sample();
        let settled = service.wait_settled(bench.drain);
        let cpu_after = cpu_sample();
        (
            warmup,
            result,
            (started, load_ended, settled, cpu_before, cpu_after),
        )
    };
    let (started, load_ended, settled, cpu_before, cpu_after) = end_to_end;
    let end_to_end_rate = match settled.processed_and_chained {
        Some(done) => {
            let rate = per_sec(chaperone_a.tally.acknowledged, done - started);
            println!(
                "chaperone end to end: {rate:.0} events/s accepted, committed, processed and \
                 chained ({} events in {:.2} s from the start of phase A); inbox and ledger \
                 empty {:.2} s after the load ended{}",
                chaperone_a.tally.acknowledged,
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
            Some(rate)
        }
        None => {
            println!(
                "chaperone end to end: NOT caught up {:.0} s after the load ended: {:?}",
                bench.drain.as_secs_f64(),
                settled.left
            );
            None
        }
    };
    println!("  {}", catch_up_line(&settled, load_ended));
    println!("  after the load: {}", cpu_line(cpu_before, cpu_after));

    let floor_rate = per_sec(floor_a.tally.acknowledged, floor_a.elapsed);
    let chaperone_rate = per_sec(chaperone_a.tally.acknowledged, chaperone_a.elapsed);
    println!(
        "phase A side by side: floor {floor_rate:.0} events/s, chaperone {chaperone_rate:.0} \
         events/s acknowledged ({:.1} % of the floor){}",
        100.0 * chaperone_rate / floor_rate,
        end_to_end_rate.map_or_else(String::new, |rate| format!(
            ", {rate:.0} events/s end to end ({:.1} % of the floor)",
            100.0 * rate / floor_rate
        )),
    );

    let (floor_b, floor_p99) = latency("floor", &load, &nothing, &bench);
    let (chaperone_b, chaperone_p99) = latency("chaperone", &load, &chaperone, &bench);
    println!(
        "phase B side by side at {} events/s: p99 floor {floor_p99:.2} ms, chaperone \
         {chaperone_p99:.2} ms ({:.1}× the floor)",
        bench.rate_per_sec,
        chaperone_p99 / floor_p99,
    );

    let phases: [&Tally; 3] = [&warmup.tally, &chaperone_a.tally, &chaperone_b.tally];
    let acknowledged: u64 = phases.iter().map(|tally| tally.acknowledged).sum();
    let not_acknowledged: u64 = phases.iter().map(|tally| tally.not_acknowledged()).sum();
    let floor_failures = [&floor_warmup.tally, &floor_a.tally, &floor_b.tally]
        .iter()
        .map(|tally| tally.not_acknowledged())
        .sum::<u64>();
    let rows = service.inbox_rows();
    println!(
        "inbox rows: {rows}; 200 answers: {acknowledged}; accepted by the service's own count: \
         {}; still pending processing: {}",
        service
            .state
            .metrics
            .webhook_count("zoom", WebhookOutcome::Accepted),
        service.pending(),
    );
    service.stop();
    floor.stop();

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
        chaperone_a.tally.describe_failures(),
        chaperone_b.tally.describe_failures(),
    );
    assert_eq!(
        rows, acknowledged,
        "the inbox holds events that were never acknowledged"
    );
    assert_eq!(
        floor_failures, 0,
        "the floor did not answer every request 200"
    );
}
