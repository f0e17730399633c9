//! The SQL of connections (`platform_accounts`): every secret column is written sealed and
//! read opened here, and nowhere else.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::google::{self, GoogleSettings};
use super::{new_endpoint_id, Connection, ConnectionError, WebhookSecrets};
use crate::config::Secret;
use crate::db::Db;
use crate::meeting::Platform;
use crate::secrets::{key_id_of, SecretKeys};

/// The columns that hold sealed secrets.
const SEALED_COLUMNS: [&str; 4] = [
    "webhook_secret_sealed",
    "previous_webhook_secret_sealed",
    "client_secret_sealed",
    "service_account_key_sealed",
];

/// The place a sealed value belongs to: it opens only there.
fn context(connection_id: i64, column: &str) -> String {
    format!("platform_accounts/{connection_id}/{column}")
}

fn open(
    keys: &SecretKeys,
    row: &AnyRow,
    connection_id: i64,
    column: &str,
) -> Result<Secret, ConnectionError> {
    let sealed: Option<String> = row.try_get(column)?;
    match sealed {
        None => Ok(Secret::default()),
        Some(sealed) => keys
            .open(&sealed, &context(connection_id, column))
            .map_err(|source| ConnectionError::Sealed {
                connection_id,
                source,
            }),
    }
}

fn seal(keys: &SecretKeys, secret: &Secret, connection_id: i64, column: &str) -> Option<String> {
    (!secret.is_empty()).then(|| keys.seal(secret, &context(connection_id, column)))
}

fn platform_of(row: &AnyRow, connection_id: i64) -> Result<Platform, sqlx::Error> {
    let name: String = row.try_get("platform")?;
    Platform::parse(&name).ok_or_else(|| {
        sqlx::Error::Decode(
            format!("platform_accounts row {connection_id}: unknown platform {name:?}").into(),
        )
    })
}

pub async fn by_endpoint(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    platform: Platform,
    endpoint_id: &str,
) -> Result<Option<Connection>, ConnectionError> {
    let row = sqlx::query(
        "SELECT id, platform, school_id, account_id, webhook_secret_sealed, previous_webhook_secret_sealed, \
           google_settings FROM platform_accounts WHERE platform = $1 AND endpoint_id = $2",
    )
    .bind(platform.as_str())
    .bind(endpoint_id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: i64 = row.try_get("id")?;
    let platform = platform_of(&row, id)?;
    let feeds = match platform {
        Platform::GoogleMeet => Some(subscription_names(connection, id).await?),
        Platform::Zoom => None,
    };
    Ok(Some(Connection {
        id,
        platform,
        feeds,
        school_id: row.try_get("school_id")?,
        account_id: row.try_get("account_id")?,
        webhook_secrets: WebhookSecrets {
            current: open(keys, &row, id, "webhook_secret_sealed")?,
            previous: open(keys, &row, id, "previous_webhook_secret_sealed")?,
        },
        google: google::decode(id, row.try_get("google_settings")?)?,
    }))
}

/// The names of a Google connection's subscriptions that may still deliver (every one but
/// those deleted because their member of staff is no longer monitored).
async fn subscription_names(
    connection: &mut AnyConnection,
    connection_id: i64,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name FROM google_subscriptions WHERE connection_id = $1 AND name IS NOT NULL AND state <> 'deleted'",
    )
    .bind(connection_id)
    .fetch_all(connection)
    .await?;
    rows.iter().map(|row| row.try_get("name")).collect()
}

/// The Server-to-Server OAuth credentials of an account, if it has them.
pub async fn client_credentials(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    platform: Platform,
    account_id: &str,
) -> Result<Option<(String, Secret)>, ConnectionError> {
    let row = sqlx::query(
        "SELECT id, client_id, client_secret_sealed FROM platform_accounts \
         WHERE platform = $1 AND account_id = $2",
    )
    .bind(platform.as_str())
    .bind(account_id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: i64 = row.try_get("id")?;
    let client_id: Option<String> = row.try_get("client_id")?;
    let secret = open(keys, &row, id, "client_secret_sealed")?;
    Ok(client_id
        .filter(|_| !secret.is_empty())
        .map(|client_id| (client_id, secret)))
}

/// A connection's secrets, opened: what an import or the console reads and sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionSecrets {
    pub webhook: WebhookSecrets,
    pub client_id: Option<String>,
    pub client_secret: Secret,
    /// A Google service account's JSON key, for the Workspace APIs.
    pub service_account_key: Secret,
}

