//! `/api/v1/findings`: list and read findings, acknowledge and resolve them.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::auth;
use super::json::JsonBody;
use super::params::parse_time;
use crate::audit;
use crate::db::time::from_millis;
use crate::error::ApiError;
use crate::findings::query::{self, FindingFilter, FindingRecord, HistoryEntry};
use crate::findings::{self, FindingError, Status};
use crate::identity::{Capability, Principal};
use crate::policy::Severity;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct FindingQuery {
    school_id: Option<i64>,
    status: Option<String>,
    /// One severity or several, comma-separated.
    severity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
}

pub async fn list_findings(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<FindingQuery>,
) -> Result<Json<Vec<FindingRecord>>, ApiError> {
    let schools = auth::schools_to_show(&principal, Capability::SeeSafeguarding, query.school_id)?;
    if let Some(status) = &query.status {
        Status::parse(status).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_status",
                "status must be open, acknowledged or resolved",
            )
        })?;
    }
    let mut severities = Vec::new();
    for severity in query.severity.iter().flat_map(|list| list.split(',')) {
        let parsed = Severity::parse(severity.trim()).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_severity",
                "severity must be low, medium, high or critical",
            )
        })?;
        severities.push(parsed.as_str().to_string());
    }
    let filter = FindingFilter {
        school_id: query.school_id,
        status: query.status,
        severities,
        from: query.from.as_deref().map(parse_time).transpose()?,
        to: query.to.as_deref().map(parse_time).transpose()?,
        limit: query.limit.unwrap_or(500).clamp(1, 5000),
    };
    let shown: Vec<FindingRecord> = query::list(&db, &filter)
        .await?
        .into_iter()
        .filter(|finding| schools.includes(finding.school_id) && !hidden_from(&principal, finding))
        .collect();
    record_views(&db, &principal, &shown, "findings.listed").await?;
    Ok(Json(shown))
}

/// Records that the principal saw the restricted ones among `findings`, one entry per school.
async fn record_views(
    db: &crate::db::Db,
    principal: &Principal,
    findings: &[FindingRecord],
    action: &str,
) -> Result<(), ApiError> {
    let mut by_school: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
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
    tx.commit().await?;
    Ok(())
}

/// A finding about the principal themselves (a member of staff it names) is not theirs to
/// see: an allegation in the making is for the DSL, the deputies and the trust's lead.
fn hidden_from(principal: &Principal, finding: &FindingRecord) -> bool {
    let Some(person_id) = principal.person_id() else {
        return false;
    };
    finding
        .people
        .as_array()
        .is_some_and(|people| people.iter().any(|person| person["person_id"] == person_id))
}

/// The finding `id` if the principal may `capability` it (404 for one about themselves, so
/// that it does not even exist for them).
async fn finding_for(
    db: &crate::db::Db,
    principal: &Principal,
    capability: Capability,
    id: i64,
) -> Result<FindingRecord, ApiError> {
    let finding = query::find(db, id)
        .await?
        .ok_or(ApiError::NotFound("finding"))?;
    auth::require(principal, capability, finding.school_id)?;
    if hidden_from(principal, &finding) {
        return Err(ApiError::NotFound("finding"));
    }
    Ok(finding)
}

#[derive(Debug, Serialize)]
pub struct Delivery {
    channel: String,
    kind: String,
    escalation_level: i64,
    recipient: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    /// For a skipped delivery: why it was not sent.
    skipped_because: Option<String>,
    sent_at: Option<chrono::DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct FindingDetail {
    #[serde(flatten)]
    finding: FindingRecord,
    history: Vec<HistoryEntry>,
    /// Every alert sent (or being sent) about this finding, failures and skips included, and
    /// the notices that it closed.
    deliveries: Vec<Delivery>,
}

pub async fn get_finding(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<FindingDetail>, ApiError> {
    let finding = finding_for(&db, &principal, Capability::SeeSafeguarding, id).await?;
    record_views(
        &db,
        &principal,
        std::slice::from_ref(&finding),
        "finding.viewed",
    )
    .await?;
    let history = query::history(&db, id).await?;
    let rows = sqlx::query(
        "SELECT channel, kind, escalation_level, recipient, status, attempts, last_error, skipped_because, sent_at \
         FROM alert_deliveries WHERE finding_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let deliveries = rows
        .iter()
        .map(|row| {
            Ok(Delivery {
                channel: row.try_get("channel")?,
                kind: row.try_get("kind")?,
                escalation_level: row.try_get("escalation_level")?,
                recipient: row.try_get("recipient")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                skipped_because: row.try_get("skipped_because")?,
                sent_at: row.try_get::<Option<i64>, _>("sent_at")?.map(from_millis),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Json(FindingDetail {
        finding,
        history,
        deliveries,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// Who is acting, for the bootstrap admin token only (which does not say); a user's own
    /// identity is recorded whatever this says.
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub async fn acknowledge_finding(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
    JsonBody(change): JsonBody<StatusChange>,
) -> Result<Json<FindingRecord>, ApiError> {
    change_status(&db, &principal, id, change, Status::Acknowledged).await
}

pub async fn resolve_finding(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
    JsonBody(change): JsonBody<StatusChange>,
) -> Result<Json<FindingRecord>, ApiError> {
    if change
        .note
        .as_deref()
        .is_none_or(|note| note.trim().is_empty())
    {
        return Err(ApiError::bad_request(
            "note_required",
            "resolving a finding needs a note saying what was done",
        ));
    }
    change_status(&db, &principal, id, change, Status::Resolved).await
}

async fn change_status(
    db: &crate::db::Db,
    principal: &Principal,
    id: i64,
    change: StatusChange,
    status: Status,
) -> Result<Json<FindingRecord>, ApiError> {
    let before = finding_for(db, principal, Capability::ActOnSafeguarding, id).await?;
    let actor = actor(principal, &change)?;
    let note = change.note.as_deref();
    let now = Utc::now();
    let mut tx = db.pool.begin().await?;
    findings::change_status(&mut tx, id, status, &actor, note, now)
        .await
        .map_err(finding_error)?;
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
            subject_id: &id.to_string(),
            before: Some(&status_of(&before)),
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
    let record = query::find(db, id).await?;
    Ok(Json(record.ok_or(ApiError::NotFound("finding"))?))
}

/// A finding's status as the audit log keeps it before a change.
fn status_of(finding: &FindingRecord) -> serde_json::Value {
    serde_json::json!({
        "status": finding.status,
        "acknowledged_by": finding.acknowledged_by,
        "resolved_by": finding.resolved_by,
    })
}

/// Who is recorded as acting: a user by their own name; the bootstrap token by the name it
/// is given in `by`.
fn actor(principal: &Principal, change: &StatusChange) -> Result<String, ApiError> {
    if !matches!(principal, Principal::Bootstrap) {
        return Ok(principal.label());
    }
    let by = change.by.as_deref().unwrap_or_default().trim();
    if by.is_empty() {
        return Err(ApiError::bad_request(
            "by_required",
            "say who is acting in \"by\"",
        ));
    }
    Ok(format!("admin token: {by}"))
}

fn finding_error(error: FindingError) -> ApiError {
    match error {
        FindingError::NotFound => ApiError::NotFound("finding"),
        FindingError::AlreadyResolved => {
            ApiError::Conflict("the finding is already resolved".into())
        }
        FindingError::Database(error) => error.into(),
    }
}
