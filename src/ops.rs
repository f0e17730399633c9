//! Operations endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::inbox;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(render_metrics))
}

async fn readiness(State(AppState { db, .. }): State<AppState>) -> impl IntoResponse {
    if db.is_reachable().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
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
