//! The register exported for a date range: CSV for spreadsheets, JSON for other systems.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono_tz::Tz;

use super::auth;
use super::params::RegisterQuery;
use crate::db::decode::decode_timezone;
use crate::db::Db;
use crate::directory;
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::register::{self, MeetingRecord};
use crate::state::AppState;

pub async fn export_register_json(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<RegisterQuery>,
) -> Result<Json<Vec<MeetingRecord>>, ApiError> {
    Ok(Json(records(&db, &principal, &query).await?))
}

pub async fn export_register_csv(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<RegisterQuery>,
) -> Result<Response, ApiError> {
    let records = records(&db, &principal, &query).await?;
    let timezones = timezones_of(&db, &records).await?;
    let body = register::csv::render(&records, |school_id| {
        *timezones
            .get(&school_id)
            .expect("every listed meeting's school timezone was read")
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

/// The register the query asks for, of the schools the principal may see it for.
async fn records(
    db: &Db,
    principal: &Principal,
    query: &RegisterQuery,
) -> Result<Vec<MeetingRecord>, ApiError> {
    let schools = auth::schools_to_show(principal, Capability::SeeSafeguarding, query.school_id)?;
    let filter = query.to_filter(db).await?;
    Ok(register::list(db, &filter)
        .await?
        .into_iter()
        .filter(|record| schools.includes(record.summary.school_id))
        .collect())
}

/// The timezone of each school the records belong to: times in the CSV are the school's, so
/// a timezone that cannot be read fails the export rather than showing UTC.
async fn timezones_of(db: &Db, records: &[MeetingRecord]) -> Result<HashMap<i64, Tz>, ApiError> {
    let schools = directory::list_schools(db).await?;
    let mut timezones = HashMap::new();
    for record in records {
        let school_id = record.summary.school_id;
        if timezones.contains_key(&school_id) {
            continue;
        }
        let school = schools
            .iter()
            .find(|school| school.id == school_id)
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "meeting {} belongs to school {school_id}, which is not in the directory",
                    record.summary.id
                ))
            })?;
        let timezone = decode_timezone("schools", school.id, &school.timezone)
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
        timezones.insert(school_id, timezone);
    }
    Ok(timezones)
}
