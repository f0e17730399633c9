//! Signing in with a local password (the identity provider's sign-in lives at
//! `/sign-in/oidc`, linked from the same page) and signing out. The sign-in form is
//! protected before any session exists by a value in a cookie and its signature in the form,
//! so that another site cannot sign a browser into an account of its choosing.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use minijinja::context;
use serde::Deserialize;

use super::console::{append_cookie, html_response, percent_encode};
use super::error::PageError;
use super::templates;
use super::Console;
use crate::config::Secret;
use crate::http::cookies;
use crate::identity::oidc::{local_path, SESSION_COOKIE};
use crate::identity::sessions::{self, SignInError, ABSOLUTE_TIMEOUT};
use crate::identity::tokens;
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[("sign_in.html", include_str!("templates/sign_in.html"))];

/// The pre-session value the sign-in form's token is bound to.
const SIGN_IN_COOKIE: &str = "chaperone_sign_in";

#[derive(Deserialize)]
pub struct SignInQuery {
    return_to: Option<String>,
}

pub async fn show_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Result<Response, PageError> {
    let return_to = local_path(query.return_to.as_deref()).to_string();
    if let Some(secret) = cookies::read(&headers, SESSION_COOKIE) {
        let mut connection = state.db.pool.acquire().await?;
        let live = secret.starts_with(sessions::PREFIX)
            && sessions::principal(&mut connection, &secret, Utc::now())
                .await
                .map_err(|error| PageError::Internal(anyhow::Error::new(error)))?
                .is_some();
        if live {
            return Ok(Redirect::to(&return_to).into_response());
        }
    }
    Ok(form(&state, StatusCode::OK, &return_to, "", None))
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    csrf: String,
    return_to: Option<String>,
}

/// Checks the password and opens a new session (an earlier one in this browser is ended: a
/// session id is never carried across a sign-in).
pub async fn sign_in_with_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(submitted): Form<SignInForm>,
) -> Result<Response, PageError> {
    let return_to = local_path(submitted.return_to.as_deref()).to_string();
    let bound = cookies::read(&headers, SIGN_IN_COOKIE)
        .is_some_and(|nonce| state.links.form_token_matches(&nonce, &submitted.csrf));
    if !bound {
        return Err(PageError::StaleForm);
    }
    let mut connection = state.db.pool.acquire().await?;
    let opened = sessions::sign_in_with_password(
        &mut connection,
        submitted.email.trim(),
        &Secret::new(submitted.password),
        Utc::now(),
    )
    .await;
    let secret = match opened {
        Ok(secret) => secret,
        Err(SignInError::Identity(error)) => return Err(PageError::Internal(error.into())),
        Err(refused @ SignInError::Refused) => {
            return Ok(form(
                &state,
                StatusCode::UNAUTHORIZED,
                &return_to,
                submitted.email.trim(),
                Some(refused.to_string()),
            ))
        }
        Err(locked @ SignInError::Locked) => {
            return Ok(form(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &return_to,
                submitted.email.trim(),
                Some(locked.to_string()),
            ))
        }
    };
    if let Some(earlier) = cookies::read(&headers, SESSION_COOKIE) {
        sessions::end(&mut connection, &earlier, Utc::now())
            .await
            .map_err(|error| PageError::Internal(error.into()))?;
    }
    let secure = secure_cookies(&state);
    let mut response = Redirect::to(&return_to).into_response();
    append_cookie(
        &mut response,
        &cookies::set(
            SESSION_COOKIE,
            &secret,
            ABSOLUTE_TIMEOUT.num_seconds(),
            secure,
        ),
    );
    append_cookie(&mut response, &cookies::clear(SIGN_IN_COOKIE, secure));
    Ok(response)
}

/// Ends the session (the guard has checked the form's CSRF token) and removes its cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    sessions::end(&mut connection, console.session_secret(), Utc::now())
        .await
        .map_err(|error| PageError::Internal(error.into()))?;
    let mut response = Redirect::to("/sign-in?signed_out=1").into_response();
    append_cookie(
        &mut response,
        &cookies::clear(SESSION_COOKIE, console.secure_cookies()),
    );
    Ok(response)
}

/// The sign-in page, with a fresh binding value in its cookie and its signature in the form.
fn form(
    state: &AppState,
    status: StatusCode,
    return_to: &str,
    email: &str,
    error: Option<String>,
) -> Response {
    let nonce = tokens::generate();
    let csrf = state.links.form_token(&nonce);
    let oidc_href = state
        .settings
        .oidc
        .enabled()
        .then(|| format!("/sign-in/oidc?return_to={}", percent_encode(return_to)));
    let rendered = templates::render(
        "sign_in.html",
        context! {
            csrf => csrf,
            return_to => return_to,
            email => email,
            error => error,
            oidc_href => oidc_href,
        },
    );
    let mut response = match rendered {
        Ok(html) => html_response(status, html),
        Err(error) => return PageError::Internal(anyhow::Error::new(error)).into_response(),
    };
    append_cookie(
        &mut response,
        &cookies::set(SIGN_IN_COOKIE, &nonce, 3600, secure_cookies(state)),
    );
    response
}

fn secure_cookies(state: &AppState) -> bool {
    state.settings.server.public_url.starts_with("https://")
}
