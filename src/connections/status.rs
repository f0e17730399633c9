//! What is known of a connection's health, for its admin: when its last event arrived,
//! whether the platform has validated its endpoint, whether its API answers, and the coverage
//! findings still open about it. Only what is stored is said; what was never observed is
//! said to be unknown, not assumed well.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use crate::db::time::{from_millis, to_millis};
use crate::meeting::Platform;

/// A connection's health as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// The last event delivered to the connection and kept (inbox rows are kept for the
    /// inbox's retention, so an older one is no longer known).
    pub last_event_at: Option<DateTime<Utc>>,
    /// The last time the platform validated the connection's endpoint (Zoom's
    /// `endpoint.url_validation`).
    pub url_validated_at: Option<DateTime<Utc>>,
    pub api: ApiStatus,
    /// Coverage findings not yet resolved, oldest first.
    pub coverage: Vec<CoverageGap>,
}

/// Whether the platform's API answers with the connection's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiStatus {
    /// No credentials to call it with.
    NoCredentials,
    /// The platform refuses the credentials, since then.
    Refused {
        since: DateTime<Utc>,
        reason: Option<String>,
    },
    /// The last call that was answered.
    Answered { at: DateTime<Utc> },
    /// Credentials are set and nothing has called the API with them yet.
    NotChecked,
}

/// An open coverage finding about the connection: a gap in what is monitored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageGap {
    pub finding_id: i64,
    pub title: String,
    /// `open` or `acknowledged`.
    pub status: String,
    pub since: DateTime<Utc>,
}

pub async fn status_of(
    connection: &mut AnyConnection,
    connection_id: i64,
) -> Result<ConnectionStatus, sqlx::Error> {
    let row = sqlx::query(
        "SELECT school_id, platform, account_id, client_id, client_secret_sealed, service_account_key_sealed, \
           api_failing_since, api_last_error, url_validated_at FROM platform_accounts WHERE id = $1",
    )
    .bind(connection_id)
    .fetch_one(&mut *connection)
    .await?;
    let school_id: i64 = row.try_get("school_id")?;
    let platform_name: String = row.try_get("platform")?;
    let platform = Platform::parse(&platform_name).ok_or_else(|| {
        sqlx::Error::Decode(
            format!("platform_accounts row {connection_id}: unknown platform {platform_name:?}")
                .into(),
        )
    })?;
    let account_id: String = row.try_get("account_id")?;
    let is_set = |column: &str| -> Result<bool, sqlx::Error> {
        Ok(row.try_get::<Option<String>, _>(column)?.is_some())
    };
    let has_credentials = match platform {
        Platform::Zoom => is_set("client_id")? && is_set("client_secret_sealed")?,
        Platform::GoogleMeet => is_set("service_account_key_sealed")?,
    };
    let failing_since: Option<i64> = row.try_get("api_failing_since")?;
    let last_error: Option<String> = row.try_get("api_last_error")?;
    let url_validated_at: Option<i64> = row.try_get("url_validated_at")?;

    // Events fetched from the API have no connection: only deliveries are counted.
    let last_event_at = sqlx::query(
        "SELECT received_at FROM inbox WHERE account_id = $1 AND platform = $2 AND connection_id = $3 \
         ORDER BY received_at DESC LIMIT 1",
    )
    .bind(&account_id)
    .bind(platform.as_str())
    .bind(connection_id)
    .fetch_optional(&mut *connection)
    .await?
    .map(|row| row.try_get::<i64, _>("received_at"))
    .transpose()?;

    let api = match (has_credentials, failing_since) {
        (false, _) => ApiStatus::NoCredentials,
        (true, Some(since)) => ApiStatus::Refused {
            since: from_millis(since),
            reason: last_error,
        },
        (true, None) => {
            match last_answer(connection, platform, &account_id, connection_id).await? {
                Some(at) => ApiStatus::Answered { at },
                None => ApiStatus::NotChecked,
            }
        }
    };

    let coverage = sqlx::query(
        "SELECT id, title, status, occurred_at FROM findings \
         WHERE school_id = $1 AND status IN ('open', 'acknowledged') AND platform_account_id = $2 AND rule = 'coverage' \
         ORDER BY occurred_at, id",
    )
    .bind(school_id)
    .bind(connection_id)
    .fetch_all(&mut *connection)
    .await?
    .iter()
    .map(|row| {
        Ok(CoverageGap {
            finding_id: row.try_get("id")?,
            title: row.try_get("title")?,
            status: row.try_get("status")?,
            since: from_millis(row.try_get("occurred_at")?),
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;

    Ok(ConnectionStatus {
        last_event_at: last_event_at.map(from_millis),
        url_validated_at: url_validated_at.map(from_millis),
        api,
        coverage,
    })
}

/// When the platform's API last answered for the account: an API job that completed, or for
/// Google a subscription made or renewed.
async fn last_answer(
    connection: &mut AnyConnection,
    platform: Platform,
    account_id: &str,
    connection_id: i64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let job: Option<i64> = sqlx::query(
        "SELECT MAX(updated_at) AS at FROM enrichment_jobs WHERE platform = $1 AND account_id = $2 AND status = 'done'",
    )
    .bind(platform.as_str())
    .bind(account_id)
    .fetch_one(&mut *connection)
    .await?
    .try_get("at")?;
    let subscription: Option<i64> = match platform {
        Platform::GoogleMeet => sqlx::query(
            "SELECT MAX(renewed_at) AS at FROM google_subscriptions WHERE connection_id = $1",
        )
        .bind(connection_id)
        .fetch_one(&mut *connection)
        .await?
        .try_get("at")?,
        Platform::Zoom => None,
    };
    Ok(job.max(subscription).map(from_millis))
}

/// Notes that the platform validated the connection's endpoint at `now`.
pub async fn record_url_validation(
    connection: &mut AnyConnection,
    connection_id: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE platform_accounts SET url_validated_at = $1 WHERE id = $2")
        .bind(to_millis(now))
        .bind(connection_id)
        .execute(connection)
        .await?;
    Ok(())
}
