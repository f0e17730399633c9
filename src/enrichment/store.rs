//! Storing what enrichment read, with when it was read (or why it could not be), merging a
//! participant report into the register, and queueing the meetings it affects for evaluation.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Job, JobKind, MeetingSettingsRecord, Registrant, ReportedSession, UserSettingsRecord};
use crate::db::time::{from_millis, to_millis};
use crate::directory::resolve_person;
use crate::evaluation::queue::{self, Target};
use crate::meeting::Platform;
use crate::store::instances::{self, RunningBy};

/// Whether the job's subject was read successfully before: an unreadable API never
/// overwrites what was read; "unknown" only stands in for nothing.
async fn already_read(
    connection: &mut AnyConnection,
    table: &'static str,
    key_column: &'static str,
    job: &Job,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT status FROM {table} WHERE platform = $1 AND {key_column} = $2 AND status <> 'unknown'"
    ))
    .bind(job.platform.as_str())
    .bind(&job.key)
    .fetch_optional(connection)
    .await?;
    Ok(row.is_some())
}

fn flag(value: Option<bool>) -> Option<i64> {
    value.map(i64::from)
}

pub async fn save_meeting_settings(
    connection: &mut AnyConnection,
    job: &Job,
    settings: Option<&MeetingSettingsRecord>,
    status: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if status == "unknown"
        && already_read(connection, "meeting_settings", "platform_meeting_id", job).await?
    {
        return Ok(());
    }
    let empty = MeetingSettingsRecord::default();
    let settings = settings.unwrap_or(&empty);
    sqlx::query(
        "INSERT INTO meeting_settings (platform, platform_meeting_id, status, read_at, error, host_email, invitees, \
           co_hosts, auto_recording_enabled, waiting_room, authentication, chat_enabled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (platform, platform_meeting_id) DO UPDATE SET status = excluded.status, read_at = excluded.read_at, \
           error = excluded.error, host_email = excluded.host_email, invitees = excluded.invitees, \
           co_hosts = excluded.co_hosts, auto_recording_enabled = excluded.auto_recording_enabled, \
           waiting_room = excluded.waiting_room, authentication = excluded.authentication, \
           chat_enabled = excluded.chat_enabled",
    )
    .bind(job.platform.as_str())
    .bind(&job.key)
    .bind(status)
    .bind(to_millis(now))
    .bind(error)
    .bind(settings.host_email.as_deref())
    .bind(settings.invitees.as_ref().map(|list| list.join(";")))
    .bind(settings.co_hosts.as_ref().map(|list| list.join(";")))
    .bind(flag(settings.auto_recording))
    .bind(flag(settings.waiting_room))
    .bind(flag(settings.authentication))
    .bind(flag(settings.chat_enabled))
    .execute(&mut *connection)
    .await?;
    // The schedule and any call of it are checked again with what is now known.
    let scheduled = sqlx::query(
        "SELECT id FROM scheduled_meetings WHERE platform = $1 AND platform_meeting_id = $2",
    )
    .bind(job.platform.as_str())
    .bind(&job.key)
    .fetch_all(&mut *connection)
    .await?;
    for row in scheduled {
        queue::enqueue(connection, Target::Scheduled(row.try_get("id")?), now).await?;
    }
    enqueue_running_calls(connection, job.platform, RunningBy::Meeting(&job.key), now).await
}

pub async fn save_user_settings(
    connection: &mut AnyConnection,
    job: &Job,
    settings: Option<&UserSettingsRecord>,
    status: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if status == "unknown"
        && already_read(connection, "user_settings", "platform_user_id", job).await?
    {
        return Ok(());
    }
    let empty = UserSettingsRecord::default();
    let settings = settings.unwrap_or(&empty);
    sqlx::query(
        "INSERT INTO user_settings (platform, platform_user_id, status, read_at, error, chat_enabled, auto_recording_enabled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (platform, platform_user_id) DO UPDATE SET status = excluded.status, read_at = excluded.read_at, \
           error = excluded.error, chat_enabled = excluded.chat_enabled, auto_recording_enabled = excluded.auto_recording_enabled",
    )
    .bind(job.platform.as_str())
    .bind(&job.key)
    .bind(status)
    .bind(to_millis(now))
    .bind(error)
    .bind(flag(settings.chat_enabled))
    .bind(flag(settings.auto_recording))
    .execute(&mut *connection)
    .await?;
    let scheduled = sqlx::query("SELECT id FROM scheduled_meetings WHERE platform = $1 AND host_user_id = $2 AND deleted = $3")
        .bind(job.platform.as_str())
        .bind(&job.key)
        .bind(false)
        .fetch_all(&mut *connection)
        .await?;
    for row in scheduled {
        queue::enqueue(connection, Target::Scheduled(row.try_get("id")?), now).await?;
    }
    enqueue_running_calls(connection, job.platform, RunningBy::Host(&job.key), now).await
}

