//! Planned sessions: the DSL's timetable of one-to-one calls, registered before they happen.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{person_by_ref, TimetableError};
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
    pub risk_assessment_ref: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub adults_only: bool,
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

/// Records approval by a member of staff (SLT).
pub async fn approve(
    connection: &mut AnyConnection,
    id: i64,
    approved_by_ref: &str,
    now: DateTime<Utc>,
) -> Result<(), TimetableError> {
    let school_id = school_of(connection, id).await?;
    let approver = person_by_ref(
        connection,
        school_id,
        approved_by_ref,
        Some(PersonKind::Staff),
    )
    .await?;
    sqlx::query("UPDATE planned_sessions SET approved_by = $1, approved_at = $2 WHERE id = $3")
        .bind(approver)
        .bind(to_millis(now))
        .bind(id)
        .execute(&mut *connection)
        .await?;
    queue::enqueue_school(connection, school_id, now).await?;
    Ok(())
}

pub async fn cancel(
    connection: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), TimetableError> {
    let school_id = school_of(connection, id).await?;
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

async fn school_of(connection: &mut AnyConnection, id: i64) -> Result<i64, TimetableError> {
    let row = sqlx::query("SELECT school_id FROM planned_sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(connection)
        .await?
        .ok_or(TimetableError::NotFound)?;
    Ok(row.try_get("school_id")?)
}

/// The school's planned sessions starting in [from, to), earliest first.
pub async fn list(
    connection: &mut AnyConnection,
    school_id: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<PlannedSession>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, school_id, host_person_id, platform_meeting_id, starts_at, ends_at, purpose, approved_by, approved_at, \
           risk_assessment_ref, registered_at, cancelled_at, CASE WHEN adults_only THEN 1 ELSE 0 END AS adults_only \
         FROM planned_sessions \
         WHERE school_id = $1 AND ($2 IS NULL OR starts_at >= $2) AND ($3 IS NULL OR starts_at < $3) ORDER BY starts_at, id",
    )
    .bind(school_id)
    .bind(from.map(to_millis))
    .bind(to.map(to_millis))
    .fetch_all(&mut *connection)
    .await?;
    let mut sessions = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let person_ids = sqlx::query("SELECT person_id FROM planned_session_people WHERE planned_session_id = $1 ORDER BY person_id")
            .bind(id)
            .fetch_all(&mut *connection)
            .await?
            .iter()
            .map(|row| row.try_get("person_id"))
            .collect::<Result<Vec<i64>, _>>()?;
        let time = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
            Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
        };
        sessions.push(PlannedSession {
            id,
            school_id: row.try_get("school_id")?,
            host_person_id: row.try_get("host_person_id")?,
            person_ids,
            platform_meeting_id: row.try_get("platform_meeting_id")?,
            starts_at: from_millis(row.try_get("starts_at")?),
            ends_at: from_millis(row.try_get("ends_at")?),
            purpose: row.try_get("purpose")?,
            approved_by: row.try_get("approved_by")?,
            approved_at: time("approved_at")?,
            risk_assessment_ref: row.try_get("risk_assessment_ref")?,
            registered_at: from_millis(row.try_get("registered_at")?),
            cancelled_at: time("cancelled_at")?,
            // Read as a number: the database-neutral driver cannot decode SQLite booleans.
            adults_only: row.try_get::<i64, _>("adults_only")? != 0,
        });
    }
    Ok(sessions)
}
