//! A call's page: who was there by role, the timeline (scheduled beside actual, school hours,
//! the windows in which a rule was broken), the settings read from the platform and when,
//! whether attendance was reconciled with the platform's report, the findings about it and
//! the outcome written afterwards.

mod page;
pub mod timeline;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[("call.html", include_str!("templates/call.html"))];

pub fn routes() -> Router<AppState> {
    Router::new().route("/calls/{id}", get(page::show_call))
}
