//! Every HTTP surface, each in its own module: the platforms' `webhooks` (verify, persist,
//! acknowledge), the JSON `api` for programs and people, the console's pages (`ui`), the
//! one-click `acknowledge` page an alert links to, and the `ops` endpoints (health,
//! readiness, metrics); `middleware` gives every request an id, a span, a deadline and the
//! security headers.

pub mod acknowledge;
pub mod api;
pub mod calendar_feed;
pub mod cookies;
pub mod middleware;
pub mod ops;
pub mod serve;
pub mod ui;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::state::AppState;
use middleware::{add_request_layers, add_security_headers};

/// The whole HTTP surface, each request with an id, a span, a completion event and a
/// deadline, and every answer with the security headers.
pub fn router(state: AppState) -> Router {
    let server = &state.settings.server;
    let routes = Router::new()
        .merge(webhooks::router(
            server.webhook_body_budget_bytes,
            server.max_body_bytes,
        ))
        .merge(api::router(state.clone()))
        .merge(ops::router())
        .merge(acknowledge::router())
        .merge(calendar_feed::router())
        .merge(ui::router(state.clone()))
        .layer(DefaultBodyLimit::max(server.max_body_bytes));
    let routes = add_request_layers(routes, server.request_timeout);
    add_security_headers(routes, &server.public_url).with_state(state)
}
