//! The timetable in the console: planned sessions registered by staff and approved or declined
//! by the DSL or SLT, the consent register, and the outcomes written after calls.

use axum::Router;

use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[];

pub fn routes() -> Router<AppState> {
    Router::new()
}
