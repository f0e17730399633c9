//! Google's APIs, for what a Meet push does not carry (it names a resource, never its
//! content, google-meet.md §1.3): the Meet REST API for conferences, participants, sessions and
//! space settings, the Directory for whether a user is the school's, Workspace Events for the
//! subscriptions that send the pushes, and Calendar for who was invited.
//!
//! Every call is a service account impersonating one user of the school's domain (§5), with a
//! token cached per connection, user and scope set ([`token`]). Each connection has a budget of
//! requests in flight and per second, and a `429` holds the whole connection back until the
//! wait Google asked for, not only the refused call, as the Zoom client does (`zoom::api`).

pub mod calendar;
pub mod directory;
pub mod directory_lists;
pub mod events;
pub mod meet;
pub mod service_account;
mod token;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

pub use self::service_account::{ServiceAccountKey, ServiceAccountKeyError};
use self::token::TokenCache;
use crate::retry::{parse_retry_after, PLATFORM_RETRY_AFTER_CAP};

/// Reading meetings, participants, sessions and spaces; also what Workspace Events asks for to
/// subscribe to a user's meetings (§1.9, §3.1).
pub const MEET_READONLY_SCOPE: &str = "https://www.googleapis.com/auth/meetings.space.readonly";
/// Reading the school's users, as an admin (§3.7).
pub const DIRECTORY_USER_READONLY_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.user.readonly";
/// Reading an organiser's calendar (§4.3).
pub const CALENDAR_READONLY_SCOPE: &str = "https://www.googleapis.com/auth/calendar.readonly";

/// Requests in flight per connection, when not set otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Requests started per second per connection, when not set otherwise: well inside the Meet
/// and Directory per-user quotas, which are counted per minute.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 10;
/// How long a `429` without a readable `Retry-After` holds the connection back. Google's
/// quotas are per minute and its advice is to back off from a second or more; the caller's
/// retry schedule continues from here.
const UNSAID_RATE_LIMIT_HOLD: Duration = Duration::from_secs(10);
/// The longest hold a call waits out in place; during a longer one calls are refused at once
/// with the time left, so that a worker reschedules instead of sleeping.
pub const LONGEST_HOLD_WAITED_IN_PLACE: Duration = Duration::from_secs(5);
/// Pages read from one list at most: at 100 a page, far beyond any school's meeting.
const MAX_PAGES: usize = 100;

/// What one call needs: which connection (its budget and token cache), its service account
/// key, and the user of the school's domain to act as.
#[derive(Clone)]
pub struct GoogleCredentials {
    pub connection_id: i64,
    pub key: ServiceAccountKey,
    /// The address (or id) of the user impersonated: the admin user for the Directory, the
    /// space's owner for Meet, the subscribed user for Workspace Events.
    pub subject: String,
}

impl GoogleCredentials {
    /// The same connection and key, acting as another user.
    pub fn impersonating(&self, subject: impl Into<String>) -> Self {
        GoogleCredentials {
            subject: subject.into(),
            ..self.clone()
        }
    }
}

impl fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The subject is a person's address: it stays out of logs.
        f.debug_struct("GoogleCredentials")
            .field("connection_id", &self.connection_id)
            .field("key", &self.key)
            .field("subject", &"<user>")
            .finish()
    }
}

/// Why a call to Google failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleApiError {
    /// The key, the domain-wide delegation or the impersonated user is refused: configuration
    /// for the admin to fix, not to retry in a loop.
    #[error("Google refused the connection's credentials: {0}")]
    Credentials(String),
    #[error("Google says it does not exist")]
    NotFound,
    /// The impersonated user may not see it (a space's settings are the owner's, §3.4).
    #[error("Google refused access to it")]
    PermissionDenied,
    /// Workspace Events allows one subscription per user and target (§1.1).
    #[error("it already exists")]
    AlreadyExists,
    /// A `429` (or a quota `403`); `retry_after` is the wait Google asked for, when it said.
    #[error("Google's rate limit was reached")]
    RateLimited { retry_after: Option<Duration> },
    #[error("Google's API is unavailable: {0}")]
    Unavailable(String),
    #[error("Google's API gave an unexpected answer: {0}")]
    Unexpected(String),
}

