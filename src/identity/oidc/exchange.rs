//! The code exchanged at the provider's token endpoint for an ID token
//! ([OpenID Connect Core §3.1.3](https://openid.net/specs/openid-connect-core-1_0.html#TokenEndpoint)),
//! with the PKCE verifier and, for a confidential client, the client secret in the body
//! (`client_secret_post`).

use serde::Deserialize;

use super::{OidcError, ProviderUnavailable};
use crate::config::OidcSettings;

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
}

/// The ID token for `code`. A 4xx is the provider refusing the code (used, expired, or a
/// verifier that does not match its challenge); anything else it or the network did wrong is
/// [`OidcError::ProviderUnavailable`].
pub async fn exchange_code(
    http: &reqwest::Client,
    token_endpoint: &str,
    settings: &OidcSettings,
    code: &str,
    pkce_verifier: &str,
) -> Result<String, OidcError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", settings.redirect_url.as_str()),
        ("client_id", settings.client_id.as_str()),
        ("code_verifier", pkce_verifier),
    ];
    if !settings.client_secret.is_empty() {
        form.push(("client_secret", settings.client_secret.expose()));
    }
    let unavailable = |detail: String| OidcError::ProviderUnavailable(ProviderUnavailable(detail));
    let response = http
        .post(token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|error| unavailable(format!("token endpoint: {}", error.without_url())))?;
    let status = response.status();
    if status.is_client_error() {
        // The OAuth error code (`invalid_grant`, ...) names no one; its description may.
        let code = response
            .json::<TokenError>()
            .await
            .ok()
            .and_then(|body| body.error)
            .filter(|code| code.len() <= 64 && code.bytes().all(|byte| byte.is_ascii_graphic()))
            .unwrap_or_else(|| "none".into());
        return Err(OidcError::CodeRefused {
            status: status.as_u16(),
            oauth_error: code,
        });
    }
    if !status.is_success() {
        return Err(unavailable(format!("token endpoint: answered {status}")));
    }
    let body: TokenResponse = response
        .json()
        .await
        .map_err(|_| unavailable("token endpoint: the answer is not JSON".into()))?;
    body.id_token
        .filter(|token| !token.is_empty())
        .ok_or_else(|| unavailable("token endpoint: the answer has no id_token".into()))
}
