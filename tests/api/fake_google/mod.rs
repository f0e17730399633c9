//! A local HTTP server speaking Google's shapes (shared/platforms/google-meet.md §1–§5): the
//! OAuth token endpoint for service-account assertions (whose RS256 signature it really
//! verifies against a test key, recording whom each token impersonates and for what), the key
//! set Pub/Sub push tokens are signed with (and a signer for them), Meet conference records,
//! participants, sessions and spaces, Directory users, Workspace Events subscriptions with
//! their operations, and Calendar events. Every list is paged (two a page by default, so
//! pagination is exercised). Switches make it down, rate limited, or refuse the credentials.
#![allow(dead_code)]

mod directory;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chaperone::google::api::{GoogleApi, GoogleApiSettings, GoogleCredentials, ServiceAccountKey};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use ring::rand::SystemRandom;
use ring::signature::{
    RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

pub const SERVICE_ACCOUNT_EMAIL: &str = "chaperone@school-meet.iam.gserviceaccount.com";
pub const SERVICE_ACCOUNT_KEY_ID: &str = "fake-service-account-key-1";
pub const PUSH_SERVICE_ACCOUNT: &str = "meet-push@school-meet.iam.gserviceaccount.com";
pub const PUSH_KEY_ID: &str = "fake-google-push-key-1";
pub const PUBSUB_TOPIC: &str = "projects/school-meet/topics/meet-events";
pub const PUSH_SUBSCRIPTION: &str = "projects/school-meet/subscriptions/meet-events-push";
const SUBSCRIPTION_LIFETIME_DAYS: i64 = 7;

/// A token the endpoint issued: whom it impersonates and what it may do.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// One call to the fake (token endpoint and key set included).
#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Whom the bearer token impersonates, when it is one the fake issued.
    pub subject: Option<String>,
}

/// A change made to a subscription, besides its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionCall {
    Renewed(String),
    Deleted(String),
    Reactivated(String),
}

#[derive(Default)]
pub struct FakeGoogleState {
    /// Answer every call, the token endpoint's too, with 503.
    pub down: bool,
    /// Answer the next N API calls with 429 and `Retry-After: retry_after_secs`.
    pub rate_limit_next: u32,
    pub retry_after_secs: u64,
    /// Refuse every assertion with 400 `invalid_grant` (a wrong user, a deleted key).
    pub refuse_credentials: bool,
    /// Refuse every assertion with 401 `unauthorized_client` (scopes not delegated).
    pub refuse_scopes: bool,
    /// Lifetime of issued tokens (default an hour, as Google's).
    pub token_ttl_secs: Option<i64>,
    /// The most items a page holds whatever is asked (default 2).
    pub largest_page: Option<usize>,
    /// Workspace Events operations stay unfinished for this many reads.
    pub operation_pending_polls: u32,
    /// Refuse reactivation as Google does while a suspension's cause is not fixed (the push
    /// endpoint still may not publish to the topic).
    pub reactivation_refused: bool,
    /// By name (`conferenceRecords/{id}`), in Google's JSON shape.
    pub conference_records: HashMap<String, Value>,
    /// By conference record name.
    pub participants: HashMap<String, Vec<Value>>,
    /// By participant name.
    pub sessions: HashMap<String, Vec<Value>>,
    /// By name (`spaces/{id}`); also found by `meetingCode`.
    pub spaces: HashMap<String, Value>,
    /// A space's owner (address): only they are shown its `config` (§3.4).
    pub space_owners: HashMap<String, String>,
    /// Directory users by id; also found by `primaryEmail` and `aliases`.
    pub users: HashMap<String, Value>,
    /// User keys (lower case) of other domains: answered 403 (§9.6).
    pub other_domain_users: HashSet<String>,
    /// By name (`subscriptions/{id}`).
    pub subscriptions: HashMap<String, Value>,
    /// By calendar id (the organiser's address, matched without regard to case).
    pub calendar_events: HashMap<String, Vec<Value>>,
    /// Group members by group address, as `{"id", "email", "type": "USER" | "GROUP"}`.
    pub groups: HashMap<String, Vec<Value>>,
    pub tokens: Vec<IssuedToken>,
    pub requests: Vec<FakeRequest>,
    pub subscription_calls: Vec<SubscriptionCall>,
    operations: HashMap<String, (u32, Value)>,
    next_id: u64,
    token_url: String,
    account_key: (Vec<u8>, Vec<u8>),
    push_jwk: Value,
}

type Shared = Arc<Mutex<FakeGoogleState>>;

#[derive(Clone)]
pub struct FakeGoogle {
    pub state: Shared,
    pub base_url: String,
    pub token_url: String,
    pub keys_url: String,
    pub meet_api_base_url: String,
    pub directory_api_base_url: String,
    pub events_api_base_url: String,
    pub calendar_api_base_url: String,
    /// A service account key file whose key the token endpoint knows (`token_uri` = here).
    pub service_account_key_json: String,
    push_key: Arc<RsaKeyPair>,
}

fn rsa_key() -> (RsaPrivateKey, RsaKeyPair) {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
    let der = private.to_pkcs8_der().expect("PKCS#8");
    let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring reads the key");
    (private, pair)
}

