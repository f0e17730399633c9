//! A person's own calendar feed in the console: its secret address, made and revoked. The
//! address is shown once, on the page that answers the form that made it (chaperone keeps
//! only a digest of its secret); making a new one stops the old one working. Making and
//! revoking are in the audit log, never the secret.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use chrono_tz::Tz;
use minijinja::context;
use serde::Serialize;
use serde_json::json;

use super::error::PageError;
use super::time_view::TimeView;
use super::Console;
use crate::calendar_feed::{self, store};
use crate::directory;
use crate::http::api::audited::{self, Change};
use crate::http::calendar_feed::feed_url;
use crate::identity::Capability;
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] =
    &[("calendar.html", include_str!("templates/calendar.html"))];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/calendar", get(show_calendar))
        .route("/calendar/feed", post(make_feed))
        .route("/calendar/feed/revoke", post(revoke_feed))
}

/// A school the feed covers, and how much of it.
#[derive(Serialize)]
struct ScopeView {
    school: String,
    /// Every call of the school (DSL, deputy DSL), or the person's own.
    everything: bool,
}

#[derive(Serialize)]
struct FeedView {
    created: TimeView,
    last_read: Option<TimeView>,
}

pub async fn show_calendar(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    render(&state, &console, None).await
}

/// The page, with the address of a feed just made (`new_address`), which is shown only then.
async fn render(
    state: &AppState,
    console: &Console,
    new_address: Option<String>,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::RecordSessions)?;
    let principal = console.principal();
    let schools: Vec<directory::School> = directory::list_schools(&state.db)
        .await?
        .into_iter()
        .filter(|school| reach.includes(school.id))
        .collect();
    // Times in the zone of the person's (first) school.
    let timezone: Option<Tz> = schools
        .first()
        .and_then(|school| school.timezone.parse().ok());
    let scope: Vec<ScopeView> = schools
        .iter()
        .map(|school| ScopeView {
            school: school.name.clone(),
            everything: principal.may(Capability::SeeSafeguarding, school.id),
        })
        .collect();
    let mut connection = state.db.pool.acquire().await?;
    let feed = store::summary_of(&mut connection, console.user().user_id).await?;
    drop(connection);
    let feed = feed.map(|feed| FeedView {
        created: TimeView::new(feed.created_at, timezone),
        last_read: feed.last_read_at.map(|at| TimeView::new(at, timezone)),
    });
    console.page(
        "calendar.html",
        context! {
            feed => feed,
            new_address => new_address,
            scope => scope,
            linked => principal.person_id().is_some(),
            days_behind => calendar_feed::DAYS_BEHIND,
            days_ahead => calendar_feed::DAYS_AHEAD,
        },
    )
}

/// Makes the person a feed (replacing theirs) and shows its address, this once.
pub async fn make_feed(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    console.reach(Capability::RecordSessions)?;
    let user_id = console.user().user_id;
    let now = Utc::now();
    let mut tx = state.db.pool.begin().await?;
    let before = store::summary_of(&mut tx, user_id).await?;
    let replaced = before.is_some();
    let secret = store::make(&mut tx, user_id, now).await?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: None,
            action: if replaced {
                "calendar_feed.replaced"
            } else {
                "calendar_feed.created"
            },
            subject_kind: "calendar_feed",
            subject_id: user_id,
            before: before.map(|feed| feed.audit_state()),
            after: Some(json!({ "created_at": now })),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id, replaced, "calendar feed made from the console");
    render(
        &state,
        &console,
        Some(feed_url(&state.settings.server.public_url, &secret)),
    )
    .await
}

pub async fn revoke_feed(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    console.reach(Capability::RecordSessions)?;
    let user_id = console.user().user_id;
    let mut tx = state.db.pool.begin().await?;
    let Some(before) = store::summary_of(&mut tx, user_id).await? else {
        drop(tx);
        return Ok(console.redirect_with_notice("/calendar", "You have no calendar feed."));
    };
    store::revoke(&mut tx, user_id).await?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: None,
            action: "calendar_feed.revoked",
            subject_kind: "calendar_feed",
            subject_id: user_id,
            before: Some(before.audit_state()),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id, "calendar feed revoked from the console");
    Ok(console.redirect_with_notice(
        "/calendar",
        "Calendar feed revoked: its address no longer works.",
    ))
}

async fn audit(
    connection: &mut sqlx::AnyConnection,
    state: &AppState,
    console: &Console,
    change: Change<'_>,
) -> Result<(), PageError> {
    audited::record(connection, state.db.backend, console.principal(), change)
        .await
        .map_err(|error| PageError::Internal(anyhow::anyhow!("{error}")))
}
