//! Enrichment: what webhooks do not say, read from the platform's API after they arrive —
//! a meeting's invitees and recording setting, a host's chat setting, whether a participant's
//! account is the school's, the address a registered participant signed up with — and,
//! after a call, its participant report, merged into the register. Jobs are queued in the
//! transaction that applied the event, worked through outside it, and retried on a
//! schedule; an API outage never slows webhook ingestion.

pub mod coverage;
pub mod platform;
pub mod store;
pub mod worker;

use chrono::{DateTime, Duration, Utc};
use sqlx::AnyConnection;

use crate::db::time::to_millis;
use crate::evaluation::Target;
use crate::meeting::{MeetingEvent, Platform};
use crate::store::instances;

/// What to read from the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// A scheduled meeting's settings (key: the platform meeting id).
    MeetingSettings,
    /// A host's settings (key: the platform user id).
    HostSettings,
    /// Whether a user belongs to the school's account (key: the platform user id).
    UserAccount,
    /// A call's participant report after it ended (key: the instance key).
    Attendance,
    /// A meeting's registrants, for participants who joined through registration (key: the
    /// platform meeting id).
    Registrants,
    /// Who a participant is, for platforms whose events do not say (key: the participant
    /// session's key). Answered with neutral events that say it.
    Participant,
    /// A call's details that its events do not carry (its scheduled meeting, host and
    /// times; key: the instance key). Answered with neutral events that say them.
    Instance,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::MeetingSettings => "meeting_settings",
            JobKind::HostSettings => "host_settings",
            JobKind::UserAccount => "user_account",
            JobKind::Attendance => "attendance",
            JobKind::Registrants => "registrants",
            JobKind::Participant => "participant",
            JobKind::Instance => "instance",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        match text {
            "meeting_settings" => Some(JobKind::MeetingSettings),
            "host_settings" => Some(JobKind::HostSettings),
            "user_account" => Some(JobKind::UserAccount),
            "attendance" => Some(JobKind::Attendance),
            "registrants" => Some(JobKind::Registrants),
            "participant" => Some(JobKind::Participant),
            "instance" => Some(JobKind::Instance),
            _ => None,
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub platform: Platform,
    pub school_id: i64,
    pub account_id: String,
    pub kind: JobKind,
    pub key: String,
    pub instance_id: Option<i64>,
    pub attempts: i64,
    pub deadline_at: Option<DateTime<Utc>>,
}

/// A meeting's settings as the platform reports them, in neutral terms: the platform module
/// says what its own values mean. `None`: the platform did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingSettingsRecord {
    /// Lower-cased.
    pub host_email: Option<String>,
    /// Lower-cased addresses; `None` where the platform's meeting settings do not list them
    /// (Meet's come from Calendar, with the schedule), so the schedule's own list stands.
    pub invitees: Option<Vec<String>>,
    /// Who may host besides the host: lower-cased addresses or platform user ids.
    pub co_hosts: Option<Vec<String>>,
    /// Whether the call records itself when it starts.
    pub auto_recording: Option<bool>,
    pub waiting_room: Option<bool>,
    /// Whether participants must sign in to join.
    pub authentication: Option<bool>,
    /// Whether participants can chat, where the meeting itself says (a Meet space); the
    /// host's setting stands where it does not.
    pub chat_enabled: Option<bool>,
}

/// A host's settings as the platform reports them, in neutral terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSettingsRecord {
    /// Whether participants can send chat messages in the host's calls.
    pub chat_enabled: Option<bool>,
    /// Whether the host's calls record themselves when they start.
    pub auto_recording: Option<bool>,
}

/// One stay in a call as the platform's report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedSession {
    pub session_key: String,
    pub platform_user_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
}

/// One registration for a meeting: the id a participant joins with, and the address that
/// registered (lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrant {
    pub registrant_id: String,
    pub email: String,
}

/// What a job read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    MeetingSettings(MeetingSettingsRecord),
    MeetingGone,
    HostSettings(UserSettingsRecord),
    UserInAccount(bool),
    /// The report; `None` while the platform has not produced it yet.
    Attendance(Option<Vec<ReportedSession>>),
    /// Every registrant who may join (none for a meeting the platform no longer knows).
    Registrants(Vec<Registrant>),
    /// What the platform's API said that its events did not, as neutral events for the
    /// processor to apply like any other (so the register has one writer), with whether
    /// the platform users it named belong to the school's account.
    Said {
        events: Vec<MeetingEvent>,
        accounts: Vec<UserAccount>,
    },
}

