//! Server-to-Server OAuth tokens: one per account, cached, renewed a minute before expiry
//! (Zoom issues one-hour tokens and no refresh token).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde::Deserialize;

use super::{ZoomApiError, ZoomCredentials};
use crate::config::Secret;

const RENEW_BEFORE_EXPIRY_SECS: i64 = 60;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

/// The OAuth error codes (RFC 6749 §5.2) that mean the credentials, as configured, will not
/// get a token however often they are tried: Zoom answers `invalid_client` for a wrong or
/// disabled app (zoom.md §3.1).
const REFUSAL_ERRORS: [&str; 6] = [
    "invalid_client",
    "invalid_grant",
    "invalid_request",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

pub struct TokenCache {
    http: reqwest::Client,
    token_url: String,
    tokens: Mutex<HashMap<String, (Secret, DateTime<Utc>)>>,
}

impl TokenCache {
    pub fn new(http: reqwest::Client, token_url: String) -> Self {
        TokenCache {
            http,
            token_url,
            tokens: Mutex::default(),
        }
    }

    /// A token valid for at least another minute.
    pub async fn token(
        &self,
        credentials: &ZoomCredentials,
        now: DateTime<Utc>,
    ) -> Result<Secret, ZoomApiError> {
        if let Some((token, expires_at)) = self
            .tokens
            .lock()
            .expect("token lock")
            .get(&credentials.account_id)
        {
            if *expires_at - Duration::seconds(RENEW_BEFORE_EXPIRY_SECS) > now {
                return Ok(token.clone());
            }
        }
        let (token, expires_at) = self.fetch(credentials, now).await?;
        self.tokens
            .lock()
            .expect("token lock")
            .insert(credentials.account_id.clone(), (token.clone(), expires_at));
        Ok(token)
    }

    pub fn forget(&self, account_id: &str) {
        self.tokens.lock().expect("token lock").remove(account_id);
    }

    async fn fetch(
        &self,
        credentials: &ZoomCredentials,
        now: DateTime<Utc>,
    ) -> Result<(Secret, DateTime<Utc>), ZoomApiError> {
        let response = self
            .http
            .post(&self.token_url)
            .basic_auth(
                &credentials.client_id,
                Some(credentials.client_secret.expose()),
            )
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", credentials.account_id.as_str()),
            ])
            .send()
            .await
            .map_err(|error| ZoomApiError::Unavailable(error.without_url().to_string()))?;
        let status = response.status();
        let retry_after = super::rate_limit::wait_from(response.headers(), now);
        let body = response
            .bytes()
            .await
            .map_err(|error| ZoomApiError::Unavailable(error.without_url().to_string()))?;
        if !status.is_success() {
            return Err(refusal_or_transient(status, &body, retry_after));
        }
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|error| ZoomApiError::Unexpected(format!("cannot read the token: {error}")))?;
        Ok((
            Secret::new(token.access_token),
            now + Duration::seconds(token.expires_in),
        ))
    }
}

/// Only a 400 or 401 carrying an OAuth refusal is "credentials refused" (a coverage finding);
/// a `429` or any other failure is worth trying again later and says nothing about the
/// credentials.
fn refusal_or_transient(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
) -> ZoomApiError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ZoomApiError::RateLimited { retry_after };
    }
    let refusal = serde_json::from_slice::<TokenError>(body)
        .ok()
        .filter(|error| {
            error
                .error
                .as_deref()
                .is_some_and(|code| REFUSAL_ERRORS.contains(&code))
        });
    match refusal {
        Some(error) if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED => {
            ZoomApiError::Credentials(error.reason.or(error.error).unwrap_or_default())
        }
        _ => ZoomApiError::Unavailable(format!("token endpoint HTTP {}", status.as_u16())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVALID_CLIENT: &[u8] =
        br#"{"reason":"Invalid client_id or client_secret","error":"invalid_client"}"#;

    #[test]
    fn an_invalid_client_answer_with_400_or_401_is_a_refusal() {
        for status in [StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED] {
            assert_eq!(
                refusal_or_transient(status, INVALID_CLIENT, None),
                ZoomApiError::Credentials("Invalid client_id or client_secret".into())
            );
        }
    }

    #[test]
    fn a_429_is_a_rate_limit_with_its_wait_not_a_refusal() {
        let wait = Some(std::time::Duration::from_secs(2));
        assert_eq!(
            refusal_or_transient(StatusCode::TOO_MANY_REQUESTS, INVALID_CLIENT, wait),
            ZoomApiError::RateLimited { retry_after: wait }
        );
    }

    #[test]
    fn other_failures_are_transient_whatever_their_body() {
        for (status, body) in [
            (StatusCode::REQUEST_TIMEOUT, &b""[..]),
            (StatusCode::FORBIDDEN, INVALID_CLIENT),
            (StatusCode::BAD_REQUEST, b"<html>Bad gateway</html>"),
            (StatusCode::BAD_GATEWAY, INVALID_CLIENT),
        ] {
            assert!(
                matches!(
                    refusal_or_transient(status, body, None),
                    ZoomApiError::Unavailable(_)
                ),
                "{status}"
            );
        }
    }
}
