//! A local HTTP server speaking Zoom's API shapes (shared/platforms/zoom.md §3): the OAuth
//! token endpoint (with its refusals, 429s and other failures), meetings, users, user
//! settings, past participants and meeting registrants with pagination, live meeting metrics
//! (refused without `from` and `to`) — with switches for expired tokens, 429s (with the
//! headers Zoom's limits send), refused credentials and outages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret";

#[derive(Default)]
pub struct FakeState {
    pub tokens_issued: u32,
    pub valid_tokens: Vec<String>,
    pub refuse_credentials: bool,
    /// Answer the next token requests, in order, with these instead of a token.
    pub token_answers_next: Vec<TokenAnswer>,
    /// Lifetime of issued tokens (default an hour, as Zoom's).
    pub token_ttl_secs: Option<i64>,
    /// Answer the next N API calls made with a valid token with 401 / code 124.
    pub revoke_next: u32,
    /// Answer the next N API calls with 429 and this Retry-After.
    pub rate_limit_next: u32,
    pub retry_after_secs: u64,
    /// When set, the 429s carry exactly these headers instead (Zoom's daily limit sends an
    /// ISO 8601 `Retry-After`, its per-second limit `X-RateLimit-Reset` and no `Retry-After`).
    pub rate_limit_headers: Option<Vec<(&'static str, String)>>,
    /// When each API call (not the token endpoint) arrived, and whether it was answered 429.
    pub api_calls: Vec<(std::time::Instant, bool)>,
    /// Answer every API call with 503.
    pub down: bool,
    pub meetings: HashMap<String, Value>,
    pub user_settings: HashMap<String, Value>,
    pub users: HashMap<String, Value>,
    /// Participant report rows by (decoded) meeting uuid; a uuid not here is a report not
    /// ready yet (404 / code 3001), an empty list the report of a call with one participant
    /// (Zoom lists no rows then).
    pub past_participants: HashMap<String, Vec<Value>>,
    /// Registrants by meeting number, in Zoom's shape (`id`, `email`, `status`, ...); the
    /// endpoint lists those with the status asked for (Zoom's default: `approved`).
    pub registrants: HashMap<String, Vec<Value>>,
    pub live_meetings: u64,
    /// Raw request paths and queries, as received.
    pub requests: Vec<String>,
}

/// An answer from the token endpoint other than a token: a refusal, a 429, a failure.
#[derive(Clone)]
pub struct TokenAnswer {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

#[derive(Clone)]
pub struct FakeZoom {
    pub state: Arc<Mutex<FakeState>>,
    pub api_base_url: String,
    pub token_url: String,
}

impl FakeZoom {
    pub async fn start() -> FakeZoom {
        let state: Arc<Mutex<FakeState>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/oauth/token", post(issue_token))
            .route("/v2/meetings/{id}", get(meeting))
            .route("/v2/meetings/{id}/registrants", get(meeting_registrants))
            .route("/v2/users/{id}", get(user))
            .route("/v2/users/{id}/settings", get(user_settings))
            .route(
                "/v2/past_meetings/{uuid}/participants",
                get(past_participants),
            )
            .route("/v2/metrics/meetings", get(live_meetings))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                record_request,
            ))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeZoom {
            state,
            api_base_url: format!("{base}/v2"),
            token_url: format!("{base}/oauth/token"),
        }
    }

    pub fn with<R>(&self, change: impl FnOnce(&mut FakeState) -> R) -> R {
        change(&mut self.state.lock().unwrap())
    }

    /// The settings an app needs to use this server.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CHAPERONE__ZOOM__API_BASE_URL", self.api_base_url.clone()),
            ("CHAPERONE__ZOOM__OAUTH_TOKEN_URL", self.token_url.clone()),
            ("CHAPERONE__ZOOM__API_REQUESTS_PER_SECOND", "1000".into()),
            ("CHAPERONE__ENRICHMENT__RETRY_BASE_SECS", "10".into()),
        ]
    }
}

async fn record_request(
    State(state): State<Arc<Mutex<FakeState>>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri().to_string();
    state.lock().unwrap().requests.push(uri);
    next.run(request).await
}

fn zoom_error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

async fn issue_token(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    let mut state = state.lock().unwrap();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authorised =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    let grant = body.contains("grant_type=account_credentials")
        || query.get("grant_type").map(String::as_str) == Some("account_credentials");
    if state.refuse_credentials || !authorised || !grant {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
            ),
        )
            .into_response();
    }
    if !state.token_answers_next.is_empty() {
        let answer = state.token_answers_next.remove(0);
        let mut response = (answer.status, Json(answer.body)).into_response();
        for (name, value) in answer.headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        return response;
    }
    state.tokens_issued += 1;
    let token = format!("token-{}", state.tokens_issued);
    state.valid_tokens.push(token.clone());
    let expires_in = state.token_ttl_secs.unwrap_or(3600);
    Json(json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": "meeting:read:admin"}))
        .into_response()
}

