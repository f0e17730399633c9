//! `GET /api/v1/connections`: the connected platform accounts and the endpoint each one's
//! platform must deliver to. Secrets are never shown, only whether they are set.

use axum::extract::State;
use axum::{Extension, Json};

use super::auth;
use crate::connections::store::{self, ConnectionSummary};
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::state::AppState;

pub async fn list_connections(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<ConnectionSummary>>, ApiError> {
    let schools = auth::reach(&principal, Capability::Configure)?;
    Ok(Json(
        store::list(&db)
            .await?
            .into_iter()
            .filter(|connection| schools.includes(connection.school_id))
            .collect(),
    ))
}
