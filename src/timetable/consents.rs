//! Parental agreements to online sessions: signed on a date, possibly expiring, possibly
//! withdrawn. Dates are the school's local dates.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{person_by_ref, TimetableError};
use crate::db::time::to_millis;
use crate::directory::PersonKind;
use crate::evaluation::queue;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    pub school_id: i64,
    pub pupil_ref: String,
    /// The parent or carer who signed.
    #[serde(default)]
    pub parent_ref: Option<String>,
    pub signed_on: NaiveDate,
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    pub id: i64,
    pub pupil_id: i64,
    pub parent_id: Option<i64>,
    pub signed_on: String,
    pub expires_on: Option<String>,
    pub withdrawn_on: Option<String>,
}

pub async fn record(
    connection: &mut AnyConnection,
    new: &NewConsent,
    now: DateTime<Utc>,
) -> Result<i64, TimetableError> {
    if new
        .expires_on
        .is_some_and(|expires| expires < new.signed_on)
    {
        return Err(TimetableError::Invalid(
            "expires_on must not be before signed_on".into(),
        ));
    }
    let pupil = person_by_ref(
        connection,
        new.school_id,
        &new.pupil_ref,
        Some(PersonKind::Pupil),
    )
    .await?;
    let parent = match &new.parent_ref {
        Some(reference) => Some(
            person_by_ref(
                connection,
                new.school_id,
                reference,
                Some(PersonKind::Parent),
            )
            .await?,
        ),
        None => None,
    };
    let row = sqlx::query(
        "INSERT INTO parental_consents (school_id, pupil_id, parent_id, signed_on, expires_on, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.school_id)
    .bind(pupil)
    .bind(parent)
    .bind(new.signed_on.to_string())
    .bind(new.expires_on.map(|date| date.to_string()))
    .bind(to_millis(now))
    .fetch_one(&mut *connection)
    .await?;
    queue::enqueue_school(connection, new.school_id, now).await?;
    Ok(row.try_get("id")?)
}

pub async fn withdraw(
    connection: &mut AnyConnection,
    id: i64,
    withdrawn_on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), TimetableError> {
    let row = sqlx::query("SELECT school_id FROM parental_consents WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or(TimetableError::NotFound)?;
    let school_id: i64 = row.try_get("school_id")?;
    sqlx::query("UPDATE parental_consents SET withdrawn_on = $1 WHERE id = $2")
        .bind(withdrawn_on.to_string())
        .bind(id)
        .execute(&mut *connection)
        .await?;
    queue::enqueue_school(connection, school_id, now).await?;
    Ok(())
}

pub async fn list(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<Consent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, pupil_id, parent_id, signed_on, expires_on, withdrawn_on FROM parental_consents \
         WHERE school_id = $1 ORDER BY pupil_id, signed_on",
    )
    .bind(school_id)
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Consent {
                id: row.try_get("id")?,
                pupil_id: row.try_get("pupil_id")?,
                parent_id: row.try_get("parent_id")?,
                signed_on: row.try_get("signed_on")?,
                expires_on: row.try_get("expires_on")?,
                withdrawn_on: row.try_get("withdrawn_on")?,
            })
        })
        .collect()
}
