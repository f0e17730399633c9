//! `GET /api/v1/meetings` and `GET /api/v1/meetings/{id}`: the register, call by call.

use axum::extract::{Path, Query, State};
use axum::Json;

use super::params::RegisterQuery;
use crate::error::ApiError;
use crate::register::{self, MeetingRecord, MeetingSummary};
use crate::state::AppState;

pub async fn list_meetings(
    State(AppState { db, .. }): State<AppState>,
    Query(query): Query<RegisterQuery>,
) -> Result<Json<Vec<MeetingSummary>>, ApiError> {
    let filter = query.to_filter(&db).await?;
    let records = register::list(&db, &filter).await?;
    Ok(Json(
        records.into_iter().map(|record| record.summary).collect(),
    ))
}

pub async fn get_meeting(
    State(AppState { db, .. }): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<MeetingRecord>, ApiError> {
    register::find(&db, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("meeting"))
}
