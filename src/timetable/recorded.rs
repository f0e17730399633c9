//! Each change to the timetable as a principal makes it, through the API or the console: the
//! change and its audit entry in one transaction, so neither stands without the other.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::consents::{self, NewConsent};
use super::outcomes::{self, NewOutcome};
use super::planned::{self, Decision, NewPlannedSession};
use super::{school_of, Record, TimetableError};
use crate::audit;
use crate::db::Db;
use crate::identity::Principal;

/// What was changed, for the audit entry.
struct Change<'a> {
    school_id: i64,
    action: &'a str,
    subject_kind: &'a str,
    subject_id: i64,
    after: Option<Value>,
}

async fn audit_entry(
    connection: &mut sqlx::AnyConnection,
    db: &Db,
    principal: &Principal,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    audit::record(
        connection,
        db.backend,
        &audit::Entry {
            actor: &principal.audit_actor(),
            school_id: Some(change.school_id),
            action: change.action,
            subject_kind: change.subject_kind,
            subject_id: &change.subject_id.to_string(),
            before: None,
            after: change.after.as_ref(),
        },
        now,
    )
    .await?;
    Ok(())
}

pub async fn register_planned_session(
    db: &Db,
    principal: &Principal,
    new: &NewPlannedSession,
    now: DateTime<Utc>,
) -> Result<i64, TimetableError> {
    let mut tx = db.pool.begin().await?;
    let id = planned::register(&mut tx, new, now).await?;
    let change = Change {
        school_id: new.school_id,
        action: "planned_session.registered",
        subject_kind: "planned_session",
        subject_id: id,
        after: serde_json::to_value(new).ok(),
    };
    audit_entry(&mut tx, db, principal, change, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Approves or declines planned session `id` in the name of the member of staff
/// `decided_by_ref`.
pub async fn decide_planned_session(
    db: &Db,
    principal: &Principal,
    id: i64,
    decision: Decision,
    decided_by_ref: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), TimetableError> {
    let mut tx = db.pool.begin().await?;
    let school_id = school_of(&mut tx, Record::PlannedSession, id).await?;
    planned::decide(&mut tx, id, decision, decided_by_ref, note, now).await?;
    let (action, after) = match decision {
        Decision::Approve => (
            "planned_session.approved",
            json!({"approved_by_ref": decided_by_ref, "note": note}),
        ),
        Decision::Decline => (
            "planned_session.declined",
            json!({"declined_by_ref": decided_by_ref, "note": note}),
        ),
    };
    let change = Change {
        school_id,
        action,
        subject_kind: "planned_session",
        subject_id: id,
        after: Some(after),
    };
    audit_entry(&mut tx, db, principal, change, now).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn cancel_planned_session(
    db: &Db,
    principal: &Principal,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), TimetableError> {
    let mut tx = db.pool.begin().await?;
    let school_id = school_of(&mut tx, Record::PlannedSession, id).await?;
    planned::cancel(&mut tx, id, now).await?;
    let change = Change {
        school_id,
        action: "planned_session.cancelled",
        subject_kind: "planned_session",
        subject_id: id,
        after: None,
    };
    audit_entry(&mut tx, db, principal, change, now).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn record_consent(
    db: &Db,
    principal: &Principal,
    new: &NewConsent,
    now: DateTime<Utc>,
) -> Result<i64, TimetableError> {
    let mut tx = db.pool.begin().await?;
    let id = consents::record(&mut tx, new, &principal.label(), now).await?;
    let change = Change {
        school_id: new.school_id,
        action: "consent.recorded",
        subject_kind: "consent",
        subject_id: id,
        after: serde_json::to_value(new).ok(),
    };
    audit_entry(&mut tx, db, principal, change, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Withdraws consent `id` from `withdrawn_on`; returns the upcoming planned sessions it
/// leaves flagged (they are named in the audit entry too).
pub async fn withdraw_consent(
    db: &Db,
    principal: &Principal,
    id: i64,
    withdrawn_on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, TimetableError> {
    let mut tx = db.pool.begin().await?;
    let school_id = school_of(&mut tx, Record::Consent, id).await?;
    let flagged = consents::withdraw(&mut tx, id, withdrawn_on, &principal.label(), now).await?;
    let change = Change {
        school_id,
        action: "consent.withdrawn",
        subject_kind: "consent",
        subject_id: id,
        after: Some(json!({"withdrawn_on": withdrawn_on, "flagged_sessions": flagged})),
    };
    audit_entry(&mut tx, db, principal, change, now).await?;
    tx.commit().await?;
    Ok(flagged)
}

pub async fn record_outcome(
    db: &Db,
    principal: &Principal,
    meeting_id: i64,
    new: &NewOutcome,
    now: DateTime<Utc>,
) -> Result<i64, TimetableError> {
    let mut tx = db.pool.begin().await?;
    let school_id = school_of(&mut tx, Record::Call, meeting_id).await?;
    let id = outcomes::record(&mut tx, meeting_id, new, now).await?;
    let change = Change {
        school_id,
        action: "outcome.recorded",
        subject_kind: "meeting",
        subject_id: meeting_id,
        after: serde_json::to_value(new).ok(),
    };
    audit_entry(&mut tx, db, principal, change, now).await?;
    tx.commit().await?;
    Ok(id)
}
