//! Zoom's REST API, for what webhooks do not carry (meeting and host settings, whether a
//! user belongs to the school's account, a meeting's registrants) and for the participant
//! report after a call.
//! Server-to-Server OAuth per account, one cached token each, a per-account budget of
//! concurrent requests and requests per second (Zoom's limits are shared with every other
//! app on the account), and a `429` holds the whole account back until Zoom's reset, not only
//! the refused call. See shared/platforms/zoom.md §3.

mod limit;
mod rate_limit;
mod token;
pub mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use self::limit::AccountLimiter;
use self::token::TokenCache;
use self::types::{
    LiveMeetings, MeetingDetails, MeetingRegistrant, PastParticipant, PastParticipantsPage,
    RegistrantsPage, UserDetails, UserSettings,
};
use crate::config::Secret;

/// How long a `429` without a readable wait holds the account back: Zoom's most common
/// limit is per second.
const UNSAID_RATE_LIMIT_HOLD: Duration = Duration::from_secs(1);

/// What chaperone needs to call the API for one account.
#[derive(Debug, Clone)]
pub struct ZoomCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ZoomApiError {
    /// The account's credentials are refused: monitoring through the API has stopped.
    #[error("Zoom refused the account's credentials: {0}")]
    Credentials(String),
    #[error("Zoom says it does not exist")]
    NotFound,
    /// Zoom answered 429; `retry_after` is the wait it asked for, when it said.
    #[error("Zoom's rate limit was reached")]
    RateLimited { retry_after: Option<Duration> },
    #[error("Zoom's API is unavailable: {0}")]
    Unavailable(String),
    #[error("Zoom's API gave an unexpected answer: {0}")]
    Unexpected(String),
}

/// Where the API lives and how hard chaperone may use it.
#[derive(Debug, Clone)]
pub struct ZoomApiSettings {
    pub api_base_url: String,
    pub oauth_token_url: String,
    pub requests_per_second: u32,
    pub concurrency: usize,
}

pub struct ZoomApi {
    http: reqwest::Client,
    settings: ZoomApiSettings,
    tokens: TokenCache,
    limiters: Mutex<HashMap<String, Arc<AccountLimiter>>>,
}

impl ZoomApi {
    pub fn new(http: reqwest::Client, settings: ZoomApiSettings) -> Self {
        ZoomApi {
            tokens: TokenCache::new(http.clone(), settings.oauth_token_url.clone()),
            http,
            settings,
            limiters: Mutex::default(),
        }
    }

    /// `GET /meetings/{meetingId}`.
    pub async fn meeting(
        &self,
        credentials: &ZoomCredentials,
        meeting_id: &str,
    ) -> Result<MeetingDetails, ZoomApiError> {
        self.get(
            credentials,
            &format!("/meetings/{}", encode_path_segment(meeting_id)),
        )
        .await
    }

    /// `GET /users/{userId}/settings`.
    pub async fn user_settings(
        &self,
        credentials: &ZoomCredentials,
        user_id: &str,
    ) -> Result<UserSettings, ZoomApiError> {
        self.get(
            credentials,
            &format!("/users/{}/settings", encode_path_segment(user_id)),
        )
        .await
    }

    /// `GET /users/{userId}`: a user of the account, or `NotFound` (code 1001) if not.
    pub async fn user(
        &self,
        credentials: &ZoomCredentials,
        user_id: &str,
    ) -> Result<UserDetails, ZoomApiError> {
        self.get(
            credentials,
            &format!("/users/{}", encode_path_segment(user_id)),
        )
        .await
    }

