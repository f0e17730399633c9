//! The audit log: who changed what, when, from what to what, and who viewed a restricted
//! record. An entry is written with the caller's connection, in the caller's transaction, so
//! it commits or rolls back with the change it records. The log is append-only (the database
//! refuses UPDATE and DELETE) and hash-chained: each entry's hash covers the entry before, and
//! `verify` walks the chain to name the first entry that was altered, removed or slipped in.

pub mod chain;
mod query;
mod verify;

pub use query::{list, AuditFilter, AuditRecord, RecordedActor};
pub use verify::{verify, BrokenEntry, Problem, Verification};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use self::chain::ChainedFields;
use crate::db::time::to_millis;
use crate::db::Backend;

/// Who made a change or viewed a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in person.
    Person { id: i64, name: String },
    /// An API token, by its id and the name it was given.
    Token { id: i64, name: String },
    /// The bootstrap admin token from the settings, before any person or token exists.
    Bootstrap,
    /// chaperone itself (a worker, an import).
    System,
}

impl Actor {
    pub fn kind(&self) -> ActorKind {
        match self {
            Actor::Person { .. } => ActorKind::Person,
            Actor::Token { .. } => ActorKind::Token,
            Actor::Bootstrap => ActorKind::Bootstrap,
            Actor::System => ActorKind::System,
        }
    }

    /// The person's or token's id.
    pub fn id(&self) -> Option<i64> {
        match self {
            Actor::Person { id, .. } | Actor::Token { id, .. } => Some(*id),
            Actor::Bootstrap | Actor::System => None,
        }
    }

    /// How the actor is shown in the log: the name as it was when the entry was written.
    pub fn label(&self) -> &str {
        match self {
            Actor::Person { name, .. } | Actor::Token { name, .. } => name,
            Actor::Bootstrap => "bootstrap admin token",
            Actor::System => "chaperone",
        }
    }
}

/// The `actor_kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Person,
    Token,
    Bootstrap,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Person => "person",
            ActorKind::Token => "token",
            ActorKind::Bootstrap => "bootstrap",
            ActorKind::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<ActorKind> {
        match text {
            "person" => Some(ActorKind::Person),
            "token" => Some(ActorKind::Token),
            "bootstrap" => Some(ActorKind::Bootstrap),
            "system" => Some(ActorKind::System),
            _ => None,
        }
    }
}

/// One thing to record.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub actor: &'a Actor,
    /// The school the subject belongs to, where it belongs to one.
    pub school_id: Option<i64>,
    /// A stable dotted name: `finding.acknowledged`, `finding.viewed`, `person.created`.
    pub action: &'a str,
    /// What was changed or viewed (`finding`, `person`) and its id.
    pub subject_kind: &'a str,
    pub subject_id: &'a str,
    /// The subject before the change: none for a creation or a view.
    pub before: Option<&'a serde_json::Value>,
    /// The subject after the change: none for a deletion or a view.
    pub after: Option<&'a serde_json::Value>,
}

/// Takes the chain's head for this transaction. On PostgreSQL the row stays locked until the
/// caller commits or rolls back, so appends from every instance queue here one by one; on
/// SQLite (one writer) the statement is a write, so the transaction holds the write lock from
/// here on and never fails later upgrading a read.
fn take_head_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT last_id, last_hash FROM audit_head WHERE id = 1 FOR UPDATE",
        Backend::Sqlite => {
            "UPDATE audit_head SET last_id = last_id WHERE id = 1 RETURNING last_id, last_hash"
        }
    }
}

/// Appends `entry` at the end of the chain in the caller's transaction and answers its id.
/// Until the caller commits, other appends wait; if it rolls back, neither the entry nor the
/// head's move remains.
pub async fn record(
    connection: &mut AnyConnection,
    backend: Backend,
    entry: &Entry<'_>,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let head = sqlx::query(take_head_sql(backend))
        .fetch_one(&mut *connection)
        .await?;
    let last_id: i64 = head.try_get("last_id")?;
    let last_hash: String = head.try_get("last_hash")?;
    let before_state = entry.before.map(serde_json::Value::to_string);
    let after_state = entry.after.map(serde_json::Value::to_string);
    let fields = ChainedFields {
        prev_hash: &last_hash,
        id: last_id + 1,
        at_ms: to_millis(at),
        actor_kind: entry.actor.kind().as_str(),
        actor_id: entry.actor.id(),
        actor_label: entry.actor.label(),
        school_id: entry.school_id,
        action: entry.action,
        subject_kind: entry.subject_kind,
        subject_id: entry.subject_id,
        before_state: before_state.as_deref(),
        after_state: after_state.as_deref(),
    };
    let hash = fields.hash();
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_label, school_id, action, \
         subject_kind, subject_id, before_state, after_state, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(fields.id)
    .bind(fields.at_ms)
    .bind(fields.actor_kind)
    .bind(fields.actor_id)
    .bind(fields.actor_label)
    .bind(fields.school_id)
    .bind(fields.action)
    .bind(fields.subject_kind)
    .bind(fields.subject_id)
    .bind(fields.before_state)
    .bind(fields.after_state)
    .bind(fields.prev_hash)
    .bind(&hash)
    .execute(&mut *connection)
    .await?;
    sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1")
        .bind(fields.id)
        .bind(&hash)
        .execute(&mut *connection)
        .await?;
    Ok(fields.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_kinds_read_back_as_written() {
        for kind in [
            ActorKind::Person,
            ActorKind::Token,
            ActorKind::Bootstrap,
            ActorKind::System,
        ] {
            assert_eq!(ActorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ActorKind::parse("admin"), None);
    }

    #[test]
    fn an_actor_is_stored_by_kind_id_and_label() {
        let person = Actor::Person {
            id: 7,
            name: "Ada Lovelace".into(),
        };
        assert_eq!(
            (person.kind(), person.id(), person.label()),
            (ActorKind::Person, Some(7), "Ada Lovelace")
        );
        assert_eq!(Actor::System.id(), None);
        assert_eq!(Actor::Bootstrap.kind().as_str(), "bootstrap");
    }

    #[test]
    fn postgres_locks_the_head_and_sqlite_takes_the_write_lock() {
        assert!(take_head_sql(Backend::Postgres).ends_with("FOR UPDATE"));
        assert!(take_head_sql(Backend::Sqlite).starts_with("UPDATE audit_head"));
    }
}
