//! The layers every HTTP request passes through: a request id, one span and one completion
//! event per request, a deadline, and the security headers on every answer.
//!
//! The span names the matched route template (`/acknowledge/{token}`), never the path or the
//! query actually requested: those can carry a signed token or an id a person typed.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
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

/// Scripts, styles and images only from chaperone itself (no inline script), requests only
/// back to it, forms only back to it, never in a frame.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// A year: browsers that have once reached chaperone over HTTPS never try plain HTTP again.
const STRICT_TRANSPORT_SECURITY_VALUE: &str = "max-age=31536000";

/// Answers under these paths are about findings and people, or carry a signed link's
/// page: no browser or proxy keeps them.
const UNCACHEABLE_PATH_PREFIXES: [&str; 2] = ["/api/", "/acknowledge/"];

/// Wraps every route of `router` (and its fallback) so that every answer carries the security
/// headers. `public_url` (`server.public_url`) decides HSTS: sent only when people reach
/// chaperone over HTTPS, as a plain HTTP deployment would otherwise lock browsers out.
pub fn add_security_headers<S>(router: Router<S>, public_url: &str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let policy = SecurityHeaders {
        strict_transport: public_url.starts_with("https://"),
    };
    router.layer(middleware::from_fn_with_state(policy, set_security_headers))
}

#[derive(Debug, Clone, Copy)]
struct SecurityHeaders {
    strict_transport: bool,
}

/// Adds each header the handler did not set itself: a handler that chose a header on
/// purpose (a stricter policy, its own caching) keeps it.
async fn set_security_headers(
    State(policy): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let uncacheable = UNCACHEABLE_PATH_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let always = [
        (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
        (X_FRAME_OPTIONS, "DENY"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Acknowledge links carry their token in the path: it must not travel onwards.
        (REFERRER_POLICY, "no-referrer"),
    ];
    let sometimes = [
        (
            STRICT_TRANSPORT_SECURITY,
            STRICT_TRANSPORT_SECURITY_VALUE,
            policy.strict_transport,
        ),
        (CACHE_CONTROL, "no-store", uncacheable),
    ];
    let wanted = always.into_iter().chain(
        sometimes
            .into_iter()
            .filter(|(_, _, wanted)| *wanted)
            .map(|(name, value, _)| (name, value)),
    );
    for (name, value) in wanted {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
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

    /// The routes behind the layers as `startup::router` stacks them.
    fn served_at(public_url: &str) -> Router {
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/api/v1/findings", get(|| async { "[]" }))
            .route(
                "/acknowledge/{token}",
                get(|| async {
                    (
                        [
                            (CONTENT_SECURITY_POLICY, "default-src 'none'"),
                            (CACHE_CONTROL, "private, no-store"),
                        ],
                        "its own",
                    )
                }),
            )
            .route(
                "/api/v1/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        add_security_headers(
            add_request_layers(router, Duration::from_millis(50)),
            public_url,
        )
    }

    fn header<'a>(response: &'a Response, name: &HeaderName) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap())
    }

    fn assert_security_headers(response: &Response) {
        assert_eq!(
            header(response, &CONTENT_SECURITY_POLICY),
            Some(CONTENT_SECURITY_POLICY_VALUE)
        );
        assert_eq!(header(response, &X_FRAME_OPTIONS), Some("DENY"));
        assert_eq!(header(response, &X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
        assert_eq!(header(response, &REFERRER_POLICY), Some("no-referrer"));
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers_but_only_private_paths_forbid_caching() {
        let router = served_at("http://127.0.0.1:8080");

        let health = get_path(router.clone(), "/healthz").await;
        let api = get_path(router.clone(), "/api/v1/findings").await;
        let unknown = get_path(router.clone(), "/no/such/page").await;
        let timed_out = get_path(router, "/api/v1/slow").await;

        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(timed_out.status(), StatusCode::SERVICE_UNAVAILABLE);
        for response in [&health, &api, &unknown, &timed_out] {
            assert_security_headers(response);
            assert_eq!(header(response, &STRICT_TRANSPORT_SECURITY), None);
        }
        assert_eq!(header(&health, &CACHE_CONTROL), None);
        assert_eq!(header(&unknown, &CACHE_CONTROL), None);
        assert_eq!(header(&api, &CACHE_CONTROL), Some("no-store"));
        assert_eq!(header(&timed_out, &CACHE_CONTROL), Some("no-store"));
    }

    #[tokio::test]
    async fn a_header_the_handler_chose_is_kept() {
        let response = get_path(served_at("http://127.0.0.1:8080"), "/acknowledge/abc").await;

        assert_eq!(
            header(&response, &CONTENT_SECURITY_POLICY),
            Some("default-src 'none'")
        );
        assert_eq!(header(&response, &CACHE_CONTROL), Some("private, no-store"));
        assert_eq!(
            response
                .headers()
                .get_all(CONTENT_SECURITY_POLICY)
                .iter()
                .count(),
            1
        );
        assert_eq!(header(&response, &X_FRAME_OPTIONS), Some("DENY"));
    }

    #[tokio::test]
    async fn strict_transport_security_is_sent_only_behind_an_https_public_url() {
        let response = get_path(served_at("https://chaperone.school.example"), "/healthz").await;

        assert_eq!(
            header(&response, &STRICT_TRANSPORT_SECURITY),
            Some("max-age=31536000")
        );
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
