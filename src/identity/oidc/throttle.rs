//! How many failed callbacks an instance accepts: a token bucket refilled at a steady rate, so
//! that someone replaying or forging callbacks gets 429 after a burst, and sign-ins resume by
//! themselves a minute later.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket of failures; cheap to clone, shared by every request of an instance.
#[derive(Clone)]
pub struct Throttle {
    capacity: f64,
    per_second: f64,
    bucket: Arc<Mutex<Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Throttle {
    /// Allows `failures` failures in a burst, refilled at `failures` per `period`.
    pub fn new(failures: u32, period: Duration) -> Self {
        let capacity = f64::from(failures.max(1));
        Throttle {
            capacity,
            per_second: capacity / period.as_secs_f64().max(1e-3),
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: capacity,
                updated: Instant::now(),
            })),
        }
    }

    /// Whether the failures allowed are used up, as of `now`.
    pub fn exhausted(&self, now: Instant) -> bool {
        self.refilled(now, |bucket| bucket.tokens < 1.0)
    }

    /// Counts one failure at `now`.
    pub fn record_failure(&self, now: Instant) {
        self.refilled(now, |bucket| bucket.tokens = (bucket.tokens - 1.0).max(0.0));
    }

    fn refilled<T>(&self, now: Instant, then: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.capacity);
        bucket.updated = bucket.updated.max(now);
        then(&mut bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_is_allowed_then_refused_until_the_bucket_refills() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            assert!(!throttle.exhausted(start));
            throttle.record_failure(start);
        }
        assert!(throttle.exhausted(start));
        assert!(throttle.exhausted(start + Duration::from_secs(19)));
        assert!(!throttle.exhausted(start + Duration::from_secs(21)));
        assert!(!throttle.exhausted(start + Duration::from_secs(3600)));
        throttle.record_failure(start + Duration::from_secs(3600));
        throttle.record_failure(start + Duration::from_secs(3600));
        assert!(!throttle.exhausted(start + Duration::from_secs(3600)));
    }
}
