//! What a Google Workspace connection holds besides its secrets: the school's domains, the
//! admin user chaperone acts as for Directory reads, the Pub/Sub topic Meet events are
//! published to, what a push's OIDC token must say (its audience and the push service
//! account), and which staff are monitored. The service account's JSON key is a sealed
//! secret ([`super::store::ConnectionSecrets::service_account_key`]).

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

/// A Google Workspace connection's settings, as stored (JSON in
/// `platform_accounts.google_settings`) and shown to the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleSettings {
    /// The school's Workspace domains; a Meet participant outside them is not a school account.
    pub domains: Vec<String>,
    /// The Workspace admin the service account impersonates for Directory reads.
    pub admin_user: String,
    /// `projects/{project}/topics/{topic}`: where the Meet event subscriptions publish.
    pub pubsub_topic: String,
    /// The audience the push subscription puts in its OIDC token.
    pub push_audience: String,
    /// The service account the push subscription signs its tokens as (the school's own, not
    /// Google's topic publisher).
    pub push_service_account: String,
    pub monitored: MonitoredStaff,
}

/// Which staff have their Meet calls monitored: members of any of these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoredStaff {
    /// Organisational unit paths (`/Staff`), sub-units included.
    #[serde(default)]
    pub org_units: Vec<String>,
    /// Group addresses.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Single users' addresses.
    #[serde(default)]
    pub users: Vec<String>,
}

impl MonitoredStaff {
    pub fn is_empty(&self) -> bool {
        self.org_units.is_empty() && self.groups.is_empty() && self.users.is_empty()
    }
}

/// The settings of connection `connection_id`, if it has any; unreadable settings are an
/// error naming the row.
pub async fn settings_of(
    connection: &mut AnyConnection,
    connection_id: i64,
) -> Result<Option<GoogleSettings>, sqlx::Error> {
    let row = sqlx::query("SELECT google_settings FROM platform_accounts WHERE id = $1")
        .bind(connection_id)
        .fetch_one(connection)
        .await?;
    decode(connection_id, row.try_get("google_settings")?)
}

/// Sets connection `connection_id`'s settings; returns whether they changed.
pub async fn set_settings(
    connection: &mut AnyConnection,
    connection_id: i64,
    settings: &GoogleSettings,
) -> Result<bool, sqlx::Error> {
    if settings_of(connection, connection_id).await?.as_ref() == Some(settings) {
        return Ok(false);
    }
    let json =
        serde_json::to_string(settings).map_err(|error| sqlx::Error::Encode(error.into()))?;
    sqlx::query("UPDATE platform_accounts SET google_settings = $1 WHERE id = $2")
        .bind(json)
        .bind(connection_id)
        .execute(connection)
        .await?;
    Ok(true)
}

/// Reads stored settings; unreadable ones are an error naming the row.
pub fn decode(
    connection_id: i64,
    stored: Option<String>,
) -> Result<Option<GoogleSettings>, sqlx::Error> {
    stored
        .map(|json| {
            serde_json::from_str(&json).map_err(|error| {
                sqlx::Error::Decode(
                    format!("platform_accounts row {connection_id}: unreadable google_settings: {error}")
                        .into(),
                )
            })
        })
        .transpose()
}
