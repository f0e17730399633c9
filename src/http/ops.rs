//! Operations endpoints: liveness, readiness (every supervised role running with a fresh
//! heartbeat, and the database answering) and Prometheus metrics.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::inbox;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(render_metrics))
}

/// How long readiness waits for the database: under a second, so that a probe with
/// Kubernetes' default one-second timeout reads 503, not a timeout, while the database is down.
const READINESS_DATABASE_LIMIT: std::time::Duration = std::time::Duration::from_millis(900);

/// 200 `{"status":"ready"}`, or 503 naming what is wrong, for example
/// `{"status":"unavailable","roles":[{"role":"evaluator","problem":"restarting"}]}`.
async fn readiness(State(AppState { db, roles, .. }): State<AppState>) -> impl IntoResponse {
    let not_ready = roles.not_ready();
    if !not_ready.is_empty() {
        let roles: Vec<_> = not_ready
            .iter()
            .map(|role| json!({ "role": role.role.as_str(), "problem": role.problem.as_str() }))
            .collect();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "roles": roles })),
        );
    }
    if db.is_reachable_within(READINESS_DATABASE_LIMIT).await {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "problem": "database_unreachable" })),
        )
    }
}

async fn render_metrics(State(AppState { db, metrics, .. }): State<AppState>) -> impl IntoResponse {
    let counts = match inbox::counts(&db).await {
        Ok(counts) => counts,
        Err(error) => {
            tracing::error!(%error, "cannot count the inbox for metrics");
            inbox::InboxCounts::default()
        }
    };
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics.render(counts),
    )
}
