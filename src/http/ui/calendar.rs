//! A person's own calendar feed in the console: its secret address, made and revoked.

use axum::Router;

use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[];

pub fn routes() -> Router<AppState> {
    Router::new()
}