    /// `GET /past_meetings/{uuid}/participants`, every page.
    pub async fn past_participants(
        &self,
        credentials: &ZoomCredentials,
        uuid: &str,
    ) -> Result<Vec<PastParticipant>, ZoomApiError> {
        let mut participants = Vec::new();
        let mut next_page_token = String::new();
        // Bounded: 300 per page, and no call has 30,000 participant sessions.
        for _ in 0..100 {
            let mut path = format!(
                "/past_meetings/{}/participants?page_size=300",
                encode_meeting_uuid(uuid)
            );
            if !next_page_token.is_empty() {
                path.push_str("&next_page_token=");
                path.push_str(&encode_path_segment(&next_page_token));
            }
            let page: PastParticipantsPage = self.get(credentials, &path).await?;
            participants.extend(page.participants);
            match page.next_page_token {
                Some(token) if !token.is_empty() => next_page_token = token,
                _ => return Ok(participants),
            }
        }
        Err(ZoomApiError::Unexpected(
            "the participant report did not end after 100 pages".into(),
        ))
    }

    /// `GET /meetings/{meetingId}/registrants?status=approved`, every page. Only approved
    /// registrants receive a link to join: pending ones wait for the host's approval (and
    /// are listed once approved), denied ones cannot join.
    pub async fn meeting_registrants(
        &self,
        credentials: &ZoomCredentials,
        meeting_id: &str,
    ) -> Result<Vec<MeetingRegistrant>, ZoomApiError> {
        let mut registrants = Vec::new();
        let mut next_page_token = String::new();
        // Bounded: 300 per page, and no school meeting has 30,000 registrants.
        for _ in 0..100 {
            let mut path = format!(
                "/meetings/{}/registrants?status=approved&page_size=300",
                encode_path_segment(meeting_id)
            );
            if !next_page_token.is_empty() {
                path.push_str("&next_page_token=");
                path.push_str(&encode_path_segment(&next_page_token));
            }
            let page: RegistrantsPage = self.get(credentials, &path).await?;
            registrants.extend(page.registrants);
            match page.next_page_token {
                Some(token) if !token.is_empty() => next_page_token = token,
                _ => return Ok(registrants),
            }
        }
        Err(ZoomApiError::Unexpected(
            "the registrant list did not end after 100 pages".into(),
        ))
    }

    /// `GET /metrics/meetings?type=live`: how many meetings are running on the account now,
    /// `today` being the account's date (its school's).
    pub async fn live_meetings(
        &self,
        credentials: &ZoomCredentials,
        today: NaiveDate,
    ) -> Result<u64, ZoomApiError> {
        let live: LiveMeetings = self.get(credentials, &live_meetings_path(today)).await?;
        Ok(live.total_records)
    }

    /// When the account's calls may go out again, if a `429` still holds it back at `now`
    /// (the caller's clock). Work that finds the account held should be rescheduled for then
    /// rather than call: calls during a hold only lengthen it.
    pub fn rate_limited_until(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.limiter(account_id).held_until(now)
    }