impl FakeGoogle {
    pub async fn start() -> FakeGoogle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let token_url = format!("{base_url}/token");
        let (account, _) = rsa_key();
        let (push, push_pair) = rsa_key();
        let pem = account.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        let service_account_key_json = json!({
            "type": "service_account", "project_id": "school-meet",
            "private_key_id": SERVICE_ACCOUNT_KEY_ID, "private_key": pem.as_str(),
            "client_email": SERVICE_ACCOUNT_EMAIL, "client_id": "104856273910284756301",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_url,
        })
        .to_string();
        let public = push.to_public_key();
        let state: Shared = Arc::new(Mutex::new(FakeGoogleState {
            token_url: token_url.clone(),
            account_key: (account.n().to_bytes_be(), account.e().to_bytes_be()),
            push_jwk: json!({
                "kid": PUSH_KEY_ID, "kty": "RSA", "alg": "RS256", "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
            ..FakeGoogleState::default()
        }));
        let app = Router::new()
            .route("/token", post(issue_token))
            .route("/oauth2/v3/certs", get(keys))
            .route("/v2/conferenceRecords/{cr}", get(conference_record))
            .route("/v2/conferenceRecords/{cr}/participants", get(participants))
            .route(
                "/v2/conferenceRecords/{cr}/participants/{p}",
                get(participant),
            )
            .route(
                "/v2/conferenceRecords/{cr}/participants/{p}/participantSessions",
                get(sessions),
            )
            .route(
                "/v2/conferenceRecords/{cr}/participants/{p}/participantSessions/{s}",
                get(session),
            )
            .route("/v2/spaces/{space}", get(space))
            .route("/admin/directory/v1/users/{key}", get(user))
            .route("/admin/directory/v1/users", get(directory::users))
            .route(
                "/admin/directory/v1/groups/{group}/members",
                get(directory::members),
            )
            .route(
                "/v1/subscriptions",
                get(list_subscriptions).post(create_subscription),
            )
            .route(
                "/v1/subscriptions/{id}",
                get(subscription)
                    .patch(renew_subscription)
                    .delete(delete_subscription)
                    .post(reactivate_subscription),
            )
            .route("/v1/operations/{id}", get(operation))
            .route(
                "/calendar/v3/calendars/{calendar}/events",
                get(calendar_events),
            )
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                record_request,
            ))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGoogle {
            state,
            keys_url: format!("{base_url}/oauth2/v3/certs"),
            meet_api_base_url: format!("{base_url}/v2"),
            directory_api_base_url: format!("{base_url}/admin/directory/v1"),
            events_api_base_url: format!("{base_url}/v1"),
            calendar_api_base_url: format!("{base_url}/calendar/v3"),
            token_url,
            base_url,
            service_account_key_json,
            push_key: Arc::new(push_pair),
        }
    }

    pub fn with<R>(&self, change: impl FnOnce(&mut FakeGoogleState) -> R) -> R {
        change(&mut self.state.lock().unwrap())
    }

    /// The settings an app needs to use this server.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CHAPERONE__GOOGLE__KEYS_URL", self.keys_url.clone()),
            ("CHAPERONE__GOOGLE__TOKEN_URL", self.token_url.clone()),
            (
                "CHAPERONE__GOOGLE__MEET_API_BASE_URL",
                self.meet_api_base_url.clone(),
            ),
            (
                "CHAPERONE__GOOGLE__DIRECTORY_API_BASE_URL",
                self.directory_api_base_url.clone(),
            ),
            (
                "CHAPERONE__GOOGLE__EVENTS_API_BASE_URL",
                self.events_api_base_url.clone(),
            ),
            (
                "CHAPERONE__GOOGLE__CALENDAR_API_BASE_URL",
                self.calendar_api_base_url.clone(),
            ),
        ]
    }

    /// A client pointed here, unthrottled, polling operations quickly.
    pub fn api(&self) -> GoogleApi {
        GoogleApi::new(
            reqwest::Client::new(),
            GoogleApiSettings {
                token_url: self.token_url.clone(),
                meet_api_base_url: self.meet_api_base_url.clone(),
                directory_api_base_url: self.directory_api_base_url.clone(),
                events_api_base_url: self.events_api_base_url.clone(),
                calendar_api_base_url: self.calendar_api_base_url.clone(),
                requests_per_second: 1000,
                concurrency: 8,
                operation_polls: 5,
                operation_poll_interval: std::time::Duration::from_millis(10),
            },
        )
    }

    /// The fake's service account acting as `subject`.
    pub fn credentials(&self, connection_id: i64, subject: &str) -> GoogleCredentials {
        GoogleCredentials {
            connection_id,
            key: ServiceAccountKey::from_json(&self.service_account_key_json).unwrap(),
            subject: subject.to_string(),
        }
    }

    pub fn add_user(&self, id: &str, email: &str, org_unit: &str) {
        let user = json!({"kind": "admin#directory#user", "id": id, "primaryEmail": email,
            "orgUnitPath": org_unit, "suspended": false, "customerId": "C0school"});
        self.with(|s| s.users.insert(id.to_string(), user));
    }

    /// Adds `conferenceRecords/{id}` in `space`; gives its name.
    pub fn add_conference(&self, id: &str, space: &str, start: &str, end: Option<&str>) -> String {
        let name = format!("conferenceRecords/{id}");
        let mut record = json!({"name": name, "startTime": start, "space": space});
        if let Some(end) = end {
            record["endTime"] = json!(end);
            record["expireTime"] = json!("2099-01-01T00:00:00Z");
        }
        self.with(|s| s.conference_records.insert(name.clone(), record));
        name
    }

    /// Adds a participant (`who` from [`signed_in`], [`anonymous`] or [`phone`]); gives its name.
    pub fn add_participant(
        &self,
        conference: &str,
        id: &str,
        who: Value,
        start: &str,
        end: Option<&str>,
    ) -> String {
        let name = format!("{conference}/participants/{id}");
        let mut row = json!({"name": name, "earliestStartTime": start});
        if let Some(end) = end {
            row["latestEndTime"] = json!(end);
        }
        row.as_object_mut()
            .unwrap()
            .extend(who.as_object().unwrap().clone());
        self.with(|s| {
            s.participants
                .entry(conference.into())
                .or_default()
                .push(row)
        });
        name
    }

    /// Adds a session of `participant`; gives its name.
    pub fn add_session(
        &self,
        participant: &str,
        id: &str,
        start: &str,
        end: Option<&str>,
    ) -> String {
        let name = format!("{participant}/participantSessions/{id}");
        let mut row = json!({"name": name, "startTime": start});
        if let Some(end) = end {
            row["endTime"] = json!(end);
        }
        self.with(|s| s.sessions.entry(participant.into()).or_default().push(row));
        name
    }

    /// Adds `spaces/{id}` with its meeting code, owner and `config` (Google's JSON shape).
    pub fn add_space(&self, id: &str, code: &str, owner: &str, config: Value) {
        let name = format!("spaces/{id}");
        let space = json!({"name": name, "meetingUri": format!("https://meet.google.com/{code}"),
            "meetingCode": code, "config": config});
        self.with(|s| {
            s.space_owners.insert(name.clone(), owner.to_string());
            s.spaces.insert(name, space);
        });
    }

    /// Google suspends a subscription (§1.8).
    pub fn suspend_subscription(&self, name: &str, reason: &str) {
        self.with(|s| {
            let subscription = s.subscriptions.get_mut(name).expect("a subscription");
            subscription["state"] = json!("SUSPENDED");
            subscription["suspensionReason"] = json!(reason);
        });
    }

    /// Claims of a good push token for `audience` (iss Google, the push account, verified).
    pub fn push_claims(&self, audience: &str) -> Value {
        let now = Utc::now().timestamp();
        json!({"iss": "https://accounts.google.com", "aud": audience, "azp": "104856273910284756301",
            "sub": "104856273910284756301", "email": PUSH_SERVICE_ACCOUNT, "email_verified": true,
            "iat": now - 5, "exp": now + 3595})
    }

    /// A push token as Pub/Sub sends it, signed with the key the key set serves.
    pub fn push_token(&self, audience: &str) -> String {
        self.push_token_with(&self.push_claims(audience))
    }

    pub fn push_token_with(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": PUSH_KEY_ID, "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.push_key.public().modulus_len()];
        self.push_key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A wrapped Pub/Sub push (§2.1, §7) carrying one Workspace event.
    pub fn push_body(&self, event_type: &str, ce_id: &str, ce_source: &str, data: &Value) -> Value {
        let message_id = self.with(|s| {
            s.next_id += 1;
            (14211803377200 + s.next_id).to_string()
        });
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let published = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        json!({
            "message": {
                "attributes": {
                    "ce-datacontenttype": "application/json", "ce-id": ce_id,
                    "ce-source": ce_source, "ce-specversion": "1.0", "ce-time": now,
                    "ce-type": event_type,
                },
                "data": STANDARD.encode(data.to_string()),
                "messageId": message_id, "message_id": message_id,
                "orderingKey": ce_source,
                "publishTime": published, "publish_time": published,
            },
            "subscription": PUSH_SUBSCRIPTION,
        })
    }
}

