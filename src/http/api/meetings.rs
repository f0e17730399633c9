//! `GET /api/v1/meetings` and `GET /api/v1/meetings/{id}`: the register, call by call.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};

use super::auth;
use super::params::RegisterQuery;
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::register::{self, MeetingRecord, MeetingSummary};
use crate::state::AppState;

pub async fn list_meetings(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<RegisterQuery>,
) -> Result<Json<Vec<MeetingSummary>>, ApiError> {
    let schools = auth::schools_to_show(&principal, Capability::SeeSafeguarding, query.school_id)?;
    let filter = query.to_filter(&db).await?;
    let records = register::list(&db, &filter).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|record| record.summary)
            .filter(|summary| schools.includes(summary.school_id))
            .collect(),
    ))
}

pub async fn get_meeting(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<MeetingRecord>, ApiError> {
    let record = register::find(&db, id)
        .await?
        .ok_or(ApiError::NotFound("meeting"))?;
    auth::require(
        &principal,
        Capability::SeeSafeguarding,
        record.summary.school_id,
    )?;
    Ok(Json(record))
}
