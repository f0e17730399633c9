//! `GET /api/v1/schools`: the schools this instance serves.

use axum::extract::State;
use axum::{Extension, Json};

use super::auth;
use crate::directory::{self, School};
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::state::AppState;

/// The schools the principal holds a role at.
pub async fn list_schools(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<School>>, ApiError> {
    let schools = auth::reach(&principal, Capability::SeeSchools)?;
    Ok(Json(
        directory::list_schools(&db)
            .await?
            .into_iter()
            .filter(|school| schools.includes(school.id))
            .collect(),
    ))
}
