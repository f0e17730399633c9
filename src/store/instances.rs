//! Calls as held (`meeting_instances`): read with their platform decoded, and their
//! reconciliation state. The processor alone creates and extends them (`processor::apply`).

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::decode::decode_platform;
use crate::db::time::{from_millis, to_millis};
use crate::meeting::Platform;

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    pub id: i64,
    pub school_id: i64,
    pub platform: Platform,
    /// The platform's id of the meeting this call is an instance of, once known.
    pub meeting_id: Option<String>,
    pub host_user_id: Option<String>,
    pub topic: Option<String>,
    /// When it started, or failing that when an event said it had.
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// The call with id `id`.
pub async fn by_id(
    connection: &mut AnyConnection,
    id: i64,
) -> Result<Option<StoredInstance>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, school_id, platform, platform_meeting_id, host_user_id, topic, \
           COALESCE(started_at, start_hint) AS started_at, ended_at FROM meeting_instances WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// What identifies the running calls [`running`] looks for.
#[derive(Debug, Clone, Copy)]
pub enum RunningBy<'a> {
    Meeting(&'a str),
    Host(&'a str),
}

/// The ids of the calls on `platform` not yet ended, of a meeting or hosted by a user.
pub async fn running(
    connection: &mut AnyConnection,
    platform: Platform,
    by: RunningBy<'_>,
) -> Result<Vec<i64>, sqlx::Error> {
    let (sql, value) = match by {
        RunningBy::Meeting(meeting_id) => (
            "SELECT id FROM meeting_instances WHERE platform = $1 AND platform_meeting_id = $2 AND ended_at IS NULL",
            meeting_id,
        ),
        RunningBy::Host(user_id) => (
            "SELECT id FROM meeting_instances WHERE platform = $1 AND host_user_id = $2 AND ended_at IS NULL",
            user_id,
        ),
    };
    sqlx::query(sql)
        .bind(platform.as_str())
        .bind(value)
        .fetch_all(connection)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect()
}

/// Reconciliation has been asked for (once: a call already reconciling or reconciled keeps
/// its state).
pub async fn mark_reconciliation_pending(
    connection: &mut AnyConnection,
    instance_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE meeting_instances SET reconciliation = 'pending' WHERE id = $1 AND reconciliation IS NULL",
    )
    .bind(instance_id)
    .execute(connection)
    .await?;
    Ok(())
}

/// The platform's attendance report has been merged into the register.
pub async fn mark_reconciled(
    connection: &mut AnyConnection,
    instance_id: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE meeting_instances SET reconciliation = 'complete', reconciled_at = $1, \
         reconciliation_error = NULL WHERE id = $2",
    )
    .bind(to_millis(at))
    .bind(instance_id)
    .execute(connection)
    .await?;
    Ok(())
}

/// Reconciliation will not be tried again: the register stays as the webhooks made it, and
/// says why.
pub async fn mark_reconciliation_given_up(
    connection: &mut AnyConnection,
    instance_id: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE meeting_instances SET reconciliation = 'gave_up', reconciliation_error = $1 WHERE id = $2",
    )
    .bind(error)
    .bind(instance_id)
    .execute(connection)
    .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<StoredInstance, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    Ok(StoredInstance {
        id,
        school_id: row.try_get("school_id")?,
        platform: decode_platform(
            "meeting_instances",
            id,
            &row.try_get::<String, _>("platform")?,
        )?,
        meeting_id: row.try_get("platform_meeting_id")?,
        host_user_id: row.try_get("host_user_id")?,
        topic: row.try_get("topic")?,
        started_at: row
            .try_get::<Option<i64>, _>("started_at")?
            .map(from_millis),
        ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(from_millis),
    })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::db::memory_database;

    async fn calls() -> AnyConnection {
        memory_database(
            "CREATE TABLE meeting_instances (id INTEGER PRIMARY KEY, school_id BIGINT, platform TEXT, \
             platform_meeting_id TEXT, host_user_id TEXT, topic TEXT, started_at BIGINT, start_hint BIGINT, \
             ended_at BIGINT, reconciliation TEXT, reconciled_at BIGINT, reconciliation_error TEXT); \
             INSERT INTO meeting_instances (id, school_id, platform, platform_meeting_id, host_user_id, start_hint) \
             VALUES (1, 7, 'zoom', '555', 'host-1', 1000), (2, 7, 'teams', '556', 'host-1', 2000);",
        )
        .await
        .acquire()
        .await
        .unwrap()
        .detach()
    }

    #[tokio::test]
    async fn a_call_is_read_with_its_start_hint_when_no_start_is_known() {
        let mut connection = calls().await;
        let call = by_id(&mut connection, 1).await.unwrap().unwrap();
        assert_eq!(call.platform, Platform::Zoom);
        assert_eq!(call.started_at, Some(from_millis(1000)));
        assert_eq!(call.ended_at, None);
        assert_eq!(by_id(&mut connection, 9).await.unwrap(), None);
        let running_calls = running(&mut connection, Platform::Zoom, RunningBy::Host("host-1"))
            .await
            .unwrap();
        assert_eq!(running_calls, vec![1], "the other row is not a Zoom call");
    }

    #[tokio::test]
    async fn an_unknown_platform_is_an_error_naming_the_row() {
        let mut connection = calls().await;
        let error = by_id(&mut connection, 2).await.unwrap_err().to_string();
        assert!(
            error.contains("meeting_instances") && error.contains("teams"),
            "{error}"
        );
    }

    async fn reconciliation_state(
        connection: &mut AnyConnection,
    ) -> (Option<String>, Option<String>) {
        let row = sqlx::query(
            "SELECT reconciliation, reconciliation_error FROM meeting_instances WHERE id = 1",
        )
        .fetch_one(connection)
        .await
        .unwrap();
        (row.get("reconciliation"), row.get("reconciliation_error"))
    }

    #[tokio::test]
    async fn reconciliation_is_marked_pending_once_then_complete_or_given_up() {
        let mut connection = calls().await;
        mark_reconciliation_pending(&mut connection, 1)
            .await
            .unwrap();
        assert_eq!(
            reconciliation_state(&mut connection).await.0.as_deref(),
            Some("pending")
        );
        mark_reconciliation_given_up(&mut connection, 1, "report never ready")
            .await
            .unwrap();
        mark_reconciliation_pending(&mut connection, 1)
            .await
            .unwrap();
        assert_eq!(
            reconciliation_state(&mut connection).await,
            (Some("gave_up".into()), Some("report never ready".into()))
        );
        mark_reconciled(&mut connection, 1, from_millis(5000))
            .await
            .unwrap();
        assert_eq!(
            reconciliation_state(&mut connection).await,
            (Some("complete".into()), None)
        );
    }
}
