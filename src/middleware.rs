//! The layers every HTTP request passes through: a request id, one span and one completion
//! event per request, and a deadline.
//!
//! The span names the matched route template (`/acknowledge/{token}`), never the path or the
//! query actually requested: those can carry a signed token or an id a person typed.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::ApiError;

/// Taken from the request when a proxy or client sent a sane one, else generated; always
/// echoed on the response, and carried by every log event of the request.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A longer id, or one with other characters, is replaced: it would otherwise be copied into
/// every log line of the request (log injection, or data a client chose to put there).
const MAX_REQUEST_ID_CHARS: usize = 64;

/// The request's id, in the request extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Wraps every route of `router`: request id outermost, then the span, then the deadline,
/// so that a timed-out request is logged with its id and its 503.
pub fn add_request_layers<S>(router: Router<S>, request_timeout: Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(middleware::from_fn_with_state(
            request_timeout,
            enforce_deadline,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_completion)
                .on_body_chunk(())
                .on_eos(())
                // 5xx are logged once, by `log_completion`.
                .on_failure(()),
        )
        .layer(middleware::from_fn(assign_request_id))
}

async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_sane_request_id(value))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:032x}", fastrand::u128(..)));
    let value = HeaderValue::from_str(&id).expect("a sane request id is a valid header value");
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, value.clone());
    request.extensions_mut().insert(RequestId(id));
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, value);
    response
}

fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_CHARS
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
}

fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", RequestId::as_str);
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

/// One event per request. 5xx is ours to look at (`error`); 4xx is the caller's mistake and
/// is logged where it is refused when it matters (a bad webhook signature is a `warn`).
fn log_completion<B>(response: &axum::http::Response<B>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    if response.status().is_server_error() {
        tracing::error!(status, latency_ms, "request finished");
    } else {
        tracing::info!(status, latency_ms, "request finished");
    }
}

async fn enforce_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut {
            limit_ms: limit.as_millis(),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    fn slow_router(timeout: Duration) -> Router {
        let router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "on time" }));
        add_request_layers(router, timeout)
    }

    async fn get_path(router: Router, path: &str) -> Response {
        router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_handler_slower_than_the_timeout_is_answered_503_in_the_error_shape() {
        let response = get_path(slow_router(Duration::from_millis(50)), "/slow").await;

        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "timeout");
        assert!(body["detail"].as_str().unwrap().contains("50 ms"));
    }

    #[tokio::test]
    async fn a_handler_within_the_timeout_answers_normally() {
        let response = get_path(slow_router(Duration::from_millis(500)), "/fast").await;

        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(is_sane_request_id("4f1c2a-edge.7:1_b"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id(&"a".repeat(MAX_REQUEST_ID_CHARS + 1)));
        assert!(!is_sane_request_id("abc def"));
        assert!(!is_sane_request_id("id\r\nforged: line"));
        assert!(!is_sane_request_id("jane.doe@school.example"));
    }
}
