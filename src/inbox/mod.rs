//! The durable inbox: every accepted event is committed here before the platform is
//! answered, de-duplicated by its content key, and later claimed by the processor.

pub mod writer;

use chrono::{DateTime, Utc};
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::db::claim::Queue;
use crate::db::marks::row_marks;
use crate::db::time::{from_millis, to_millis};
use crate::db::{Backend, Db};
use crate::meeting::{AcceptedEvent, Platform};

/// Whether an insert stored a new event or found its key already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Stored,
    Duplicate,
}

/// How a stored body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// The platform's event as verified (less what is never stored): translated when applied.
    Platform,
    /// A neutral `MeetingEvent`: as releases before connections stored every event, and as
    /// what a platform's API said is stored now.
    Neutral,
}

impl BodyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Platform => "platform",
            BodyFormat::Neutral => "neutral",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "platform" => Some(BodyFormat::Platform),
            "neutral" => Some(BodyFormat::Neutral),
            _ => None,
        }
    }
}

/// An event claimed for processing. Platform and format are kept as stored: a value this
/// release does not know is the processor's error about this row (retried, then set aside),
/// never a default and never a stop for the rows behind it.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: i64,
    pub platform: String,
    pub school_id: i64,
    pub account_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub attempts: i64,
    pub body_format: String,
    pub body: String,
}

/// Columns written per row.
const COLUMNS: usize = 13;
/// Rows per INSERT statement: 13 parameters a row stays well inside both backends' limits.
const ROWS_PER_STATEMENT: usize = 128;

/// Inserts the events whose keys are not there yet, in as few statements as possible, and
/// says for each whether it was stored or is a duplicate (also of an earlier one in `events`).
pub async fn insert_many(
    connection: &mut AnyConnection,
    backend: Backend,
    events: &[&AcceptedEvent],
    received_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    let mut stored_keys = std::collections::HashSet::new();
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO inbox (platform, school_id, dedup_key, event_type, occurred_at, received_at, body, account_id, meeting_ref, body_format, connection_id, \
               last_error, failed_at) \
             VALUES {} ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key",
            row_marks(backend, chunk.len(), COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for event in chunk {
            query = query
                .bind(event.platform.as_str())
                .bind(event.school_id)
                .bind(&event.dedup_key)
                .bind(&event.event_type)
                .bind(to_millis(event.occurred_at))
                .bind(to_millis(received_at))
                .bind(&event.body)
                .bind(&event.account_id)
                .bind(event.meeting_ref.as_deref())
                .bind(BodyFormat::Platform.as_str())
                .bind(event.connection_id)
                .bind(event.set_aside.as_deref())
                .bind(event.set_aside.as_ref().map(|_| to_millis(received_at)));
        }
        for row in query.fetch_all(&mut *connection).await? {
            stored_keys.insert(row.try_get::<String, _>("dedup_key")?);
        }
    }
    // A key stored by this call belongs to its first event; any later one is a duplicate.
    Ok(events
        .iter()
        .map(|event| {
            if stored_keys.remove(&event.dedup_key) {
                InsertOutcome::Stored
            } else {
                InsertOutcome::Duplicate
            }
        })
        .collect())
}

/// The platform account whose API said something.
#[derive(Debug, Clone, Copy)]
pub struct SaidBy<'a> {
    pub platform: Platform,
    pub school_id: i64,
    pub account_id: &'a str,
}

/// Stores what a platform's API said about events already received (who a participant is,
/// which meeting a call belongs to), as neutral events for the processor to apply in turn.
/// Each is keyed by its content, so the same answer read twice is stored once. Returns how
/// many were new.
pub async fn insert_said(
    connection: &mut AnyConnection,
    from: &SaidBy<'_>,
    events: &[crate::meeting::MeetingEvent],
    received_at: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    use sha2::{Digest, Sha256};
    let mut stored = 0;
    for event in events {
        let body =
            serde_json::to_string(event).map_err(|error| sqlx::Error::Encode(error.into()))?;
        let dedup_key = format!(
            "{}:api:{}",
            from.platform.as_str(),
            hex::encode(Sha256::digest(body.as_bytes()))
        );
        let result = sqlx::query(
            "INSERT INTO inbox (platform, school_id, dedup_key, event_type, occurred_at, received_at, body, account_id, \
               meeting_ref, body_format) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(from.platform.as_str())
        .bind(from.school_id)
        .bind(&dedup_key)
        .bind(event.type_name())
        .bind(to_millis(event.occurred_at()))
        .bind(to_millis(received_at))
        .bind(&body)
        .bind(from.account_id)
        .bind(event.meeting_ref())
        .bind(BodyFormat::Neutral.as_str())
        .execute(&mut *connection)
        .await?;
        stored += result.rows_affected() as usize;
    }
    Ok(stored)
}

/// Events not yet applied nor set aside, oldest first.
const PENDING: Queue = Queue {
    table: "inbox",
    key: "id",
    due: "processed_at IS NULL AND failed_at IS NULL",
    order_by: "id",
};
const PENDING_COLUMNS: &str =
    "id, platform, school_id, account_id, received_at, attempts, body, body_format";

/// Claims the oldest pending events (at most `limit`, oldest first) inside `tx`, for other
/// instances' claims to skip until the transaction ends (see [`crate::db::claim`]).
pub async fn claim(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    limit: usize,
) -> Result<Vec<PendingEvent>, sqlx::Error> {
    let sql = PENDING.claim_in_transaction(backend, limit, PENDING_COLUMNS);
    let rows = sqlx::query(&sql).fetch_all(&mut **tx).await?;
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        pending.push(PendingEvent {
            id: row.try_get("id")?,
            platform: row.try_get("platform")?,
            school_id: row.try_get("school_id")?,
            account_id: row.try_get("account_id")?,
            received_at: from_millis(row.try_get("received_at")?),
            attempts: row.try_get("attempts")?,
            body_format: row.try_get("body_format")?,
            body: row.try_get("body")?,
        });
    }
    pending.sort_by_key(|event| event.id);
    Ok(pending)
}

