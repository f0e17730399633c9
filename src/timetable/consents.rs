//! Parental agreements to online sessions: signed on a date, possibly expiring, possibly
//! withdrawn. Dates are the school's local dates. A planned session naming a pupil whose
//! agreement was withdrawn or has expired by the session's date is flagged: worked out when
//! the timetable is read, so an expiry flags the session without anyone acting.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{person_by_ref, planned, school_of, school_timezone, Record, TimetableError};
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
    pub pupil_ref: String,
    /// For the console's register; the API names pupils by id and ref.
    #[serde(skip)]
    pub pupil_name: String,
    pub parent_id: Option<i64>,
    pub signed_on: String,
    pub expires_on: Option<String>,
    pub withdrawn_on: Option<String>,
    /// Who recorded it and who withdrew it (none for consents recorded before this was kept).
    pub recorded_by: Option<String>,
    pub withdrawn_by: Option<String>,
}

pub async fn record(
    connection: &mut AnyConnection,
    new: &NewConsent,
    recorded_by: &str,
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
        "INSERT INTO parental_consents (school_id, pupil_id, parent_id, signed_on, expires_on, recorded_at, recorded_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.school_id)
    .bind(pupil)
    .bind(parent)
    .bind(new.signed_on.to_string())
    .bind(new.expires_on.map(|date| date.to_string()))
    .bind(to_millis(now))
    .bind(recorded_by)
    .fetch_one(&mut *connection)
    .await?;
    queue::enqueue_school(connection, new.school_id, now).await?;
    Ok(row.try_get("id")?)
}

/// Withdraws the consent from `withdrawn_on`; returns the upcoming planned sessions that
/// relied on it (see [`affected_sessions`]), now flagged.
pub async fn withdraw(
    connection: &mut AnyConnection,
    id: i64,
    withdrawn_on: NaiveDate,
    withdrawn_by: &str,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, TimetableError> {
    let school_id = school_of(connection, Record::Consent, id).await?;
    let affected = affected_sessions(connection, id, withdrawn_on, now).await?;
    sqlx::query("UPDATE parental_consents SET withdrawn_on = $1, withdrawn_by = $2 WHERE id = $3")
        .bind(withdrawn_on.to_string())
        .bind(withdrawn_by)
        .bind(id)
        .execute(&mut *connection)
        .await?;
    queue::enqueue_school(connection, school_id, now).await?;
    Ok(affected)
}

/// The school's consents, by pupil name then date signed.
pub async fn list(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<Consent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.id, c.pupil_id, p.external_ref, p.display_name, c.parent_id, c.signed_on, c.expires_on, \
           c.withdrawn_on, c.recorded_by, c.withdrawn_by \
         FROM parental_consents c JOIN people p ON p.id = c.pupil_id \
         WHERE c.school_id = $1 ORDER BY p.display_name, c.pupil_id, c.signed_on, c.id",
    )
    .bind(school_id)
    .fetch_all(connection)
    .await?;
    rows.iter().map(consent_from_row).collect()
}

pub async fn find(connection: &mut AnyConnection, id: i64) -> Result<Option<Consent>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT c.id, c.pupil_id, p.external_ref, p.display_name, c.parent_id, c.signed_on, c.expires_on, \
           c.withdrawn_on, c.recorded_by, c.withdrawn_by \
         FROM parental_consents c JOIN people p ON p.id = c.pupil_id WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(consent_from_row).transpose()
}

fn consent_from_row(row: &AnyRow) -> Result<Consent, sqlx::Error> {
    Ok(Consent {
        id: row.try_get("id")?,
        pupil_id: row.try_get("pupil_id")?,
        pupil_ref: row.try_get("external_ref")?,
        pupil_name: row.try_get("display_name")?,
        parent_id: row.try_get("parent_id")?,
        signed_on: row.try_get("signed_on")?,
        expires_on: row.try_get("expires_on")?,
        withdrawn_on: row.try_get("withdrawn_on")?,
        recorded_by: row.try_get("recorded_by")?,
        withdrawn_by: row.try_get("withdrawn_by")?,
    })
}