/// `signedinUser` of a participant (`user_id` without `users/`).
pub fn signed_in(user_id: &str, display_name: &str) -> Value {
    json!({"signedinUser": {"user": format!("users/{user_id}"), "displayName": display_name}})
}

pub fn anonymous(display_name: &str) -> Value {
    json!({"anonymousUser": {"displayName": display_name}})
}

pub fn phone(redacted_number: &str) -> Value {
    json!({"phoneUser": {"displayName": redacted_number}})
}

async fn record_request(
    State(state): State<Shared>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let token = bearer(request.headers());
    {
        let mut state = state.lock().unwrap();
        let subject = state
            .tokens
            .iter()
            .find(|t| t.token == token)
            .map(|t| t.subject.clone());
        state.requests.push(FakeRequest {
            method: request.method().to_string(),
            path: request.uri().path().to_string(),
            query: request.uri().query().unwrap_or_default().to_string(),
            subject,
        });
    }
    next.run(request).await
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

/// Google's error body; `status` is the canonical code name.
fn google_error(status: StatusCode, name: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": name}});
    (status, Json(body)).into_response()
}

fn not_found() -> Response {
    google_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "Requested entity was not found.",
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| {
            (
                key.to_string(),
                value.replace("%3A", ":").replace("%3a", ":"),
            )
        })
        .collect()
}

