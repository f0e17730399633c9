//! The outcome a member of staff records after a call. Its text is safeguarding
//! information: stored for the register, never logged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{person_by_ref, TimetableError};
use crate::db::time::to_millis;
use crate::directory::PersonKind;
use crate::evaluation::queue::{self, Target};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewOutcome {
    pub outcome: String,
    #[serde(default)]
    pub written_by_ref: Option<String>,
}

pub async fn record(
    connection: &mut AnyConnection,
    meeting_instance_id: i64,
    new: &NewOutcome,
    now: DateTime<Utc>,
) -> Result<i64, TimetableError> {
    if new.outcome.trim().is_empty() {
        return Err(TimetableError::Invalid("outcome must not be empty".into()));
    }
    let row = sqlx::query("SELECT school_id FROM meeting_instances WHERE id = $1")
        .bind(meeting_instance_id)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or(TimetableError::NotFound)?;
    let school_id: i64 = row.try_get("school_id")?;
    let author = match &new.written_by_ref {
        Some(reference) => {
            Some(person_by_ref(connection, school_id, reference, Some(PersonKind::Staff)).await?)
        }
        None => None,
    };
    let row = sqlx::query(
        "INSERT INTO session_outcomes (school_id, meeting_instance_id, written_by, written_at, outcome) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(school_id)
    .bind(meeting_instance_id)
    .bind(author)
    .bind(to_millis(now))
    .bind(new.outcome.trim())
    .fetch_one(&mut *connection)
    .await?;
    queue::enqueue(connection, Target::Instance(meeting_instance_id), now).await?;
    Ok(row.try_get("id")?)
}
