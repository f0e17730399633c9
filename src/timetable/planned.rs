//! Planned sessions: the DSL's timetable of one-to-one calls, registered before they happen,
//! then approved or declined by the DSL (or recorded as approved by a senior leader), or cancelled.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::consents::{self, ConsentFlag};
use super::{person_by_ref, school_of, school_timezone, Record, TimetableError};
use crate::db::time::{from_millis, to_millis};
use crate::directory::PersonKind;
use crate::evaluation::queue;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlannedSession {
    pub school_id: i64,
    /// The member of staff running the session (their directory ref).
    pub host_ref: String,
    #[serde(default)]
    pub pupil_refs: Vec<String>,
    /// Further staff joining the session.
    #[serde(default)]
    pub staff_refs: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub purpose: String,
    #[serde(default)]
    pub approved_by_ref: Option<String>,
    #[serde(default)]
    pub risk_assessment_ref: Option<String>,
    /// The platform meeting, when already created (e.g. the Zoom meeting number).
    #[serde(default)]
    pub platform_meeting_id: Option<String>,
    /// A meeting of adults only (a case meeting with a social worker): no pupil is expected.
    /// An unidentified guest who joins is still treated as a possible pupil.
    #[serde(default)]
    pub adults_only: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedSession {
    pub id: i64,
    pub school_id: i64,
    pub host_person_id: i64,
    pub person_ids: Vec<i64>,
    pub platform_meeting_id: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub purpose: String,
    pub approved_by: Option<i64>,
    pub approved_at: Option<DateTime<Utc>>,
    pub declined_by: Option<i64>,
    pub declined_at: Option<DateTime<Utc>>,
    /// The note given with the approval or the decline.
    pub decision_note: Option<String>,
    pub risk_assessment_ref: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub adults_only: bool,
    pub state: SessionState,
    /// Pupils whose consent was withdrawn or expired by the session's date (empty: not flagged).
    pub flags: Vec<ConsentFlag>,
}

/// Where a planned session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Pending,
    Approved,
    Declined,
    Cancelled,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Pending => "pending",
            SessionState::Approved => "approved",
            SessionState::Declined => "declined",
            SessionState::Cancelled => "cancelled",
        }
    }
}

/// The approval or decline of a planned session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Decline,
}

pub async fn register(
    connection: &mut AnyConnection,
    new: &NewPlannedSession,
    now: DateTime<Utc>,
) -> Result<i64, TimetableError> {
    if new.ends_at <= new.starts_at {
        return Err(TimetableError::Invalid(
            "ends_at must be after starts_at".into(),
        ));
    }
    if new.purpose.trim().is_empty() {
        return Err(TimetableError::Invalid(
            "purpose must say what the session is for".into(),
        ));
    }
    if new.adults_only && !new.pupil_refs.is_empty() {
        return Err(TimetableError::Invalid(
            "an adults-only session cannot name pupils".into(),
        ));
    }
    let host = person_by_ref(
        connection,
        new.school_id,
        &new.host_ref,
        Some(PersonKind::Staff),
    )
    .await?;
    let approver = match &new.approved_by_ref {
        Some(reference) => Some(
            person_by_ref(
                connection,
                new.school_id,
                reference,
                Some(PersonKind::Staff),
            )
            .await?,
        ),
        None => None,
    };
    let mut people = Vec::new();
    for reference in &new.pupil_refs {
        people.push(
            person_by_ref(
                connection,
                new.school_id,
                reference,
                Some(PersonKind::Pupil),
            )
            .await?,
        );
    }
    for reference in &new.staff_refs {
        people.push(
            person_by_ref(
                connection,
                new.school_id,
                reference,
                Some(PersonKind::Staff),
            )
            .await?,
        );
    }
    let row = sqlx::query(
        "INSERT INTO planned_sessions (school_id, host_person_id, platform_meeting_id, starts_at, ends_at, purpose, \
           approved_by, approved_at, risk_assessment_ref, registered_at, adults_only) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(new.school_id)
    .bind(host)
    .bind(new.platform_meeting_id.as_deref())
    .bind(to_millis(new.starts_at))
    .bind(to_millis(new.ends_at))
    .bind(new.purpose.trim())
    .bind(approver)
    .bind(approver.map(|_| to_millis(now)))
    .bind(new.risk_assessment_ref.as_deref().filter(|r| !r.trim().is_empty()))
    .bind(to_millis(now))
    .bind(new.adults_only)
    .fetch_one(&mut *connection)
    .await?;
    let id: i64 = row.try_get("id")?;
    for person in people {
        sqlx::query("INSERT INTO planned_session_people (planned_session_id, person_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(person)
            .execute(&mut *connection)
            .await?;
    }
    queue::enqueue_school(connection, new.school_id, now).await?;
    Ok(id)
}

/// Approves or declines the session in the name of the member of staff `decided_by_ref`, with
/// an optional note. The later decision replaces the earlier one; a cancelled session takes
/// none.
pub async fn decide(
    connection: &mut AnyConnection,
    id: i64,
    decision: Decision,
    decided_by_ref: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), TimetableError> {
    let school_id = school_of(connection, Record::PlannedSession, id).await?;
    let decider = person_by_ref(
        connection,
        school_id,
        decided_by_ref,
        Some(PersonKind::Staff),
    )
    .await?;
    let note = note.map(str::trim).filter(|note| !note.is_empty());
    let sql = match decision {
        Decision::Approve => {
            "UPDATE planned_sessions SET approved_by = $1, approved_at = $2, declined_by = NULL, \
               declined_at = NULL, decision_note = $3 WHERE id = $4 AND cancelled_at IS NULL"
        }
        Decision::Decline => {
            "UPDATE planned_sessions SET declined_by = $1, declined_at = $2, approved_by = NULL, \
               approved_at = NULL, decision_note = $3 WHERE id = $4 AND cancelled_at IS NULL"
        }
    };
    let changed = sqlx::query(sql)
        .bind(decider)
        .bind(to_millis(now))
        .bind(note)
        .bind(id)
        .execute(&mut *connection)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(TimetableError::Invalid(
            "the session was cancelled: it can no longer be approved or declined".into(),
        ));
    }
    queue::enqueue_school(connection, school_id, now).await?;
    Ok(())
}

pub async fn cancel(
    connection: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), TimetableError> {
    let school_id = school_of(connection, Record::PlannedSession, id).await?;
    sqlx::query(
        "UPDATE planned_sessions SET cancelled_at = $1 WHERE id = $2 AND cancelled_at IS NULL",
    )
    .bind(to_millis(now))
    .bind(id)
    .execute(&mut *connection)
    .await?;
    queue::enqueue_school(connection, school_id, now).await?;
    Ok(())
}

const COLUMNS: &str = "id, school_id, host_person_id, platform_meeting_id, starts_at, ends_at, purpose, \
    approved_by, approved_at, declined_by, declined_at, decision_note, risk_assessment_ref, registered_at, \
    cancelled_at, CASE WHEN adults_only THEN 1 ELSE 0 END AS adults_only";

/// The school's planned sessions starting in [from, to), earliest first, each flagged when a
/// pupil's consent was withdrawn or expired by its date.
pub async fn list(
    connection: &mut AnyConnection,
    school_id: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<PlannedSession>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM planned_sessions \
         WHERE school_id = $1 AND ($2 IS NULL OR starts_at >= $2) AND ($3 IS NULL OR starts_at < $3) ORDER BY starts_at, id"
    ))
    .bind(school_id)
    .bind(from.map(to_millis))
    .bind(to.map(to_millis))
    .fetch_all(&mut *connection)
    .await?;
    complete(connection, school_id, &rows).await
}