/// Whether a platform user belongs to the school's account, as the API said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccount {
    pub platform_user_id: String,
    pub in_account: bool,
    /// The user's address, lower-cased, where the platform gave one in the school's domains.
    pub email: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("the account's API credentials are refused: {0}")]
    Credentials(String),
    #[error("the account has no API credentials configured")]
    NotConfigured,
    #[error("rate limited")]
    RateLimited {
        retry_after: Option<std::time::Duration>,
    },
    /// Not asked: a rate limit holds back every call to the account until `until`. Waiting
    /// for the account is not an attempt of the job's own.
    #[error("not asked: the platform's rate limit holds the account's calls back until {}", until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    AccountHeld {
        until: chrono::DateTime<chrono::Utc>,
    },
    /// chaperone has no API for the job's platform: nothing to ask, and never another
    /// platform's API in its place.
    #[error("job {job_id}: chaperone has no {} API to read it with", platform.display_name())]
    NoPlatformApi { job_id: i64, platform: Platform },
    #[error("{0}")]
    Failed(String),
}

/// Queues (or re-queues) a job, due at `due_at`.
#[allow(clippy::too_many_arguments)]
pub async fn request(
    connection: &mut AnyConnection,
    platform: Platform,
    school_id: i64,
    account_id: &str,
    kind: JobKind,
    key: &str,
    instance_id: Option<i64>,
    due_at: DateTime<Utc>,
    deadline_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO enrichment_jobs (platform, school_id, account_id, kind, job_key, instance_id, status, due_at, \
           deadline_at, attempts, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, 0, $7) \
         ON CONFLICT (platform, kind, job_key) DO UPDATE SET status = 'pending', due_at = excluded.due_at, \
           deadline_at = excluded.deadline_at, attempts = 0, account_id = excluded.account_id, updated_at = excluded.updated_at",
    )
    .bind(platform.as_str())
    .bind(school_id)
    .bind(account_id)
    .bind(kind.as_str())
    .bind(key)
    .bind(instance_id)
    .bind(to_millis(due_at))
    .bind(deadline_at.map(to_millis))
    .execute(connection)
    .await?;
    Ok(())
}

/// When the participant report is first asked for after a call ends, and until when.
#[derive(Debug, Clone, Copy)]
pub struct ReconciliationTiming {
    pub first_after: Duration,
    pub give_up_after: Duration,
}

/// A job an event calls for.
struct Wanted {
    kind: JobKind,
    key: String,
    instance_id: Option<i64>,
    due_at: DateTime<Utc>,
    deadline_at: Option<DateTime<Utc>>,
}

impl Wanted {
    fn now(kind: JobKind, key: &str, now: DateTime<Utc>) -> Self {
        Wanted {
            kind,
            key: key.to_string(),
            instance_id: None,
            due_at: now,
            deadline_at: None,
        }
    }
}

/// How long the platform's API is asked who a participant is after they count as unknown:
/// a late answer still puts the right name in the register.
const RESOLUTION_KEPT_TRYING: Duration = Duration::hours(1);

/// The job that asks who a pending participant is.
fn resolution(
    participant: &crate::meeting::ParticipantIdentity,
    resolve_by: DateTime<Utc>,
    target: Target,
    now: DateTime<Utc>,
) -> Wanted {
    Wanted {
        kind: JobKind::Participant,
        key: participant.session_key.clone(),
        instance_id: match target {
            Target::Instance(id) => Some(id),
            Target::Scheduled(_) => None,
        },
        due_at: now,
        deadline_at: Some(resolve_by + RESOLUTION_KEPT_TRYING),
    }
}