pub async fn secrets_of(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    connection_id: i64,
) -> Result<ConnectionSecrets, ConnectionError> {
    let row = sqlx::query(
        "SELECT client_id, webhook_secret_sealed, previous_webhook_secret_sealed, client_secret_sealed, \
           service_account_key_sealed FROM platform_accounts WHERE id = $1",
    )
    .bind(connection_id)
    .fetch_one(&mut *connection)
    .await?;
    Ok(ConnectionSecrets {
        webhook: WebhookSecrets {
            current: open(keys, &row, connection_id, "webhook_secret_sealed")?,
            previous: open(keys, &row, connection_id, "previous_webhook_secret_sealed")?,
        },
        client_id: row.try_get("client_id")?,
        client_secret: open(keys, &row, connection_id, "client_secret_sealed")?,
        service_account_key: open(keys, &row, connection_id, "service_account_key_sealed")?,
    })
}

/// Sets a connection's secrets; returns whether anything changed. Secrets are compared
/// opened, so an unchanged secret is not sealed again.
pub async fn set_secrets(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    connection_id: i64,
    wanted: &ConnectionSecrets,
) -> Result<bool, ConnectionError> {
    if secrets_of(connection, keys, connection_id).await? == *wanted {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE platform_accounts SET webhook_secret_sealed = $1, previous_webhook_secret_sealed = $2, \
           client_id = $3, client_secret_sealed = $4, client_secret = NULL, \
           service_account_key_sealed = $6 WHERE id = $5",
    )
    .bind(seal(keys, &wanted.webhook.current, connection_id, "webhook_secret_sealed"))
    .bind(seal(
        keys,
        &wanted.webhook.previous,
        connection_id,
        "previous_webhook_secret_sealed",
    ))
    .bind(wanted.client_id.as_deref())
    .bind(seal(keys, &wanted.client_secret, connection_id, "client_secret_sealed"))
    .bind(connection_id)
    .bind(seal(
        keys,
        &wanted.service_account_key,
        connection_id,
        "service_account_key_sealed",
    ))
    .execute(&mut *connection)
    .await?;
    Ok(true)
}

/// Gives every connection without one an endpoint id (rows made before connections had
/// endpoints). Run at start-up.
pub async fn fill_missing_endpoint_ids(db: &Db) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM platform_accounts WHERE endpoint_id IS NULL")
        .fetch_all(&db.pool)
        .await?;
    for row in &rows {
        sqlx::query(
            "UPDATE platform_accounts SET endpoint_id = $1 WHERE id = $2 AND endpoint_id IS NULL",
        )
        .bind(new_endpoint_id())
        .bind(row.try_get::<i64, _>("id")?)
        .execute(&db.pool)
        .await?;
    }
    Ok(rows.len() as u64)
}

/// Seals client secrets that earlier releases stored in plain text, and empties the plain
/// column. Run at start-up.
pub async fn seal_plaintext_secrets(db: &Db, keys: &SecretKeys) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, client_secret FROM platform_accounts WHERE client_secret IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let plain = Secret::new(row.try_get::<String, _>("client_secret")?);
        sqlx::query(
            "UPDATE platform_accounts SET client_secret_sealed = $1, client_secret = NULL WHERE id = $2",
        )
        .bind(seal(keys, &plain, id, "client_secret_sealed"))
        .bind(id)
        .execute(&db.pool)
        .await?;
    }
    Ok(rows.len() as u64)
}