/// Verifies an RS256 JWT against a public key; its header and claims when it verifies.
fn verified(jwt: &str, (n, e): &(Vec<u8>, Vec<u8>)) -> Option<(Value, Value)> {
    let (signed, signature) = jwt.rsplit_once('.')?;
    let (header, claims) = signed.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    RsaPublicKeyComponents { n, e }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
        .ok()?;
    let read = |part: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok();
    Some((read(header)?, read(claims)?))
}

/// The JWT-bearer grant (§5.2, §5.3), refused as Google refuses it.
async fn issue_token(State(state): State<Shared>, body: String) -> Response {
    let mut state = state.lock().unwrap();
    if state.down {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal_failure",
            "Backend Error",
        );
    }
    if state.refuse_credentials {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid email or User ID",
        );
    }
    if state.refuse_scopes {
        return oauth_error(StatusCode::UNAUTHORIZED, "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.");
    }
    let form = form(&body);
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type",
        );
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let Some((header, claims)) = verified(&assertion, &state.account_key) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT Signature.",
        );
    };
    let now = Utc::now().timestamp();
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if header["alg"] != "RS256"
        || header["kid"] != SERVICE_ACCOUNT_KEY_ID
        || claims["iss"] != SERVICE_ACCOUNT_EMAIL
        || claims["aud"] != state.token_url.as_str()
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT: wrong issuer, key or audience.",
        );
    }
    if exp <= now || iat > now + 60 || exp - iat > 3600 {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
    }
    let scopes: Vec<String> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .map(String::from)
        .collect();
    if scopes.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    state.next_id += 1;
    let ttl = state.token_ttl_secs.unwrap_or(3600);
    let token = format!("ya29.fake-{}", state.next_id);
    state.tokens.push(IssuedToken {
        token: token.clone(),
        subject: claims["sub"].as_str().unwrap_or_default().to_string(),
        scopes: scopes.clone(),
        expires_at: Utc::now() + Duration::seconds(ttl),
    });
    Json(json!({"access_token": token, "expires_in": ttl, "token_type": "Bearer", "scope": scopes.join(" ")}))
        .into_response()
}

async fn keys(State(state): State<Shared>) -> Response {
    let jwk = state.lock().unwrap().push_jwk.clone();
    (
        [(CACHE_CONTROL, "public, max-age=3600")],
        Json(json!({"keys": [jwk]})),
    )
        .into_response()
}

const MEET: &str = "https://www.googleapis.com/auth/meetings.space.readonly";
const DIRECTORY: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
const CALENDAR: &str = "https://www.googleapis.com/auth/calendar.readonly";

/// Checks the switches, the token and its scope: the impersonated user, or the answer.
fn gate(
    state: &mut FakeGoogleState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<String, Box<Response>> {
    if state.down {
        return Err(Box::new(google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is currently unavailable.",
        )));
    }
    let token = bearer(headers);
    let Some(issued) = state
        .tokens
        .iter()
        .find(|t| t.token == token && t.expires_at > Utc::now())
    else {
        return Err(Box::new(google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        )));
    };
    if !issued.scopes.iter().any(|granted| granted == scope) {
        return Err(Box::new(google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
        )));
    }
    let subject = issued.subject.clone();
    if state.rate_limit_next > 0 {
        state.rate_limit_next -= 1;
        let mut response = google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded.",
        );
        let wait = state.retry_after_secs.to_string().parse().unwrap();
        response.headers_mut().insert("retry-after", wait);
        return Err(Box::new(response));
    }
    Ok(subject)
}

/// One page of `items` as `{field: [...], nextPageToken}`: `size_param` asked, within
/// `largest` and the fake's own limit; the token is the offset.
fn page(
    state: &FakeGoogleState,
    items: &[Value],
    query: &HashMap<String, String>,
    size_param: &str,
    largest: usize,
    field: &str,
) -> Response {
    let asked: usize = query
        .get(size_param)
        .and_then(|size| size.parse().ok())
        .filter(|size| *size > 0)
        .unwrap_or(largest);
    let size = asked
        .min(largest)
        .min(state.largest_page.unwrap_or(2))
        .max(1);
    let start: usize = match query.get("pageToken") {
        Some(token) => match token.parse() {
            Ok(start) => start,
            Err(_) => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "Invalid page token.",
                )
            }
        },
        None => 0,
    };
    let end = (start + size).min(items.len());
    let mut answer = json!({ field: items.get(start..end).unwrap_or_default() });
    if end < items.len() {
        answer["nextPageToken"] = json!(end.to_string());
    }
    Json(answer).into_response()
}

type Params = Query<HashMap<String, String>>;

