//! Reports for the DSL, the head and governors: per month and per school, counts and charts.

use axum::Router;

use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[];

pub fn routes() -> Router<AppState> {
    Router::new()
}
