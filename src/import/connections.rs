//! The connections of an imported school: each row made once, its secrets read from the
//! environment at import time and stored sealed.

use sqlx::{AnyConnection, Row};

use super::spec::ConnectionSpec;
use super::store::ImportReport;
use super::ImportError;
use crate::config::Secret;
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
            "unknown platform {:?} (expected \"zoom\")",
            spec.platform
        ))
    })?;
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
    let changed = set_secrets(tx, keys, connection_id, &wanted).await?;
    if changed && !is_new {
        report.settings_updated += 1;
    }
    Ok(())
}

fn from_environment(variable: &str) -> Option<Secret> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.is_empty())
        .map(Secret::new)
}
