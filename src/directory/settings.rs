//! A school's configuration beyond its directory: the policy it chose, its calendar, how
//! alerts escalate, and how long each class of record is kept. Stored as JSON per school; a school without a row gets the defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::db::time::to_millis;
use crate::policy::calendar::CalendarSpec;
use crate::policy::settings::PolicyChoice;
use crate::retention::RetentionSettings;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Minutes an alert may go unacknowledged before the next contact is told.
    #[serde(default = "default_escalate_after_mins")]
    pub escalate_after_mins: i64,
    /// The local hour at which the daily digest is emailed (none: no digest).
    #[serde(default = "default_digest_hour")]
    pub digest_hour: Option<u32>,
}

fn default_escalate_after_mins() -> i64 {
    10
}

fn default_digest_hour() -> Option<u32> {
    Some(17)
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            escalate_after_mins: default_escalate_after_mins(),
            digest_hour: default_digest_hour(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchoolSettings {
    pub policy: PolicyChoice,
    pub calendar: CalendarSpec,
    pub alerts: AlertSettings,
    /// Days kept per class of record; what the school left out keeps its default.
    #[serde(default)]
    pub retention: RetentionSettings,
}

pub async fn load(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<SchoolSettings, sqlx::Error> {
    let row = sqlx::query(
        "SELECT policy, calendar, alerts, retention FROM school_settings WHERE school_id = $1",
    )
    .bind(school_id)
    .fetch_optional(connection)
    .await?;
    let Some(row) = row else {
        return Ok(SchoolSettings::default());
    };
    let decode = |column: &str| -> Result<String, sqlx::Error> { row.try_get(column) };
    let parse_error = |error: serde_json::Error| sqlx::Error::Decode(Box::new(error));
    Ok(SchoolSettings {
        policy: serde_json::from_str(&decode("policy")?).map_err(parse_error)?,
        calendar: serde_json::from_str(&decode("calendar")?).map_err(parse_error)?,
        alerts: serde_json::from_str(&decode("alerts")?).map_err(parse_error)?,
        retention: serde_json::from_str(&decode("retention")?).map_err(parse_error)?,
    })
}

/// Stores the settings; returns whether they changed.
pub async fn save(
    connection: &mut AnyConnection,
    school_id: i64,
    settings: &SchoolSettings,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let policy = serde_json::to_string(&settings.policy).expect("settings serialise");
    let calendar = serde_json::to_string(&settings.calendar).expect("settings serialise");
    let alerts = serde_json::to_string(&settings.alerts).expect("settings serialise");
    let retention = serde_json::to_string(&settings.retention).expect("settings serialise");
    let existing = sqlx::query(
        "SELECT policy, calendar, alerts, retention FROM school_settings WHERE school_id = $1",
    )
    .bind(school_id)
    .fetch_optional(&mut *connection)
    .await?;
    if let Some(row) = &existing {
        let same = row.try_get::<String, _>("policy")? == policy
            && row.try_get::<String, _>("calendar")? == calendar
            && row.try_get::<String, _>("alerts")? == alerts
            && row.try_get::<String, _>("retention")? == retention;
        if same {
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO school_settings (school_id, policy, calendar, alerts, retention, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (school_id) DO UPDATE SET policy = excluded.policy, calendar = excluded.calendar, \
           alerts = excluded.alerts, retention = excluded.retention, updated_at = excluded.updated_at",
    )
    .bind(school_id)
    .bind(policy)
    .bind(calendar)
    .bind(alerts)
    .bind(retention)
    .bind(to_millis(now))
    .execute(connection)
    .await?;
    Ok(true)
}
