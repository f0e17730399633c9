//! A per-account budget for API calls: at most `concurrency` in flight, and requests spaced
//! so that no more than `requests_per_second` start in any second.

use std::time::Duration;

use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio::time::Instant;

pub struct AccountLimiter {
    in_flight: Semaphore,
    interval: Duration,
    next_start: Mutex<Instant>,
}

impl AccountLimiter {
    pub fn new(concurrency: usize, requests_per_second: u32) -> Self {
        AccountLimiter {
            in_flight: Semaphore::new(concurrency.max(1)),
            interval: Duration::from_secs(1) / requests_per_second.max(1),
            next_start: Mutex::new(Instant::now()),
        }
    }

    /// Waits for a slot; the permit holds the concurrency place until dropped.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
        permit
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
}