async fn conference_record(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(cr): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let name = format!("conferenceRecords/{cr}");
    state
        .conference_records
        .get(&name)
        .map_or_else(not_found, |record| Json(record.clone()).into_response())
}

async fn participants(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(cr): Path<String>,
    Query(query): Params,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let name = format!("conferenceRecords/{cr}");
    if !state.conference_records.contains_key(&name) && !state.participants.contains_key(&name) {
        return not_found();
    }
    let rows = state.participants.get(&name).cloned().unwrap_or_default();
    page(&state, &rows, &query, "pageSize", 250, "participants")
}

async fn participant(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((cr, p)): Path<(String, String)>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let conference = format!("conferenceRecords/{cr}");
    let name = format!("{conference}/participants/{p}");
    let found = state
        .participants
        .get(&conference)
        .and_then(|rows| rows.iter().find(|row| row["name"] == name.as_str()));
    found.map_or_else(not_found, |row| Json(row.clone()).into_response())
}

async fn sessions(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((cr, p)): Path<(String, String)>,
    Query(query): Params,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let name = format!("conferenceRecords/{cr}/participants/{p}");
    let rows = state.sessions.get(&name).cloned().unwrap_or_default();
    page(
        &state,
        &rows,
        &query,
        "pageSize",
        250,
        "participantSessions",
    )
}

async fn session(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((cr, p, s)): Path<(String, String, String)>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let participant = format!("conferenceRecords/{cr}/participants/{p}");
    let name = format!("{participant}/participantSessions/{s}");
    let found = state
        .sessions
        .get(&participant)
        .and_then(|rows| rows.iter().find(|row| row["name"] == name.as_str()));
    found.map_or_else(not_found, |row| Json(row.clone()).into_response())
}

/// By name or meeting code; `config` only for the owner.
async fn space(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    let subject = match gate(&mut state, &headers, MEET) {
        Ok(subject) => subject,
        Err(early) => return *early,
    };
    let wanted = format!("spaces/{id}");
    let found = state.spaces.get(&wanted).cloned().or_else(|| {
        state
            .spaces
            .values()
            .find(|space| {
                space["meetingCode"]
                    .as_str()
                    .is_some_and(|code| code.eq_ignore_ascii_case(&id))
            })
            .cloned()
    });
    let Some(mut space) = found else {
        return not_found();
    };
    let owner = space["name"]
        .as_str()
        .and_then(|name| state.space_owners.get(name));
    if owner.is_some_and(|owner| !owner.eq_ignore_ascii_case(&subject)) {
        space.as_object_mut().unwrap().remove("config");
    }
    Json(space).into_response()
}

/// By id, primary address or alias; another domain's user is a 403 (§3.7, §9.6).
async fn user(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, DIRECTORY) {
        return *early;
    }
    let key = key.to_lowercase();
    if state.other_domain_users.contains(&key) {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Not Authorized to access this resource/api",
        );
    }
    let matches = |user: &&Value| {
        user["id"] == key.as_str()
            || user["primaryEmail"]
                .as_str()
                .is_some_and(|email| email.to_lowercase() == key)
            || user["aliases"].as_array().is_some_and(|aliases| {
                aliases
                    .iter()
                    .any(|alias| alias.as_str().is_some_and(|a| a.to_lowercase() == key))
            })
    };
    match state.users.values().find(matches) {
        Some(user) => Json(user.clone()).into_response(),
        None => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Resource Not Found: userKey",
        ),
    }
}

/// An operation answering a change: finished at once, or after `operation_pending_polls` reads.
fn operation_answer(state: &mut FakeGoogleState, response: Value) -> Response {
    state.next_id += 1;
    let name = format!("operations/fake-op-{}", state.next_id);
    let done = json!({"name": name, "done": true, "response": response});
    if state.operation_pending_polls == 0 {
        return Json(done).into_response();
    }
    state
        .operations
        .insert(name.clone(), (state.operation_pending_polls, done));
    Json(json!({"name": name, "done": false})).into_response()
}

fn with_type(mut subscription: Value) -> Value {
    subscription["@type"] =
        json!("type.googleapis.com/google.apps.events.subscriptions.v1.Subscription");
    subscription
}

/// The user id a subject stands for, from the Directory users, else the subject itself.
fn user_id_of(state: &FakeGoogleState, subject: &str) -> String {
    state
        .users
        .values()
        .find(|user| {
            user["primaryEmail"]
                .as_str()
                .is_some_and(|email| email.eq_ignore_ascii_case(subject))
        })
        .and_then(|user| user["id"].as_str())
        .unwrap_or(subject)
        .to_string()
}

