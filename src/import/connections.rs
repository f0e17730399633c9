//! The connections of an imported school: each row made once, its secrets read from the
//! environment at import time and stored sealed.

use sqlx::{AnyConnection, Row};

use super::spec::{ConnectionSpec, GoogleConnectionSpec};
use super::store::ImportReport;
use super::ImportError;
use crate::config::Secret;
use crate::connections::google::{self, GoogleSettings, MonitoredStaff};
use crate::connections::store::{secrets_of, set_secrets};
use crate::connections::{new_endpoint_id, ConnectionError};
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
    tx: &mut AnyConnection,
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
    let google = match (platform, &spec.google) {
        (Platform::GoogleMeet, Some(google)) => Some(google_settings(google).map_err(&rejected)?),
        (Platform::GoogleMeet, None) => {
            return Err(rejected(
                "a google_meet connection needs its [google] settings".into(),
            ))
        }
        (_, Some(_)) => {
            return Err(rejected(format!(
                "[google] settings are for google_meet connections, not {}",
                platform.as_str()
            )))
        }
        (_, None) => None,
    };
    let service_account_key = match &spec.google {
        Some(google) => {
            let variable = &google.service_account_key_env;
            let key = from_environment(variable).ok_or_else(|| {
                rejected(format!("the environment variable {variable} is not set"))
            })?;
            check_service_account_key(&key)
                .map_err(|problem| rejected(format!("the key in {variable} {problem}")))?;
            Some(key)
        }
        None => None,
    };
    let client_secret =
        match (&spec.client_id, &spec.client_secret_env) {
            (Some(_), Some(variable)) => Some(from_environment(variable).ok_or_else(|| {
                rejected(format!("the environment variable {variable} is not set"))
            })?),
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
    let webhook_secret = named(&spec.webhook_secret_env)?;
    let previous_webhook_secret = named(&spec.previous_webhook_secret_env)?;

    let existing = sqlx::query(
        "SELECT id, school_id FROM platform_accounts WHERE platform = $1 AND account_id = $2",
    )
    .bind(platform.as_str())
    .bind(account_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (connection_id, is_new) = match existing {
        Some(row) if row.try_get::<i64, _>("school_id")? == school_id => {
            (row.try_get::<i64, _>("id")?, false)
        }
        Some(_) => {
            return Err(ImportError::Rejected(format!(
                "school {slug}: {} account {account_id} is already monitored by another school",
                platform.display_name()
            )))
        }
        None => {
            let row = sqlx::query(
                "INSERT INTO platform_accounts (school_id, platform, account_id, label, endpoint_id) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(school_id)
            .bind(platform.as_str())
            .bind(account_id)
            .bind(spec.label.as_deref())
            .bind(new_endpoint_id())
            .fetch_one(&mut *tx)
            .await?;
            report.accounts_added += 1;
            (row.try_get::<i64, _>("id")?, true)
        }
    };

    let mut wanted = secrets_of(tx, keys, connection_id).await?;
    if says_webhook_secrets {
        wanted.webhook.current = webhook_secret;
        wanted.webhook.previous = previous_webhook_secret;
    }
    if let Some(client_secret) = client_secret {
        wanted.client_id = spec.client_id.clone();
        wanted.client_secret = client_secret;
    }
    if let Some(key) = service_account_key {
        wanted.service_account_key = key;
    }
    let mut changed = set_secrets(tx, keys, connection_id, &wanted).await?;
    if let Some(google) = &google {
        changed |= google::set_settings(tx, connection_id, google).await?;
    }
    if changed && !is_new {
        report.settings_updated += 1;
    }
    Ok(())
}

fn google_settings(spec: &GoogleConnectionSpec) -> Result<GoogleSettings, String> {
    if spec.domains.is_empty() {
        return Err("a google_meet connection needs at least one domain".into());
    }
    if spec.monitored.is_empty() {
        return Err("say who is monitored: [google.monitored] org_units, groups or users".into());
    }
    let lower = |values: &[String]| -> Vec<String> {
        values
            .iter()
            .map(|value| value.trim().to_lowercase())
            .collect()
    };
    Ok(GoogleSettings {
        domains: lower(&spec.domains),
        admin_user: spec.admin_user.trim().to_lowercase(),
        pubsub_topic: spec.pubsub_topic.trim().to_string(),
        push_audience: spec.push_audience.trim().to_string(),
        push_service_account: spec.push_service_account.trim().to_lowercase(),
        monitored: MonitoredStaff {
            org_units: spec.monitored.org_units.clone(),
            groups: lower(&spec.monitored.groups),
            users: lower(&spec.monitored.users),
        },
    })
}

/// A service account's JSON key has what chaperone signs with; the key itself is never said.
fn check_service_account_key(key: &Secret) -> Result<(), &'static str> {
    let json: serde_json::Value =
        serde_json::from_str(key.expose()).map_err(|_| "is not a JSON key file")?;
    let has = |field: &str| json.get(field).and_then(|value| value.as_str()).is_some();
    if json.get("type").and_then(|value| value.as_str()) != Some("service_account") {
        return Err("is not a service account key (its type is not service_account)");
    }
    if !(has("client_email") && has("private_key")) {
        return Err("lacks client_email or private_key");
    }
    Ok(())
}

fn from_environment(variable: &str) -> Option<Secret> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.is_empty())
        .map(Secret::new)
}
