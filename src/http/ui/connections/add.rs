//! Adding a connection from the console: a Zoom account with its Secret Token (and API
//! credentials if it has them), or a Google Workspace with its settings and service account
//! key. Checked and stored by `connections::setup`, as an import is; a refusal shows the form
//! again with the reason, the secrets left out of it.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{audit, schools_in_reach, SchoolFilter};
use crate::config::Secret;
use crate::connections::google::{GoogleSettings, MonitoredStaff};
use crate::connections::setup::{
    self, ApiCredentials, IfConnected, NewConnection, SecretChanges, SetupError,
};
use crate::connections::{endpoint_path, WebhookSecrets};
use crate::http::api::audited::Change;
use crate::http::ui::error::PageError;
use crate::http::ui::Console;
use crate::identity::Capability;
use crate::meeting::Platform;
use crate::state::AppState;

/// What the add forms send. Every field is text, so that a wrong value is a reason on the
/// form rather than a bare refusal.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewConnectionForm {
    /// `zoom` or `google_meet`.
    platform: String,
    school_id: String,
    account_id: String,
    label: String,
    /// Zoom: the app's Secret Token.
    secret_token: String,
    /// Zoom: the Server-to-Server OAuth app's client id and secret.
    api_client_id: String,
    api_client_secret: String,
    /// Google: one per line (or separated by commas).
    domains: String,
    admin_user: String,
    pubsub_topic: String,
    push_audience: String,
    push_service_account: String,
    org_units: String,
    groups: String,
    users: String,
    /// Google: the service account's JSON key file, pasted.
    service_account_key: String,
}

/// The form's values as shown again: everything but its secrets.
#[derive(Debug, Default, Serialize)]
struct ShownForm {
    school_id: Option<i64>,
    account_id: String,
    label: String,
    api_client_id: String,
    domains: String,
    admin_user: String,
    pubsub_topic: String,
    push_audience: String,
    push_service_account: String,
    org_units: String,
    groups: String,
    users: String,
}

impl From<&NewConnectionForm> for ShownForm {
    fn from(form: &NewConnectionForm) -> Self {
        ShownForm {
            school_id: form.school_id.trim().parse().ok(),
            account_id: form.account_id.clone(),
            label: form.label.clone(),
            api_client_id: form.api_client_id.clone(),
            domains: form.domains.clone(),
            admin_user: form.admin_user.clone(),
            pubsub_topic: form.pubsub_topic.clone(),
            push_audience: form.push_audience.clone(),
            push_service_account: form.push_service_account.clone(),
            org_units: form.org_units.clone(),
            groups: form.groups.clone(),
            users: form.users.clone(),
        }
    }
}

pub async fn new_zoom_connection(
    State(state): State<AppState>,
    console: Console,
    Query(filter): Query<SchoolFilter>,
) -> Result<Response, PageError> {
    let shown = ShownForm {
        school_id: filter.school.as_deref().and_then(|id| id.parse().ok()),
        ..ShownForm::default()
    };
    show_form(&state, &console, Platform::Zoom, shown, &[], StatusCode::OK).await
}

pub async fn new_google_connection(
    State(state): State<AppState>,
    console: Console,
    Query(filter): Query<SchoolFilter>,
) -> Result<Response, PageError> {
    let shown = ShownForm {
        school_id: filter.school.as_deref().and_then(|id| id.parse().ok()),
        // The audience Google's push subscription is told to use, unless the school chose one.
        push_audience: crate::connections::endpoint_url(
            &state.settings.server.public_url,
            &format!("/webhooks/{}", Platform::GoogleMeet.as_str()),
        ),
        ..ShownForm::default()
    };
    show_form(
        &state,
        &console,
        Platform::GoogleMeet,
        shown,
        &[],
        StatusCode::OK,
    )
    .await
}

