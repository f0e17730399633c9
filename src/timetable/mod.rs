//! What the school registers around calls: planned sessions (the timetable, with approval
//! and risk assessment), parental agreements, and the outcome written after a call. Every
//! change queues the affected meetings for evaluation in the same transaction.

pub mod choices;
pub mod consents;
pub mod outcomes;
pub mod planned;
pub mod recorded;

use sqlx::AnyConnection;

use crate::directory::{people, PersonKind};

#[derive(Debug, thiserror::Error)]
pub enum TimetableError {
    #[error("no person with ref {0:?} in this school")]
    UnknownPerson(String),
    #[error("person {reference:?} is not a {expected}")]
    WrongKind {
        reference: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The id of the person with `reference` in the school, checked to be of `kind` when given.
pub(crate) async fn person_by_ref(
    connection: &mut AnyConnection,
    school_id: i64,
    reference: &str,
    kind: Option<PersonKind>,
) -> Result<i64, TimetableError> {
    let person = people::by_reference(connection, school_id, reference)
        .await?
        .ok_or_else(|| TimetableError::UnknownPerson(reference.to_string()))?;
    if let Some(kind) = kind {
        if person.kind != kind {
            return Err(TimetableError::WrongKind {
                reference: reference.to_string(),
                expected: kind.as_str(),
            });
        }
    }
    Ok(person.id)
}

/// The kinds of record the timetable keeps, by the table that holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    PlannedSession,
    Consent,
    /// A call (a meeting instance), for its outcome.
    Call,
}

impl Record {
    fn table(self) -> &'static str {
        match self {
            Record::PlannedSession => "planned_sessions",
            Record::Consent => "parental_consents",
            Record::Call => "meeting_instances",
        }
    }
}

/// The school a record belongs to; [`TimetableError::NotFound`] when there is no such record.
pub async fn school_of(
    connection: &mut AnyConnection,
    record: Record,
    id: i64,
) -> Result<i64, TimetableError> {
    // The table name is one of the three above, never from the request.
    let sql = format!("SELECT school_id FROM {} WHERE id = $1", record.table());
    sqlx::query_scalar::<_, i64>(&sql)
        .bind(id)
        .fetch_optional(connection)
        .await?
        .ok_or(TimetableError::NotFound)
}

/// The school's timezone, read as its type (an unreadable one is an error naming the row).
pub(crate) async fn school_timezone(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<chrono_tz::Tz, sqlx::Error> {
    let timezone: String = sqlx::query_scalar("SELECT timezone FROM schools WHERE id = $1")
        .bind(school_id)
        .fetch_one(connection)
        .await?;
    Ok(crate::db::decode::decode_timezone(
        "schools", school_id, &timezone,
    )?)
}
