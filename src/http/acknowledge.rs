//! One-click acknowledgement from an alert. The link opens a confirmation page (mail
//! scanners follow links, so a GET never changes anything); its button POSTs back and the
//! finding is acknowledged in the name of the contact the alert went to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use minijinja::context;
use sqlx::Row;

use super::ui::console::html_response;
use super::ui::templates;

use crate::alerts::links::{AcknowledgeGrant, LinkError};
use crate::findings::{self, FindingError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/acknowledge/{token}",
        get(show_acknowledge_page).post(acknowledge_from_link),
    )
}

async fn show_acknowledge_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    let grant = match state.links.verify(&token, Utc::now()) {
        Ok(grant) => grant,
        Err(error) => return link_refused(error),
    };
    let title = sqlx::query("SELECT title, status FROM findings WHERE id = $1")
        .bind(grant.finding_id)
        .fetch_optional(&state.db.pool)
        .await;
    match title {
        Ok(Some(row)) => {
            let title: String = row.try_get("title").unwrap_or_default();
            let status: String = row.try_get("status").unwrap_or_default();
            page(
                StatusCode::OK,
                Said {
                    title: &format!("Acknowledge: {title}"),
                    status: Some(&status),
                    message: "Acknowledging tells the school you have seen it and stops escalation to the next contact.",
                },
            )
        }
        Ok(None) => page(
            StatusCode::NOT_FOUND,
            Said {
                title: "Not found",
                message: "This finding does not exist.",
                ..Said::default()
            },
        ),
        Err(error) => {
            tracing::error!(%error, "cannot load a finding for its acknowledge page");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Said {
                    title: "Error",
                    message: "Please try again.",
                    ..Said::default()
                },
            )
        }
    }
}

async fn acknowledge_from_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    let grant = match state.links.verify(&token, Utc::now()) {
        Ok(grant) => grant,
        Err(error) => return link_refused(error),
    };
    match acknowledge(&state, grant).await {
        Ok(()) | Err(FindingError::AlreadyResolved) => page(
            StatusCode::OK,
            Said {
                title: "Acknowledged",
                message:
                    "Thank you. The finding is acknowledged and will not be escalated further.",
                ..Said::default()
            },
        ),
        Err(FindingError::NotFound) => page(
            StatusCode::NOT_FOUND,
            Said {
                title: "Not found",
                message: "This finding does not exist.",
                ..Said::default()
            },
        ),
        Err(FindingError::Database(error)) => {
            tracing::error!(%error, finding_id = grant.finding_id, "acknowledgement from a link failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Said {
                    title: "Error",
                    message: "Please try again.",
                    ..Said::default()
                },
            )
        }
    }
}

async fn acknowledge(state: &AppState, grant: AcknowledgeGrant) -> Result<(), FindingError> {
    let mut tx = state.db.pool.begin().await?;
    let actor = if grant.contact_id == 0 {
        "alert link".to_string()
    } else {
        let name = sqlx::query("SELECT name FROM alert_contacts WHERE id = $1")
            .bind(grant.contact_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<String, _>("name"))
            .transpose()?;
        format!(
            "contact:{} ({})",
            grant.contact_id,
            name.unwrap_or_default()
        )
    };
    findings::acknowledge(
        &mut tx,
        grant.finding_id,
        &actor,
        Some("acknowledged from an alert link"),
        Utc::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn link_refused(error: LinkError) -> Response {
    let message = match error {
        LinkError::Expired => "This link has expired. Open the finding in chaperone instead.",
        LinkError::Invalid => "This link is not valid.",
    };
    page(
        StatusCode::FORBIDDEN,
        Said {
            title: "Link not accepted",
            message,
            ..Said::default()
        },
    )
}

pub const TEMPLATES: &[(&str, &str)] = &[(
    "acknowledge.html",
    include_str!("ui/templates/acknowledge.html"),
)];

/// What an acknowledgement page says: a title, a sentence, and whether to offer the button.
#[derive(Default)]
struct Said<'a> {
    title: &'a str,
    status: Option<&'a str>,
    message: &'a str,
}

fn page(status: StatusCode, said: Said<'_>) -> Response {
    let rendered = templates::render(
        "acknowledge.html",
        context! { title => said.title, finding_status => said.status, message => said.message },
    );
    match rendered {
        Ok(html) => html_response(status, html),
        Err(error) => {
            tracing::error!(%error, "the acknowledge page does not render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
