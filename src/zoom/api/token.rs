//! Server-to-Server OAuth tokens: one per account, cached, renewed a minute before expiry
//! (Zoom issues one-hour tokens and no refresh token).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{ZoomApiError, ZoomCredentials};
use crate::config::Secret;

const RENEW_BEFORE_EXPIRY_SECS: i64 = 60;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

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
        let body = response
            .bytes()
            .await
            .map_err(|error| ZoomApiError::Unavailable(error.without_url().to_string()))?;
        if status.is_server_error() {
            return Err(ZoomApiError::Unavailable(format!(
                "token endpoint HTTP {}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            let reason = serde_json::from_slice::<TokenError>(&body)
                .ok()
                .and_then(|error| error.reason.or(error.error))
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            return Err(ZoomApiError::Credentials(reason));
        }
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|error| ZoomApiError::Unexpected(format!("cannot read the token: {error}")))?;
        Ok((
            Secret::new(token.access_token),
            now + Duration::seconds(token.expires_in),
        ))
    }
}
