//! Times are stored as UTC milliseconds since the Unix epoch (BIGINT on both backends).

use chrono::{DateTime, TimeZone, Utc};

pub fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
