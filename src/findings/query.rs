//! Reading findings for the API: lists by school, status, severity and time, and one
//! finding with its whole history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::time::{from_millis, to_millis};
use crate::db::Db;
use crate::policy::finding::Window;

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub school_id: Option<i64>,
    /// The findings about one call (its register record).
    pub meeting_instance_id: Option<i64>,
    /// Only these schools (the reader's reach); `None`: every school.
    pub within_schools: Option<Vec<i64>>,
    /// One status, or several (`open` and `acknowledged`: what still needs someone).
    pub statuses: Vec<String>,
    pub severities: Vec<String>,
    pub rule: Option<String>,
    /// `zoom`, `google_meet`.
    pub platform: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Findings listed before this one (newest first): the next page.
    pub before: Option<(DateTime<Utc>, i64)>,
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
    /// When the breach held, for a rule that knows (`until` null while it still holds).
    pub windows: Vec<Window>,
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
    resolved_at, resolved_by, resolution_note, version, alert_level, windows";

/// The platform of a finding's call, schedule or account.
const PLATFORM: &str =
    "COALESCE((SELECT platform FROM meeting_instances WHERE id = findings.meeting_instance_id), \
      (SELECT platform FROM scheduled_meetings WHERE id = findings.scheduled_meeting_id), \
      (SELECT platform FROM platform_accounts WHERE id = findings.platform_account_id))";

/// A value bound to the query being built.
enum Bound {
    Int(i64),
    Text(String),
}

/// The findings `filter` selects, newest first.
pub async fn list(db: &Db, filter: &FindingFilter) -> Result<Vec<FindingRecord>, sqlx::Error> {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Bound> = Vec::new();
    let bind = |values: &mut Vec<Bound>, value: Bound| {
        values.push(value);
        format!("${}", values.len())
    };
    if let Some(school_id) = filter.school_id {
        conditions.push(format!(
            "school_id = {}",
            bind(&mut values, Bound::Int(school_id))
        ));
    }
    if let Some(call) = filter.meeting_instance_id {
        conditions.push(format!(
            "meeting_instance_id = {}",
            bind(&mut values, Bound::Int(call))
        ));
    }
    if let Some(schools) = &filter.within_schools {
        if schools.is_empty() {
            conditions.push("1 = 0".into());
        } else {
            let placeholders: Vec<String> = schools
                .iter()
                .map(|id| bind(&mut values, Bound::Int(*id)))
                .collect();
            conditions.push(format!("school_id IN ({})", placeholders.join(", ")));
        }
    }
    let mut one_of = |column: &str, choices: &[String], values: &mut Vec<Bound>| {
        if !choices.is_empty() {
            let placeholders: Vec<String> = choices
                .iter()
                .map(|choice| bind(values, Bound::Text(choice.clone())))
                .collect();
            conditions.push(format!("{column} IN ({})", placeholders.join(", ")));
        }
    };
    one_of("status", &filter.statuses, &mut values);
    one_of("severity", &filter.severities, &mut values);
    one_of("rule", filter.rule.as_slice(), &mut values);
    one_of(PLATFORM, filter.platform.as_slice(), &mut values);
    if let Some(from) = filter.from {
        conditions.push(format!(
            "occurred_at >= {}",
            bind(&mut values, Bound::Int(to_millis(from)))
        ));
    }
    if let Some(to) = filter.to {
        conditions.push(format!(
            "occurred_at < {}",
            bind(&mut values, Bound::Int(to_millis(to)))
        ));
    }
    if let Some((at, id)) = filter.before {
        let at = bind(&mut values, Bound::Int(to_millis(at)));
        let id = bind(&mut values, Bound::Int(id));
        conditions.push(format!(
            "(occurred_at < {at} OR (occurred_at = {at} AND id < {id}))"
        ));
    }
    let limit = bind(&mut values, Bound::Int(filter.limit));
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS}, {PLATFORM} AS platform FROM findings{condition} ORDER BY occurred_at DESC, id DESC LIMIT {limit}"
    );
    let mut query = sqlx::query(&sql);
    for value in values {
        query = match value {
            Bound::Int(value) => query.bind(value),
            Bound::Text(value) => query.bind(value),
        };
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter().map(record).collect()
}

pub async fn find(db: &Db, id: i64) -> Result<Option<FindingRecord>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, {PLATFORM} AS platform FROM findings WHERE id = $1"
    ))
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

