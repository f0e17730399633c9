//! `GET /api/v1/schools/{id}/completeness`: a school's daily completeness statement, for
//! whoever may read the school's register.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::auth;
use crate::db::decode::decode_timezone;
use crate::directory;
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::register::completeness::{self, DailyStatement};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct CompletenessQuery {
    /// `YYYY-MM-DD` in the school's timezone; none: yesterday there.
    date: Option<String>,
}

/// The statement, and its lines as the digest and the ledger print them.
#[derive(Debug, Serialize)]
pub struct StatementAnswer {
    #[serde(flatten)]
    statement: DailyStatement,
    lines: Vec<String>,
}

pub async fn get_completeness(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(school_id): Path<i64>,
    Query(query): Query<CompletenessQuery>,
) -> Result<Json<StatementAnswer>, ApiError> {
    // Refused before looked up: a school out of reach is not told apart from none.
    auth::require(&principal, Capability::SeeSafeguarding, school_id)?;
    let school = directory::find_school(&db, school_id)
        .await?
        .ok_or(ApiError::NotFound("school"))?;
    // The day is the school's: a timezone that cannot be read is a fault to fix, never UTC.
    let timezone = decode_timezone("schools", school.id, &school.timezone)
        .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
    let date = match query.date.as_deref().map(str::trim) {
        None | Some("") => {
            let today = Utc::now().with_timezone(&timezone).date_naive();
            today.pred_opt().unwrap_or(today)
        }
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request(
                "invalid_date",
                format!("{text:?} is not a date (2025-03-11)"),
            )
        })?,
    };
    let mut connection = db.pool.acquire().await?;
    let statement = completeness::for_day(&mut connection, school.id, timezone, date).await?;
    Ok(Json(StatementAnswer {
        lines: statement.text(),
        statement,
    }))
}