/// A consent's dates, read as dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentDates {
    pub id: i64,
    pub pupil_id: i64,
    pub signed_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    pub withdrawn_on: Option<NaiveDate>,
}

impl ConsentDates {
    /// In force on `day`: signed on or before it, not expired before it, not withdrawn on or
    /// before it (as the policy's parental consent rule reads it).
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.signed_on <= day
            && self.expires_on.is_none_or(|expires| expires >= day)
            && self.withdrawn_on.is_none_or(|withdrawn| withdrawn > day)
    }

    /// How the consent had lapsed by `day`, if it had.
    fn lapse_by(&self, day: NaiveDate) -> Option<(Lapse, NaiveDate)> {
        let withdrawn = self
            .withdrawn_on
            .filter(|withdrawn| *withdrawn <= day)
            .map(|on| (Lapse::Withdrawn, on));
        let expired = self
            .expires_on
            .filter(|expires| *expires < day)
            .map(|on| (Lapse::Expired, on));
        match (withdrawn, expired) {
            // Whichever ended it first.
            (Some(w), Some(e)) => Some(if w.1 <= e.1 { w } else { e }),
            (one, other) => one.or(other),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lapse {
    Withdrawn,
    Expired,
}

/// Why a planned session is flagged: a pupil it names had a consent that was withdrawn or
/// expired by the session's date, and none other in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentFlag {
    pub pupil_id: i64,
    pub consent_id: i64,
    pub reason: Lapse,
    /// The date the consent was withdrawn or expired.
    pub on: NaiveDate,
}

/// The flag for `pupil_id` on `day`, given the school's `consents`: none while a consent is
/// in force, or when the pupil never had one (the policy's consent rule finds that).
pub fn flag_for(consents: &[ConsentDates], pupil_id: i64, day: NaiveDate) -> Option<ConsentFlag> {
    let of_pupil = || consents.iter().filter(|c| c.pupil_id == pupil_id);
    if of_pupil().any(|consent| consent.in_force_on(day)) {
        return None;
    }
    of_pupil()
        .filter_map(|consent| {
            consent
                .lapse_by(day)
                .map(|(reason, on)| (consent.id, reason, on))
        })
        // The most recent lapse is the one that matters.
        .max_by_key(|(id, _, on)| (*on, *id))
        .map(|(consent_id, reason, on)| ConsentFlag {
            pupil_id,
            consent_id,
            reason,
            on,
        })
}

/// The dates of every consent of the school (or of one pupil).
pub async fn dates(
    connection: &mut AnyConnection,
    school_id: i64,
    pupil_id: Option<i64>,
) -> Result<Vec<ConsentDates>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, pupil_id, signed_on, expires_on, withdrawn_on FROM parental_consents \
         WHERE school_id = $1 AND ($2 IS NULL OR pupil_id = $2) ORDER BY id",
    )
    .bind(school_id)
    .bind(pupil_id)
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let date = |column: &'static str, text: String| {
                NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
                    sqlx::Error::from(crate::db::decode::DecodeError {
                        table: "parental_consents",
                        id: id.to_string(),
                        column,
                        value: text,
                        expected: "date",
                    })
                })
            };
            let optional = |column: &'static str| -> Result<Option<NaiveDate>, sqlx::Error> {
                row.try_get::<Option<String>, _>(column)?
                    .map(|text| date(column, text))
                    .transpose()
            };
            Ok(ConsentDates {
                id,
                pupil_id: row.try_get("pupil_id")?,
                signed_on: date("signed_on", row.try_get("signed_on")?)?,
                expires_on: optional("expires_on")?,
                withdrawn_on: optional("withdrawn_on")?,
            })
        })
        .collect()
}

