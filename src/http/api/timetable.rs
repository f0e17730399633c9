//! `/api/v1/planned-sessions`, `/api/v1/consents` and meeting outcomes.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth;
use super::json::JsonBody;
use super::params::parse_time;
use crate::db::Db;
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::state::AppState;
use crate::timetable::consents::{self, Consent, NewConsent};
use crate::timetable::outcomes::NewOutcome;
use crate::timetable::planned::{self, Decision, NewPlannedSession, PlannedSession};
use crate::timetable::{recorded, Record, TimetableError};

impl From<TimetableError> for ApiError {
    fn from(error: TimetableError) -> Self {
        match error {
            TimetableError::UnknownPerson(_) => {
                ApiError::bad_request("unknown_person", error.to_string())
            }
            TimetableError::WrongKind { .. } => {
                ApiError::bad_request("wrong_person_kind", error.to_string())
            }
            TimetableError::Invalid(detail) => ApiError::bad_request("invalid_request", detail),
            TimetableError::NotFound => ApiError::NotFound("record"),
            TimetableError::Database(error) => error.into(),
        }
    }
}

type Created = (StatusCode, Json<Value>);

fn created(id: i64) -> Created {
    (StatusCode::CREATED, Json(json!({ "id": id })))
}

/// The school a timetable record belongs to (404 when there is no such record).
async fn school_of(db: &Db, record: Record, id: i64) -> Result<i64, ApiError> {
    let mut connection = db.pool.acquire().await?;
    Ok(crate::timetable::school_of(&mut connection, record, id).await?)
}

pub async fn register_planned_session(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(new): JsonBody<NewPlannedSession>,
) -> Result<Created, ApiError> {
    auth::require(&principal, Capability::RecordSessions, new.school_id)?;
    let id = recorded::register_planned_session(&db, &principal, &new, Utc::now()).await?;
    Ok(created(id))
}

#[derive(Debug, Deserialize)]
pub struct PlannedQuery {
    school_id: i64,
    from: Option<String>,
    to: Option<String>,
}

pub async fn list_planned_sessions(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<PlannedQuery>,
) -> Result<Json<Vec<PlannedSession>>, ApiError> {
    auth::require(&principal, Capability::RecordSessions, query.school_id)?;
    let from = query.from.as_deref().map(parse_time).transpose()?;
    let to = query.to.as_deref().map(parse_time).transpose()?;
    let mut connection = db.pool.acquire().await?;
    Ok(Json(
        planned::list(&mut connection, query.school_id, from, to).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    approved_by_ref: String,
}

pub async fn approve_planned_session(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
    JsonBody(approval): JsonBody<Approval>,
) -> Result<StatusCode, ApiError> {
    let school_id = school_of(&db, Record::PlannedSession, id).await?;
    auth::require(&principal, Capability::ActOnSafeguarding, school_id)?;
    recorded::decide_planned_session(
        &db,
        &principal,
        id,
        Decision::Approve,
        &approval.approved_by_ref,
        None,
        Utc::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn cancel_planned_session(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let school_id = school_of(&db, Record::PlannedSession, id).await?;
    auth::require(&principal, Capability::ActOnSafeguarding, school_id)?;
    recorded::cancel_planned_session(&db, &principal, id, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn record_consent(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(new): JsonBody<NewConsent>,
) -> Result<Created, ApiError> {
    auth::require(&principal, Capability::ActOnSafeguarding, new.school_id)?;
    let id = recorded::record_consent(&db, &principal, &new, Utc::now()).await?;
    Ok(created(id))
}

#[derive(Debug, Deserialize)]
pub struct SchoolQuery {
    school_id: i64,
}

pub async fn list_consents(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<SchoolQuery>,
) -> Result<Json<Vec<Consent>>, ApiError> {
    auth::require(&principal, Capability::SeeSafeguarding, query.school_id)?;
    let mut connection = db.pool.acquire().await?;
    Ok(Json(
        consents::list(&mut connection, query.school_id).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    withdrawn_on: NaiveDate,
}

pub async fn withdraw_consent(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
    JsonBody(withdrawal): JsonBody<Withdrawal>,
) -> Result<StatusCode, ApiError> {
    let school_id = school_of(&db, Record::Consent, id).await?;
    auth::require(&principal, Capability::ActOnSafeguarding, school_id)?;
    recorded::withdraw_consent(&db, &principal, id, withdrawal.withdrawn_on, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn record_outcome(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(meeting_id): Path<i64>,
    JsonBody(new): JsonBody<NewOutcome>,
) -> Result<Created, ApiError> {
    let school_id = school_of(&db, Record::Call, meeting_id).await?;
    auth::require(&principal, Capability::RecordSessions, school_id)?;
    let id = recorded::record_outcome(&db, &principal, meeting_id, &new, Utc::now()).await?;
    Ok(created(id))
}
