//! The calendar feeds: a person's upcoming planned and scheduled one-to-one calls as
//! iCalendar, at a secret address that can be revoked. Calendar apps read it without a
//! session, so it sits outside the console's sign-in; the secret in the address is the key.
//! An address unknown, replaced or revoked, or of a disabled user or one who no longer
//! records sessions anywhere, answers 404 alike: there is nothing to learn from it.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use reqwest::Url;

use crate::calendar_feed::{self, events, ical, store};
use crate::identity::Capability;
use crate::state::AppState;

/// The calendar's name in calendar apps.
const CALENDAR_NAME: &str = "1:1 calls (chaperone)";

pub fn router() -> Router<AppState> {
    Router::new().route("/feeds/{file}", get(serve_feed))
}

/// The address of the feed whose secret is `secret`, as its owner adds it to a calendar app.
pub fn feed_url(public_url: &str, secret: &str) -> String {
    format!("{}/feeds/{secret}.ics", public_url.trim_end_matches('/'))
}

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("no such feed")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for FeedError {
    fn from(error: sqlx::Error) -> Self {
        FeedError::Internal(error.into())
    }
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        match self {
            FeedError::NotFound => (StatusCode::NOT_FOUND, "Not found\n").into_response(),
            FeedError::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "a calendar feed could not be read");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

#[tracing::instrument(skip_all)]
async fn serve_feed(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, FeedError> {
    let secret = file.strip_suffix(".ics").ok_or(FeedError::NotFound)?;
    let now = Utc::now();
    let mut connection = state.db.pool.acquire().await?;
    let owner = store::owner_of(&mut connection, secret, now)
        .await
        .map_err(|error| FeedError::Internal(error.into()))?
        .ok_or(FeedError::NotFound)?;
    if owner.reach(Capability::RecordSessions).is_nowhere() {
        return Err(FeedError::NotFound);
    }
    let public_url = state.settings.server.public_url.trim_end_matches('/');
    let (from, to) = calendar_feed::window(now);
    let events = events::collect(
        &mut connection,
        &events::Reader {
            principal: &owner,
            public_url,
            from,
            to,
        },
    )
    .await?;
    drop(connection);
    let uid_domain = Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_else(|| "chaperone".to_string());
    let body = ical::render(&ical::Document {
        name: CALENDAR_NAME,
        uid_domain: &uid_domain,
        from,
        to,
        events: &events,
    });
    // Calendar apps read feeds every few minutes: not worth an info line each.
    tracing::debug!(events = events.len(), "calendar feed read");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    // The feed names people: neither a browser nor a proxy keeps a copy.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
