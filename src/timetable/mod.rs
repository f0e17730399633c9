//! What the school registers around calls: planned sessions (the timetable, with approval
//! and risk assessment), parental agreements, and the outcome written after a call. Every
//! change queues the affected meetings for evaluation in the same transaction.

pub mod consents;
pub mod outcomes;
pub mod planned;

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