/// Records whether the user `job.key` is in the school's account (and the address the
/// platform gave for them, where it did), and re-checks their calls.
pub async fn save_user_account(
    connection: &mut AnyConnection,
    job: &Job,
    status: &str,
    email: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    remember_user(
        connection,
        job.platform,
        &job.key,
        status,
        email,
        error,
        now,
    )
    .await?;
    let calls = sqlx::query(
        "SELECT DISTINCT s.instance_id FROM participant_sessions s JOIN meeting_instances i ON i.id = s.instance_id \
         WHERE s.platform_user_id = $1 AND i.platform = $2 AND (i.ended_at IS NULL OR i.ended_at >= $3)",
    )
    .bind(&job.key)
    .bind(job.platform.as_str())
    .bind(to_millis(now) - 24 * 3600 * 1000)
    .fetch_all(&mut *connection)
    .await?;
    enqueue_each(connection, &calls, now).await
}

/// Records what the platform said of one of its users: whether in the school's account
/// (`status`), and their address where it gave one.
pub async fn remember_user(
    connection: &mut AnyConnection,
    platform: Platform,
    user_id: &str,
    status: &str,
    email: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO platform_users (platform, platform_user_id, status, read_at, error, email) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (platform, platform_user_id) DO UPDATE SET status = excluded.status, read_at = excluded.read_at, \
           error = excluded.error, email = COALESCE(excluded.email, platform_users.email)",
    )
    .bind(platform.as_str())
    .bind(user_id)
    .bind(status)
    .bind(to_millis(now))
    .bind(error)
    .bind(email)
    .execute(connection)
    .await?;
    Ok(())
}

/// Whether the account has API credentials to read with.
pub async fn api_configured(
    connection: &mut AnyConnection,
    platform: Platform,
    account_id: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id FROM platform_accounts WHERE platform = $1 AND account_id = $2 \
         AND (client_id IS NOT NULL OR service_account_key_sealed IS NOT NULL)",
    )
    .bind(platform.as_str())
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    Ok(row.is_some())
}

/// Whether a job of `kind` for `key` was ever requested (whatever became of it).
pub async fn job_requested(
    connection: &mut AnyConnection,
    platform: Platform,
    kind: JobKind,
    key: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 AS requested FROM enrichment_jobs WHERE platform = $1 AND kind = $2 AND job_key = $3",
    )
    .bind(platform.as_str())
    .bind(kind.as_str())
    .bind(key)
    .fetch_optional(connection)
    .await?;
    Ok(row.is_some())
}

/// The host of a scheduled meeting, where known.
pub async fn scheduled_host(
    connection: &mut AnyConnection,
    scheduled_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT host_user_id FROM scheduled_meetings WHERE id = $1")
        .bind(scheduled_id)
        .fetch_optional(connection)
        .await?;
    Ok(row
        .map(|row| row.try_get::<Option<String>, _>("host_user_id"))
        .transpose()?
        .flatten())
}

/// Whether a user's account membership has been read already.
pub async fn user_account_known(
    connection: &mut AnyConnection,
    platform: Platform,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT status FROM platform_users WHERE platform = $1 AND platform_user_id = $2 AND status <> 'unknown'")
        .bind(platform.as_str())
        .bind(user_id)
        .fetch_optional(connection)
        .await?;
    Ok(row.is_some())
}

/// The shortest time between two reads of one meeting's registrants: participants whose
/// registration is not stored yet (registered after the last read) ask for another read, at
/// most this often, however many of them join.
pub const REGISTRANTS_REREAD_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// When the meeting's registrants should be read for a participant who joined with
/// `registrant_id`: `None` when that registration is stored already or a read is queued.
pub async fn registrants_read_due(
    connection: &mut AnyConnection,
    platform: Platform,
    meeting_id: &str,
    registrant_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    if registrant_email(connection, platform.as_str(), meeting_id, registrant_id)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let job = sqlx::query(
        "SELECT status, updated_at FROM enrichment_jobs WHERE platform = $1 AND kind = $2 AND job_key = $3",
    )
    .bind(platform.as_str())
    .bind(JobKind::Registrants.as_str())
    .bind(meeting_id)
    .fetch_optional(connection)
    .await?;
    let Some(job) = job else {
        return Ok(Some(now));
    };
    // A queued (or running) read will list everyone who registered before joining.
    if job.try_get::<String, _>("status")? == "pending" {
        return Ok(None);
    }
    let last_read = from_millis(job.try_get("updated_at")?);
    Ok(Some(now.max(last_read + REGISTRANTS_REREAD_AFTER)))
}