async fn create_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut state = state.lock().unwrap();
    let subject = match gate(&mut state, &headers, MEET) {
        Ok(subject) => subject,
        Err(early) => return *early,
    };
    let target = body["targetResource"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let topic = body["notificationEndpoint"]["pubsubTopic"]
        .as_str()
        .unwrap_or_default();
    let types = body["eventTypes"].as_array().cloned().unwrap_or_default();
    if target.is_empty() || topic.is_empty() || types.is_empty() {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "targetResource, eventTypes and notificationEndpoint are required.",
        );
    }
    let authority = format!("users/{}", user_id_of(&state, &subject));
    // A user target must be subscribed to as that same user (§1.9).
    if let Some(target_user) = target.strip_prefix("//cloudidentity.googleapis.com/") {
        if target_user != authority {
            return google_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "The caller does not have permission.",
            );
        }
    }
    let taken = state.subscriptions.values().any(|existing| {
        existing["targetResource"] == target.as_str()
            && existing["userAuthority"] == authority.as_str()
            && existing["state"] != "DELETED"
    });
    if taken {
        return google_error(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            "Subscription already exists.",
        );
    }
    state.next_id += 1;
    let now = Utc::now();
    let subscription = json!({
        "name": format!("subscriptions/fake-{}", state.next_id), "uid": format!("uid-{}", state.next_id),
        "targetResource": target, "eventTypes": types, "notificationEndpoint": {"pubsubTopic": topic},
        "payloadOptions": {}, "state": "ACTIVE", "authority": authority, "userAuthority": authority,
        "createTime": now, "updateTime": now, "expireTime": now + Duration::days(SUBSCRIPTION_LIFETIME_DAYS),
        "etag": format!("\"etag-{}\"", state.next_id),
    });
    state.subscriptions.insert(
        subscription["name"].as_str().unwrap().to_string(),
        subscription.clone(),
    );
    operation_answer(&mut state, with_type(subscription))
}

/// `filter` is required: `event_types:"…"` (any of them) and optionally `target_resource="…"`.
async fn list_subscriptions(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Params,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let filter = query.get("filter").cloned().unwrap_or_default();
    let quoted_after = |key: &str| -> Vec<String> {
        filter
            .split(key)
            .skip(1)
            .filter_map(|rest| rest.strip_prefix('"')?.split('"').next().map(String::from))
            .collect()
    };
    let types = quoted_after("event_types:");
    let target = quoted_after("target_resource=").into_iter().next();
    if types.is_empty() {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "filter must name at least one event type.",
        );
    }
    let mut rows: Vec<Value> = state
        .subscriptions
        .values()
        .filter(|s| {
            target
                .as_deref()
                .is_none_or(|target| s["targetResource"] == target)
        })
        .filter(|s| {
            s["eventTypes"]
                .as_array()
                .is_some_and(|have| have.iter().any(|t| types.iter().any(|w| t == w.as_str())))
        })
        .cloned()
        .collect();
    rows.sort_by_key(|s| s["name"].as_str().unwrap_or_default().to_string());
    page(&state, &rows, &query, "pageSize", 100, "subscriptions")
}

async fn subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    state
        .subscriptions
        .get(&format!("subscriptions/{id}"))
        .map_or_else(not_found, |s| Json(s.clone()).into_response())
}

/// `updateMask=ttl`: to the longest life (`ttl` 0), or `ttl` seconds.
async fn renew_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Params,
    Json(body): Json<Value>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let name = format!("subscriptions/{id}");
    if !query
        .get("updateMask")
        .is_some_and(|mask| mask.split(',').any(|field| field == "ttl"))
    {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "updateMask must name ttl.",
        );
    }
    let seconds: i64 = body["ttl"]
        .as_str()
        .and_then(|ttl| ttl.strip_suffix('s')?.parse().ok())
        .unwrap_or(0);
    let lifetime = if seconds == 0 {
        Duration::days(SUBSCRIPTION_LIFETIME_DAYS)
    } else {
        Duration::seconds(seconds)
    };
    let Some(subscription) = state.subscriptions.get_mut(&name) else {
        return not_found();
    };
    subscription["expireTime"] = json!(Utc::now() + lifetime);
    subscription["updateTime"] = json!(Utc::now());
    let renewed = subscription.clone();
    state
        .subscription_calls
        .push(SubscriptionCall::Renewed(name));
    operation_answer(&mut state, with_type(renewed))
}

async fn delete_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let name = format!("subscriptions/{id}");
    if state.subscriptions.remove(&name).is_none() {
        return not_found();
    }
    state
        .subscription_calls
        .push(SubscriptionCall::Deleted(name));
    operation_answer(
        &mut state,
        json!({"@type": "type.googleapis.com/google.protobuf.Empty"}),
    )
}

/// `POST subscriptions/{id}:reactivate`, for a suspended subscription only.
async fn reactivate_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let Some(id) = id.strip_suffix(":reactivate") else {
        return not_found();
    };
    let name = format!("subscriptions/{id}");
    let Some(subscription) = state.subscriptions.get_mut(&name) else {
        return not_found();
    };
    if subscription["state"] != "SUSPENDED" {
        return google_error(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            "The subscription is not suspended.",
        );
    }
    if state.reactivation_refused {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "The notification endpoint cannot be published to.",
        );
    }
    let subscription = state.subscriptions.get_mut(&name).expect("checked above");
    subscription["state"] = json!("ACTIVE");
    subscription
        .as_object_mut()
        .unwrap()
        .remove("suspensionReason");
    let reactivated = subscription.clone();
    state
        .subscription_calls
        .push(SubscriptionCall::Reactivated(name));
    operation_answer(&mut state, with_type(reactivated))
}

