//! How long a Zoom `429` says to wait, in every form Zoom answers with (zoom.md §3.6): the
//! per-second limit sends `X-RateLimit-Reset` and no `Retry-After`; the daily limit sends
//! `Retry-After` as an ISO 8601 time; an HTTP intermediary may send `Retry-After` as seconds
//! or an HTTP date.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::retry::parse_retry_after;

pub const X_RATELIMIT_RESET: &str = "x-ratelimit-reset";

/// The longest a rate limit holds an account back. Zoom's daily limit resets within a day
/// (at 00:00 UTC); a reset further away is a clock or parsing error, not a reason to stop
/// reading the account for longer.
pub const LONGEST_ACCOUNT_HOLD: Duration = Duration::from_secs(24 * 60 * 60);

/// An integer reset at or above this is a Unix time in seconds (from 2001), below it a number
/// of seconds to wait. zoom.md §3.6 does not say which Zoom sends; both are in use elsewhere.
const EPOCH_SECONDS_FROM: u64 = 1_000_000_000;
/// An integer at or above this is a Unix time in milliseconds.
const EPOCH_MILLIS_FROM: u64 = 1_000_000_000_000;

/// The wait a `429` asks for: `Retry-After` if it is readable, else `X-RateLimit-Reset`;
/// `None` when neither says. A time in the past means now; the wait is at most
/// [`LONGEST_ACCOUNT_HOLD`].
pub fn wait_from(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let wait = header(RETRY_AFTER.as_str())
        .and_then(|value| parse_retry_after(value, now).or_else(|| time_from_now(value, now)))
        .or_else(|| header(X_RATELIMIT_RESET).and_then(|value| reset_from_now(value, now)))?;
    Some(wait.min(LONGEST_ACCOUNT_HOLD))
}

/// `X-RateLimit-Reset`: a Unix time (seconds or milliseconds), a number of seconds, or a time.
fn reset_from_now(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    match value.parse::<u64>() {
        Ok(number) if number >= EPOCH_MILLIS_FROM => {
            until(DateTime::from_timestamp_millis(number as i64)?, now)
        }
        Ok(number) if number >= EPOCH_SECONDS_FROM => {
            until(DateTime::from_timestamp(number as i64, 0)?, now)
        }
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => parse_retry_after(value, now).or_else(|| time_from_now(value, now)),
    }
}

/// An ISO 8601 time: RFC 3339 (`2025-03-12T00:00:00Z`, with any offset), the same without an
/// offset (read as UTC, the zone Zoom's API answers in), or a bare date (its midnight UTC,
/// when the daily limit resets).
fn time_from_now(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let at = DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
                .map(|naive| naive.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map(|naive| naive.and_utc())
        })?;
    until(at, now)
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Option<Duration> {
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 11, 14, 30, 0).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn wait(pairs: &[(&'static str, &str)]) -> Option<Duration> {
        wait_from(&headers(pairs), now())
    }

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date_is_read() {
        assert_eq!(wait(&[("retry-after", "2")]), Some(Duration::from_secs(2)));
        assert_eq!(
            wait(&[("retry-after", "Tue, 11 Mar 2025 14:31:00 GMT")]),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn the_daily_limits_retry_after_as_an_iso_8601_time_is_the_time_until_then() {
        let ten_hours = Some(Duration::from_secs(9 * 3600 + 30 * 60));
        for value in [
            "2025-03-12T00:00:00Z",
            "2025-03-12T00:00:00.000Z",
            "2025-03-12T01:00:00+01:00",
            "2025-03-12T00:00:00",
            "2025-03-12",
        ] {
            assert_eq!(wait(&[("retry-after", value)]), ten_hours, "{value}");
        }
    }

    #[test]
    fn the_per_second_limits_reset_is_read_when_there_is_no_retry_after() {
        let epoch = now().timestamp();
        let in_a_second = Some(Duration::from_secs(1));
        for value in [
            (epoch + 1).to_string(),
            ((epoch + 1) * 1000).to_string(),
            "1".to_string(),
            "2025-03-11T14:30:01Z".to_string(),
            "Tue, 11 Mar 2025 14:30:01 GMT".to_string(),
        ] {
            assert_eq!(
                wait(&[("x-ratelimit-reset", &value)]),
                in_a_second,
                "{value}"
            );
        }
    }

    #[test]
    fn retry_after_is_preferred_to_the_reset() {
        let epoch = now().timestamp();
        assert_eq!(
            wait(&[
                ("retry-after", "5"),
                ("x-ratelimit-reset", &(epoch + 60).to_string())
            ]),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_time_already_past_means_now_and_one_too_far_is_cut_to_a_day() {
        assert_eq!(
            wait(&[("retry-after", "2025-03-11T14:00:00Z")]),
            Some(Duration::ZERO)
        );
        assert_eq!(
            wait(&[("retry-after", "2025-04-11T00:00:00Z")]),
            Some(LONGEST_ACCOUNT_HOLD)
        );
    }

    #[test]
    fn neither_header_readable_says_nothing() {
        assert_eq!(wait(&[]), None);
        assert_eq!(wait(&[("retry-after", "soon")]), None);
        assert_eq!(wait(&[("x-ratelimit-reset", "-3")]), None);
    }
}
