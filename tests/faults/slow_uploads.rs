//! Memory under a burst of slow 1 MiB uploads to the webhook endpoint: the resident set size
//! of the real binary (VmRSS) before, at the peak of, and seconds after 100 clients each
//! trickling a 1 MiB body in. Bodies are read at once only within the webhook body budget
//! (64 MiB); the rest are answered 503 before their body is read. Unsigned, so a body read
//! whole is answered 401, as anyone's would be.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chaperone_process::{resident_kib, Chaperone};
use crate::school::{import_env, write_school};
use crate::store::fresh_database_url;
use crate::{long_variant, one_at_a_time};

const UPLOADS: usize = 100;
const BODY_BYTES: usize = 1024 * 1024;
const CHUNKS: usize = 16;
/// 16 chunks 150 ms apart: each body takes about 2.4 s to arrive, well inside the 10 s
/// request timeout, so the uploads overlap.
const CHUNK_PAUSE: Duration = Duration::from_millis(150);
/// Bursts in all, each followed by 5 s of rest.
const SHORT_BURSTS: usize = 2;
const LONG_BURSTS: usize = 6;
/// The webhook body budget (server.webhook_body_budget_bytes), in KiB.
const BUDGET_KIB: u64 = 64 * 1024;

#[tokio::test]
async fn a_burst_of_slow_one_mebibyte_uploads_holds_bounded_memory() {
    let _turn = one_at_a_time().await;
    let folder = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(folder.path()).await;
    let chaperone = Chaperone::new(&database_url, &[]);
    chaperone.import(&write_school(folder.path(), &[], &[]), &import_env());
    let mut running = chaperone.start().await;
    let pid = running.pid();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kib = running.resident_kib();

    let first = burst(chaperone.port, pid).await;
    let mut after_kib = Vec::new();
    let checkpoints: &[u64] = if long_variant() {
        &[1, 5, 10, 30, 60]
    } else {
        &[1, 5, 10]
    };
    let finished = Instant::now();
    for seconds in checkpoints {
        let at = finished + Duration::from_secs(*seconds);
        tokio::time::sleep_until(at.into()).await;
        after_kib.push((*seconds, running.resident_kib()));
    }
    // The same burst again, a few times: memory kept for reuse serves the next burst; memory
    // that is never reused adds up.
    let mut again = Vec::new();
    for _ in 1..if long_variant() {
        LONG_BURSTS
    } else {
        SHORT_BURSTS
    } {
        let next = burst(chaperone.port, pid).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        again.push((next, running.resident_kib()));
    }
    let ready = running.wait_ready(Duration::from_secs(10)).await.is_some();
    let by_answer = &first.by_answer;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "FAULTS slow uploads: {UPLOADS} uploads of 1 MiB, each over ~{} ms, done in {:.1} s; \
         answers {by_answer:?}; VmRSS before {:.1} MiB, peak {:.1} MiB, after: {}; the same \
         burst again: {}",
        CHUNK_PAUSE.as_millis() * CHUNKS as u128,
        first.took.as_secs_f64(),
        mib(before_kib),
        mib(first.peak_kib),
        after_kib
            .iter()
            .map(|(seconds, kib)| format!("+{seconds} s {:.1} MiB", mib(*kib)))
            .collect::<Vec<_>>()
            .join(", "),
        again
            .iter()
            .map(|(next, after_kib)| format!(
                "answers {:?}, peak {:.1} MiB, +5 s {:.1} MiB",
                next.by_answer,
                mib(next.peak_kib),
                mib(*after_kib)
            ))
            .collect::<Vec<_>>()
            .join("; "),
    );

    assert!(ready, "chaperone was not ready after the burst");
    assert!(
        by_answer.contains_key("401"),
        "no body was read whole (none answered 401): {by_answer:?}"
    );
    // 64 bodies of 1 MiB fill the budget: the others are turned away (503, or a reset when
    // the answer came while their body was still being sent).
    assert!(
        by_answer.get("401").copied().unwrap_or(0) < UPLOADS,
        "the budget turned nothing away: {by_answer:?}"
    );
    // Loose on purpose: a regression that drops the budget holds all 100 MiB and more.
    assert!(
        first.peak_kib - before_kib < 3 * BUDGET_KIB,
        "memory rose by {:.1} MiB",
        mib(first.peak_kib - before_kib)
    );
}

/// One burst: what the uploads were answered, how long it took, and the peak VmRSS of `pid`.
struct Burst {
    by_answer: BTreeMap<String, usize>,
    took: Duration,
    peak_kib: u64,
}

async fn burst(port: u16, pid: u32) -> Burst {
    let sampling = Arc::new(AtomicBool::new(true));
    let peak_kib = Arc::new(AtomicU64::new(resident_kib(pid).unwrap_or(0)));
    let sampler = tokio::spawn({
        let sampling = sampling.clone();
        let peak_kib = peak_kib.clone();
        async move {
            while sampling.load(Ordering::SeqCst) {
                if let Some(kib) = resident_kib(pid) {
                    peak_kib.fetch_max(kib, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let started = Instant::now();
    let answers = join_all((0..UPLOADS).map(|_| slow_upload(port))).await;
    let took = started.elapsed();
    sampling.store(false, Ordering::SeqCst);
    sampler.await.expect("the sampler does not panic");
    let mut by_answer = BTreeMap::new();
    for answer in answers {
        *by_answer.entry(answer).or_insert(0) += 1;
    }
    Burst {
        by_answer,
        took,
        peak_kib: peak_kib.load(Ordering::SeqCst),
    }
}

/// Posts a 1 MiB body in chunks with pauses; the status it was answered with, or what
/// happened instead.
async fn slow_upload(port: u16) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return "connection refused".into();
    };
    let head = format!(
        "POST /webhooks/zoom HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\
         content-type: application/json\r\ncontent-length: {BODY_BYTES}\r\n\
         x-zm-request-timestamp: {}\r\nx-zm-signature: v0=00\r\nconnection: close\r\n\r\n",
        chrono::Utc::now().timestamp()
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return "reset".into();
    }
    let body = padded_body();
    for chunk in body.chunks(BODY_BYTES / CHUNKS) {
        tokio::time::sleep(CHUNK_PAUSE).await;
        if stream.write_all(chunk).await.is_err() {
            // Answered (or closed) before the whole body was sent: read what it said.
            break;
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buffer = [0u8; 1024];
        while !answer.windows(2).any(|window| window == b"\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => answer.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    if read.is_err() {
        return "no answer in 30 s".into();
    }
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .map_or_else(|| "reset".to_string(), str::to_string)
}

/// A JSON body of exactly [`BODY_BYTES`], the largest a webhook may be.
fn padded_body() -> Vec<u8> {
    let start = br#"{"event":"meeting.participant_joined","padding":""#;
    let end = br#""}"#;
    let mut body = Vec::with_capacity(BODY_BYTES);
    body.extend_from_slice(start);
    body.resize(BODY_BYTES - end.len(), b'x');
    body.extend_from_slice(end);
    body
}
