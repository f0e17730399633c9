//! The parts of a school file beyond the directory: policy, calendar, alert and retention
//! settings, and the alert contacts and webhooks. Sections a file leaves out keep what is
//! stored. Secrets (webhook URLs with tokens, signing secrets) are named by environment
//! variable and read at import time, so the file itself can live in git.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::spec::{AlertsSpec, SchoolSpec};
use super::ImportError;
use crate::alerts::contacts::{self, ContactError, ContactInput};
use crate::directory::settings::{self, AlertSettings};
use crate::evaluation::queue;
use crate::policy::Severity;

/// Applies the school's settings and alert recipients; returns whether anything changed.
pub async fn sync(
    connection: &mut AnyConnection,
    school_id: i64,
    school: &SchoolSpec,
    now: DateTime<Utc>,
) -> Result<bool, ImportError> {
    let mut stored = settings::load(connection, school_id).await?;
    if let Some(policy) = &school.policy {
        stored.policy = policy.clone();
    }
    if let Some(calendar) = &school.calendar {
        stored.calendar = calendar.clone();
    }
    if let Some(alerts) = &school.alerts {
        stored.alerts = alert_settings(&school.slug, alerts)?;
    }
    if let Some(retention) = &school.retention {
        stored.retention = retention.clone();
    }
    let mut changed = settings::save(connection, school_id, &stored, now).await?;
    if let Some(alerts) = &school.alerts {
        changed |= sync_contacts(connection, school_id, &school.slug, alerts).await?;
        changed |= sync_webhooks(connection, school_id, &school.slug, alerts).await?;
    }
    if changed {
        queue::enqueue_school(connection, school_id, now).await?;
    }
    Ok(changed)
}

fn alert_settings(slug: &str, spec: &AlertsSpec) -> Result<AlertSettings, ImportError> {
    let defaults = AlertSettings::default();
    Ok(AlertSettings {
        escalate_after_mins: spec
            .escalate_after_mins
            .unwrap_or(defaults.escalate_after_mins),
        digest_hour: match spec.digest_hour {
            None => defaults.digest_hour,
            Some(NO_DIGEST) => None,
            Some(hour) if (0..24).contains(&hour) => Some(hour as u32),
            // A typo must not switch the digest off unnoticed.
            Some(hour) => {
                return Err(ImportError::Rejected(format!(
                    "school {slug}: digest_hour {hour} is not an hour of the day: \
                     use 0 to 23, or {NO_DIGEST} for no daily digest"
                )))
            }
        },
    })
}

/// `digest_hour = -1`: no daily digest.
const NO_DIGEST: i64 = -1;

fn from_environment(slug: &str, owner: &str, variable: &str) -> Result<String, ImportError> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| {
            ImportError::Rejected(format!(
                "school {slug}, {owner}: the environment variable {variable} is not set"
            ))
        })
}

/// The file's contacts, checked the way the console checks one, then stored in the file's
/// order.
async fn sync_contacts(
    connection: &mut AnyConnection,
    school_id: i64,
    slug: &str,
    alerts: &AlertsSpec,
) -> Result<bool, ImportError> {
    let mut desired = Vec::with_capacity(alerts.contacts.len());
    for contact in &alerts.contacts {
        let owner = format!("alert contact {}", contact.person);
        let env = |variable: &Option<String>| -> Result<Option<String>, ImportError> {
            variable
                .as_deref()
                .map(|v| from_environment(slug, &owner, v))
                .transpose()
        };
        let teams_url = env(&contact.teams_url_env)?;
        let slack_url = env(&contact.slack_url_env)?;
        let input = ContactInput {
            person: &contact.person,
            min_severity: contact.min_severity.unwrap_or(Severity::Low),
            email: contact.email.unwrap_or(true),
            teams_url: teams_url.as_deref(),
            slack_url: slack_url.as_deref(),
        };
        let checked = contacts::check_contact(connection, school_id, &input)
            .await
            .map_err(|error| match error {
                ContactError::Database(error) => ImportError::Database(error),
                other => ImportError::Rejected(format!("school {slug}, {owner}: {other}")),
            })?;
        desired.push(checked);
    }
    Ok(contacts::replace_contacts(connection, school_id, &desired).await?)
}

async fn sync_webhooks(
    connection: &mut AnyConnection,
    school_id: i64,
    slug: &str,
    alerts: &AlertsSpec,
) -> Result<bool, ImportError> {
    let mut changed = false;
    let mut urls = Vec::new();
    for webhook in &alerts.webhooks {
        if !(webhook.url.starts_with("https://") || webhook.url.starts_with("http://")) {
            return Err(ImportError::Rejected(format!(
                "school {slug}: webhook URL {} is not http(s)",
                webhook.url
            )));
        }
        let secret = from_environment(
            slug,
            &format!("webhook {}", webhook.url),
            &webhook.secret_env,
        )?;
        crate::alerts::channels::check_webhook_secret(&crate::config::Secret::new(secret.clone()))
            .map_err(|error| {
                ImportError::Rejected(format!(
                    "school {slug}, webhook {}: {error} (make one with `echo whsec_$(openssl rand -base64 32)`)",
                    webhook.url
                ))
            })?;
        let severity = webhook.min_severity.unwrap_or(Severity::Low).as_str();
        let existing = sqlx::query(
            "SELECT secret, min_severity FROM alert_webhooks WHERE school_id = $1 AND url = $2",
        )
        .bind(school_id)
        .bind(&webhook.url)
        .fetch_optional(&mut *connection)
        .await?;
        let same = match &existing {
            Some(row) => {
                row.try_get::<String, _>("secret")? == secret
                    && row.try_get::<String, _>("min_severity")? == severity
            }
            None => false,
        };
        if !same {
            sqlx::query(
                "INSERT INTO alert_webhooks (school_id, url, secret, min_severity) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (school_id, url) DO UPDATE SET secret = excluded.secret, min_severity = excluded.min_severity",
            )
            .bind(school_id)
            .bind(&webhook.url)
            .bind(&secret)
            .bind(severity)
            .execute(&mut *connection)
            .await?;
            changed = true;
        }
        urls.push(webhook.url.clone());
    }
    let stored = sqlx::query("SELECT id, url FROM alert_webhooks WHERE school_id = $1")
        .bind(school_id)
        .fetch_all(&mut *connection)
        .await?;
    for row in stored {
        let url: String = row.try_get("url")?;
        if !urls.contains(&url) {
            sqlx::query("DELETE FROM alert_webhooks WHERE id = $1")
                .bind(row.try_get::<i64, _>("id")?)
                .execute(&mut *connection)
                .await?;
            changed = true;
        }
    }
    Ok(changed)
}
