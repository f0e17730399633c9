//! Faults injected into the real binary, each test printing its figures (RELIABILITY.md
//! collects them; run with `-- --nocapture` to see them):
//! SIGKILL at random points under load, a private PostgreSQL server stopped and started under
//! load, two instances on one PostgreSQL with one killed mid-way, an alert channel down for a
//! while, and the memory a burst of slow uploads holds.
//!
//! The short variant runs in CI. `CHAPERONE_FAULTS_LONG=1` runs the long one (100 kills and
//! longer outages).

mod chaperone_process;
mod load;
mod private_postgres;
mod receiver;
mod school;
mod store;
mod zoom;

mod channel_outage;
mod database_outage;
mod kill_loop;
mod slow_uploads;
mod two_instances;

use std::time::Duration;

/// Set to 1 for the long variant.
pub const LONG_VARIABLE: &str = "CHAPERONE_FAULTS_LONG";

pub fn long_variant() -> bool {
    std::env::var(LONG_VARIABLE).is_ok_and(|value| value == "1")
}

/// Every test here starts real processes and loads both cores: one at a time, whatever the
/// harness's thread count.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
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

/// The median and the largest of `durations`, in milliseconds.
pub fn median_and_max_ms(durations: &[Duration]) -> (u128, u128) {
    let mut millis: Vec<u128> = durations.iter().map(Duration::as_millis).collect();
    millis.sort_unstable();
    match millis.last() {
        Some(max) => (millis[millis.len() / 2], *max),
        None => (0, 0),
    }
}
