//! A minimal stand-in for Google, enough for the client's unit tests: a token endpoint that
//! really verifies the assertion's RS256 signature, one Meet record and list, a Directory
//! user, and a Workspace Events create that answers with an unfinished operation. The full
//! fake, for the service's HTTP tests, is `tests/api/fake_google.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use super::super::{GoogleApi, GoogleApiSettings, GoogleCredentials, ServiceAccountKey};

pub const CLIENT_EMAIL: &str = "chaperone@school-meet.iam.gserviceaccount.com";
pub const TEACHER: &str = "teacher@school.example";

/// A real RSA key in Google's key file shape, and its public half.
pub struct TestKey {
    pub json: String,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

pub fn test_key(private_key_id: &str) -> TestKey {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
    let pem = private.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
    let public = private.to_public_key();
    TestKey {
        json: json!({
            "type": "service_account",
            "project_id": "school-meet",
            "private_key_id": private_key_id,
            "private_key": pem.as_str(),
            "client_email": CLIENT_EMAIL,
            "client_id": "104856273910284756301",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string(),
        n: public.n().to_bytes_be(),
        e: public.e().to_bytes_be(),
    }
}

/// Checks an RS256 JWT against a public key; the claims when it verifies.
pub fn verified_claims(jwt: &str, n: &[u8], e: &[u8]) -> Option<(Value, Value)> {
    let (signed, signature) = jwt.rsplit_once('.')?;
    let (header, claims) = signed.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    RsaPublicKeyComponents { n, e }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
        .ok()?;
    let read = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    Some((read(header)?, read(claims)?))
}

#[derive(Default)]
pub struct LocalState {
    pub token_url: String,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    /// Answer token requests with this instead of a token.
    pub token_answer: Option<(StatusCode, Value)>,
    pub token_lifetime_secs: i64,
    /// How long an exchange takes, so that concurrent callers overlap.
    pub exchange_delay: Duration,
    pub exchanges: u32,
    /// The claims of every assertion accepted.
    pub assertions: Vec<Value>,
    pub valid_tokens: Vec<String>,
    /// Answer the next N API calls with 401, forgetting the token.
    pub revoke_next: u32,
    /// Answer the next N API calls with 429 and this Retry-After.
    pub rate_limit_next: u32,
    pub retry_after: String,
    /// API calls (path and query) and when they arrived.
    pub requests: Vec<(Instant, String)>,
    pub participants: Vec<Value>,
    /// Reads of the operation before it says it is done.
    pub polls_before_done: u32,
    pub polls: u32,
}

type Shared = Arc<Mutex<LocalState>>;

pub struct LocalGoogle {
    pub state: Shared,
    pub api: GoogleApi,
    pub credentials: GoogleCredentials,
    pub settings: GoogleApiSettings,
}

impl LocalGoogle {
    pub async fn start() -> LocalGoogle {
        let key = test_key("key-1");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state: Shared = Arc::new(Mutex::new(LocalState {
            token_url: format!("{base}/token"),
            n: key.n,
            e: key.e,
            token_lifetime_secs: 3600,
            ..LocalState::default()
        }));
        let app = Router::new()
            .route("/token", post(issue_token))
            .route("/meet/conferenceRecords/{id}", get(conference_record))
            .route(
                "/meet/conferenceRecords/{id}/participants",
                get(participants),
            )
            .route("/directory/users/{key}", get(user))
            .route("/events/subscriptions", post(create_subscription))
            .route("/events/operations/{id}", get(operation))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let settings = GoogleApiSettings {
            token_url: format!("{base}/token"),
            meet_api_base_url: format!("{base}/meet"),
            directory_api_base_url: format!("{base}/directory/"),
            events_api_base_url: format!("{base}/events"),
            calendar_api_base_url: format!("{base}/calendar"),
            requests_per_second: 1000,
            concurrency: 8,
            operation_polls: 3,
            operation_poll_interval: Duration::from_millis(10),
        };
        LocalGoogle {
            state,
            api: GoogleApi::new(reqwest::Client::new(), settings.clone()),
            credentials: GoogleCredentials {
                connection_id: 1,
                key: ServiceAccountKey::from_json(&key.json).expect("the key reads"),
                subject: TEACHER.into(),
            },
            settings,
        }
    }

    pub fn with<R>(&self, change: impl FnOnce(&mut LocalState) -> R) -> R {
        change(&mut self.state.lock().unwrap())
    }
}

fn google_error(status: StatusCode, name: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": "refused", "status": name}});
    (status, Json(body)).into_response()
}

fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.replace("%3A", ":"))
    })
}

