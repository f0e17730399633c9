//! `GET /api/v1/connections`: the connected platform accounts and the endpoint each one's
//! platform must deliver to. Secrets are never shown, only whether they are set.

use axum::extract::State;
use axum::Json;

use crate::connections::store::{self, ConnectionSummary};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list_connections(
    State(AppState { db, .. }): State<AppState>,
) -> Result<Json<Vec<ConnectionSummary>>, ApiError> {
    Ok(Json(store::list(&db).await?))
}
