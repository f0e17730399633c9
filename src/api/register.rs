//! The register exported for a date range: CSV for spreadsheets, JSON for other systems.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono_tz::Tz;

use super::params::RegisterQuery;
use crate::directory;
use crate::error::ApiError;
use crate::register::{self, MeetingRecord};
use crate::state::AppState;

pub async fn export_register_json(
    State(AppState { db, .. }): State<AppState>,
    Query(query): Query<RegisterQuery>,
) -> Result<Json<Vec<MeetingRecord>>, ApiError> {
    let filter = query.to_filter(&db).await?;
    Ok(Json(register::list(&db, &filter).await?))
}

pub async fn export_register_csv(
    State(AppState { db, .. }): State<AppState>,
    Query(query): Query<RegisterQuery>,
) -> Result<Response, ApiError> {
    let filter = query.to_filter(&db).await?;
    let records = register::list(&db, &filter).await?;
    let timezones: HashMap<i64, Tz> = directory::list_schools(&db)
        .await?
        .into_iter()
        .map(|school| (school.id, school.timezone.parse().unwrap_or(Tz::UTC)))
        .collect();
    let body = register::csv::render(&records, |school_id| {
        timezones.get(&school_id).copied().unwrap_or(Tz::UTC)
    })
    .map_err(|error| {
        ApiError::Internal(anyhow::Error::new(error).context("rendering the register CSV"))
    })?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"register.csv\""),
        ],
        body,
    )
        .into_response())
}
