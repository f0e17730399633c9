//! Sign-in with the school's identity provider, for browsers: `GET /sign-in/oidc?return_to=/a/page`
//! sends the browser to the provider (303), and `GET /sign-in/oidc/callback` brings it back
//! signed in: a new session in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when the
//! callback address is `https://`) and a 303 to the page it started from. Refusals are a plain
//! sentence, 401 (400 for a request missing its parameters, 429 when throttled) and no
//! session. The flow itself is `identity::oidc`.

use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Extension;
use chrono::Utc;
use serde::Deserialize;

use crate::config::OidcSettings;
use crate::identity::oidc::id_token::IdTokenError;
use crate::identity::oidc::{
    Callback, OidcClient, OidcError, ATTEMPT_LIFETIME, BROWSER_STATE_COOKIE, SESSION_COOKIE,
};
use crate::identity::sessions::ABSOLUTE_TIMEOUT;
use crate::state::AppState;

/// Where the two routes live; the browser's binding cookie is sent to this path only.
const SIGN_IN_PATH: &str = "/sign-in/oidc";

/// `GET /sign-in/oidc`, with its own cache of the provider's discovery document.
pub fn start_route() -> MethodRouter<AppState> {
    get(start_sign_in).layer(Extension(client()))
}

/// `GET /sign-in/oidc/callback`, with its own caches and its throttle of failed callbacks.
pub fn callback_route() -> MethodRouter<AppState> {
    get(finish_sign_in).layer(Extension(client()))
}

fn client() -> OidcClient {
    OidcClient::new().expect("an HTTP client builds, as it did at start-up")
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// Sends the browser to the provider, bound to this sign-in by a cookie holding its state.
pub async fn start_sign_in(
    State(AppState { db, settings, .. }): State<AppState>,
    Extension(oidc): Extension<OidcClient>,
    Query(query): Query<StartQuery>,
) -> Response {
    let settings = &settings.oidc;
    match oidc
        .start(&db.pool, settings, query.return_to.as_deref(), Utc::now())
        .await
    {
        Ok(started) => {
            let binding = cookie(
                settings,
                BROWSER_STATE_COOKIE,
                &started.state,
                SIGN_IN_PATH,
                ATTEMPT_LIFETIME.num_seconds(),
            );
            redirect(&started.authorization_url, &[binding])
        }
        Err(error) => refusal(&error, &[]),
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// Signs the browser in with a new session, or says why not. Either way the binding cookie
/// is cleared: the sign-in it bound is spent.
pub async fn finish_sign_in(
    State(AppState { db, settings, .. }): State<AppState>,
    Extension(oidc): Extension<OidcClient>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let settings = &settings.oidc;
    let callback = Callback {
        code: query.code,
        state: query.state,
        error: query.error,
        iss: query.iss,
    };
    let browser_state = crate::http::cookies::read(&headers, BROWSER_STATE_COOKIE);
    let cleared = cookie(settings, BROWSER_STATE_COOKIE, "", SIGN_IN_PATH, 0);
    match oidc
        .finish(
            &db.pool,
            settings,
            &callback,
            browser_state.as_deref(),
            Utc::now(),
        )
        .await
    {
        Ok(signed_in) => {
            let session = cookie(
                settings,
                SESSION_COOKIE,
                &signed_in.session,
                "/",
                ABSOLUTE_TIMEOUT.num_seconds(),
            );
            redirect(&signed_in.return_to, &[session, cleared])
        }
        Err(error) => refusal(&error, &[cleared]),
    }
}

/// A `Set-Cookie` value: never readable by scripts, sent on top-level navigations from other
/// sites (the provider's redirect back) but not on their sub-requests, and `Secure` when
/// chaperone is reached over HTTPS.
fn cookie(
    settings: &OidcSettings,
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: i64,
) -> String {
    let secure = if settings.redirect_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={max_age_secs}{secure}")
}

fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(location) => headers.insert(LOCATION, location),
        Err(_) => headers.insert(LOCATION, HeaderValue::from_static("/")),
    };
    finish_headers(headers, cookies);
    response
}

/// The plain sentence of a refusal, with its status.
fn refusal(error: &OidcError, cookies: &[String]) -> Response {
    let status = match error {
        OidcError::NotConfigured => StatusCode::NOT_FOUND,
        OidcError::Throttled => StatusCode::TOO_MANY_REQUESTS,
        OidcError::Malformed(_) => StatusCode::BAD_REQUEST,
        OidcError::ProviderUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::IdToken(IdTokenError::KeysUnavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::Identity(_) | OidcError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNAUTHORIZED,
    };
    let sentence = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "internal error".to_string()
    } else {
        error.to_string()
    };
    let mut response = (status, format!("{sentence}\n")).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    finish_headers(headers, cookies);
    response
}

fn finish_headers(headers: &mut HeaderMap, cookies: &[String]) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(SET_COOKIE, value);
        }
    }
}
