//! Access tokens for a service account impersonating one user (google-meet.md §5.3): a signed
//! assertion exchanged at the token endpoint, one cached token per connection, key, user and
//! scope set, renewed five minutes before it expires. Google gives no refresh token, so a new
//! assertion is signed each time. Callers asking for the same token at once wait for one
//! exchange rather than each making their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde::Deserialize;

use super::{retry_after_from, unavailable, GoogleApiError, GoogleCredentials};
use crate::config::Secret;

/// Google's token endpoint, when neither the settings nor the key file name another.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A token this close to its expiry is renewed rather than used: a long list of pages must
/// not run out of token half-way.
pub const RENEW_BEFORE_EXPIRY_SECS: i64 = 300;

/// The OAuth refusals (RFC 6749 §5.2, and Google's own in the service-account error table,
/// google-meet.md §5.3 and §10.4) that mean the key, the delegation or the impersonated user
/// is wrong: trying again will not help, the admin must fix the configuration.
const REFUSAL_ERRORS: [&str; 10] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "admin_policy_enforced",
    "disabled_client",
    "org_internal",
];

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    expires_in: i64,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Which token: the connection, the key (a rotated key gets new tokens), whom it
/// impersonates and what it may do.
#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    connection_id: i64,
    client_email: String,
    private_key_id: String,
    subject: String,
    scopes: String,
}

impl TokenKey {
    fn new(credentials: &GoogleCredentials, scopes: &[&str]) -> Self {
        let mut scopes: Vec<&str> = scopes.to_vec();
        scopes.sort_unstable();
        TokenKey {
            connection_id: credentials.connection_id,
            client_email: credentials.key.client_email().to_string(),
            private_key_id: credentials.key.private_key_id().to_string(),
            // Google reads addresses without regard to case: one token per user, however spelt.
            subject: credentials.subject.to_lowercase(),
            scopes: scopes.join(" "),
        }
    }
}

struct CachedToken {
    token: Secret,
    expires_at: DateTime<Utc>,
}

type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Tokens by [`TokenKey`], each behind its own lock so that one exchange serves every waiter.
pub struct TokenCache {
    http: reqwest::Client,
    configured_url: String,
    slots: Mutex<HashMap<TokenKey, Slot>>,
}

impl TokenCache {
    pub fn new(http: reqwest::Client, configured_url: String) -> Self {
        TokenCache {
            http,
            configured_url,
            slots: Mutex::default(),
        }
    }

    /// The endpoint an assertion is sent to, and so its audience: the configured one, else the
    /// key file's `token_uri`, else Google's.
    pub fn token_url(&self, credentials: &GoogleCredentials) -> String {
        if !self.configured_url.trim().is_empty() {
            return self.configured_url.clone();
        }
        credentials
            .key
            .token_uri()
            .unwrap_or(GOOGLE_TOKEN_URL)
            .to_string()
    }

    /// A token for `scopes` as the credentials' subject, valid for at least five more minutes
    /// at `now`.
    pub async fn token(
        &self,
        credentials: &GoogleCredentials,
        scopes: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Secret, GoogleApiError> {
        let slot = self.slot(TokenKey::new(credentials, scopes), now);
        let mut cached = slot.lock().await;
        if let Some(current) = cached.as_ref() {
            if current.expires_at - Duration::seconds(RENEW_BEFORE_EXPIRY_SECS) > now {
                return Ok(current.token.clone());
            }
        }
        let fresh = self.exchange(credentials, scopes, now).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops `refused` (a token an API answered 401 to), unless it was renewed meanwhile.
    pub fn forget(&self, credentials: &GoogleCredentials, scopes: &[&str], refused: &Secret) {
        let slot = self
            .slots
            .lock()
            .expect("token lock")
            .get(&TokenKey::new(credentials, scopes))
            .cloned();
        let Some(slot) = slot else { return };
        if let Ok(mut cached) = slot.try_lock() {
            if cached.as_ref().is_some_and(|c| c.token == *refused) {
                *cached = None;
            }
        };
    }

    /// The slot for `key`; slots of expired tokens nobody is using are dropped on the way, so
    /// that users who no longer teach do not keep a slot each for ever.
    fn slot(&self, key: TokenKey, now: DateTime<Utc>) -> Slot {
        let mut slots = self.slots.lock().expect("token lock");
        slots.retain(|_, slot| {
            Arc::strong_count(slot) > 1
                || slot
                    .try_lock()
                    .map(|cached| cached.as_ref().is_some_and(|c| c.expires_at > now))
                    .unwrap_or(true)
        });
        slots.entry(key).or_default().clone()
    }

    async fn exchange(
        &self,
        credentials: &GoogleCredentials,
        scopes: &[&str],
        now: DateTime<Utc>,
    ) -> Result<CachedToken, GoogleApiError> {
        let url = self.token_url(credentials);
        let assertion = credentials
            .key
            .assertion(&credentials.subject, scopes, &url, now)
            .map_err(|error| GoogleApiError::Credentials(error.to_string()))?;
        let response = self
            .http
            .post(&url)
            .form(&[
                ("grant_type", JWT_BEARER_GRANT),
                ("assertion", assertion.expose()),
            ])
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let retry_after = retry_after_from(response.headers(), now);
        let body = response.bytes().await.map_err(unavailable)?;
        if !status.is_success() {
            return Err(refusal_or_transient(status, &body, retry_after));
        }
        let answer: TokenResponse = serde_json::from_slice(&body).map_err(|error| {
            GoogleApiError::Unexpected(format!("cannot read the token answer: {error}"))
        })?;
        if answer
            .token_type
            .as_deref()
            .is_some_and(|kind| !kind.eq_ignore_ascii_case("bearer"))
        {
            return Err(GoogleApiError::Unexpected(
                "the token endpoint gave a token that is not a bearer token".into(),
            ));
        }
        Ok(CachedToken {
            token: answer.access_token,
            expires_at: now + Duration::seconds(answer.expires_in.max(0)),
        })
    }
}

/// A 400, 401 or 403 carrying an OAuth refusal is a credentials error, shown to the admin
/// with Google's code and description (which name no user); a 429, a 5xx or any other answer
/// says nothing about the credentials and is worth trying again later.
pub fn refusal_or_transient(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
) -> GoogleApiError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return GoogleApiError::RateLimited { retry_after };
    }
    let refusal = serde_json::from_slice::<TokenError>(body)
        .ok()
        .filter(|answer| {
            answer
                .error
                .as_deref()
                .is_some_and(|code| REFUSAL_ERRORS.contains(&code))
        });
    let refusing_status = matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    );
    match refusal {
        Some(answer) if refusing_status => {
            let code = answer.error.unwrap_or_default();
            GoogleApiError::Credentials(match answer.error_description {
                Some(description) if !description.is_empty() => format!("{code}: {description}"),
                _ => code,
            })
        }
        _ => GoogleApiError::Unavailable(format!("token endpoint HTTP {}", status.as_u16())),
    }
}
