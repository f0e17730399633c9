//! A meeting is judged on every event already received for it. Events arrive late (a backlog
//! after a restart, the platform's retries) and the processor applies them in batches, so a
//! call can be due for evaluation while its own `meeting.ended` still waits in the inbox:
//! judged then, against the wall clock, it would be "still running" and flagged wrongly.
//!
//! So the worker first asks the inbox whether the meeting has events not yet applied, and if
//! so puts the evaluation back. The processor queues the meeting again, due at once, in the
//! transaction that applies those events (an earlier due time wins in the queue), so the
//! wait ends as soon as they are applied; the deferral below is only the fallback for an
//! event that is never applied (set aside as failed, which stops counting as waiting).
//!
//! The check reads committed rows by an indexed column, so it holds on SQLite and on
//! PostgreSQL with several instances: an event committed to the inbox before the check is
//! seen by it, and one committed after it queues the meeting again when it is applied.

use chrono::{DateTime, Duration, Utc};
use sqlx::{AnyConnection, Row};

use super::queue::Target;
use crate::inbox;
use crate::meeting::{instance_ref, scheduled_ref, Platform};

/// How long an evaluation is put back while its meeting's events wait to be applied, if the
/// processor does not queue it again first.
pub const DEFERRAL: Duration = Duration::seconds(5);

/// Whether `target` has events in the inbox that are not applied yet.
pub async fn awaits_events(
    connection: &mut AnyConnection,
    target: Target,
) -> Result<bool, sqlx::Error> {
    let row = match target {
        Target::Instance(id) => {
            sqlx::query(
                "SELECT platform, instance_key, platform_meeting_id FROM meeting_instances WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *connection)
            .await?
        }
        Target::Scheduled(id) => {
            sqlx::query(
                "SELECT platform, NULL AS instance_key, platform_meeting_id FROM scheduled_meetings WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *connection)
            .await?
        }
    };
    let Some(row) = row else {
        return Ok(false);
    };
    let platform: String = row.try_get("platform")?;
    let Some(platform) = Platform::parse(&platform) else {
        return Ok(false);
    };
    // A call is also judged on its schedule (invitees, alternative hosts).
    let mut refs = Vec::with_capacity(2);
    if let Some(key) = row.try_get::<Option<String>, _>("instance_key")? {
        refs.push(instance_ref(&key));
    }
    if let Some(meeting_id) = row.try_get::<Option<String>, _>("platform_meeting_id")? {
        refs.push(scheduled_ref(&meeting_id));
    }
    inbox::has_unapplied(connection, platform, &refs).await
}

/// When a deferred evaluation falls due again.
pub fn retry_at(now: DateTime<Utc>) -> DateTime<Utc> {
    now + DEFERRAL
}