/// Checks the bearer token and the switches; `Some(response)` answers the call early.
fn gate(state: &mut FakeState, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if state.down {
        return Some(zoom_error(
            StatusCode::SERVICE_UNAVAILABLE,
            503,
            "Service unavailable",
        ));
    }
    if !state.valid_tokens.contains(&token) {
        return Some(zoom_error(
            StatusCode::UNAUTHORIZED,
            124,
            "Invalid access token.",
        ));
    }
    if state.revoke_next > 0 {
        state.revoke_next -= 1;
        state.valid_tokens.retain(|valid| *valid != token);
        return Some(zoom_error(
            StatusCode::UNAUTHORIZED,
            124,
            "Invalid access token.",
        ));
    }
    let limited = state.rate_limit_next > 0;
    state.api_calls.push((std::time::Instant::now(), limited));
    if limited {
        state.rate_limit_next -= 1;
        let mut response = zoom_error(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "You have reached the maximum per-second rate limit for this API. Try again later.",
        );
        let headers = state
            .rate_limit_headers
            .clone()
            .unwrap_or_else(|| vec![("retry-after", state.retry_after_secs.to_string())]);
        for (name, value) in headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        return Some(response);
    }
    None
}

/// Answers with the stored record, or Zoom's 404 with `code` and `message` (e.g. 3001
/// "Meeting does not exist", 1001 "User does not exist").
fn stored_record(
    state: &Arc<Mutex<FakeState>>,
    headers: &HeaderMap,
    pick: impl FnOnce(&FakeState) -> Option<Value>,
    code: i64,
    message: String,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, headers) {
        return early;
    }
    match pick(&state) {
        Some(record) => Json(record).into_response(),
        None => zoom_error(StatusCode::NOT_FOUND, code, &message),
    }
}

async fn meeting(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let message = format!("Meeting does not exist: {id}.");
    stored_record(
        &state,
        &headers,
        |s| s.meetings.get(&id).cloned(),
        3001,
        message,
    )
}

async fn user(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let message = format!("User does not exist: {id}.");
    stored_record(
        &state,
        &headers,
        |s| s.users.get(&id).cloned(),
        1001,
        message,
    )
}

async fn user_settings(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let message = format!("User does not exist: {id}.");
    stored_record(
        &state,
        &headers,
        |s| s.user_settings.get(&id).cloned(),
        1001,
        message,
    )
}

/// Two rows a page, so that pagination is exercised.
async fn past_participants(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, &headers) {
        return early;
    }
    // Zoom wants a UUID starting with "/" or containing "//" encoded twice; the router decoded once.
    let uuid = if uuid.contains("%2F") || uuid.contains("%3D") {
        percent_decode(&uuid)
    } else {
        uuid
    };
    let Some(rows) = state.past_participants.get(&uuid) else {
        return zoom_error(StatusCode::NOT_FOUND, 3001, "Meeting does not exist.");
    };
    let start: usize = query
        .get("next_page_token")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = rows.iter().skip(start).take(2).cloned().collect();
    let next = if start + 2 < rows.len() {
        (start + 2).to_string()
    } else {
        String::new()
    };
    Json(json!({"page_count": 1, "page_size": 2, "total_records": rows.len(), "next_page_token": next, "participants": page}))
        .into_response()
}

/// Two registrants a page, so that pagination is exercised; a meeting Zoom does not know is
/// its 404 / code 3001.
async fn meeting_registrants(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, &headers) {
        return early;
    }
    if !state.meetings.contains_key(&id) && !state.registrants.contains_key(&id) {
        return zoom_error(
            StatusCode::NOT_FOUND,
            3001,
            &format!("Meeting does not exist: {id}."),
        );
    }
    let status = query
        .get("status")
        .map(String::as_str)
        .unwrap_or("approved");
    let rows: Vec<Value> = state
        .registrants
        .get(&id)
        .into_iter()
        .flatten()
        .filter(|row| row["status"] == status)
        .cloned()
        .collect();
    let start: usize = query
        .get("next_page_token")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = rows.iter().skip(start).take(2).cloned().collect();
    let next = if start + 2 < rows.len() {
        (start + 2).to_string()
    } else {
        String::new()
    };
    Json(json!({
        "page_count": rows.len().div_ceil(2),
        "page_number": 1,
        "page_size": 2,
        "total_records": rows.len(),
        "next_page_token": next,
        "registrants": page
    }))
    .into_response()
}

/// Refuses a request without `from` and `to` as `yyyy-mm-dd` dates, as Zoom's SDKs say it
/// may (400 with Zoom's validation error shape).
async fn live_meetings(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, &headers) {
        return early;
    }
    let invalid: Vec<Value> = ["from", "to"]
        .into_iter()
        .filter(|field| {
            query
                .get(*field)
                .is_none_or(|date| chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err())
        })
        .map(|field| json!({"field": field, "message": "Invalid field."}))
        .collect();
    if !invalid.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 300, "message": "Validation Failed.", "errors": invalid})),
        )
            .into_response();
    }
    Json(json!({"total_records": state.live_meetings, "meetings": []})).into_response()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_default()
}