/// The ids of keys that sealed stored values and that this instance cannot open with.
pub async fn unknown_key_ids(db: &Db, keys: &SecretKeys) -> Result<Vec<String>, sqlx::Error> {
    let mut unknown = Vec::new();
    for column in SEALED_COLUMNS {
        let sql =
            format!("SELECT {column} AS sealed FROM platform_accounts WHERE {column} IS NOT NULL");
        for row in sqlx::query(&sql).fetch_all(&db.pool).await? {
            let sealed: String = row.try_get("sealed")?;
            let known = keys.holds_key_of(&sealed);
            if let (false, Some(id)) = (known, key_id_of(&sealed)) {
                if !unknown.iter().any(|seen| seen == id) {
                    unknown.push(id.to_string());
                }
            }
        }
    }
    Ok(unknown)
}

/// Seals again, with the current key, every value sealed with a previous one. Returns how
/// many values were sealed again.
pub async fn reseal(db: &Db, keys: &SecretKeys) -> Result<u64, ConnectionError> {
    let mut resealed = 0;
    let mut tx = db.pool.begin().await?;
    for column in SEALED_COLUMNS {
        let sql = format!("SELECT id, {column} FROM platform_accounts WHERE {column} IS NOT NULL");
        for row in sqlx::query(&sql).fetch_all(&mut *tx).await? {
            let id: i64 = row.try_get("id")?;
            let sealed: String = row.try_get(column)?;
            if !keys.needs_resealing(&sealed) {
                continue;
            }
            let secret = open(keys, &row, id, column)?;
            let update = format!("UPDATE platform_accounts SET {column} = $1 WHERE id = $2");
            sqlx::query(&update)
                .bind(seal(keys, &secret, id, column))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            resealed += 1;
        }
    }
    tx.commit().await?;
    Ok(resealed)
}

/// A connection as the admin sees it: never a secret, only whether one is set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectionSummary {
    pub id: i64,
    pub school_id: i64,
    pub school: String,
    pub platform: String,
    pub account_id: String,
    pub label: Option<String>,
    /// The path to give the platform as the event notification endpoint.
    pub endpoint: String,
    pub webhook_secret_set: bool,
    pub previous_webhook_secret_set: bool,
    pub api_credentials_set: bool,
    /// A Google Workspace connection's settings, and whether its service account key is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google: Option<GoogleSummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GoogleSummary {
    #[serde(flatten)]
    pub settings: GoogleSettings,
    pub service_account_key_set: bool,
}

pub async fn list(db: &Db) -> Result<Vec<ConnectionSummary>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, a.school_id, s.slug, a.platform, a.account_id, a.label, a.endpoint_id, \
           a.webhook_secret_sealed, a.previous_webhook_secret_sealed, a.client_id, a.client_secret_sealed, \
           a.google_settings, a.service_account_key_sealed \
         FROM platform_accounts a JOIN schools s ON s.id = a.school_id ORDER BY s.slug, a.platform, a.account_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut summaries = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let platform = platform_of(&row, id)?;
        let endpoint_id: Option<String> = row.try_get("endpoint_id")?;
        let set = |column: &str| -> Result<bool, sqlx::Error> {
            Ok(row.try_get::<Option<String>, _>(column)?.is_some())
        };
        let service_account_key_set = set("service_account_key_sealed")?;
        summaries.push(ConnectionSummary {
            id,
            school_id: row.try_get("school_id")?,
            school: row.try_get("slug")?,
            platform: platform.as_str().to_string(),
            account_id: row.try_get("account_id")?,
            label: row.try_get("label")?,
            endpoint: endpoint_id
                .map(|endpoint_id| super::endpoint_path(platform, &endpoint_id))
                .unwrap_or_default(),
            webhook_secret_set: set("webhook_secret_sealed")?,
            previous_webhook_secret_set: set("previous_webhook_secret_sealed")?,
            api_credentials_set: set("client_secret_sealed")?
                && row.try_get::<Option<String>, _>("client_id")?.is_some(),
            google: google::decode(id, row.try_get("google_settings")?)?.map(|settings| {
                GoogleSummary {
                    settings,
                    service_account_key_set,
                }
            }),
        });
    }
    Ok(summaries)
}
