//! Query parameters shared by the register routes.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::db::decode::decode_timezone;
use crate::db::Db;
use crate::directory;
use crate::error::ApiError;
use crate::register::RegisterFilter;

const DEFAULT_LIMIT: i64 = 500;
const MAX_LIMIT: i64 = 5000;

/// `school_id`, `from` and `to` (a date, `2025-03-11`, taken in the school's timezone, or
/// an RFC 3339 time; `to` as a date includes that whole day), `limit`.
#[derive(Debug, Deserialize)]
pub struct RegisterQuery {
    pub school_id: Option<i64>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<i64>,
}

impl RegisterQuery {
    pub async fn to_filter(&self, db: &Db) -> Result<RegisterFilter, ApiError> {
        let timezone = match self.school_id {
            Some(id) => {
                let school = directory::find_school(db, id)
                    .await?
                    .ok_or(ApiError::NotFound("school"))?;
                // Dates are the school's: a timezone that cannot be read is a fault to fix,
                // never UTC in its place.
                decode_timezone("schools", school.id, &school.timezone)
                    .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?
            }
            None => Tz::UTC,
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(RegisterFilter {
            school_id: self.school_id,
            from: self
                .from
                .as_deref()
                .map(|text| parse_bound(text, timezone, false))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|text| parse_bound(text, timezone, true))
                .transpose()?,
            limit,
        })
    }
}

/// An RFC 3339 time, or a date taken as midnight UTC.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, ApiError> {
    parse_bound(text, Tz::UTC, false)
}

fn parse_bound(text: &str, timezone: Tz, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "invalid_time",
            format!("{text:?} is neither a date (2025-03-11) nor an RFC 3339 time"),
        )
    })?;
    let date = if end_of_day {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    // At a clock change midnight may be ambiguous or skipped; take the earliest instant.
    timezone
        .from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            timezone
                .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_time",
                format!("{text:?} does not exist in the school's timezone"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_local_midnight_in_the_schools_timezone() {
        let london: Tz = "Europe/London".parse().unwrap();
        // British Summer Time: local midnight is 23:00 UTC the day before.
        let from = parse_bound("2025-06-10", london, false).unwrap();
        assert_eq!(from.to_rfc3339(), "2025-06-09T23:00:00+00:00");
        let to = parse_bound("2025-06-10", london, true).unwrap();
        assert_eq!(to.to_rfc3339(), "2025-06-10T23:00:00+00:00");
        let winter = parse_bound("2025-01-10", london, false).unwrap();
        assert_eq!(winter.to_rfc3339(), "2025-01-10T00:00:00+00:00");
    }

    #[test]
    fn nonsense_is_refused_with_the_value_named() {
        let error = parse_bound("next tuesday", Tz::UTC, false)
            .unwrap_err()
            .to_string();
        assert!(error.contains("next tuesday"));
    }
}