impl GoogleApiError {
    /// Worth trying again later, unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GoogleApiError::RateLimited { .. } | GoogleApiError::Unavailable(_)
        )
    }
}

/// Where Google's APIs are and how hard chaperone may use them per connection.
#[derive(Debug, Clone)]
pub struct GoogleApiSettings {
    /// Empty: the key file's `token_uri`, else Google's.
    pub token_url: String,
    pub meet_api_base_url: String,
    pub directory_api_base_url: String,
    pub events_api_base_url: String,
    pub calendar_api_base_url: String,
    pub requests_per_second: u32,
    pub concurrency: usize,
    /// How often an unfinished Workspace Events operation is read again, and how long apart.
    pub operation_polls: u32,
    pub operation_poll_interval: Duration,
}

impl From<&crate::config::GoogleSettings> for GoogleApiSettings {
    fn from(settings: &crate::config::GoogleSettings) -> Self {
        GoogleApiSettings {
            token_url: settings.token_url.clone(),
            meet_api_base_url: settings.meet_api_base_url.clone(),
            directory_api_base_url: settings.directory_api_base_url.clone(),
            events_api_base_url: settings.events_api_base_url.clone(),
            calendar_api_base_url: settings.calendar_api_base_url.clone(),
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            concurrency: DEFAULT_CONCURRENCY,
            operation_polls: 5,
            operation_poll_interval: Duration::from_secs(1),
        }
    }
}

/// The client for every Google API chaperone calls. Methods are in [`meet`], [`directory`],
/// [`events`] and [`calendar`].
pub struct GoogleApi {
    http: reqwest::Client,
    settings: GoogleApiSettings,
    tokens: TokenCache,
    budgets: Mutex<HashMap<i64, Arc<ConnectionBudget>>>,
}

impl GoogleApi {
    pub fn new(http: reqwest::Client, settings: GoogleApiSettings) -> Self {
        GoogleApi {
            tokens: TokenCache::new(http.clone(), settings.token_url.clone()),
            http,
            settings,
            budgets: Mutex::default(),
        }
    }

    /// Checks that the credentials get a token for `scopes`: the key is good and the domain's
    /// admin has delegated those scopes to it.
    pub async fn check_credentials(
        &self,
        credentials: &GoogleCredentials,
        scopes: &[&str],
    ) -> Result<(), GoogleApiError> {
        self.tokens
            .token(credentials, scopes, Utc::now())
            .await
            .map(|_| ())
    }

    /// When the connection's calls may go out again, if a `429` still holds it back at `now`.
    /// Work that finds the connection held should be rescheduled for then: calls during a
    /// hold are refused without reaching Google.
    pub fn rate_limited_until(
        &self,
        connection_id: i64,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.budget(connection_id).held_until(now)
    }

