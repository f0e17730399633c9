//! Setting a connection's secrets from its page: the Secret Token (rotated, the one before
//! kept until the rotation is ended), the API credentials, a Google service account key.
//! Each change is audited with which secrets are set, never a secret, and this instance's
//! cached connection is dropped so the next delivery is checked against what was stored.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::add::{api_credentials, sentence};
use super::{audit, owned, render_connection, Owned};
use crate::config::Secret;
use crate::connections::setup::{self, SecretChanges, SetupError};
use crate::connections::store::secrets_of;
use crate::http::api::audited::Change;
use crate::http::ui::error::PageError;
use crate::http::ui::Console;
use crate::meeting::Platform;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SecretTokenForm {
    secret_token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApiCredentialsForm {
    api_client_id: String,
    api_client_secret: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceAccountKeyForm {
    service_account_key: String,
}

/// The connection's page again, 422, with `error`.
async fn refused(
    state: &AppState,
    console: &Console,
    id: i64,
    error: String,
) -> Result<Response, PageError> {
    render_connection(
        state,
        console,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        &[error],
    )
    .await
}

fn internal(error: SetupError) -> PageError {
    PageError::Internal(anyhow::Error::new(error))
}

pub async fn set_secret_token(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<SecretTokenForm>,
) -> Result<Response, PageError> {
    let mut tx = state.db.pool.begin().await?;
    let connection = owned(&mut tx, &console, id).await?;
    if connection.platform != Platform::Zoom {
        drop(tx);
        let error = format!(
            "A {} connection is verified without a Secret Token.",
            connection.platform.display_name()
        );
        return refused(&state, &console, id, error).await;
    }
    let token = Secret::new(form.secret_token.trim());
    let rotation =
        match setup::rotate_secret_token(&mut tx, &state.secrets, connection.id, token).await {
            Ok(rotation) => rotation,
            Err(SetupError::Invalid(problem)) => {
                drop(tx);
                return refused(&state, &console, id, sentence(&problem)).await;
            }
            Err(error) => return Err(internal(error)),
        };
    let Some((before, after)) = rotation else {
        return Ok(console.redirect_with_notice(
            &page(id),
            "That is the Secret Token already set; nothing changed.",
        ));
    };
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(connection.school_id),
            action: "connection.secret_rotated",
            subject_kind: "connection",
            subject_id: connection.id,
            before: Some(json!({
                "webhook_secret_set": before.current,
                "previous_webhook_secret_set": before.previous,
            })),
            after: Some(json!({
                "webhook_secret_set": after.current,
                "previous_webhook_secret_set": after.previous,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    changed(&state, &connection, "the Secret Token was set");
    let notice = if after.previous {
        "Secret Token saved. The one before is still accepted, for deliveries Zoom signed before \
         the change: stop accepting it once Zoom uses the new one."
    } else {
        "Secret Token saved."
    };
    Ok(console.redirect_with_notice(&page(id), notice))
}

pub async fn end_rotation(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let mut tx = state.db.pool.begin().await?;
    let connection = owned(&mut tx, &console, id).await?;
    let ended = setup::end_rotation(&mut tx, &state.secrets, connection.id)
        .await
        .map_err(internal)?;
    if !ended {
        return Ok(console.redirect_with_notice(
            &page(id),
            "No previous Secret Token was kept; nothing changed.",
        ));
    }
    let current = !secrets_of(&mut tx, &state.secrets, connection.id)
        .await
        .map_err(|error| PageError::Internal(error.into()))?
        .webhook
        .current
        .is_empty();
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(connection.school_id),
            action: "connection.rotation_ended",
            subject_kind: "connection",
            subject_id: connection.id,
            before: Some(
                json!({"webhook_secret_set": current, "previous_webhook_secret_set": true}),
            ),
            after: Some(
                json!({"webhook_secret_set": current, "previous_webhook_secret_set": false}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    changed(&state, &connection, "the previous Secret Token was removed");
    Ok(console.redirect_with_notice(
        &page(id),
        "The previous Secret Token is no longer accepted.",
    ))
}

pub async fn set_api_credentials(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<ApiCredentialsForm>,
) -> Result<Response, PageError> {
    let mut tx = state.db.pool.begin().await?;
    let connection = owned(&mut tx, &console, id).await?;
    if connection.platform != Platform::Zoom {
        drop(tx);
        let error = format!(
            "A {} connection calls Google with its service account key, not a client id and secret.",
            connection.platform.display_name()
        );
        return refused(&state, &console, id, error).await;
    }
    let api = match api_credentials(&form.api_client_id, &form.api_client_secret, true) {
        Ok(api) => api,
        Err(error) => {
            drop(tx);
            return refused(&state, &console, id, error).await;
        }
    };
    let before = secrets_of(&mut tx, &state.secrets, connection.id)
        .await
        .map_err(|error| PageError::Internal(error.into()))?;
    let had_credentials = before.client_id.is_some() && !before.client_secret.is_empty();
    let changes = SecretChanges {
        api,
        ..SecretChanges::default()
    };
    let changed_anything = match set_secrets(&state, &mut tx, id, &changes).await? {
        Ok(changed) => changed,
        Err(error) => {
            drop(tx);
            return refused(&state, &console, id, error).await;
        }
    };
    if !changed_anything {
        return Ok(console.redirect_with_notice(
            &page(id),
            "Those are the API credentials already set; nothing changed.",
        ));
    }
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(connection.school_id),
            action: "connection.credentials_set",
            subject_kind: "connection",
            subject_id: connection.id,
            before: Some(json!({ "api_credentials_set": had_credentials })),
            after: Some(json!({ "api_credentials_set": true })),
        },
    )
    .await?;
    tx.commit().await?;
    changed(&state, &connection, "the API credentials were set");
    Ok(console.redirect_with_notice(
        &page(id),
        "API credentials saved. The status shows whether Zoom accepts them once chaperone next calls its API.",
    ))
}

pub async fn set_service_account_key(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<ServiceAccountKeyForm>,
) -> Result<Response, PageError> {
    let mut tx = state.db.pool.begin().await?;
    let connection = owned(&mut tx, &console, id).await?;
    if connection.platform != Platform::GoogleMeet {
        drop(tx);
        let error = format!(
            "A {} connection has no service account key.",
            connection.platform.display_name()
        );
        return refused(&state, &console, id, error).await;
    }
    let key = form.service_account_key.trim();
    if key.is_empty() {
        drop(tx);
        let error = "Paste the service account's JSON key.".to_string();
        return refused(&state, &console, id, error).await;
    }
    let had_key = !secrets_of(&mut tx, &state.secrets, connection.id)
        .await
        .map_err(|error| PageError::Internal(error.into()))?
        .service_account_key
        .is_empty();
    let changes = SecretChanges {
        service_account_key: Some(Secret::new(key)),
        ..SecretChanges::default()
    };
    let changed_anything = match set_secrets(&state, &mut tx, id, &changes).await? {
        Ok(changed) => changed,
        Err(error) => {
            drop(tx);
            return refused(&state, &console, id, error).await;
        }
    };
    if !changed_anything {
        return Ok(console
            .redirect_with_notice(&page(id), "That is the key already set; nothing changed."));
    }
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(connection.school_id),
            action: "connection.credentials_set",
            subject_kind: "connection",
            subject_id: connection.id,
            before: Some(json!({ "service_account_key_set": had_key })),
            after: Some(json!({ "service_account_key_set": true })),
        },
    )
    .await?;
    tx.commit().await?;
    changed(&state, &connection, "the service account key was set");
    Ok(console.redirect_with_notice(&page(id), "Service account key saved."))
}

/// Sets `changes`: whether anything changed, or the reason they were refused.
async fn set_secrets(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    id: i64,
    changes: &SecretChanges,
) -> Result<Result<bool, String>, PageError> {
    match setup::set(tx, &state.secrets, id, changes).await {
        Ok(changed) => Ok(Ok(changed)),
        Err(SetupError::Invalid(problem)) => Ok(Err(sentence(&problem))),
        Err(error) => Err(internal(error)),
    }
}

/// After a change is committed: this instance's cached connection is dropped, so the next
/// delivery is checked against what is now stored.
fn changed(state: &AppState, connection: &Owned, what: &'static str) {
    state
        .connections
        .forget(connection.platform, &connection.endpoint_id);
    tracing::info!(
        connection_id = connection.id,
        school_id = connection.school_id,
        what,
        "connection changed from the console"
    );
}

fn page(id: i64) -> String {
    format!("/admin/connections/{id}")
}