/// The upcoming planned sessions (not cancelled, starting from `now`) that withdrawing consent
/// `id` from `withdrawn_on` would leave without a consent for its pupil: those it covers
/// today, on a date from `withdrawn_on`, with no other consent in force then.
pub async fn affected_sessions(
    connection: &mut AnyConnection,
    id: i64,
    withdrawn_on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, TimetableError> {
    let school_id = school_of(connection, Record::Consent, id).await?;
    let all = dates(connection, school_id, None).await?;
    let consent = all
        .iter()
        .find(|consent| consent.id == id)
        .ok_or(TimetableError::NotFound)?
        .clone();
    if withdrawn_on < consent.signed_on {
        return Err(TimetableError::Invalid(
            "withdrawn_on must not be before signed_on".into(),
        ));
    }
    let mut after = all.clone();
    for other in after.iter_mut().filter(|other| other.id == id) {
        other.withdrawn_on = Some(
            other
                .withdrawn_on
                .map_or(withdrawn_on, |earlier| earlier.min(withdrawn_on)),
        );
    }
    let timezone = school_timezone(connection, school_id).await?;
    let sessions = planned::upcoming_naming(connection, consent.pupil_id, now).await?;
    Ok(sessions
        .into_iter()
        .filter(|(_, starts_at)| {
            let day = starts_at.with_timezone(&timezone).date_naive();
            day >= withdrawn_on
                && flag_for(&all, consent.pupil_id, day).is_none()
                && flag_for(&after, consent.pupil_id, day).is_some()
        })
        .map(|(session_id, _)| session_id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn consent(
        id: i64,
        signed: &str,
        expires: Option<&str>,
        withdrawn: Option<&str>,
    ) -> ConsentDates {
        ConsentDates {
            id,
            pupil_id: 7,
            signed_on: day(signed),
            expires_on: expires.map(day),
            withdrawn_on: withdrawn.map(day),
        }
    }

    #[test]
    fn a_consent_is_in_force_from_its_signing_to_its_expiry_and_not_from_its_withdrawal() {
        let signed = consent(1, "2026-09-01", Some("2027-07-20"), Some("2026-12-03"));
        assert!(!signed.in_force_on(day("2026-08-31")));
        assert!(signed.in_force_on(day("2026-09-01")));
        assert!(signed.in_force_on(day("2026-12-02")));
        assert!(!signed.in_force_on(day("2026-12-03")), "withdrawn that day");
        let expiring = consent(2, "2026-09-01", Some("2026-10-01"), None);
        assert!(
            expiring.in_force_on(day("2026-10-01")),
            "the last day counts"
        );
        assert!(!expiring.in_force_on(day("2026-10-02")));
    }

    #[test]
    fn a_session_after_a_withdrawal_or_an_expiry_is_flagged_with_the_lapse() {
        let withdrawn = [consent(1, "2026-09-01", None, Some("2026-12-03"))];
        assert_eq!(flag_for(&withdrawn, 7, day("2026-12-01")), None);
        assert_eq!(
            flag_for(&withdrawn, 7, day("2026-12-10")),
            Some(ConsentFlag {
                pupil_id: 7,
                consent_id: 1,
                reason: Lapse::Withdrawn,
                on: day("2026-12-03")
            })
        );
        let expired = [consent(2, "2026-09-01", Some("2026-11-30"), None)];
        let flag = flag_for(&expired, 7, day("2026-12-10")).unwrap();
        assert_eq!((flag.reason, flag.on), (Lapse::Expired, day("2026-11-30")));
    }

    #[test]
    fn another_consent_in_force_or_none_ever_leaves_the_session_unflagged() {
        let renewed = [
            consent(1, "2025-09-01", Some("2026-08-31"), None),
            consent(2, "2026-09-01", None, None),
        ];
        assert_eq!(flag_for(&renewed, 7, day("2026-12-10")), None);
        assert_eq!(flag_for(&[], 7, day("2026-12-10")), None, "never had one");
        assert_eq!(
            flag_for(&renewed, 8, day("2026-12-10")),
            None,
            "another pupil's consents say nothing"
        );
    }
}
