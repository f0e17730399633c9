//! `GET /api/v1/inbox/set-aside`: events that were received and kept but cannot be applied
//! (an authentic delivery that cannot be read, an event that failed every attempt), so an
//! operator sees what the register may lack.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::auth;
use crate::error::ApiError;
use crate::identity::{Capability, Principal};
use crate::inbox::{self, SetAside};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize)]
pub struct SetAsideQuery {
    limit: Option<i64>,
}

pub async fn list_set_aside(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<SetAsideQuery>,
) -> Result<Json<Vec<SetAside>>, ApiError> {
    let schools = auth::reach(&principal, Capability::Configure)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    Ok(Json(
        inbox::set_aside(&db, limit)
            .await?
            .into_iter()
            .filter(|event| schools.includes(event.school_id))
            .collect(),
    ))
}
