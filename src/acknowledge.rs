//! One-click acknowledgement from an alert. The link opens a confirmation page (mail
//! scanners follow links, so a GET never changes anything); its button POSTs back and the
//! finding is acknowledged in the name of the contact the alert went to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use sqlx::Row;

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
                &format!("Acknowledge: {}", escape(&title)),
                &format!(
                    "<p>This finding is <strong>{}</strong>.</p>\
                     <form method=\"post\"><button type=\"submit\">Acknowledge</button></form>\
                     <p>Acknowledging tells the school you have seen it and stops escalation to the next contact.</p>",
                    escape(&status)
                ),
            )
        }
        Ok(None) => page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>This finding does not exist.</p>",
        ),
        Err(error) => {
            tracing::error!(%error, "cannot load a finding for its acknowledge page");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>Please try again.</p>",
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
            "Acknowledged",
            "<p>Thank you. The finding is acknowledged and will not be escalated further.</p>",
        ),
        Err(FindingError::NotFound) => page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>This finding does not exist.</p>",
        ),
        Err(FindingError::Database(error)) => {
            tracing::error!(%error, finding_id = grant.finding_id, "acknowledgement from a link failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>Please try again.</p>",
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
    let body = match error {
        LinkError::Expired => {
            "<p>This link has expired. Open the finding in chaperone instead.</p>"
        }
        LinkError::Invalid => "<p>This link is not valid.</p>",
    };
    page(StatusCode::FORBIDDEN, "Link not accepted", body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
         <title>{title} – chaperone</title></head><body><h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