    /// One call, within the connection's budget. A `401` gets one more try with a new token
    /// (a token revoked early); every other failure is returned as it is.
    async fn send<T: DeserializeOwned>(
        &self,
        credentials: &GoogleCredentials,
        scopes: &[&str],
        request: &ApiRequest,
    ) -> Result<T, GoogleApiError> {
        let budget = self.budget(credentials.connection_id);
        let _permit = budget.acquire().await?;
        let mut retried_with_fresh_token = false;
        loop {
            let token = self.tokens.token(credentials, scopes, Utc::now()).await?;
            let mut builder = self
                .http
                .request(request.method.clone(), &request.url)
                .query(&request.query)
                .bearer_auth(token.expose());
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            let response = builder.send().await.map_err(unavailable)?;
            let status = response.status();
            let retry_after = retry_after_from(response.headers(), Utc::now());
            let body = response.bytes().await.map_err(unavailable)?;
            if status == StatusCode::UNAUTHORIZED && !retried_with_fresh_token {
                self.tokens.forget(credentials, scopes, &token);
                retried_with_fresh_token = true;
                continue;
            }
            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|error| {
                    GoogleApiError::Unexpected(format!("cannot read the answer: {error}"))
                });
            }
            let error = error_from(status, &body, retry_after);
            if let GoogleApiError::RateLimited { retry_after } = error {
                budget.hold_for(retry_after.unwrap_or(UNSAID_RATE_LIMIT_HOLD));
                tracing::warn!(
                    connection_id = credentials.connection_id,
                    wait_ms = retry_after.map(|wait| wait.as_millis() as u64),
                    "Google's rate limit reached; the connection's calls are held back"
                );
            }
            return Err(error);
        }
    }

    /// Every item of a paged list: `items_field` of each page, following `nextPageToken`.
    /// The request carries the API's page size parameter.
    async fn list_all<T: DeserializeOwned>(
        &self,
        credentials: &GoogleCredentials,
        scopes: &[&str],
        request: ApiRequest,
        items_field: &str,
    ) -> Result<Vec<T>, GoogleApiError> {
        let mut items = Vec::new();
        let mut page_request = request.clone();
        for _ in 0..MAX_PAGES {
            let mut page: serde_json::Map<String, Value> =
                self.send(credentials, scopes, &page_request).await?;
            if let Some(found) = page.remove(items_field) {
                let found: Vec<T> = serde_json::from_value(found).map_err(|error| {
                    GoogleApiError::Unexpected(format!("cannot read {items_field}: {error}"))
                })?;
                items.extend(found);
            }
            match page.get("nextPageToken").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    page_request = request.clone().query("pageToken", next);
                }
                _ => return Ok(items),
            }
        }
        Err(GoogleApiError::Unexpected(format!(
            "the list of {items_field} did not end after {MAX_PAGES} pages"
        )))
    }

    fn budget(&self, connection_id: i64) -> Arc<ConnectionBudget> {
        let mut budgets = self.budgets.lock().expect("budget lock");
        budgets
            .entry(connection_id)
            .or_insert_with(|| {
                Arc::new(ConnectionBudget::new(
                    self.settings.concurrency,
                    self.settings.requests_per_second,
                ))
            })
            .clone()
    }
}

/// A request before it is sent: the URL and query stay apart so that reqwest encodes the
/// query, and a page token can be added.
#[derive(Debug, Clone)]
struct ApiRequest {
    method: Method,
    url: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl ApiRequest {
    fn new(method: Method, base_url: &str, path: &str) -> Self {
        ApiRequest {
            method,
            url: format!("{}/{path}", base_url.trim_end_matches('/')),
            query: Vec::new(),
            body: None,
        }
    }

    fn get(base_url: &str, path: &str) -> Self {
        Self::new(Method::GET, base_url, path)
    }

    fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.retain(|(present, _)| *present != name);
        self.query.push((name, value.into()));
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// Google's error body, `{"error":{"code":404,"message":"…","status":"NOT_FOUND"}}`; the older
/// APIs (Directory, Calendar) add `errors[].reason`. The message is not kept: it may quote
/// the user asked about.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorReason>,
}

#[derive(Deserialize)]
struct ErrorReason {
    #[serde(default)]
    reason: Option<String>,
}

/// The `403` reasons that are quotas rather than refusals (Directory and Calendar answer a
/// rate limit with `403 userRateLimitExceeded` as often as with `429`).
const QUOTA_REASONS: [&str; 3] = [
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
];

/// What an API's failed answer means.
fn error_from(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> GoogleApiError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|body| body.error);
    let google_status = detail
        .as_ref()
        .and_then(|detail| detail.status.clone())
        .unwrap_or_default();
    let quota = google_status == "RESOURCE_EXHAUSTED"
        || detail.as_ref().is_some_and(|detail| {
            detail.errors.iter().any(|error| {
                error
                    .reason
                    .as_deref()
                    .is_some_and(|reason| QUOTA_REASONS.contains(&reason))
            })
        });
    let described = format!("HTTP {} {google_status}", status.as_u16())
        .trim_end()
        .to_string();
    match status {
        StatusCode::TOO_MANY_REQUESTS => GoogleApiError::RateLimited { retry_after },
        StatusCode::FORBIDDEN if quota => GoogleApiError::RateLimited { retry_after },
        StatusCode::FORBIDDEN => GoogleApiError::PermissionDenied,
        StatusCode::NOT_FOUND => GoogleApiError::NotFound,
        // 409 is also ABORTED, a concurrent change: worth another try.
        StatusCode::CONFLICT if google_status == "ABORTED" => {
            GoogleApiError::Unavailable(described)
        }
        StatusCode::CONFLICT => GoogleApiError::AlreadyExists,
        StatusCode::UNAUTHORIZED => {
            GoogleApiError::Credentials(format!("{described}: Google refused a fresh access token"))
        }
        status if status.is_server_error() => GoogleApiError::Unavailable(described),
        _ => GoogleApiError::Unexpected(described),
    }
}