async fn operation(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, MEET) {
        return *early;
    }
    let name = format!("operations/{id}");
    let Some((left, done)) = state.operations.get_mut(&name) else {
        return not_found();
    };
    *left = left.saturating_sub(1);
    if *left > 0 {
        return Json(json!({"name": name, "done": false})).into_response();
    }
    Json(done.clone()).into_response()
}

/// Events overlapping `timeMin..timeMax` (either may be absent), in start order.
async fn calendar_events(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(calendar): Path<String>,
    Query(query): Params,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, CALENDAR) {
        return *early;
    }
    let found = state
        .calendar_events
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(&calendar));
    let Some(events) = found.map(|(_, events)| events.clone()) else {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found");
    };
    let time = |value: Option<&str>| {
        value.and_then(|v| DateTime::<FixedOffset>::parse_from_rfc3339(v).ok())
    };
    let (min, max) = (
        time(query.get("timeMin").map(String::as_str)),
        time(query.get("timeMax").map(String::as_str)),
    );
    let mut rows: Vec<Value> = events
        .into_iter()
        .filter(|event| {
            let start = time(event["start"]["dateTime"].as_str());
            let end = time(event["end"]["dateTime"].as_str());
            min.is_none_or(|min| end.is_none_or(|end| end > min))
                && max.is_none_or(|max| start.is_none_or(|start| start < max))
        })
        .collect();
    rows.sort_by_key(|event| time(event["start"]["dateTime"].as_str()));
    page(&state, &rows, &query, "maxResults", 2500, "items")
}

/// The fake checked against chaperone's own client, push token verifier and push reader, so
/// that tests built on it test the service and not a misunderstanding.
mod checks {
    use std::time::Duration as StdDuration;

    use chaperone::google::api::events::{subscription_filter, user_target, SubscriptionState};
    use chaperone::google::api::meet::ParticipantKind;
    use chaperone::google::api::GoogleApiError;
    use chaperone::google::push_token::{PushTokenSettings, PushTokenVerifier};

    use super::*;

    const ALEX: &str = "alex.teacher@school.example";
    const STARTED: &str = "google.workspace.meet.conference.v2.started";
    const ENDED: &str = "google.workspace.meet.conference.v2.ended";