/// Stores what the platform listed (registrations no longer listed are kept: a participant
/// may have joined with them), then queues for evaluation the calls of the meeting that a
/// registered participant joined.
pub async fn save_registrants(
    connection: &mut AnyConnection,
    job: &Job,
    registrants: &[Registrant],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for registrant in registrants {
        sqlx::query(
            "INSERT INTO meeting_registrants (platform, platform_meeting_id, registrant_id, email, read_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, platform_meeting_id, registrant_id) \
             DO UPDATE SET email = excluded.email, read_at = excluded.read_at",
        )
        .bind(job.platform.as_str())
        .bind(&job.key)
        .bind(&registrant.registrant_id)
        .bind(&registrant.email)
        .bind(to_millis(now))
        .execute(&mut *connection)
        .await?;
    }
    let calls = sqlx::query(
        "SELECT DISTINCT s.instance_id FROM participant_sessions s JOIN meeting_instances i ON i.id = s.instance_id \
         WHERE i.platform = $1 AND i.platform_meeting_id = $2 AND s.registrant_id IS NOT NULL \
           AND (i.ended_at IS NULL OR i.ended_at >= $3)",
    )
    .bind(job.platform.as_str())
    .bind(&job.key)
    .bind(to_millis(now) - 24 * 3600 * 1000)
    .fetch_all(&mut *connection)
    .await?;
    enqueue_each(connection, &calls, now).await
}

/// The address a meeting's registrant signed up with (lower-cased), where the platform's API
/// listed it; `None` while not read, or for a registration it did not list.
pub async fn registrant_email(
    connection: &mut AnyConnection,
    platform: &str,
    meeting_id: &str,
    registrant_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT email FROM meeting_registrants WHERE platform = $1 AND platform_meeting_id = $2 AND registrant_id = $3",
    )
    .bind(platform)
    .bind(meeting_id)
    .bind(registrant_id)
    .fetch_optional(connection)
    .await?;
    row.map(|row| row.try_get("email")).transpose()
}

/// Queues each call named by an `instance_id` column for evaluation.
async fn enqueue_each(
    connection: &mut AnyConnection,
    calls: &[sqlx::any::AnyRow],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for row in calls {
        queue::enqueue(
            connection,
            Target::Instance(row.try_get("instance_id")?),
            now,
        )
        .await?;
    }
    Ok(())
}

async fn enqueue_running_calls(
    connection: &mut AnyConnection,
    platform: Platform,
    by: RunningBy<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for id in instances::running(connection, platform, by).await? {
        queue::enqueue(connection, Target::Instance(id), now).await?;
    }
    Ok(())
}

/// Merges the platform's participant report into the register. Sessions the webhooks
/// already gave are completed (earliest join, latest leave); sessions they missed are
/// added and marked as found by reconciliation. Returns how many sessions were added.
pub async fn merge_attendance(
    connection: &mut AnyConnection,
    job: &Job,
    sessions: &[ReportedSession],
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let Some(instance_id) = job.instance_id else {
        return Ok(0);
    };
    let mut added = 0;
    for session in sessions {
        let person_id = resolve_person(
            connection,
            job.school_id,
            job.platform,
            session.platform_user_id.as_deref(),
            session.email.as_deref(),
        )
        .await?;
        let existing = sqlx::query("SELECT joined_at, left_at FROM participant_sessions WHERE instance_id = $1 AND session_key = $2")
            .bind(instance_id)
            .bind(&session.session_key)
            .fetch_optional(&mut *connection)
            .await?;
        match existing {
            None => {
                sqlx::query(
                    "INSERT INTO participant_sessions (instance_id, session_key, platform_user_id, email, display_name, \
                       person_id, joined_at, left_at, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'reconciliation')",
                )
                .bind(instance_id)
                .bind(&session.session_key)
                .bind(session.platform_user_id.as_deref())
                .bind(session.email.as_deref())
                .bind(session.display_name.as_deref())
                .bind(person_id)
                .bind(session.joined_at.map(to_millis))
                .bind(session.left_at.map(to_millis))
                .execute(&mut *connection)
                .await?;
                added += 1;
            }
            Some(row) => {
                // Fill what the webhooks did not give; what they gave stands.
                let joined: Option<i64> = row.try_get("joined_at")?;
                let left: Option<i64> = row.try_get("left_at")?;
                sqlx::query(
                    "UPDATE participant_sessions SET joined_at = $1, left_at = $2, \
                       platform_user_id = COALESCE(platform_user_id, $3), email = COALESCE(email, $4), \
                       person_id = COALESCE(person_id, $5), display_name = COALESCE(display_name, $8), \
                       identity_pending_until = NULL WHERE instance_id = $6 AND session_key = $7",
                )
                .bind(joined.or(session.joined_at.map(to_millis)))
                .bind(left.or(session.left_at.map(to_millis)))
                .bind(session.platform_user_id.as_deref())
                .bind(session.email.as_deref())
                .bind(person_id)
                .bind(instance_id)
                .bind(&session.session_key)
                .bind(session.display_name.as_deref())
                .execute(&mut *connection)
                .await?;
            }
        }
    }
    instances::mark_reconciled(connection, instance_id, now).await?;
    queue::enqueue(connection, Target::Instance(instance_id), now).await?;
    Ok(added)
}

pub async fn give_up_reconciliation(
    connection: &mut AnyConnection,
    job: &Job,
    error: &str,
) -> Result<(), sqlx::Error> {
    if let Some(instance_id) = job.instance_id {
        instances::mark_reconciliation_given_up(connection, instance_id, error).await?;
    }
    Ok(())
}
