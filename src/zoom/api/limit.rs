//! A per-account budget for API calls: at most `concurrency` in flight, requests spaced so
//! that no more than `requests_per_second` start in any second, and — after a `429` — no
//! request at all until Zoom's reset. Zoom's limits are the account's, shared by every job and
//! every app on it (zoom.md §3.6), so one refusal holds back the whole account.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The longest hold a call waits out in place; past it the caller is told the account is held
/// and reschedules its work, so a worker never sleeps through a daily limit. Zoom's
/// per-second limits reset well within it.
pub const LONGEST_HOLD_WAITED_IN_PLACE: Duration = Duration::from_secs(5);

pub struct AccountLimiter {
    in_flight: Semaphore,
    interval: Duration,
    next_start: Mutex<Instant>,
    held: std::sync::Mutex<Option<Hold>>,
}

/// Until when a `429` holds the account back, on both clocks: the monotonic one to wait on,
/// the wall clock for jobs that are scheduled by it.
#[derive(Debug, Clone, Copy)]
struct Hold {
    until: Instant,
    until_wall: DateTime<Utc>,
}

impl AccountLimiter {
    pub fn new(concurrency: usize, requests_per_second: u32) -> Self {
        AccountLimiter {
            in_flight: Semaphore::new(concurrency.max(1)),
            interval: Duration::from_secs(1) / requests_per_second.max(1),
            next_start: Mutex::new(Instant::now()),
            held: std::sync::Mutex::default(),
        }
    }

    /// Holds every call to the account back for `wait` from now. A shorter hold never cuts
    /// a longer one short: a second 429 during a daily-limit hold does not end it.
    pub fn hold_for(&self, wait: Duration) {
        let hold = Hold {
            until: Instant::now() + wait,
            until_wall: Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
        };
        let mut held = self.held.lock().expect("hold lock");
        if held.is_none_or(|current| current.until < hold.until) {
            *held = Some(hold);
        }
    }

    /// When the account's hold ends, if it is still held at `now` (the caller's clock).
    pub fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let held = *self.held.lock().expect("hold lock");
        held.map(|hold| hold.until_wall)
            .filter(|until| *until > now)
    }

    /// Waits for a slot; the permit holds the concurrency place until dropped. A short hold
    /// is waited out here, whoever calls.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let start = {
            let mut next = self.next_start.lock().await;
            let mut start = (*next).max(Instant::now());
            if let Some(hold) = self.short_hold() {
                start = start.max(hold);
            }
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
        permit
    }

    /// The end of a hold that is near enough to wait for in place.
    fn short_hold(&self) -> Option<Instant> {
        let held = *self.held.lock().expect("hold lock");
        let now = Instant::now();
        held.map(|hold| hold.until)
            .filter(|until| *until > now && *until - now <= LONGEST_HOLD_WAITED_IN_PLACE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_to_the_rate() {
        let limiter = AccountLimiter::new(4, 10);
        let started = Instant::now();
        for _ in 0..5 {
            drop(limiter.acquire().await);
        }
        // Five starts at 10 per second: the fifth starts 400 ms after the first.
        assert_eq!(started.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_hold_is_waited_out_by_every_caller() {
        let limiter = AccountLimiter::new(4, 1000);
        let started = Instant::now();
        limiter.hold_for(Duration::from_secs(2));
        drop(limiter.acquire().await);
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_hold_is_left_to_the_caller_to_reschedule_by() {
        let limiter = AccountLimiter::new(4, 1000);
        let now = Utc::now();
        limiter.hold_for(Duration::from_secs(3 * 3600));
        let until = limiter.held_until(now).expect("held");
        assert!(until - now >= chrono::Duration::hours(3) - chrono::Duration::seconds(1));
        assert_eq!(limiter.held_until(until), None, "over at its end");

        let started = Instant::now();
        drop(limiter.acquire().await);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "never slept through"
        );
    }

    #[tokio::test]
    async fn a_shorter_hold_does_not_end_a_longer_one() {
        let limiter = AccountLimiter::new(1, 1);
        let now = Utc::now();
        limiter.hold_for(Duration::from_secs(600));
        limiter.hold_for(Duration::from_secs(1));
        let until = limiter.held_until(now).expect("held");
        assert!(until - now > chrono::Duration::seconds(500));
    }
}
