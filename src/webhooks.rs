//! Platform deliveries. Each platform's endpoint lives in its own module; this is the map.

use axum::routing::post;
use axum::Router;

use crate::state::AppState;
use crate::zoom::webhook::receive_zoom_event;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/zoom", post(receive_zoom_event))
}
