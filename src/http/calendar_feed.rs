//! The calendar feeds: a person's upcoming planned and scheduled one-to-one calls as
//! iCalendar, at a secret address that can be revoked.

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
