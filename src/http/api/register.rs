//! The register exported for a date range: CSV for spreadsheets, JSON for other systems.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono_tz::Tz;
use futures_util::TryStreamExt;

use super::auth;
use super::params::RegisterQuery;
use crate::db::decode::decode_timezone;
use crate::db::{Db, IDS_PER_QUERY};
use crate::directory;
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::register::{self, CallRef, MeetingRecord, RecordReader};
use crate::state::AppState;

pub async fn export_register_json(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<RegisterQuery>,
) -> Result<Json<Vec<MeetingRecord>>, ApiError> {
    let calls = calls(&db, &principal, &query, Range::AsLimited).await?;
    let mut reader = RecordReader::new(db);
    let mut records = Vec::with_capacity(calls.len());
    for batch in calls.chunks(IDS_PER_QUERY) {
        let ids: Vec<i64> = batch.iter().map(|call| call.id).collect();
        records.extend(reader.read(&ids).await?);
    }
    Ok(Json(records))
}

/// The whole range, however long: an export is the register of the range (a year's, say),
/// so `limit` caps it only when given. The rows are written as they are read; a failure
/// part way is logged here and cuts the download short.
pub async fn export_register_csv(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<RegisterQuery>,
) -> Result<Response, ApiError> {
    let calls = calls(&db, &principal, &query, Range::Whole).await?;
    let timezones = timezones_of(&db, &calls).await?;
    let count = calls.len();
    let ids = calls.into_iter().map(|call| call.id).collect();
    let chunks = register::export::csv_chunks(db, ids, timezones).inspect_err(move |error| {
        tracing::error!(error = %error, calls = count, "the register CSV export stopped part way");
    });
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"register.csv\""),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// How many of the range's calls a route hands over when the query gives no `limit`.
enum Range {
    /// The query's default limit: JSON is read a page at a time.
    AsLimited,
    /// Every call: an export.
    Whole,
}

/// The calls the query asks for, of the schools the principal may see the register of.
async fn calls(
    db: &Db,
    principal: &Principal,
    query: &RegisterQuery,
    range: Range,
) -> Result<Vec<CallRef>, ApiError> {
    let schools = auth::schools_to_show(principal, Capability::SeeSafeguarding, query.school_id)?;
    let mut filter = query.to_filter(db).await?;
    if matches!(range, Range::Whole) && query.limit.is_none() {
        filter.limit = i64::MAX;
    }
    Ok(register::calls_in(db, &filter)
        .await?
        .into_iter()
        .filter(|call| schools.includes(call.school_id))
        .collect())
}

/// The timezone of each school the calls belong to: times in the CSV are the school's, so
/// a timezone that cannot be read fails the export before it starts rather than showing UTC.
async fn timezones_of(db: &Db, calls: &[CallRef]) -> Result<HashMap<i64, Tz>, ApiError> {
    let schools = directory::list_schools(db).await?;
    let mut timezones = HashMap::new();
    for call in calls {
        let school_id = call.school_id;
        if timezones.contains_key(&school_id) {
            continue;
        }
        let school = schools
            .iter()
            .find(|school| school.id == school_id)
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "meeting {} belongs to school {school_id}, which is not in the directory",
                    call.id
                ))
            })?;
        let timezone = decode_timezone("schools", school.id, &school.timezone)
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
        timezones.insert(school_id, timezone);
    }
    Ok(timezones)
}
