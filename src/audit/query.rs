//! Reading the audit log for the API: newest first, by school, actor, action and time.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::ActorKind;
use crate::db::decode::decode;
use crate::db::time::{from_millis, to_millis};
use crate::db::Db;

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub school_id: Option<i64>,
    pub actor_kind: Option<ActorKind>,
    /// The person's or token's id (with `actor_kind`).
    pub actor_id: Option<i64>,
    /// An action's exact name (`finding.acknowledged`).
    pub action: Option<String>,
    /// Entries written at or after `from` and before `to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Entries older than this one (its id): the next page.
    pub before: Option<i64>,
    pub limit: i64,
}

/// One entry as the API shows it, the states read back as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: RecordedActor,
    pub school_id: Option<i64>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// The entry's place in the chain.
    pub hash: String,
}

/// The actor as recorded when the entry was written.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedActor {
    pub kind: ActorKind,
    pub id: Option<i64>,
    pub label: String,
}

pub async fn list(db: &Db, filter: &AuditFilter) -> Result<Vec<AuditRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at, actor_kind, actor_id, actor_label, school_id, action, subject_kind, \
         subject_id, before_state, after_state, hash FROM audit_log \
         WHERE ($1 IS NULL OR school_id = $1) AND ($2 IS NULL OR actor_kind = $2) \
         AND ($3 IS NULL OR actor_id = $3) AND ($4 IS NULL OR action = $4) \
         AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
         AND ($8 IS NULL OR id < $8) \
         ORDER BY id DESC LIMIT $7",
    )
    .bind(filter.school_id)
    .bind(filter.actor_kind.map(ActorKind::as_str))
    .bind(filter.actor_id)
    .bind(filter.action.as_deref())
    .bind(filter.from.map(to_millis))
    .bind(filter.to.map(to_millis))
    .bind(filter.limit)
    .bind(filter.before)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(record).collect()
}

/// A stored state that is not JSON. Its text is not named: it may hold personal data.
#[derive(Debug, thiserror::Error)]
#[error("audit_log row {id}: {column} is not a JSON document")]
struct UnreadableState {
    id: i64,
    column: &'static str,
}

fn record(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let state = |column: &'static str| -> Result<Option<serde_json::Value>, sqlx::Error> {
        let Some(text) = row.try_get::<Option<String>, _>(column)? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| sqlx::Error::Decode(Box::new(UnreadableState { id, column })))
    };
    let kind: String = row.try_get("actor_kind")?;
    Ok(AuditRecord {
        id,
        at: from_millis(row.try_get("at")?),
        actor: RecordedActor {
            kind: decode(
                "audit_log",
                id,
                "actor_kind",
                "kind of actor",
                &kind,
                ActorKind::parse,
            )?,
            id: row.try_get("actor_id")?,
            label: row.try_get("actor_label")?,
        },
        school_id: row.try_get("school_id")?,
        action: row.try_get("action")?,
        subject_kind: row.try_get("subject_kind")?,
        subject_id: row.try_get("subject_id")?,
        before: state("before_state")?,
        after: state("after_state")?,
        hash: row.try_get("hash")?,
    })
}
