//! Times as pages show them: machine-readable for `<time datetime>`, and in the school's own
//! timezone for the reader.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A time for a `<time>` element: machine-readable, and as the school reads it.
#[derive(Debug, Clone, Serialize)]
pub struct TimeView {
    pub iso: String,
    pub local: String,
}

impl TimeView {
    pub fn new(at: DateTime<Utc>, timezone: Option<Tz>) -> Self {
        let local = match timezone {
            Some(timezone) => at
                .with_timezone(&timezone)
                .format("%-d %b %Y, %H:%M %Z")
                .to_string(),
            None => at.format("%-d %b %Y, %H:%M UTC").to_string(),
        };
        TimeView {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            local,
        }
    }
}