/// The wait a `Retry-After` asks for, in seconds or as an HTTP date, at most a day.
fn retry_after_from(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, now))
        .map(|wait| wait.min(PLATFORM_RETRY_AFTER_CAP))
}

/// A failure to reach Google, without the URL (it can hold a user's address).
fn unavailable(error: reqwest::Error) -> GoogleApiError {
    GoogleApiError::Unavailable(error.without_url().to_string())
}

/// A resource name (`conferenceRecords/abc/participants/123`) as a URL path, checked against
/// the collections it must name in turn and encoded segment by segment, so that a name from a
/// push cannot point the call at another path.
fn resource_path(name: &str, collections: &[&str]) -> Result<String, GoogleApiError> {
    let segments: Vec<&str> = name.split('/').collect();
    let shaped = segments.len() == collections.len() * 2
        && segments
            .iter()
            .step_by(2)
            .zip(collections)
            .all(|(segment, collection)| segment == collection)
        && segments.iter().all(|segment| is_plain_segment(segment));
    if !shaped {
        return Err(GoogleApiError::Unexpected(format!(
            "not a {} name",
            collections.join("/")
        )));
    }
    Ok(segments
        .iter()
        .map(|segment| encode_segment(segment))
        .collect::<Vec<_>>()
        .join("/"))
}

fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".."
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// A connection's budget: at most `concurrency` calls in flight, starts spaced so that no
/// more than `requests_per_second` begin in a second, and no call at all during a `429` hold.
struct ConnectionBudget {
    in_flight: Semaphore,
    interval: Duration,
    next_start: tokio::sync::Mutex<Instant>,
    held: Mutex<Option<Hold>>,
}

/// The end of a hold on both clocks: the monotonic one to wait on, the wall clock for work
/// scheduled by it.
#[derive(Clone, Copy)]
struct Hold {
    until: Instant,
    until_wall: DateTime<Utc>,
}

impl ConnectionBudget {
    fn new(concurrency: usize, requests_per_second: u32) -> Self {
        ConnectionBudget {
            in_flight: Semaphore::new(concurrency.max(1)),
            interval: Duration::from_secs(1) / requests_per_second.max(1),
            next_start: tokio::sync::Mutex::new(Instant::now()),
            held: Mutex::default(),
        }
    }

    /// Holds every call back for `wait`; a shorter hold never cuts a longer one short.
    fn hold_for(&self, wait: Duration) {
        let hold = Hold {
            until: Instant::now() + wait,
            until_wall: Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
        };
        let mut held = self.held.lock().expect("hold lock");
        if held.is_none_or(|current| current.until < hold.until) {
            *held = Some(hold);
        }
    }

    fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let held = *self.held.lock().expect("hold lock");
        held.map(|hold| hold.until_wall)
            .filter(|until| *until > now)
    }

    /// A slot to call in, after any short hold; during a long one, `RateLimited` with the
    /// time left.
    async fn acquire(&self) -> Result<SemaphorePermit<'_>, GoogleApiError> {
        let hold_end = {
            let held = *self.held.lock().expect("hold lock");
            held.map(|hold| hold.until)
                .filter(|until| *until > Instant::now())
        };
        if let Some(until) = hold_end {
            let left = until - Instant::now();
            if left > LONGEST_HOLD_WAITED_IN_PLACE {
                return Err(GoogleApiError::RateLimited {
                    retry_after: Some(left),
                });
            }
        }
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(Instant::now()).max(hold_end.unwrap_or(*next));
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
        Ok(permit)
    }
}
