//! Findings as stored: opened when the engine first finds them, updated when what it finds
//! changes, resolved automatically when it no longer finds them (or by a person), and never
//! deleted. Every change is appended to the finding's history.

pub mod access;
mod closure;
pub mod query;
mod reconcile;

pub use closure::reason_closed;
pub use reconcile::{apply_evaluation, Applied, Closed, EvaluatedScope, Opened};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::db::time::to_millis;

/// Who made a change: the engine, or a named API caller.
pub const ENGINE_ACTOR: &str = "chaperone";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "open" => Some(Status::Open),
            "acknowledged" => Some(Status::Acknowledged),
            "resolved" => Some(Status::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FindingError {
    #[error("finding not found")]
    NotFound,
    #[error("the finding is already resolved")]
    AlreadyResolved,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Appends one change to a finding's history, with the finding as it now stands.
pub(crate) async fn record_history(
    connection: &mut AnyConnection,
    finding_id: i64,
    version: i64,
    at: DateTime<Utc>,
    change: &str,
    actor: &str,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    let snapshot = sqlx::query(
        "SELECT severity, status, title, summary, people, occurred_at FROM findings WHERE id = $1",
    )
    .bind(finding_id)
    .fetch_one(&mut *connection)
    .await?;
    let snapshot = serde_json::json!({
        "severity": snapshot.try_get::<String, _>("severity")?,
        "status": snapshot.try_get::<String, _>("status")?,
        "title": snapshot.try_get::<String, _>("title")?,
        "summary": snapshot.try_get::<String, _>("summary")?,
        "people": serde_json::from_str::<serde_json::Value>(&snapshot.try_get::<String, _>("people")?).unwrap_or_default(),
        "occurred_at": snapshot.try_get::<i64, _>("occurred_at")?,
    });
    sqlx::query(
        "INSERT INTO finding_history (finding_id, version, at, change, actor, note, snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(finding_id)
    .bind(version)
    .bind(to_millis(at))
    .bind(change)
    .bind(actor)
    .bind(note)
    .bind(snapshot.to_string())
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// A person acknowledges a finding: escalation stops.
pub async fn acknowledge(
    connection: &mut AnyConnection,
    finding_id: i64,
    actor: &str,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), FindingError> {
    change_status(
        connection,
        finding_id,
        Status::Acknowledged,
        actor,
        note,
        at,
    )
    .await
}

/// A person resolves a finding, with what was done.
pub async fn resolve(
    connection: &mut AnyConnection,
    finding_id: i64,
    actor: &str,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), FindingError> {
    change_status(connection, finding_id, Status::Resolved, actor, note, at).await
}

/// Moves a finding to `status` (acknowledged or resolved) in a person's name.
pub async fn change_status(
    connection: &mut AnyConnection,
    finding_id: i64,
    status: Status,
    actor: &str,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), FindingError> {
    let row = sqlx::query("SELECT status, version FROM findings WHERE id = $1")
        .bind(finding_id)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or(FindingError::NotFound)?;
    let current: String = row.try_get("status")?;
    if current == Status::Resolved.as_str() {
        return Err(FindingError::AlreadyResolved);
    }
    if current == status.as_str() {
        return Ok(());
    }
    let version: i64 = row.try_get::<i64, _>("version")? + 1;
    let sql = match status {
        Status::Acknowledged => {
            "UPDATE findings SET status = $1, version = $2, updated_at = $3, acknowledged_at = $3, acknowledged_by = $4 WHERE id = $5"
        }
        _ => {
            "UPDATE findings SET status = $1, version = $2, updated_at = $3, resolved_at = $3, resolved_by = $4, resolution_note = $6 WHERE id = $5"
        }
    };
    let mut query = sqlx::query(sql)
        .bind(status.as_str())
        .bind(version)
        .bind(to_millis(at))
        .bind(actor)
        .bind(finding_id);
    if status == Status::Resolved {
        query = query.bind(note);
    }
    query.execute(&mut *connection).await?;
    record_history(
        connection,
        finding_id,
        version,
        at,
        status.as_str(),
        actor,
        note,
    )
    .await?;
    Ok(())
}
