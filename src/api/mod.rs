//! The JSON admin/DSL API under `/api/v1`, behind a bearer token. Every route is protected.

mod auth;
mod meetings;
mod params;
mod register;
mod schools;

use axum::routing::get;
use axum::{middleware, Router};

use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/schools", get(schools::list_schools))
        .route("/api/v1/meetings", get(meetings::list_meetings))
        .route("/api/v1/meetings/{id}", get(meetings::get_meeting))
        .route("/api/v1/register", get(register::export_register_json))
        .route("/api/v1/register.csv", get(register::export_register_csv))
        .route_layer(middleware::from_fn_with_state(
            state,
            auth::require_bearer_token,
        ))
}
