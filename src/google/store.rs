//! The SQL of Google connections' own state: the Workspace Events subscriptions held for
//! monitored staff (`google_subscriptions`), and who owns a conference, found through them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::connections::google::{self, GoogleSettings};
use crate::connections::ConnectionError;
use crate::db::time::{from_millis, to_millis};
use crate::meeting::{instance_ref, Platform};
use crate::secrets::SecretKeys;

/// A Google connection as its API calls need it.
#[derive(Debug, Clone)]
pub struct GoogleAccount {
    pub connection_id: i64,
    pub school_id: i64,
    /// The Workspace customer the connection is for, as events are filed under it.
    pub account_id: String,
    pub settings: GoogleSettings,
    /// The service account's JSON key, opened; empty when none is set.
    pub service_account_key: crate::config::Secret,
}

/// The Google connection of `account_id`, if there is one with settings.
pub async fn account(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    account_id: &str,
) -> Result<Option<GoogleAccount>, ConnectionError> {
    let row = sqlx::query(
        "SELECT id, school_id, google_settings FROM platform_accounts WHERE platform = $1 AND account_id = $2",
    )
    .bind(Platform::GoogleMeet.as_str())
    .bind(account_id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let connection_id: i64 = row.try_get("id")?;
    let school_id: i64 = row.try_get("school_id")?;
    let Some(settings) = google::decode(connection_id, row.try_get("google_settings")?)? else {
        return Ok(None);
    };
    let secrets = crate::connections::store::secrets_of(connection, keys, connection_id).await?;
    Ok(Some(GoogleAccount {
        connection_id,
        school_id,
        account_id: account_id.to_string(),
        settings,
        service_account_key: secrets.service_account_key,
    }))
}

/// The Google connections with settings, by id, with their account ids.
pub async fn connection_ids(
    connection: &mut AnyConnection,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, account_id FROM platform_accounts WHERE platform = $1 AND google_settings IS NOT NULL ORDER BY id",
    )
    .bind(Platform::GoogleMeet.as_str())
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("account_id")?)))
        .collect()
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    Active,
    Suspended,
    Expired,
    Failed,
    Deleted,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Active => "active",
            SubscriptionState::Suspended => "suspended",
            SubscriptionState::Expired => "expired",
            SubscriptionState::Failed => "failed",
            SubscriptionState::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "active" => SubscriptionState::Active,
            "suspended" => SubscriptionState::Suspended,
            "expired" => SubscriptionState::Expired,
            "failed" => SubscriptionState::Failed,
            "deleted" => SubscriptionState::Deleted,
            _ => return None,
        })
    }
}

/// A subscription as stored and shown to the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSubscription {
    pub id: i64,
    pub connection_id: i64,
    pub user_id: String,
    pub user_email: String,
    /// `subscriptions/…`, once Google made it.
    pub name: Option<String>,
    pub state: SubscriptionState,
    pub suspension_reason: Option<String>,
    pub expire_time: Option<DateTime<Utc>>,
    pub renewed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, connection_id, user_id, user_email, name, state, suspension_reason, expire_time, \
                       renewed_at, last_error, updated_at";

fn from_row(row: &AnyRow) -> Result<StoredSubscription, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    Ok(StoredSubscription {
        id,
        connection_id: row.try_get("connection_id")?,
        user_id: row.try_get("user_id")?,
        user_email: row.try_get("user_email")?,
        name: row.try_get("name")?,
        state: SubscriptionState::parse(&state).ok_or_else(|| {
            sqlx::Error::Decode(
                format!("google_subscriptions row {id}: unknown state {state:?}").into(),
            )
        })?,
        suspension_reason: row.try_get("suspension_reason")?,
        expire_time: row
            .try_get::<Option<i64>, _>("expire_time")?
            .map(from_millis),
        renewed_at: row
            .try_get::<Option<i64>, _>("renewed_at")?
            .map(from_millis),
        last_error: row.try_get("last_error")?,
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

/// Every subscription of a connection (`None`: of every connection), oldest first.
pub async fn subscriptions(
    connection: &mut AnyConnection,
    connection_id: Option<i64>,
) -> Result<Vec<StoredSubscription>, sqlx::Error> {
    let rows = match connection_id {
        Some(id) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM google_subscriptions WHERE connection_id = $1 ORDER BY id"
            ))
            .bind(id)
            .fetch_all(connection)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM google_subscriptions ORDER BY id"
            ))
            .fetch_all(connection)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// The subscription Google calls `name` (`subscriptions/…`).
pub async fn by_name(
    connection: &mut AnyConnection,
    name: &str,
) -> Result<Option<StoredSubscription>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM google_subscriptions WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// What became of a subscription, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange<'a> {
    pub name: Option<&'a str>,
    pub state: SubscriptionState,
    pub suspension_reason: Option<&'a str>,
    pub expire_time: Option<DateTime<Utc>>,
    pub renewed: bool,
    pub error: Option<&'a str>,
}

