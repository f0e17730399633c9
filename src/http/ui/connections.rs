//! The console's connections pages: each school's Zoom and Google Workspace connections, the
//! endpoint URL to give the platform, which secrets are set (never a secret), and what is
//! known of each one's health; adding a connection, and setting or rotating its secrets.
//! Connections are added and their secrets set through `connections::setup`, as an import
//! does, and every change is audited in its transaction.

mod add;
mod secrets;
mod view;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use self::view::{connection_view, ConnectionView, SchoolOption};
use super::error::PageError;
use super::Console;
use crate::connections::store;
use crate::http::api::audited::{self, Change};
use crate::identity::{Capability, Reach};
use crate::meeting::Platform;
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "connections.html",
        include_str!("templates/connections.html"),
    ),
    (
        "connections_connection.html",
        include_str!("templates/connections_connection.html"),
    ),
    (
        "connections_facts.html",
        include_str!("templates/connections_facts.html"),
    ),
    (
        "connections_new_zoom.html",
        include_str!("templates/connections_new_zoom.html"),
    ),
    (
        "connections_new_google.html",
        include_str!("templates/connections_new_google.html"),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/connections",
            get(list_connections).post(add::add_connection),
        )
        .route("/admin/connections/new/zoom", get(add::new_zoom_connection))
        .route(
            "/admin/connections/new/google",
            get(add::new_google_connection),
        )
        .route("/admin/connections/{id}", get(show_connection))
        .route(
            "/admin/connections/{id}/secret-token",
            post(secrets::set_secret_token),
        )
        .route(
            "/admin/connections/{id}/end-rotation",
            post(secrets::end_rotation),
        )
        .route(
            "/admin/connections/{id}/api-credentials",
            post(secrets::set_api_credentials),
        )
        .route(
            "/admin/connections/{id}/service-account-key",
            post(secrets::set_service_account_key),
        )
}

#[derive(Debug, Deserialize)]
pub struct SchoolFilter {
    school: Option<String>,
}

/// One school's connections on the overview.
#[derive(Serialize)]
struct SchoolConnections {
    school: SchoolOption,
    connections: Vec<ConnectionView>,
}

pub async fn list_connections(
    State(state): State<AppState>,
    console: Console,
    Query(filter): Query<SchoolFilter>,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let schools = schools_in_reach(&state, &reach).await?;
    let chosen = match filter.school.as_deref().filter(|text| !text.is_empty()) {
        None => None,
        Some(text) => {
            let id = text
                .parse::<i64>()
                .ok()
                .filter(|id| schools.iter().any(|school| school.id == *id))
                .ok_or(PageError::NotFound("school"))?;
            Some(id)
        }
    };
    let summaries = store::list(&state.db).await?;
    let mut connection = state.db.pool.acquire().await?;
    let mut groups = Vec::new();
    for school in schools
        .iter()
        .filter(|school| chosen.is_none_or(|id| id == school.id))
    {
        let mut connections = Vec::new();
        for summary in summaries
            .iter()
            .filter(|summary| summary.school_id == school.id)
        {
            connections.push(
                connection_view(
                    &mut connection,
                    &state.settings.server.public_url,
                    school,
                    summary.clone(),
                    false,
                )
                .await?,
            );
        }
        groups.push(SchoolConnections {
            school: school.clone(),
            connections,
        });
    }
    console.page(
        "connections.html",
        context! {
            groups => groups,
            schools => schools,
            chosen => chosen,
        },
    )
}

pub async fn show_connection(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    render_connection(&state, &console, id, StatusCode::OK, &[]).await
}

/// The connection's page, with `errors` from a form on it shown above its forms.
pub(super) async fn render_connection(
    state: &AppState,
    console: &Console,
    id: i64,
    status: StatusCode,
    errors: &[String],
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let schools = schools_in_reach(state, &reach).await?;
    let summary = store::list(&state.db)
        .await?
        .into_iter()
        .find(|summary| summary.id == id && reach.includes(summary.school_id))
        .ok_or(PageError::NotFound("connection"))?;
    let school = schools
        .iter()
        .find(|school| school.id == summary.school_id)
        .ok_or(PageError::NotFound("connection"))?;
    let mut connection = state.db.pool.acquire().await?;
    let view = connection_view(
        &mut connection,
        &state.settings.server.public_url,
        school,
        summary,
        true,
    )
    .await?;
    console.page_with_status(
        status,
        "connections_connection.html",
        context! { connection => view, errors => errors },
    )
}

/// The schools where the person may configure connections, by name.
pub(super) async fn schools_in_reach(
    state: &AppState,
    reach: &Reach,
) -> Result<Vec<SchoolOption>, PageError> {
    let rows = sqlx::query("SELECT id, name, timezone FROM schools ORDER BY name, id")
        .fetch_all(&state.db.pool)
        .await?;
    let mut schools = Vec::new();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        if reach.includes(id) {
            schools.push(SchoolOption {
                id,
                name: row.try_get("name")?,
                timezone: row.try_get("timezone")?,
            });
        }
    }
    Ok(schools)
}

/// A connection the person may configure, as a change to it needs it.
pub(super) struct Owned {
    pub id: i64,
    pub school_id: i64,
    pub platform: Platform,
    pub endpoint_id: String,
}

/// Connection `id`, if it is at a school where the person may configure; another school's
/// is not found, as one that does not exist.
pub(super) async fn owned(
    connection: &mut AnyConnection,
    console: &Console,
    id: i64,
) -> Result<Owned, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let row =
        sqlx::query("SELECT school_id, platform, endpoint_id FROM platform_accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *connection)
            .await?
            .ok_or(PageError::NotFound("connection"))?;
    let school_id: i64 = row.try_get("school_id")?;
    if !reach.includes(school_id) {
        return Err(PageError::NotFound("connection"));
    }
    let platform: String = row.try_get("platform")?;
    Ok(Owned {
        id,
        school_id,
        platform: Platform::parse(&platform).ok_or_else(|| {
            PageError::Internal(anyhow::anyhow!(
                "platform_accounts row {id}: unknown platform {platform:?}"
            ))
        })?,
        endpoint_id: row
            .try_get::<Option<String>, _>("endpoint_id")?
            .unwrap_or_default(),
    })
}

/// Appends `change` to the audit log in the caller's transaction.
pub(super) async fn audit(
    connection: &mut AnyConnection,
    state: &AppState,
    console: &Console,
    change: Change<'_>,
) -> Result<(), PageError> {
    audited::record(connection, state.db.backend, console.principal(), change)
        .await
        .map_err(|error| PageError::Internal(anyhow::anyhow!("{error}")))
}
