//! Reading findings for the API: lists by school, status, severity and time, and one
//! finding with its whole history.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::time::{from_millis, to_millis};
use crate::db::Db;

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub school_id: Option<i64>,
    pub status: Option<String>,
    pub severities: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingRecord {
    pub id: i64,
    pub school_id: i64,
    pub rule: String,
    pub scope: String,
    /// The platform of the call, schedule or account (`zoom`, `google_meet`).
    pub platform: Option<String>,
    pub scheduled_meeting_id: Option<i64>,
    /// The register record of the call (`/api/v1/meetings/{id}`).
    pub meeting_record_id: Option<i64>,
    pub subject: String,
    pub severity: String,
    pub status: String,
    pub title: String,
    pub summary: String,
    pub clause: String,
    pub people: serde_json::Value,
    /// The finding names a member of staff: an allegation in the making, kept from them, and
    /// every view of it recorded.
    pub restricted: bool,
    pub occurred_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub version: i64,
    pub alert_level: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub version: i64,
    pub at: DateTime<Utc>,
    pub change: String,
    pub actor: String,
    pub note: Option<String>,
    pub snapshot: serde_json::Value,
}

const COLUMNS: &str = "id, school_id, rule, scope, scheduled_meeting_id, meeting_instance_id, subject, severity, \
    status, title, summary, clause, people, occurred_at, opened_at, updated_at, acknowledged_at, acknowledged_by, \
    resolved_at, resolved_by, resolution_note, version, alert_level, \
    COALESCE((SELECT platform FROM meeting_instances WHERE id = findings.meeting_instance_id), \
      (SELECT platform FROM scheduled_meetings WHERE id = findings.scheduled_meeting_id), \
      (SELECT platform FROM platform_accounts WHERE id = findings.platform_account_id)) AS platform";

pub async fn list(db: &Db, filter: &FindingFilter) -> Result<Vec<FindingRecord>, sqlx::Error> {
    // Severities come from a fixed vocabulary (checked by the caller), so they can be inlined.
    let severity_clause = if filter.severities.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = filter.severities.iter().map(|s| format!("'{s}'")).collect();
        format!(" AND severity IN ({})", list.join(", "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM findings WHERE ($1 IS NULL OR school_id = $1) AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR occurred_at >= $3) AND ($4 IS NULL OR occurred_at < $4){severity_clause} \
         ORDER BY occurred_at DESC, id DESC LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(filter.school_id)
        .bind(filter.status.as_deref())
        .bind(filter.from.map(to_millis))
        .bind(filter.to.map(to_millis))
        .bind(filter.limit)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(record).collect()
}

pub async fn find(db: &Db, id: i64) -> Result<Option<FindingRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM findings WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(record).transpose()
}

pub async fn history(db: &Db, id: i64) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT version, at, change, actor, note, snapshot FROM finding_history WHERE finding_id = $1 ORDER BY version",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(HistoryEntry {
                version: row.try_get("version")?,
                at: from_millis(row.try_get("at")?),
                change: row.try_get("change")?,
                actor: row.try_get("actor")?,
                note: row.try_get("note")?,
                snapshot: serde_json::from_str(&row.try_get::<String, _>("snapshot")?)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The roles findings name members of staff by (`PersonView::role_label`).
const STAFF_ROLES: [&str; 4] = ["staff", "DSL", "deputy DSL", "senior leader"];

fn names_staff(people: &serde_json::Value) -> bool {
    people.as_array().is_some_and(|people| {
        people.iter().any(|person| {
            person["role"]
                .as_str()
                .is_some_and(|role| STAFF_ROLES.contains(&role))
        })
    })
}

fn record(row: &AnyRow) -> Result<FindingRecord, sqlx::Error> {
    let people: serde_json::Value =
        serde_json::from_str(&row.try_get::<String, _>("people")?).unwrap_or_default();
    let optional_time = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
    };
    Ok(FindingRecord {
        id: row.try_get("id")?,
        school_id: row.try_get("school_id")?,
        rule: row.try_get("rule")?,
        scope: row.try_get("scope")?,
        platform: row.try_get("platform")?,
        scheduled_meeting_id: row.try_get("scheduled_meeting_id")?,
        meeting_record_id: row.try_get("meeting_instance_id")?,
        subject: row.try_get("subject")?,
        severity: row.try_get("severity")?,
        status: row.try_get("status")?,
        title: row.try_get("title")?,
        summary: row.try_get("summary")?,
        clause: row.try_get("clause")?,
        people: people.clone(),
        restricted: names_staff(&people),
        occurred_at: from_millis(row.try_get("occurred_at")?),
        opened_at: from_millis(row.try_get("opened_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
        acknowledged_at: optional_time("acknowledged_at")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        resolved_at: optional_time("resolved_at")?,
        resolved_by: row.try_get("resolved_by")?,
        resolution_note: row.try_get("resolution_note")?,
        version: row.try_get("version")?,
        alert_level: row.try_get("alert_level")?,
    })
}