/// Records the subscription for `user_id` on connection `connection_id` as `change` says.
pub async fn save(
    connection: &mut AnyConnection,
    connection_id: i64,
    user_id: &str,
    user_email: &str,
    change: &SubscriptionChange<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO google_subscriptions (connection_id, user_id, user_email, name, state, suspension_reason, \
           expire_time, renewed_at, last_error, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (connection_id, user_id) DO UPDATE SET user_email = excluded.user_email, \
           name = COALESCE(excluded.name, google_subscriptions.name), state = excluded.state, \
           suspension_reason = excluded.suspension_reason, \
           expire_time = COALESCE(excluded.expire_time, google_subscriptions.expire_time), \
           renewed_at = COALESCE(excluded.renewed_at, google_subscriptions.renewed_at), \
           last_error = excluded.last_error, updated_at = excluded.updated_at",
    )
    .bind(connection_id)
    .bind(user_id)
    .bind(user_email)
    .bind(change.name)
    .bind(change.state.as_str())
    .bind(change.suspension_reason)
    .bind(change.expire_time.map(to_millis))
    .bind(change.renewed.then(|| to_millis(now)))
    .bind(change.error)
    .bind(to_millis(now))
    .execute(connection)
    .await?;
    Ok(())
}

/// Sets the state of the subscription Google calls `name`; returns whether it is one of ours.
pub async fn set_state(
    connection: &mut AnyConnection,
    name: &str,
    state: SubscriptionState,
    suspension_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE google_subscriptions SET state = $1, suspension_reason = $2, updated_at = $3 WHERE name = $4",
    )
    .bind(state.as_str())
    .bind(suspension_reason)
    .bind(to_millis(now))
    .bind(name)
    .execute(connection)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Makes the subscription `name` due for renewal now (Google reminded us it expires).
pub async fn renew_soon(connection: &mut AnyConnection, name: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE google_subscriptions SET expire_time = 0 WHERE name = $1 AND state = 'active'",
    )
    .bind(name)
    .execute(connection)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// The member of staff whose calls a subscription's events are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user_id: String,
    pub email: String,
}

/// The owner of conference `conference` (`conferenceRecords/…`): the user of the
/// subscription that sent its events. Found through the call's host once known, else through
/// the stored events' source.
pub async fn conference_owner(
    connection: &mut AnyConnection,
    connection_id: i64,
    conference: &str,
) -> Result<Option<Owner>, sqlx::Error> {
    let host = sqlx::query(
        "SELECT s.user_id, s.user_email FROM meeting_instances i JOIN google_subscriptions s \
           ON s.user_id = i.host_user_id AND s.connection_id = $1 \
         WHERE i.platform = $2 AND i.instance_key = $3",
    )
    .bind(connection_id)
    .bind(Platform::GoogleMeet.as_str())
    .bind(conference)
    .fetch_optional(&mut *connection)
    .await?;
    if let Some(row) = host {
        return Ok(Some(Owner {
            user_id: row.try_get("user_id")?,
            email: row.try_get("user_email")?,
        }));
    }
    let bodies = sqlx::query(
        "SELECT body FROM inbox WHERE platform = $1 AND meeting_ref = $2 AND body_format = 'platform' \
         AND failed_at IS NULL ORDER BY id LIMIT 20",
    )
    .bind(Platform::GoogleMeet.as_str())
    .bind(instance_ref(conference))
    .fetch_all(&mut *connection)
    .await?;
    for row in bodies {
        let body: String = row.try_get("body")?;
        let Ok(event) = super::source::stored(&body) else {
            continue;
        };
        let Some(name) = subscription_name(&event.source) else {
            continue;
        };
        if let Some(subscription) = by_name(connection, name).await? {
            if subscription.connection_id == connection_id {
                return Ok(Some(Owner {
                    user_id: subscription.user_id,
                    email: subscription.user_email,
                }));
            }
        }
    }
    Ok(None)
}

/// The owner of space `space` (`spaces/…`): the host of a call held or booked in it.
pub async fn space_owner(
    connection: &mut AnyConnection,
    connection_id: i64,
    space: &str,
) -> Result<Option<Owner>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT s.user_id, s.user_email FROM google_subscriptions s WHERE s.connection_id = $1 AND s.user_id IN ( \
           SELECT host_user_id FROM meeting_instances WHERE platform = $2 AND platform_meeting_id = $3 \
           UNION SELECT host_user_id FROM scheduled_meetings WHERE platform = $2 AND platform_meeting_id = $3) \
         ORDER BY s.id LIMIT 1",
    )
    .bind(connection_id)
    .bind(Platform::GoogleMeet.as_str())
    .bind(space)
    .fetch_optional(connection)
    .await?;
    row.map(|row| {
        Ok(Owner {
            user_id: row.try_get("user_id")?,
            email: row.try_get("user_email")?,
        })
    })
    .transpose()
}

/// `subscriptions/ID` of a CloudEvent source `//workspaceevents.googleapis.com/subscriptions/ID`.
pub fn subscription_name(source: &str) -> Option<&str> {
    let at = source.find("subscriptions/")?;
    let name = &source[at..];
    (name.len() > "subscriptions/".len()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_names_its_subscription() {
        assert_eq!(
            subscription_name("//workspaceevents.googleapis.com/subscriptions/meet-3f9c"),
            Some("subscriptions/meet-3f9c")
        );
        assert_eq!(
            subscription_name("//workspaceevents.googleapis.com/subscriptions/"),
            None
        );
        assert_eq!(subscription_name("//meet.googleapis.com/spaces/x"), None);
    }
}
