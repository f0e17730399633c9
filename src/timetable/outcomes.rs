//! The outcome a member of staff records after a call, and the calls still waiting for one.
//! Its text is safeguarding information: stored for the register, never logged. Recording it
//! queues the call for evaluation, which clears the policy's "outcome logged" finding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{person_by_ref, school_of, Record, TimetableError};
use crate::db::time::{from_millis, to_millis};
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
    let school_id = school_of(connection, Record::Call, meeting_instance_id).await?;
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

/// An ended call with no outcome written yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCall {
    pub id: i64,
    pub school_id: i64,
    pub platform: String,
    pub platform_meeting_id: Option<String>,
    pub topic: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
}

/// Someone a call involves, for [`waiting`] to keep only their calls.
const TOOK_PART: &str = "(EXISTS (SELECT 1 FROM participant_sessions s WHERE s.instance_id = i.id \
      AND (s.person_id = $2 OR s.identified_person_id = $2)) \
  OR EXISTS (SELECT 1 FROM person_platform_ids x WHERE x.school_id = i.school_id AND x.platform = i.platform \
      AND x.platform_user_id = i.host_user_id AND x.person_id = $2) \
  OR EXISTS (SELECT 1 FROM platform_users u JOIN person_emails e ON e.email = u.email \
      WHERE e.school_id = i.school_id AND u.platform = i.platform AND u.platform_user_id = i.host_user_id \
      AND e.person_id = $2))";

/// A call the policy checks: someone in it is a pupil, or could be (not identified).
const WITH_A_PUPIL: &str = "EXISTS (SELECT 1 FROM participant_sessions s \
      LEFT JOIN people p ON p.id = COALESCE(s.identified_person_id, s.person_id) \
      WHERE s.instance_id = i.id AND (p.id IS NULL OR p.kind = 'pupil'))";

/// The school's ended calls with a pupil (or someone who may be one) and no outcome yet,
/// longest waiting first, at most `limit`; with `taken_part_by`, only the calls that person
/// hosted or joined.
pub async fn waiting(
    connection: &mut AnyConnection,
    school_id: i64,
    taken_part_by: Option<i64>,
    limit: i64,
) -> Result<Vec<WaitingCall>, sqlx::Error> {
    let sql = format!(
        "SELECT i.id, i.school_id, i.platform, i.platform_meeting_id, i.topic, \
           COALESCE(i.started_at, i.start_hint) AS started_at, i.ended_at \
         FROM meeting_instances i \
         WHERE i.school_id = $1 AND i.ended_at IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM session_outcomes o WHERE o.meeting_instance_id = i.id) \
           AND {WITH_A_PUPIL} AND ($2 IS NULL OR {TOOK_PART}) \
         ORDER BY i.ended_at, i.id LIMIT $3"
    );
    sqlx::query(&sql)
        .bind(school_id)
        .bind(taken_part_by)
        .bind(limit)
        .fetch_all(connection)
        .await?
        .iter()
        .map(|row| {
            Ok(WaitingCall {
                id: row.try_get("id")?,
                school_id: row.try_get("school_id")?,
                platform: row.try_get("platform")?,
                platform_meeting_id: row.try_get("platform_meeting_id")?,
                topic: row.try_get("topic")?,
                started_at: row
                    .try_get::<Option<i64>, _>("started_at")?
                    .map(from_millis),
                ended_at: from_millis(row.try_get("ended_at")?),
            })
        })
        .collect()
}

/// Whether `person_id` hosted or joined call `call_id`.
pub async fn took_part(
    connection: &mut AnyConnection,
    call_id: i64,
    person_id: i64,
) -> Result<bool, sqlx::Error> {
    let sql =
        format!("SELECT COUNT(*) AS n FROM meeting_instances i WHERE i.id = $1 AND {TOOK_PART}");
    let row = sqlx::query(&sql)
        .bind(call_id)
        .bind(person_id)
        .fetch_one(connection)
        .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
