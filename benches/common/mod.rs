//! Small helpers both benchmarks use.

use std::fmt::Write;
use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;
use std::time::Duration;

use tokio::runtime::Runtime;

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
