//! `GET /api/v1/schools`: the schools this instance serves.

use axum::extract::State;
use axum::Json;

use crate::directory::{self, School};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list_schools(
    State(AppState { db, .. }): State<AppState>,
) -> Result<Json<Vec<School>>, ApiError> {
    Ok(Json(directory::list_schools(&db).await?))
}
