//! The console's audit page.

use axum::Router;

use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[];

pub fn routes() -> Router<AppState> {
    Router::new()
}