    #[tokio::test]
    async fn the_fake_answers_the_real_client_for_its_own_service_accounts_assertions_only() {
        let google = FakeGoogle::start().await;
        google.add_user("108", ALEX, "/Staff");
        let record = google.add_conference("abc", "spaces/kT9", "2026-03-10T14:00:11.874Z", None);
        let alex = google.add_participant(
            &record,
            "108",
            signed_in("108", "Alex Teacher"),
            "2026-03-10T14:00:12Z",
            None,
        );
        google.add_participant(
            &record,
            "anon-1",
            anonymous("Guest"),
            "2026-03-10T14:05:02Z",
            None,
        );
        google.add_participant(
            &record,
            "phone-1",
            phone("+44 20 **** *321"),
            "2026-03-10T14:10:00Z",
            None,
        );
        google.add_session(
            &alex,
            "s1",
            "2026-03-10T14:00:12Z",
            Some("2026-03-10T14:20:00.123456Z"),
        );
        google.add_session(&alex, "s2", "2026-03-10T14:25:00Z", None);
        google.add_space("kT9", "qwe-rtyu-iop", ALEX, json!({"moderation": "ON"}));
        let api = google.api();
        let teacher = google.credentials(7, ALEX);
        let admin = google.credentials(7, "it-admin@school.example");

        let participants = api.participants(&teacher, &record).await.unwrap();
        let sessions = api.participant_sessions(&teacher, &alex).await.unwrap();
        let user = api.user(&admin, "users/108").await.unwrap();
        let owned = api.space(&teacher, "spaces/qwe-rtyu-iop").await.unwrap();
        let seen = api.space(&admin, "spaces/kT9").await.unwrap();

        assert_eq!(participants.len(), 3);
        assert!(
            matches!(&participants[0].kind, ParticipantKind::SignedIn { user, .. } if user == "users/108")
        );
        assert_eq!(sessions.len(), 2);
        assert_eq!(user.primary_email, ALEX);
        assert_eq!(owned.name, "spaces/kT9");
        assert!(
            owned.config.is_some() && seen.config.is_none(),
            "config for the owner only"
        );
        google.with(|s| {
            let issued: Vec<(&str, &str)> = s
                .tokens
                .iter()
                .map(|t| (t.subject.as_str(), t.scopes[0].as_str()))
                .collect();
            assert_eq!(
                issued,
                [
                    (ALEX, MEET),
                    ("it-admin@school.example", DIRECTORY),
                    ("it-admin@school.example", MEET)
                ]
            );
            assert!(
                s.requests.iter().any(|r| r.query.contains("pageToken=2")),
                "paged"
            );
            assert!(s
                .requests
                .iter()
                .filter(|r| r.path.starts_with("/v2"))
                .all(|r| r.subject.as_deref() == Some(ALEX) || r.path.starts_with("/v2/spaces")));
        });

        let other = FakeGoogle::start().await;
        let stranger = other.credentials(7, ALEX);
        assert_eq!(
            google
                .api()
                .conference_record(&stranger, &record)
                .await
                .unwrap_err(),
            GoogleApiError::Credentials("invalid_grant: Invalid JWT Signature.".into())
        );
        google.with(|s| s.refuse_scopes = true);
        let refused = google
            .api()
            .check_credentials(&teacher, &[MEET])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, GoogleApiError::Credentials(ref why) if why.starts_with("unauthorized_client"))
        );
        google.with(|s| {
            s.refuse_scopes = false;
            s.rate_limit_next = 1;
            s.retry_after_secs = 30;
        });
        let limited = api.conference_record(&teacher, &record).await.unwrap_err();
        assert_eq!(
            limited,
            GoogleApiError::RateLimited {
                retry_after: Some(StdDuration::from_secs(30))
            }
        );
    }

    #[tokio::test]
    async fn the_fake_keeps_subscriptions_as_workspace_events_does() {
        let google = FakeGoogle::start().await;
        google.add_user("108", ALEX, "/Staff");
        google.add_user("109", "jo.ta@school.example", "/Staff");
        google.with(|s| s.operation_pending_polls = 2);
        let api = google.api();
        let alex = google.credentials(7, ALEX);

        let made = api
            .create_subscription(&alex, "users/108", &[STARTED, ENDED], PUBSUB_TOPIC)
            .await
            .unwrap();
        assert_eq!(made.target_resource, user_target("108"));
        assert_eq!(made.user_authority.as_deref(), Some("users/108"));
        let again = api
            .create_subscription(&alex, "108", &[STARTED], PUBSUB_TOPIC)
            .await;
        assert_eq!(again.unwrap_err(), GoogleApiError::AlreadyExists);
        let jo = google.credentials(7, "jo.ta@school.example");
        let for_someone_else = api
            .create_subscription(&jo, "108", &[STARTED], PUBSUB_TOPIC)
            .await;
        assert_eq!(
            for_someone_else.unwrap_err(),
            GoogleApiError::PermissionDenied
        );
        let filter = subscription_filter(&[ENDED], Some(&user_target("108")));
        assert_eq!(
            api.list_subscriptions(&alex, &filter).await.unwrap(),
            std::slice::from_ref(&made)
        );

        let renewed = api.renew_subscription(&alex, &made.name).await.unwrap();
        assert!(renewed.expire_time >= made.expire_time);
        google.suspend_subscription(&made.name, "ENDPOINT_PERMISSION_DENIED");
        assert_eq!(
            api.get_subscription(&alex, &made.name).await.unwrap().state,
            SubscriptionState::Suspended
        );
        let reactivated = api
            .reactivate_subscription(&alex, &made.name)
            .await
            .unwrap();
        assert_eq!(
            (reactivated.state, reactivated.suspension_reason),
            (SubscriptionState::Active, None)
        );
        api.delete_subscription(&alex, &made.name).await.unwrap();
        assert_eq!(
            api.get_subscription(&alex, &made.name).await.unwrap_err(),
            GoogleApiError::NotFound
        );
        assert_eq!(
            google.with(|s| s.subscription_calls.clone()),
            [
                SubscriptionCall::Renewed(made.name.clone()),
                SubscriptionCall::Reactivated(made.name.clone()),
                SubscriptionCall::Deleted(made.name.clone()),
            ]
        );
    }

    #[tokio::test]
    async fn pushes_made_by_the_fake_are_verified_and_read_by_chaperone() {
        let google = FakeGoogle::start().await;
        let audience = "https://chaperone.school.example/webhooks/google_meet/1";
        let verifier = PushTokenVerifier::new(
            reqwest::Client::new(),
            PushTokenSettings {
                keys_url: google.keys_url.clone(),
                audience: audience.into(),
                service_account_email: PUSH_SERVICE_ACCOUNT.into(),
                leeway: StdDuration::from_secs(60),
                min_refresh_interval: StdDuration::from_secs(30),
            },
        );
        let token = google.push_token(audience);
        assert_eq!(
            verifier
                .verify(Some(&format!("Bearer {token}")), Utc::now())
                .await,
            Ok(())
        );
        let mut claims = google.push_claims(audience);
        claims["email_verified"] = json!(false);
        let unverified = google.push_token_with(&claims);
        assert!(verifier
            .verify(Some(&format!("Bearer {unverified}")), Utc::now())
            .await
            .is_err());

        let source = "//workspaceevents.googleapis.com/subscriptions/fake-1";
        let data = json!({"conferenceRecord": {"name": "conferenceRecords/abc"}});
        let body = google.push_body(STARTED, "evt-1", source, &data);
        let read =
            chaperone::google::push_message::read(&HeaderMap::new(), body.to_string().as_bytes())
                .unwrap();
        assert_eq!(
            (
                read.event.event_type.as_str(),
                read.event.id.as_str(),
                read.event.source.as_str()
            ),
            (STARTED, "evt-1", source)
        );
        assert_eq!(serde_json::from_slice::<Value>(&read.data).unwrap(), data);
    }
}
