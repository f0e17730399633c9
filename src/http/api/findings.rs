//! `/api/v1/findings`: list and read findings, acknowledge and resolve them.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth;
use super::json::JsonBody;
use super::params::parse_time;
use crate::error::ApiError;
use crate::findings::query::{self, Delivery, FindingFilter, FindingRecord, HistoryEntry};
use crate::findings::{access, FindingError, Status};
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
        within_schools: schools.school_ids(),
        statuses: query.status.into_iter().collect(),
        severities,
        from: query.from.as_deref().map(parse_time).transpose()?,
        to: query.to.as_deref().map(parse_time).transpose()?,
        limit: query.limit.unwrap_or(500).clamp(1, 5000),
        ..FindingFilter::default()
    };
    let shown: Vec<FindingRecord> = query::list(&db, &filter)
        .await?
        .into_iter()
        .filter(|finding| !access::hidden_from(&principal, finding))
        .collect();
    access::record_views(&db, &principal, &shown, "findings.listed").await?;
    Ok(Json(shown))
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
    if access::hidden_from(principal, &finding) {
        return Err(ApiError::NotFound("finding"));
    }
    Ok(finding)
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
    access::record_views(
        &db,
        &principal,
        std::slice::from_ref(&finding),
        "finding.viewed",
    )
    .await?;
    let history = query::history(&db, id).await?;
    let deliveries = query::deliveries(&db, id).await?;
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
    access::change_status_recorded(
        db,
        principal,
        &before,
        status,
        &actor,
        change.note.as_deref(),
        Utc::now(),
    )
    .await
    .map_err(finding_error)?;
    let record = query::find(db, id).await?;
    Ok(Json(record.ok_or(ApiError::NotFound("finding"))?))
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
