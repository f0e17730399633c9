//! The queue of meetings to evaluate: written in the same transaction as the change that
//! calls for it, so no change goes unchecked, and claimed by the evaluation worker.

use chrono::{DateTime, Utc};
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::db::claim::Queue;
use crate::db::marks::{marks, row_marks};
use crate::db::time::to_millis;
use crate::db::Backend;

/// What to evaluate: a scheduled meeting or a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Scheduled(i64),
    Instance(i64),
}

impl Target {
    fn parts(self) -> (&'static str, i64) {
        match self {
            Target::Scheduled(id) => ("scheduled", id),
            Target::Instance(id) => ("instance", id),
        }
    }

    fn from_parts(scope: &str, id: i64) -> Option<Target> {
        match scope {
            "scheduled" => Some(Target::Scheduled(id)),
            "instance" => Some(Target::Instance(id)),
            _ => None,
        }
    }
}

/// Asks for `target` to be evaluated at `due_at`; an earlier request already queued wins.
pub async fn enqueue(
    connection: &mut AnyConnection,
    target: Target,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    upsert(
        connection,
        target,
        due_at,
        "CASE WHEN excluded.due_at < evaluation_queue.due_at THEN excluded.due_at ELSE evaluation_queue.due_at END",
    )
    .await
}

/// Asks for each of `targets` to be evaluated at `due_at`, in as few statements as a batch
/// allows; an earlier request already queued wins, as with [`enqueue`].
pub async fn enqueue_many(
    connection: &mut AnyConnection,
    backend: Backend,
    targets: &[Target],
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for chunk in targets.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO evaluation_queue (scope, scope_id, due_at) VALUES {} \
             ON CONFLICT (scope, scope_id) DO UPDATE SET due_at = CASE \
             WHEN excluded.due_at < evaluation_queue.due_at THEN excluded.due_at \
             ELSE evaluation_queue.due_at END",
            row_marks(backend, chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for target in chunk {
            let (scope, id) = target.parts();
            query = query.bind(scope).bind(id).bind(to_millis(due_at));
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Targets queued per statement by [`enqueue_many`] (each once: a statement may not touch
/// a row twice).
const ROWS_PER_STATEMENT: usize = 200;

/// Moves `target` to `due_at`, even later than it was due: a meeting whose evaluation failed
/// waits its turn again instead of coming first every time.
pub async fn postpone(
    connection: &mut AnyConnection,
    target: Target,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    upsert(connection, target, due_at, "excluded.due_at").await
}

/// Queues `target` at `due_at`, or sets an entry already queued to `due_when_queued`.
async fn upsert(
    connection: &mut AnyConnection,
    target: Target,
    due_at: DateTime<Utc>,
    due_when_queued: &str,
) -> Result<(), sqlx::Error> {
    let (scope, id) = target.parts();
    sqlx::query(&format!(
        "INSERT INTO evaluation_queue (scope, scope_id, due_at) VALUES ($1, $2, $3) \
         ON CONFLICT (scope, scope_id) DO UPDATE SET due_at = {due_when_queued}"
    ))
    .bind(scope)
    .bind(id)
    .bind(to_millis(due_at))
    .execute(connection)
    .await?;
    Ok(())
}

/// Meetings whose evaluation has fallen due, earliest first.
const DUE: Queue = Queue {
    table: "evaluation_queue",
    key: "rowid",
    due: "due_at <= $1",
    order_by: "due_at",
};

/// Claims and removes the earliest due targets, up to `limit`, inside `tx` (locked against
/// other instances until the transaction ends), earliest first.
pub async fn claim_due(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Target>, sqlx::Error> {
    let sql = DUE.claim_in_transaction(backend, limit, "scope, scope_id, due_at");
    let rows = sqlx::query(&sql)
        .bind(to_millis(now))
        .fetch_all(&mut **tx)
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let scope: String = row.try_get("scope")?;
        let id: i64 = row.try_get("scope_id")?;
        let due_at: i64 = row.try_get("due_at")?;
        claimed.push((due_at, scope, id));
    }
    claimed.sort();
    for scope in ["scheduled", "instance"] {
        let ids: Vec<i64> = claimed
            .iter()
            .filter(|(_, claimed_scope, _)| claimed_scope == scope)
            .map(|(_, _, id)| *id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let sql = format!(
            "DELETE FROM evaluation_queue WHERE scope = {} AND scope_id IN ({})",
            marks(backend, 1, 1),
            marks(backend, 2, ids.len())
        );
        let mut query = sqlx::query(&sql).bind(scope);
        for id in ids {
            query = query.bind(id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(claimed
        .into_iter()
        .filter_map(|(_, scope, id)| Target::from_parts(&scope, id))
        .collect())
}

/// Queues every scheduled meeting not yet held and every call not yet ended of a school,
/// after a change that can affect them all (timetable, consent, policy).
pub async fn enqueue_school(
    connection: &mut AnyConnection,
    school_id: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let upcoming = sqlx::query(
        "SELECT id FROM scheduled_meetings WHERE school_id = $1 AND deleted = $2 AND (start_time IS NULL OR start_time >= $3)",
    )
    .bind(school_id)
    .bind(false)
    .bind(to_millis(now) - 24 * 3600 * 1000)
    .fetch_all(&mut *connection)
    .await?;
    let running = sqlx::query(
        "SELECT id FROM meeting_instances WHERE school_id = $1 AND (ended_at IS NULL OR ended_at >= $2)",
    )
    .bind(school_id)
    .bind(to_millis(now) - 7 * 24 * 3600 * 1000)
    .fetch_all(&mut *connection)
    .await?;
    for row in upcoming {
        enqueue(connection, Target::Scheduled(row.try_get("id")?), now).await?;
    }
    for row in running {
        enqueue(connection, Target::Instance(row.try_get("id")?), now).await?;
    }
    Ok(())
}
