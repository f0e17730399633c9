//! The connections of an imported school: each row made once, its secrets read from the
//! environment at import time and stored sealed, through the same checks and storage as the
//! console's (`connections::setup`).

use super::spec::{ConnectionSpec, GoogleConnectionSpec};
use super::store::ImportReport;
use super::ImportError;
use crate::config::Secret;
use crate::connections::google::GoogleSettings;
use crate::connections::setup::{
    self, check_service_account_key, ApiCredentials, IfConnected, NewConnection, SecretChanges,
    SetupError,
};
use crate::connections::{ConnectionError, WebhookSecrets};
use crate::meeting::Platform;
use crate::secrets::SecretKeys;

impl From<ConnectionError> for ImportError {
    fn from(error: ConnectionError) -> Self {
        match error {
            ConnectionError::Database(error) => ImportError::Database(error),
            sealed @ ConnectionError::Sealed { .. } => ImportError::Rejected(sealed.to_string()),
        }
    }
}

/// Adds the connection if it is new, and sets the secrets the file names. A section in the
/// `connections` form says all of the connection's webhook secrets (one left out is
/// removed: that ends a rotation); the deprecated `zoom_accounts` form leaves them as they
/// are. API credentials are changed only when the file gives a client id.
pub async fn add_connection(
    tx: &mut sqlx::AnyConnection,
    keys: &SecretKeys,
    school_id: i64,
    slug: &str,
    spec: &ConnectionSpec,
    says_webhook_secrets: bool,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let account_id = spec.account_id.as_str();
    let rejected = |problem: String| {
        ImportError::Rejected(format!("school {slug}, account {account_id}: {problem}"))
    };
    let platform = Platform::parse(&spec.platform).ok_or_else(|| {
        rejected(format!(
            "unknown platform {:?} (expected \"zoom\" or \"google_meet\")",
            spec.platform
        ))
    })?;
    // Said in the file's own words before the shared checks, which speak of settings.
    match (platform, &spec.google) {
        (Platform::GoogleMeet, None) => {
            return Err(rejected(
                "a google_meet connection needs its [google] settings".into(),
            ))
        }
        (Platform::Zoom, Some(_)) => {
            return Err(rejected(format!(
                "[google] settings are for google_meet connections, not {}",
                platform.as_str()
            )))
        }
        _ => {}
    }
    let service_account_key = match &spec.google {
        Some(google) => {
            let variable = &google.service_account_key_env;
            let key = from_environment(variable).ok_or_else(|| {
                rejected(format!("the environment variable {variable} is not set"))
            })?;
            // Checked here too, to name the variable the key came from.
            check_service_account_key(&key)
                .map_err(|problem| rejected(format!("the key in {variable} {problem}")))?;
            Some(key)
        }
        None => None,
    };
    let api = match (&spec.client_id, &spec.client_secret_env) {
        (Some(client_id), Some(variable)) => Some(ApiCredentials {
            client_id: client_id.clone(),
            client_secret: from_environment(variable).ok_or_else(|| {
                rejected(format!("the environment variable {variable} is not set"))
            })?,
        }),
        (None, None) => None,
        _ => {
            return Err(rejected(
                "client_id and client_secret_env go together".into(),
            ))
        }
    };
    let named = |variable: &Option<String>| -> Result<Secret, ImportError> {
        match variable {
            None => Ok(Secret::default()),
            Some(variable) => from_environment(variable)
                .ok_or_else(|| rejected(format!("the environment variable {variable} is not set"))),
        }
    };
    let webhook = if says_webhook_secrets {
        Some(WebhookSecrets {
            current: named(&spec.webhook_secret_env)?,
            previous: named(&spec.previous_webhook_secret_env)?,
        })
    } else {
        None
    };

    let new = NewConnection {
        platform,
        account_id: account_id.to_string(),
        label: spec.label.clone(),
        google: spec.google.as_ref().map(google_settings),
    };
    let changes = SecretChanges {
        webhook,
        api,
        service_account_key,
    };
    let saved = setup::save(tx, keys, school_id, &new, &changes, IfConnected::Update)
        .await
        .map_err(|error| match error {
            SetupError::Invalid(problem) => rejected(problem),
            SetupError::ConnectedElsewhere(platform) => ImportError::Rejected(format!(
                "school {slug}: {} account {account_id} is already monitored by another school",
                platform.display_name()
            )),
            already @ SetupError::AlreadyConnected(_) => rejected(already.to_string()),
            SetupError::Connection(error) => error.into(),
        })?;
    if saved.created {
        report.accounts_added += 1;
    } else if saved.changed {
        report.settings_updated += 1;
    }
    Ok(())
}

/// The file's settings as given; `connections::setup` checks and normalises them.
fn google_settings(spec: &GoogleConnectionSpec) -> GoogleSettings {
    GoogleSettings {
        domains: spec.domains.clone(),
        admin_user: spec.admin_user.clone(),
        pubsub_topic: spec.pubsub_topic.clone(),
        push_audience: spec.push_audience.clone(),
        push_service_account: spec.push_service_account.clone(),
        monitored: spec.monitored.clone(),
    }
}

fn from_environment(variable: &str) -> Option<Secret> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.is_empty())
        .map(Secret::new)
}