/// One alert sent (or being sent, or skipped) about a finding.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub channel: String,
    pub kind: String,
    pub escalation_level: i64,
    pub recipient: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// For a skipped delivery: why it was not sent.
    pub skipped_because: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Every alert delivery about finding `id`, in the order they were queued.
pub async fn deliveries(db: &Db, id: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT channel, kind, escalation_level, recipient, status, attempts, last_error, skipped_because, sent_at \
         FROM alert_deliveries WHERE finding_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Delivery {
                channel: row.try_get("channel")?,
                kind: row.try_get("kind")?,
                escalation_level: row.try_get("escalation_level")?,
                recipient: row.try_get("recipient")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                skipped_because: row.try_get("skipped_because")?,
                sent_at: row.try_get::<Option<i64>, _>("sent_at")?.map(from_millis),
            })
        })
        .collect()
}

/// How a finding's call is reached: through its scheduled meeting, or through the call it is
/// about and the schedule of that call (aliases `direct`, `i`, `account`, `via_call`).
pub const CALL_JOINS: &str =
    "LEFT JOIN scheduled_meetings direct ON direct.id = f.scheduled_meeting_id \
     LEFT JOIN meeting_instances i ON i.id = f.meeting_instance_id \
     LEFT JOIN platform_accounts account ON account.id = f.platform_account_id \
     LEFT JOIN scheduled_meetings via_call ON via_call.platform = i.platform \
       AND via_call.platform_meeting_id = i.platform_meeting_id";

/// The link to join finding `id`'s call, while it can still be joined (before it, or while
/// it runs) and the finding is not resolved.
pub async fn join_url(db: &Db, id: i64) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT COALESCE(direct.join_url, via_call.join_url) AS join_url, i.ended_at, f.status \
         FROM findings f {CALL_JOINS} WHERE f.id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let ended = row.try_get::<Option<i64>, _>("ended_at")?.is_some();
    let resolved = row.try_get::<String, _>("status")? == "resolved";
    if ended || resolved {
        return Ok(None);
    }
    row.try_get("join_url")
}

/// How many open findings there are in `schools` (`None`: every school), and the newest
/// finding's id (0: none), leaving out the findings that name `leaving_out` (a person).
pub async fn attention(
    db: &Db,
    schools: Option<&[i64]>,
    leaving_out: Option<i64>,
) -> Result<(i64, i64), sqlx::Error> {
    let mut conditions = Vec::new();
    match schools {
        None => {}
        Some([]) => conditions.push("1 = 0".to_string()),
        Some(ids) => {
            // Ids are integers read from the database, never text from a request.
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            conditions.push(format!("school_id IN ({})", list.join(", ")));
        }
    }
    if let Some(person_id) = leaving_out {
        // `people` is the compact JSON of `Involved`, whose first field is the person's
        // id: a name holding these characters would have its quotes escaped.
        conditions.push(format!("people NOT LIKE '%\"person_id\":{person_id},%'"));
    }
    let within = conditions
        .iter()
        .map(|condition| format!(" AND {condition}"))
        .collect::<String>();
    let row = sqlx::query(&format!(
        "SELECT (SELECT COUNT(*) FROM findings WHERE status = 'open'{within}) AS open, \
           (SELECT COALESCE(MAX(id), 0) FROM findings WHERE 1 = 1{within}) AS newest"
    ))
    .fetch_one(&db.pool)
    .await?;
    Ok((row.try_get("open")?, row.try_get("newest")?))
}

/// How many findings each call of `school_id` has, for the calls that began in
/// [`from`, `to`).
pub async fn counts_by_call(
    db: &Db,
    school_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT f.meeting_instance_id AS call, COUNT(*) AS n FROM findings f \
         JOIN meeting_instances i ON i.id = f.meeting_instance_id \
         WHERE f.school_id = $1 AND COALESCE(i.started_at, i.start_hint, i.first_seen_at) >= $2 \
           AND COALESCE(i.started_at, i.start_hint, i.first_seen_at) < $3 \
         GROUP BY f.meeting_instance_id",
    )
    .bind(school_id)
    .bind(to_millis(from))
    .bind(to_millis(to))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("call")?, row.try_get("n")?)))
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
        windows: serde_json::from_str(&row.try_get::<String, _>("windows")?).unwrap_or_default(),
    })
}
