//! Who a request is from: the `Authorization: Bearer` token is a personal API token
//! (`chp_…`), a signed-in session (`chs_…`), or the deployment's bootstrap admin token
//! (compared in constant time). Every
//! `/api/v1` route needs one ([`authenticate`]); each handler then asks for the capability it
//! needs at the school concerned ([`require`], [`reach`]).

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::identity::{self, sessions, tokens, Capability, Principal, Reach};
use crate::state::AppState;

/// Finds the request's principal and hands it to the handler as an extension; a request
/// without a live token is refused 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let bearer = bearer_token(request.headers()).map(str::to_string);
    // A browser signed in through the identity provider carries its session in a cookie
    // (HttpOnly, SameSite=Lax; the JSON routes take only `application/json`, which a page of
    // another site cannot send without asking first).
    let presented = bearer
        .or_else(|| session_cookie(request.headers()))
        .ok_or(ApiError::Unauthorized)?;
    let presented = presented.as_str();
    let principal = if tokens_match(presented, state.settings.api.admin_token.expose()) {
        Principal::Bootstrap
    } else if presented.starts_with(tokens::PREFIX) {
        let mut connection = state.db.pool.acquire().await?;
        identity::store::principal_for_token(&mut connection, presented, Utc::now())
            .await
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?
            .ok_or(ApiError::Unauthorized)?
    } else if presented.starts_with(sessions::PREFIX) {
        let mut connection = state.db.pool.acquire().await?;
        sessions::principal(&mut connection, presented, Utc::now())
            .await
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?
            .ok_or(ApiError::Unauthorized)?
    } else {
        return Err(ApiError::Unauthorized);
    };
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The credentials of an `Authorization: Bearer …` header; the scheme's name is matched
/// without regard to case, as HTTP says.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim_start();
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
        .filter(|credentials| !credentials.is_empty())
}

/// The session secret in the `chaperone_session` cookie, if there is one.
fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    crate::http::cookies::read(headers, identity::oidc::SESSION_COOKIE)
        .filter(|secret| secret.starts_with(sessions::PREFIX))
}

/// Refuses (403) a principal without `capability` at `school_id`.
pub fn require(
    principal: &Principal,
    capability: Capability,
    school_id: i64,
) -> Result<(), ApiError> {
    if principal.may(capability, school_id) {
        Ok(())
    } else {
        Err(forbidden(capability))
    }
}

/// Where the principal may use `capability`; refused (403) where nowhere.
pub fn reach(principal: &Principal, capability: Capability) -> Result<Reach, ApiError> {
    let reach = principal.reach(capability);
    if reach.is_nowhere() {
        Err(forbidden(capability))
    } else {
        Ok(reach)
    }
}

/// The schools a list may show: the one asked for, if the principal reaches it (403 if not),
/// else every school it reaches.
pub fn schools_to_show(
    principal: &Principal,
    capability: Capability,
    asked: Option<i64>,
) -> Result<Reach, ApiError> {
    let reach = reach(principal, capability)?;
    match asked {
        Some(school_id) if !reach.includes(school_id) => Err(forbidden(capability)),
        Some(school_id) => Ok(Reach::Schools([school_id].into())),
        None => Ok(reach),
    }
}

fn forbidden(capability: Capability) -> ApiError {
    ApiError::Forbidden(format!("this needs {}", capability.held_by()))
}

/// Compares digests so that neither the length nor the content leaks through timing.
fn tokens_match(presented: &str, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for (header, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearerabc", None),
        ] {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(AUTHORIZATION, header.parse().unwrap());
            assert_eq!(bearer_token(&headers), expected, "{header:?}");
        }
    }

    #[test]
    fn only_the_exact_token_matches() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abd", "abc"));
        assert!(!tokens_match("", ""));
    }
}
