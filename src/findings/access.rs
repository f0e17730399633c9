//! Who may see a finding, the record of who saw the restricted ones, and a person's change of
//! a finding's status with its audit entry: one place for the API and the console alike.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::query::{self, FindingRecord};
use super::{change_status, FindingError, Status};
use crate::audit;
use crate::db::Db;
use crate::identity::Principal;

/// A finding about the principal themselves (a member of staff it names) is not theirs to
/// see: an allegation in the making is for the DSL, the deputies and the trust's lead.
pub fn hidden_from(principal: &Principal, finding: &FindingRecord) -> bool {
    names_principal(principal, &finding.people)
}

fn names_principal(principal: &Principal, people: &serde_json::Value) -> bool {
    let Some(person_id) = principal.person_id() else {
        return false;
    };
    people
        .as_array()
        .is_some_and(|people| people.iter().any(|person| person["person_id"] == person_id))
}

/// What still needs someone, as a page's header shows it to the principal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Attention {
    /// Open findings no one has acknowledged.
    pub unacknowledged: i64,
    /// The newest finding's id (0: none), so a page can tell that new ones arrived.
    pub newest: i64,
}

/// Counts only what the principal may see in `schools` (`None`: every school): the
/// findings about themselves are not even counted. Counted in the database: every page's
/// header asks.
pub async fn attention(
    db: &Db,
    principal: &Principal,
    schools: Option<&[i64]>,
) -> Result<Attention, sqlx::Error> {
    let (unacknowledged, newest) = query::attention(db, schools, principal.person_id()).await?;
    Ok(Attention {
        unacknowledged,
        newest,
    })
}

/// Records that the principal saw the restricted ones among `findings` (`action`:
/// `findings.listed`, `finding.viewed`), one audit entry per school.
pub async fn record_views(
    db: &Db,
    principal: &Principal,
    findings: &[FindingRecord],
    action: &str,
) -> Result<(), sqlx::Error> {
    let mut by_school: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for finding in findings.iter().filter(|finding| finding.restricted) {
        by_school
            .entry(finding.school_id)
            .or_default()
            .push(finding.id);
    }
    if by_school.is_empty() {
        return Ok(());
    }
    let actor = principal.audit_actor();
    let mut tx = db.pool.begin().await?;
    for (school_id, ids) in by_school {
        let seen = serde_json::json!({ "finding_ids": ids });
        let subject_id = match ids.as_slice() {
            [one] => one.to_string(),
            _ => "several".to_string(),
        };
        audit::record(
            &mut tx,
            db.backend,
            &audit::Entry {
                actor: &actor,
                school_id: Some(school_id),
                action,
                subject_kind: "finding",
                subject_id: &subject_id,
                before: None,
                after: Some(&seen),
            },
            Utc::now(),
        )
        .await?;
    }
    tx.commit().await
}

/// A person acknowledges or resolves `before` (as read when their right to was checked):
/// the finding's history names `actor`, and the audit log the principal, in one transaction.
pub async fn change_status_recorded(
    db: &Db,
    principal: &Principal,
    before: &FindingRecord,
    status: Status,
    actor: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), FindingError> {
    let mut tx = db.pool.begin().await?;
    change_status(&mut tx, before.id, status, actor, note, now).await?;
    let action = match status {
        Status::Acknowledged => "finding.acknowledged",
        _ => "finding.resolved",
    };
    audit::record(
        &mut tx,
        db.backend,
        &audit::Entry {
            actor: &principal.audit_actor(),
            school_id: Some(before.school_id),
            action,
            subject_kind: "finding",
            subject_id: &before.id.to_string(),
            before: Some(&serde_json::json!({
                "status": before.status,
                "acknowledged_by": before.acknowledged_by,
                "resolved_by": before.resolved_by,
            })),
            after: Some(&serde_json::json!({
                "status": status.as_str(),
                "by": actor,
                "note": note,
            })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