async fn issue_token(State(state): State<Shared>, body: String) -> Response {
    let delay = state.lock().unwrap().exchange_delay;
    tokio::time::sleep(delay).await;
    let mut state = state.lock().unwrap();
    if let Some((status, answer)) = state.token_answer.clone() {
        return (status, Json(answer)).into_response();
    }
    let refused = |description: &str| {
        let body = json!({"error": "invalid_grant", "error_description": description});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    };
    if form_value(&body, "grant_type").as_deref()
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refused("Invalid grant_type");
    }
    let assertion = form_value(&body, "assertion").unwrap_or_default();
    let Some((header, claims)) = verified_claims(&assertion, &state.n, &state.e) else {
        return refused("Invalid JWT Signature.");
    };
    if header["alg"] != "RS256"
        || claims["iss"] != CLIENT_EMAIL
        || claims["aud"] != state.token_url.as_str()
    {
        return refused("Invalid JWT: issuer or audience");
    }
    state.exchanges += 1;
    state.assertions.push(claims);
    let token = format!("token-{}", state.exchanges);
    state.valid_tokens.push(token.clone());
    Json(json!({"access_token": token, "expires_in": state.token_lifetime_secs, "token_type": "Bearer"}))
        .into_response()
}

/// Records the call and applies the switches; `Some` answers it early.
fn gate(state: &mut LocalState, headers: &HeaderMap, call: String) -> Option<Response> {
    state.requests.push((Instant::now(), call));
    let token = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if !state.valid_tokens.contains(&token) || state.revoke_next > 0 {
        state.revoke_next = state.revoke_next.saturating_sub(1);
        state.valid_tokens.retain(|valid| *valid != token);
        return Some(google_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"));
    }
    if state.rate_limit_next > 0 {
        state.rate_limit_next -= 1;
        let mut response = google_error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED");
        let retry_after = state.retry_after.parse().unwrap();
        response.headers_mut().insert("retry-after", retry_after);
        return Some(response);
    }
    None
}

async fn conference_record(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, &headers, format!("record {id}")) {
        return early;
    }
    if id != "known" {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    Json(json!({
        "name": "conferenceRecords/known", "startTime": "2026-03-10T14:00:11.874Z",
        "endTime": "2026-03-10T14:42:29.512987654Z", "expireTime": "2026-04-09T14:42:29Z",
        "space": "spaces/kT9pQx2LmW4r",
    }))
    .into_response()
}

/// At most two a page whatever is asked, so that pagination is exercised.
async fn participants(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    let token = query.get("pageToken").cloned().unwrap_or_default();
    if let Some(early) = gate(&mut state, &headers, format!("participants {id} {token}")) {
        return early;
    }
    let size: usize = query
        .get("pageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let start: usize = token.parse().unwrap_or(0);
    let end = (start + size.min(2)).min(state.participants.len());
    let mut page = json!({"participants": state.participants[start..end]});
    if end < state.participants.len() {
        page["nextPageToken"] = json!(end.to_string());
    }
    Json(page).into_response()
}

/// `pupil@school.example` is a user; `someone@elsewhere.example` is of another domain (403).
async fn user(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, &headers, format!("user {key}")) {
        return early;
    }
    match key.as_str() {
        "pupil@school.example" | "117430958261037482956" => Json(json!({
            "id": "117430958261037482956", "primaryEmail": "pupil@school.example",
            "orgUnitPath": "/Pupils/Year 9", "suspended": false, "customerId": "C0school",
        }))
        .into_response(),
        "someone@elsewhere.example" => google_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND"),
    }
}

async fn create_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, &headers, format!("create {body}")) {
        return early;
    }
    Json(json!({"name": "operations/create-1", "done": false})).into_response()
}

async fn operation(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(early) = gate(&mut state, &headers, format!("operation {id}")) {
        return early;
    }
    state.polls += 1;
    if state.polls < state.polls_before_done {
        return Json(json!({"name": format!("operations/{id}"), "done": false})).into_response();
    }
    Json(json!({
        "name": format!("operations/{id}"), "done": true,
        "response": {
            "@type": "type.googleapis.com/google.apps.events.subscriptions.v1.Subscription",
            "name": "subscriptions/meet-user-1", "uid": "c2b7e0d4",
            "targetResource": "//cloudidentity.googleapis.com/users/108274650391827364512",
            "eventTypes": ["google.workspace.meet.conference.v2.started"],
            "notificationEndpoint": {"pubsubTopic": "projects/school-meet/topics/meet-events"},
            "state": "ACTIVE", "expireTime": "2026-03-17T08:00:00.123456Z",
            "userAuthority": "users/108274650391827364512",
        },
    }))
    .into_response()
}