/// The job that reads a call's details, for a call its events name only by its key (neither
/// its scheduled meeting nor its host), once per call. Any of its events asks, so a call whose
/// start was lost is still named by its participants' events.
async fn instance_details(
    connection: &mut AnyConnection,
    platform: Platform,
    instance: &crate::meeting::InstanceRef,
    now: DateTime<Utc>,
) -> Result<Option<Wanted>, sqlx::Error> {
    let named = instance.meeting_id.is_some() || instance.host_user_id.is_some();
    if named
        || store::job_requested(
            connection,
            platform,
            JobKind::Instance,
            &instance.instance_key,
        )
        .await?
    {
        return Ok(None);
    }
    Ok(Some(Wanted::now(
        JobKind::Instance,
        &instance.instance_key,
        now,
    )))
}

/// The jobs an applied event calls for, on an account with API credentials (the caller checks
/// that with [`store::api_configured`], once per account in a batch).
#[allow(clippy::too_many_arguments)]
pub async fn request_after_event(
    connection: &mut AnyConnection,
    platform: Platform,
    school_id: i64,
    account_id: &str,
    event: &MeetingEvent,
    target: Target,
    timing: ReconciliationTiming,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut jobs = Vec::new();
    match event {
        MeetingEvent::ScheduleChanged {
            meeting_id, change, ..
        } => {
            if !change.deleted {
                jobs.push(Wanted::now(JobKind::MeetingSettings, meeting_id, now));
                // An update carries only what changed: the host is the schedule's.
                let host = match (&change.host_user_id, target) {
                    (Some(host), _) => Some(host.clone()),
                    (None, Target::Scheduled(id)) => store::scheduled_host(connection, id).await?,
                    (None, Target::Instance(_)) => None,
                };
                if let Some(host) = host {
                    jobs.push(Wanted::now(JobKind::HostSettings, &host, now));
                }
            }
        }
        MeetingEvent::InstanceStarted { instance, .. } => {
            if let Some(meeting_id) = &instance.meeting_id {
                jobs.push(Wanted::now(JobKind::MeetingSettings, meeting_id, now));
            }
            if let Some(host) = &instance.host_user_id {
                jobs.push(Wanted::now(JobKind::HostSettings, host, now));
            }
            jobs.extend(instance_details(connection, platform, instance, now).await?);
        }
        MeetingEvent::ParticipantLeft {
            instance,
            participant,
            ..
        } => {
            if let Some(resolve_by) = participant.resolution.pending_until() {
                jobs.push(resolution(participant, resolve_by, target, now));
            }
            jobs.extend(instance_details(connection, platform, instance, now).await?);
        }
        MeetingEvent::ParticipantJoined {
            instance,
            participant,
            ..
        } => {
            if let Some(resolve_by) = participant.resolution.pending_until() {
                jobs.push(resolution(participant, resolve_by, target, now));
            }
            jobs.extend(instance_details(connection, platform, instance, now).await?);
            // A user's account, once known, needs no second look on every join.
            if let Some(user_id) = &participant.platform_user_id {
                if !store::user_account_known(connection, platform, user_id).await? {
                    jobs.push(Wanted::now(JobKind::UserAccount, user_id, now));
                }
            }
            // One read of the meeting's registrants serves every participant who registered.
            if let (Some(registrant_id), Some(meeting_id)) =
                (&participant.registrant_id, &instance.meeting_id)
            {
                let due = store::registrants_read_due(
                    connection,
                    platform,
                    meeting_id,
                    registrant_id,
                    now,
                )
                .await?;
                if let Some(due_at) = due {
                    jobs.push(Wanted {
                        due_at,
                        ..Wanted::now(JobKind::Registrants, meeting_id, now)
                    });
                }
            }
        }
        MeetingEvent::InstanceEnded { instance, .. } => {
            if let Target::Instance(instance_id) = target {
                jobs.push(Wanted {
                    kind: JobKind::Attendance,
                    key: instance.instance_key.clone(),
                    instance_id: Some(instance_id),
                    due_at: now + timing.first_after,
                    deadline_at: Some(now + timing.give_up_after),
                });
                instances::mark_reconciliation_pending(connection, instance_id).await?;
            }
        }
        MeetingEvent::ParticipantRoomJoined { .. }
        | MeetingEvent::ParticipantRoomLeft { .. }
        | MeetingEvent::Signal { .. } => {}
    }
    for job in jobs {
        request(
            connection,
            platform,
            school_id,
            account_id,
            job.kind,
            &job.key,
            job.instance_id,
            job.due_at,
            job.deadline_at,
        )
        .await?;
    }
    Ok(())
}