/// The planned session `id`, flagged as [`list`] flags it.
pub async fn find(
    connection: &mut AnyConnection,
    id: i64,
) -> Result<Option<PlannedSession>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM planned_sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let school_id: i64 = row.try_get("school_id")?;
    Ok(complete(connection, school_id, &[row]).await?.pop())
}

/// The sessions not cancelled that name `person_id` and start from `from`, with their starts.
pub async fn upcoming_naming(
    connection: &mut AnyConnection,
    person_id: i64,
    from: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query(
        "SELECT s.id, s.starts_at FROM planned_sessions s \
         JOIN planned_session_people pp ON pp.planned_session_id = s.id \
         WHERE pp.person_id = $1 AND s.cancelled_at IS NULL AND s.starts_at >= $2 ORDER BY s.starts_at, s.id",
    )
    .bind(person_id)
    .bind(to_millis(from))
    .fetch_all(connection)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("id")?, from_millis(row.try_get("starts_at")?))))
    .collect()
}

/// The sessions of `rows` (all of school `school_id`) with their people, state and flags.
async fn complete(
    connection: &mut AnyConnection,
    school_id: i64,
    rows: &[AnyRow],
) -> Result<Vec<PlannedSession>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let timezone = school_timezone(connection, school_id).await?;
    let consents = consents::dates(connection, school_id, None).await?;
    let mut sessions = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let people = sqlx::query(
            "SELECT pp.person_id, p.kind FROM planned_session_people pp JOIN people p ON p.id = pp.person_id \
             WHERE pp.planned_session_id = $1 ORDER BY pp.person_id",
        )
        .bind(id)
        .fetch_all(&mut *connection)
        .await?;
        let mut person_ids = Vec::with_capacity(people.len());
        let mut pupil_ids = Vec::new();
        for person in &people {
            let person_id: i64 = person.try_get("person_id")?;
            person_ids.push(person_id);
            if person.try_get::<String, _>("kind")? == PersonKind::Pupil.as_str() {
                pupil_ids.push(person_id);
            }
        }
        let time = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
            Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
        };
        let starts_at = from_millis(row.try_get("starts_at")?);
        let (approved_at, declined_at, cancelled_at) = (
            time("approved_at")?,
            time("declined_at")?,
            time("cancelled_at")?,
        );
        let state = match (cancelled_at, declined_at, approved_at) {
            (Some(_), _, _) => SessionState::Cancelled,
            (None, Some(_), _) => SessionState::Declined,
            (None, None, Some(_)) => SessionState::Approved,
            (None, None, None) => SessionState::Pending,
        };
        let day = starts_at.with_timezone(&timezone).date_naive();
        let flags = pupil_ids
            .iter()
            .filter_map(|pupil| consents::flag_for(&consents, *pupil, day))
            .collect();
        sessions.push(PlannedSession {
            id,
            school_id: row.try_get("school_id")?,
            host_person_id: row.try_get("host_person_id")?,
            person_ids,
            platform_meeting_id: row.try_get("platform_meeting_id")?,
            starts_at,
            ends_at: from_millis(row.try_get("ends_at")?),
            purpose: row.try_get("purpose")?,
            approved_by: row.try_get("approved_by")?,
            approved_at,
            declined_by: row.try_get("declined_by")?,
            declined_at,
            decision_note: row.try_get("decision_note")?,
            risk_assessment_ref: row.try_get("risk_assessment_ref")?,
            registered_at: from_millis(row.try_get("registered_at")?),
            cancelled_at,
            // Read as a number: the database-neutral driver cannot decode SQLite booleans.
            adults_only: row.try_get::<i64, _>("adults_only")? != 0,
            state,
            flags,
        });
    }
    Ok(sessions)
}
