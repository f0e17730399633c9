//! `GET /api/v1/subscriptions`: the Google Workspace Events subscriptions chaperone holds for
//! monitored staff, with their state, expiry and last error, so an admin can see who is
//! covered.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::auth;
use crate::error::ApiError;
use crate::google::store::{self, StoredSubscription};
use crate::identity::{Capability, Principal};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct SubscriptionQuery {
    connection_id: Option<i64>,
}

pub async fn list_subscriptions(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<SubscriptionQuery>,
) -> Result<Json<Vec<StoredSubscription>>, ApiError> {
    let schools = auth::reach(&principal, Capability::Configure)?;
    let connections = crate::connections::store::list(&db).await?;
    let mut connection = db.pool.acquire().await?;
    Ok(Json(
        store::subscriptions(&mut connection, query.connection_id)
            .await?
            .into_iter()
            .filter(|subscription| {
                connections.iter().any(|held| {
                    held.id == subscription.connection_id && schools.includes(held.school_id)
                })
            })
            .collect(),
    ))
}
