//! Stored text read back into its type. A value chaperone cannot read is an error naming the
//! row, the column and the value, never a default: a pupil read as staff, a school in London
//! read as UTC or a Meet account read as Zoom would each be judged wrongly without a trace.
//! The values named here are codes (kinds, platforms, timezones), never personal data.

use std::fmt;

use chrono_tz::Tz;

use crate::directory::{PersonKind, StaffRole};
use crate::meeting::Platform;

/// A stored value that does not read as its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} row {id}: {column} {value:?} is not a known {expected}")]
pub struct DecodeError {
    pub table: &'static str,
    /// The row's id, as the table keys it.
    pub id: String,
    pub column: &'static str,
    pub value: String,
    /// What the value should have been, in words ("platform", "timezone").
    pub expected: &'static str,
}

impl From<DecodeError> for sqlx::Error {
    fn from(error: DecodeError) -> Self {
        sqlx::Error::Decode(Box::new(error))
    }
}

/// Reads `value` from `table`'s `column` of row `id` with `parse`.
pub fn decode<T>(
    table: &'static str,
    id: impl fmt::Display,
    column: &'static str,
    expected: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, DecodeError> {
    parse(value).ok_or_else(|| DecodeError {
        table,
        id: id.to_string(),
        column,
        value: value.to_string(),
        expected,
    })
}

/// A `platform` column.
pub fn decode_platform(
    table: &'static str,
    id: impl fmt::Display,
    value: &str,
) -> Result<Platform, DecodeError> {
    decode(table, id, "platform", "platform", value, Platform::parse)
}

/// A `timezone` column: an IANA name such as `Europe/London`.
pub fn decode_timezone(
    table: &'static str,
    id: impl fmt::Display,
    value: &str,
) -> Result<Tz, DecodeError> {
    decode(table, id, "timezone", "timezone", value, |text| {
        text.parse().ok()
    })
}

/// A person's `kind` column.
pub fn decode_person_kind(
    table: &'static str,
    id: impl fmt::Display,
    value: &str,
) -> Result<PersonKind, DecodeError> {
    decode(
        table,
        id,
        "kind",
        "kind of person",
        value,
        PersonKind::parse,
    )
}

/// A person's `staff_role` column.
pub fn decode_staff_role(
    table: &'static str,
    id: impl fmt::Display,
    value: &str,
) -> Result<StaffRole, DecodeError> {
    decode(
        table,
        id,
        "staff_role",
        "staff role",
        value,
        StaffRole::parse,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_value_reads_as_its_type() {
        assert_eq!(
            decode_platform("enrichment_jobs", 4, "google_meet"),
            Ok(Platform::GoogleMeet)
        );
        assert_eq!(
            decode_timezone("schools", 1, "Europe/London"),
            Ok(chrono_tz::Europe::London)
        );
        assert_eq!(
            decode_person_kind("people", 7, "pupil"),
            Ok(PersonKind::Pupil)
        );
        assert_eq!(decode_staff_role("people", 7, "dsl"), Ok(StaffRole::Dsl));
    }

    #[test]
    fn an_unknown_platform_is_an_error_naming_the_row_and_the_value() {
        let error = decode_platform("enrichment_jobs", 42, "teams").unwrap_err();
        assert_eq!(
            error.to_string(),
            "enrichment_jobs row 42: platform \"teams\" is not a known platform"
        );
    }

    #[test]
    fn an_unknown_timezone_is_an_error_and_never_utc() {
        let error = decode_timezone("schools", 3, "Europe/Londres").unwrap_err();
        assert_eq!(error.table, "schools");
        assert_eq!(error.id, "3");
        assert_eq!(error.value, "Europe/Londres");
        assert!(error.to_string().contains("schools row 3"), "{error}");
        assert!(decode_timezone("schools", 3, "").is_err());
    }

    #[test]
    fn an_unknown_kind_of_person_is_an_error_and_never_staff() {
        let error = decode_person_kind("people", 9, "teacher?").unwrap_err();
        assert_eq!(
            error.to_string(),
            "people row 9: kind \"teacher?\" is not a known kind of person"
        );
        assert!(decode_staff_role("people", 9, "head").is_err());
    }

    #[test]
    fn a_decode_error_becomes_a_database_decode_error_keeping_its_words() {
        let error: sqlx::Error = decode_platform("inbox", 5, "zoom2").unwrap_err().into();
        assert!(matches!(error, sqlx::Error::Decode(_)), "{error:?}");
        assert!(error.to_string().contains("inbox row 5"), "{error}");
        assert!(error.to_string().contains("\"zoom2\""), "{error}");
    }
}