    /// Checks the credentials by fetching a token.
    pub async fn check_credentials(
        &self,
        credentials: &ZoomCredentials,
    ) -> Result<(), ZoomApiError> {
        self.tokens.token(credentials, Utc::now()).await.map(|_| ())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        credentials: &ZoomCredentials,
        path: &str,
    ) -> Result<T, ZoomApiError> {
        let limiter = self.limiter(&credentials.account_id);
        let _permit = limiter.acquire().await;
        let url = format!("{}{path}", self.settings.api_base_url.trim_end_matches('/'));
        let mut retried_with_fresh_token = false;
        loop {
            let token = self.tokens.token(credentials, Utc::now()).await?;
            let response = self
                .http
                .get(&url)
                .bearer_auth(token.expose())
                .send()
                .await
                .map_err(|error| ZoomApiError::Unavailable(error.without_url().to_string()))?;
            let status = response.status();
            let retry_after = rate_limit::wait_from(response.headers(), Utc::now());
            let body = response
                .bytes()
                .await
                .map_err(|error| ZoomApiError::Unavailable(error.without_url().to_string()))?;
            let code = serde_json::from_slice::<types::ErrorBody>(&body)
                .ok()
                .and_then(|e| e.code);
            // An expired or revoked token: one fresh token and one more try (zoom.md §3.6).
            if (status == StatusCode::UNAUTHORIZED || code == Some(124))
                && !retried_with_fresh_token
            {
                self.tokens.forget(&credentials.account_id);
                retried_with_fresh_token = true;
                continue;
            }
            return match status {
                status if status.is_success() => serde_json::from_slice(&body).map_err(|error| {
                    ZoomApiError::Unexpected(format!("cannot read the answer: {error}"))
                }),
                StatusCode::NOT_FOUND => Err(ZoomApiError::NotFound),
                StatusCode::TOO_MANY_REQUESTS => {
                    // The limit is the account's: every job waits, not only this one.
                    limiter.hold_for(retry_after.unwrap_or(UNSAID_RATE_LIMIT_HOLD));
                    tracing::warn!(
                        wait_ms = retry_after.map(|wait| wait.as_millis() as u64),
                        "Zoom's rate limit reached; the account's calls are held back"
                    );
                    Err(ZoomApiError::RateLimited { retry_after })
                }
                StatusCode::UNAUTHORIZED => Err(ZoomApiError::Credentials(format!(
                    "HTTP 401, code {}",
                    code.unwrap_or(0)
                ))),
                status if status.is_server_error() => Err(ZoomApiError::Unavailable(format!(
                    "HTTP {}",
                    status.as_u16()
                ))),
                status => Err(ZoomApiError::Unexpected(format!(
                    "HTTP {}, code {}",
                    status.as_u16(),
                    code.unwrap_or(0)
                ))),
            };
        }
    }

    fn limiter(&self, account_id: &str) -> Arc<AccountLimiter> {
        let mut limiters = self.limiters.lock().expect("limiter lock");
        limiters
            .entry(account_id.to_string())
            .or_insert_with(|| {
                Arc::new(AccountLimiter::new(
                    self.settings.concurrency,
                    self.settings.requests_per_second,
                ))
            })
            .clone()
    }
}

/// Zoom's SDKs treat `from` and `to` as required even for live meetings (zoom.md §3.6).
/// The range starts the day before `today` so that a call begun before midnight and still
/// running is inside it.
fn live_meetings_path(today: NaiveDate) -> String {
    let from = today.pred_opt().unwrap_or(today);
    format!(
        "/metrics/meetings?type=live&from={}&to={}&page_size=1",
        from.format("%Y-%m-%d"),
        today.format("%Y-%m-%d")
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode_path_segment(text: &str) -> String {
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

/// A meeting UUID in a path: Zoom requires one that starts with `/` or contains `//` to be
/// encoded twice (zoom.md §3.5).
pub fn encode_meeting_uuid(uuid: &str) -> String {
    let once = encode_path_segment(uuid);
    if uuid.starts_with('/') || uuid.contains("//") {
        encode_path_segment(&once)
    } else {
        once
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_meetings_request_covers_yesterday_and_today_as_zoom_dates() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            live_meetings_path(today),
            "/metrics/meetings?type=live&from=2026-02-28&to=2026-03-01&page_size=1"
        );
    }

    #[test]
    fn uuids_starting_with_a_slash_or_containing_two_are_encoded_twice() {
        assert_eq!(
            encode_meeting_uuid("c2Vzc2lvbk9uZUFCQ0RFRg=="),
            "c2Vzc2lvbk9uZUFCQ0RFRg%3D%3D"
        );
        assert_eq!(
            encode_meeting_uuid("/ajXp112QmuoKj4854875=="),
            "%252FajXp112QmuoKj4854875%253D%253D"
        );
        assert_eq!(
            encode_meeting_uuid("ab//cd+e="),
            "ab%252F%252Fcd%252Be%253D"
        );
        assert_eq!(encode_meeting_uuid("ab/cd+e="), "ab%2Fcd%2Be%3D");
    }
}