/// Marks the events `ids` processed at `at`, in one statement (the processor's transaction
/// holds SQLite's write lock, so each statement saved is time given back to ingestion).
pub async fn mark_processed(
    tx: &mut Transaction<'static, Any>,
    ids: &[i64],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    // Ids are integers read from the table, so writing them into the statement is safe.
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query(&format!(
        "UPDATE inbox SET processed_at = $1 WHERE id IN ({list})"
    ))
    .bind(to_millis(at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a failed attempt; after `max_attempts` the event is set aside as failed.
/// Returns whether it was set aside.
pub async fn record_failure(
    db: &Db,
    id: i64,
    error: &str,
    max_attempts: u32,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE inbox SET attempts = attempts + 1, last_error = $1, \
           failed_at = CASE WHEN attempts + 1 >= $2 THEN $3 ELSE NULL END \
         WHERE id = $4 RETURNING failed_at",
    )
    .bind(error)
    .bind(i64::from(max_attempts))
    .bind(to_millis(at))
    .bind(id)
    .fetch_one(&db.pool)
    .await?;
    Ok(row.try_get::<Option<i64>, _>("failed_at")?.is_some())
}

/// Deletes processed events (and so their de-duplication keys) older than `before`.
pub async fn purge_processed(db: &Db, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let result =
        sqlx::query("DELETE FROM inbox WHERE processed_at IS NOT NULL AND received_at < $1")
            .bind(to_millis(before))
            .execute(&db.pool)
            .await?;
    Ok(result.rows_affected())
}

/// Whether events about any of `meeting_refs` (see [`MeetingEvent::meeting_ref`]) are
/// stored and not yet applied: judging the meeting now would judge it without them. Events
/// set aside as failed do not count, so a poisoned event never holds a meeting back.
pub async fn has_unapplied(
    connection: &mut AnyConnection,
    platform: Platform,
    meeting_refs: &[String],
) -> Result<bool, sqlx::Error> {
    for meeting_ref in meeting_refs {
        let row = sqlx::query(
            "SELECT 1 AS pending FROM inbox WHERE platform = $1 AND meeting_ref = $2 \
             AND processed_at IS NULL AND failed_at IS NULL LIMIT 1",
        )
        .bind(platform.as_str())
        .bind(meeting_ref)
        .fetch_optional(&mut *connection)
        .await?;
        if row.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An event set aside: one that could not be applied after its last attempt, or an
/// authentic delivery that could not be read at all. Its body is not shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SetAside {
    pub id: i64,
    pub platform: String,
    pub school_id: i64,
    pub connection_id: Option<i64>,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub set_aside_at: DateTime<Utc>,
    pub attempts: i64,
    pub reason: Option<String>,
}

/// The events set aside, newest first (at most `limit`).
pub async fn set_aside(db: &Db, limit: i64) -> Result<Vec<SetAside>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, platform, school_id, connection_id, event_type, received_at, failed_at, attempts, last_error \
         FROM inbox WHERE failed_at IS NOT NULL ORDER BY failed_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SetAside {
                id: row.try_get("id")?,
                platform: row.try_get("platform")?,
                school_id: row.try_get("school_id")?,
                connection_id: row.try_get("connection_id")?,
                event_type: row.try_get("event_type")?,
                received_at: from_millis(row.try_get("received_at")?),
                set_aside_at: from_millis(row.try_get("failed_at")?),
                attempts: row.try_get("attempts")?,
                reason: row.try_get("last_error")?,
            })
        })
        .collect()
}

/// Counts for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboxCounts {
    pub pending: i64,
    pub failed: i64,
}

pub async fn counts(db: &Db) -> Result<InboxCounts, sqlx::Error> {
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL AND failed_at IS NULL) AS pending, \
           (SELECT COUNT(*) FROM inbox WHERE failed_at IS NOT NULL) AS failed",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(InboxCounts {
        pending: row.try_get("pending")?,
        failed: row.try_get("failed")?,
    })
}

/// What `reopen_for_translation` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reopened {
    /// Platform events made pending again, set-aside ones included.
    pub reopened: u64,
    /// Events stored already translated by an earlier release: they are applied as they are
    /// and cannot be translated again.
    pub translated_before: u64,
}

/// Makes every stored platform event received since `since` pending again, so that the
/// processor translates and applies it anew (after a corrected mapping): applying is
/// idempotent, so what was right stays right and what was missing is filled in. Events set
/// aside as failed are given their attempts back.
pub async fn reopen_for_translation(
    db: &Db,
    since: DateTime<Utc>,
) -> Result<Reopened, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let reopened = sqlx::query(
        "UPDATE inbox SET processed_at = NULL, failed_at = NULL, attempts = 0, last_error = NULL \
         WHERE body_format = $1 AND received_at >= $2",
    )
    .bind(BodyFormat::Platform.as_str())
    .bind(to_millis(since))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let translated_before: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM inbox WHERE body_format <> $1 AND received_at >= $2",
    )
    .bind(BodyFormat::Platform.as_str())
    .bind(to_millis(since))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reopened {
        reopened,
        translated_before: translated_before as u64,
    })
}