async fn show_form(
    state: &AppState,
    console: &Console,
    platform: Platform,
    form: ShownForm,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let schools = schools_in_reach(state, &reach).await?;
    let template = match platform {
        Platform::Zoom => "connections_new_zoom.html",
        Platform::GoogleMeet => "connections_new_google.html",
    };
    console.page_with_status(
        status,
        template,
        context! { schools => schools, form => form, errors => errors },
    )
}

pub async fn add_connection(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<NewConnectionForm>,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let Some(platform) = Platform::parse(form.platform.trim()) else {
        // Only a hand-made request has no platform: the forms say theirs.
        return show_form(
            &state,
            &console,
            Platform::Zoom,
            ShownForm::from(&form),
            &["Choose Zoom or Google Meet.".to_string()],
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let refuse = |errors: Vec<String>| {
        let shown = ShownForm::from(&form);
        let state = state.clone();
        let console = console.clone();
        async move {
            show_form(
                &state,
                &console,
                platform,
                shown,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };

    let school_id = match form.school_id.trim().parse::<i64>() {
        Ok(id) => {
            if !reach.includes(id) {
                console.require(Capability::Configure, id)?;
            }
            id
        }
        Err(_) => return refuse(vec!["Choose the school.".into()]).await,
    };
    let school_exists: Option<i64> = sqlx::query_scalar("SELECT id FROM schools WHERE id = $1")
        .bind(school_id)
        .fetch_optional(&state.db.pool)
        .await?;
    if school_exists.is_none() {
        return refuse(vec!["There is no such school.".into()]).await;
    }

    let checked = match platform {
        Platform::Zoom => zoom_connection(&form),
        Platform::GoogleMeet => google_connection(&form),
    };
    let (new, changes) = match checked {
        Ok(checked) => checked,
        Err(errors) => return refuse(errors).await,
    };

    let mut tx = state.db.pool.begin().await?;
    let saved = match setup::save(
        &mut tx,
        &state.secrets,
        school_id,
        &new,
        &changes,
        IfConnected::Refuse,
    )
    .await
    {
        Ok(saved) => saved,
        Err(SetupError::Connection(error)) => return Err(PageError::Internal(error.into())),
        Err(refused) => {
            // Undoes the connection, should it have been made, and frees the database
            // connection for the page.
            drop(tx);
            return refuse(vec![sentence(&refused.to_string())]).await;
        }
    };
    let endpoint_id: String =
        sqlx::query_scalar("SELECT endpoint_id FROM platform_accounts WHERE id = $1")
            .bind(saved.connection_id)
            .fetch_one(&mut *tx)
            .await?;
    let after = json!({
        "platform": new.platform.as_str(),
        "account_id": new.account_id,
        "label": new.label,
        "endpoint": endpoint_path(new.platform, &endpoint_id),
        "webhook_secret_set": changes.webhook.as_ref().is_some_and(|secrets| !secrets.current.is_empty()),
        "api_credentials_set": changes.api.is_some(),
        "service_account_key_set": changes.service_account_key.is_some(),
    });
    let after = with_stored_google(&mut tx, saved.connection_id, after).await?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(school_id),
            action: "connection.created",
            subject_kind: "connection",
            subject_id: saved.connection_id,
            before: None,
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        connection_id = saved.connection_id,
        school_id,
        platform = new.platform.as_str(),
        "connection added from the console"
    );
    let next = match new.platform {
        Platform::Zoom => {
            "Zoom connection added. Paste its endpoint URL into your Zoom app's Event Subscriptions and press Validate."
        }
        Platform::GoogleMeet => {
            "Google Workspace connection added. Give its endpoint URL to the Pub/Sub push subscription."
        }
    };
    Ok(console.redirect_with_notice(&format!("/admin/connections/{}", saved.connection_id), next))
}

/// `after` with the Google settings as stored (checked and normalised), for a Google connection.
async fn with_stored_google(
    connection: &mut sqlx::AnyConnection,
    connection_id: i64,
    mut after: serde_json::Value,
) -> Result<serde_json::Value, PageError> {
    if let Some(settings) =
        crate::connections::google::settings_of(connection, connection_id).await?
    {
        after["google"] = serde_json::to_value(settings)
            .map_err(|error| PageError::Internal(anyhow::Error::new(error)))?;
    }
    Ok(after)
}

/// A Zoom connection from the form, or what is missing.
fn zoom_connection(
    form: &NewConnectionForm,
) -> Result<(NewConnection, SecretChanges), Vec<String>> {
    let mut errors = Vec::new();
    let account_id = form.account_id.trim();
    if account_id.is_empty() {
        errors.push(
            "Give the Zoom account id (on the app's page, and payload.account_id in every event)."
                .into(),
        );
    }
    let token = form.secret_token.trim();
    if token.is_empty() {
        errors.push("Paste the app's Secret Token (on its Event Subscriptions page): without it no delivery can be verified.".into());
    }
    let api = api_credentials(&form.api_client_id, &form.api_client_secret, false).unwrap_or_else(
        |error| {
            errors.push(error);
            None
        },
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((
        NewConnection {
            platform: Platform::Zoom,
            account_id: account_id.to_string(),
            label: label(&form.label),
            google: None,
        },
        SecretChanges {
            webhook: Some(WebhookSecrets {
                current: Secret::new(token),
                previous: Secret::default(),
            }),
            api,
            service_account_key: None,
        },
    ))
}

/// A Google Workspace connection from the form, or what is missing.
fn google_connection(
    form: &NewConnectionForm,
) -> Result<(NewConnection, SecretChanges), Vec<String>> {
    let mut errors = Vec::new();
    let account_id = form.account_id.trim();
    if account_id.is_empty() {
        errors.push(
            "Give the Workspace customer id (C0…, in the Admin console's Account settings).".into(),
        );
    }
    let key = form.service_account_key.trim();
    if key.is_empty() {
        errors.push("Paste the service account's JSON key.".into());
    }
    for (value, name) in [
        (&form.domains, "the domains"),
        (&form.admin_user, "the admin user"),
        (&form.pubsub_topic, "the Pub/Sub topic"),
        (&form.push_audience, "the push audience"),
        (&form.push_service_account, "the push service account"),
    ] {
        if value.trim().is_empty() {
            errors.push(format!("Give {name}."));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((
        NewConnection {
            platform: Platform::GoogleMeet,
            account_id: account_id.to_string(),
            label: label(&form.label),
            google: Some(GoogleSettings {
                domains: list(&form.domains),
                admin_user: form.admin_user.clone(),
                pubsub_topic: form.pubsub_topic.clone(),
                push_audience: form.push_audience.clone(),
                push_service_account: form.push_service_account.clone(),
                monitored: MonitoredStaff {
                    org_units: list(&form.org_units),
                    groups: list(&form.groups),
                    users: list(&form.users),
                },
            }),
        },
        SecretChanges {
            webhook: None,
            api: None,
            service_account_key: Some(Secret::new(key)),
        },
    ))
}

/// API credentials from a form's two fields: both or (unless `required`) neither.
pub(super) fn api_credentials(
    client_id: &str,
    client_secret: &str,
    required: bool,
) -> Result<Option<ApiCredentials>, String> {
    let (client_id, client_secret) = (client_id.trim(), client_secret.trim());
    match (client_id.is_empty(), client_secret.is_empty()) {
        (true, true) if !required => Ok(None),
        (false, false) => Ok(Some(ApiCredentials {
            client_id: client_id.to_string(),
            client_secret: Secret::new(client_secret),
        })),
        _ => Err(
            "Give both the client id and the client secret of the Server-to-Server OAuth app."
                .into(),
        ),
    }
}

fn label(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|label| !label.is_empty())
}

/// One value a line, or separated by commas.
fn list(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_string)
        .collect()
}

/// A reason as a sentence on the form.
pub(super) fn sentence(reason: &str) -> String {
    let mut chars = reason.chars();
    let mut text = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}
