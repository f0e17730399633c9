//! `GET /api/v1/subscriptions`: the Google Workspace Events subscriptions chaperone holds for
//! monitored staff, with their state, expiry and last error, so an admin can see who is
//! covered.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiError;
use crate::google::store::{self, StoredSubscription};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct SubscriptionQuery {
    connection_id: Option<i64>,
}

pub async fn list_subscriptions(
    State(AppState { db, .. }): State<AppState>,
    Query(query): Query<SubscriptionQuery>,
) -> Result<Json<Vec<StoredSubscription>>, ApiError> {
    let mut connection = db.pool.acquire().await?;
    Ok(Json(
        store::subscriptions(&mut connection, query.connection_id).await?,
    ))
}
