//! Retry schedules for work that reaches outside: alert deliveries and platform API calls,
//! and reading the wait a server asks for.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

/// The longest a platform API's `Retry-After` is honoured for a job: a daily quota resets
/// within a day, so a later time is a clock or parsing error, not a reason to wait longer.
pub const PLATFORM_RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 60 * 60);

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The wait before the second attempt; it doubles with each further attempt.
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
    /// The longest wait a server's `Retry-After` can impose. A receiver that asks for an hour
    /// must not hold a safeguarding alert for an hour; it is asked again at this bound.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempts` (1-based): `Retry-After` when the
    /// receiver gave one, honoured within [`base_delay`, `max_retry_after`] (svix's
    /// `calculate_retry_delay` likewise keeps a server's wish inside its own schedule's
    /// bounds); else exponential with ±20 % jitter so retries do not synchronise.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(retry_after) = retry_after {
            return retry_after
                .max(self.base_delay)
                .min(self.max_retry_after.max(self.base_delay));
        }
        let exponent = attempts.saturating_sub(1).min(20);
        let delay = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let jitter = 0.8 + fastrand::f64() * 0.4;
        delay.mul_f64(jitter)
    }
}

/// Reads a `Retry-After` value: delay-seconds or an HTTP-date (IMF-fixdate, and the obsolete
/// RFC 850 and asctime forms RFC 9110 §5.6.7 asks recipients to accept). A date in the past
/// means "now". The caller's retry schedule decides how long a wait it will honour.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
                .map(|naive| naive.and_utc())
        })?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap()
    }

    const POLICY: RetryPolicy = RetryPolicy {
        base_delay: Duration::from_secs(5),
        max_delay: Duration::from_secs(600),
        max_attempts: 6,
        max_retry_after: Duration::from_secs(60),
    };

    #[test]
    fn delays_double_with_jitter_and_stop_at_the_cap() {
        for (attempts, nominal) in [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0)] {
            let delay = POLICY.delay(attempts, None).as_secs_f64();
            assert!(
                delay >= nominal * 0.8 && delay <= nominal * 1.2,
                "attempt {attempts}: {delay}"
            );
        }
        assert!(POLICY.delay(30, None) <= Duration::from_secs_f64(600.0 * 1.2));
    }

    #[test]
    fn retry_after_is_honoured() {
        assert_eq!(
            POLICY.delay(1, Some(Duration::from_secs(42))),
            Duration::from_secs(42)
        );
    }

    #[test]
    fn retry_after_beyond_the_bound_is_cut_to_it() {
        assert_eq!(
            POLICY.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_shorter_than_the_base_delay_waits_the_base_delay() {
        assert_eq!(
            POLICY.delay(1, Some(Duration::ZERO)),
            Duration::from_secs(5)
        );
        assert_eq!(
            POLICY.delay(3, Some(Duration::from_secs(1))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn retry_after_in_seconds_is_read_as_a_delay() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_an_http_date_is_the_time_until_then() {
        let expected = Some(Duration::from_secs(90));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now()),
            expected
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:30 GMT", now()),
            expected
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:29:30 2015", now()),
            expected
        );
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        assert_eq!(
            parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_that_is_neither_form_is_ignored() {
        for value in ["", "soon", "-5", "1.5", "21 October 2015"] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }
}
