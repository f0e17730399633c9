//! The enrichment worker: claims due jobs (with a lease, so another instance does not take
//! the same one), asks the platform, stores what it learnt — or that it could not — and
//! reschedules failures with backoff and jitter, honouring the platform's `Retry-After`; while
//! a rate limit holds an account back, its jobs wait for the hold's end without calling.
//! On its timer it checks that monitored accounts are not silent during school hours.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use tokio::sync::Notify;

use super::platform::{LiveMeetingsApi, Platforms};
use super::{coverage, store, FetchError, Fetched, Job, JobKind};
use crate::db::claim::Queue;
use crate::db::decode::{decode, decode_platform, decode_timezone};
use crate::db::time::{from_millis, to_millis};
use crate::db::Db;
use crate::directory::settings as school_settings;
use crate::inbox;
use crate::meeting::Platform;
use crate::policy::calendar::{BankHolidays, SchoolCalendar};
use crate::retry::RetryPolicy;
use crate::supervision::Role;
use crate::telemetry::metrics::Metrics;
use crate::timers::Timer;
use crate::worker::{Pass, Wakeups, Worker};

const LEASE: Duration = Duration::from_secs(120);

/// Jobs waiting and due, earliest first; a claimed job's `due_at` is moved to its lease's end,
/// so a worker that dies with it leaves it to be claimed again then.
const DUE_JOBS: Queue = Queue {
    table: "enrichment_jobs",
    key: "id",
    due: "status = 'pending' AND due_at <= $1",
    order_by: "due_at",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Done,
    Retrying,
    Failed,
    Empty,
}

/// How the enricher retries failed calls, and how long a monitored account may send nothing
/// during school hours before it is asked whether meetings are live on it.
#[derive(Debug, Clone, Copy)]
pub struct EnrichmentTuning {
    pub retry: RetryPolicy,
    pub silent_after: Duration,
}

#[derive(Clone)]
pub struct Enricher {
    db: Db,
    /// Each job and account is read through the API of the platform it is stored under.
    platforms: Platforms,
    tuning: EnrichmentTuning,
    metrics: Arc<Metrics>,
    bank_holidays: Arc<BankHolidays>,
    wakeups: Wakeups,
}

impl Enricher {
    pub fn new(
        db: Db,
        platforms: Platforms,
        tuning: EnrichmentTuning,
        metrics: Arc<Metrics>,
        bank_holidays: Arc<BankHolidays>,
        wakeups: Wakeups,
    ) -> Self {
        Enricher {
            db,
            platforms,
            tuning,
            metrics,
            bank_holidays,
            wakeups,
        }
    }

    /// Works the earliest job due at `now`, if any.
    pub async fn work_next(&self, now: DateTime<Utc>) -> Result<Step, sqlx::Error> {
        self.db.yield_to_ingestion().await;
        let Some(job) = self.claim(now).await? else {
            return Ok(Step::Empty);
        };
        let fetched = match self.platforms.get(job.platform) {
            Some(api) => api.fetch(&job, now).await,
            None => Err(FetchError::NoPlatformApi {
                job_id: job.id,
                platform: job.platform,
            }),
        };
        let mut tx = self.db.pool.begin().await?;
        let mut alerts = 0;
        let step = match fetched {
            Ok(fetched) => {
                alerts +=
                    coverage::record_credentials(&mut tx, job.platform, &job.account_id, None, now)
                        .await?;
                self.store(&mut tx, &job, fetched, now).await?
            }
            Err(FetchError::Credentials(reason)) => {
                alerts += coverage::record_credentials(
                    &mut tx,
                    job.platform,
                    &job.account_id,
                    Some(&reason),
                    now,
                )
                .await?;
                self.failed_attempt(
                    &mut tx,
                    &job,
                    &format!("credentials refused: {reason}"),
                    None,
                    now,
                )
                .await?
            }
            Err(FetchError::NotConfigured) => {
                // Nothing to retry until credentials are imported; the gap is visible on the meeting.
                self.record_unknown(
                    &mut tx,
                    &job,
                    "no API credentials are configured for the account",
                    now,
                )
                .await?;
                self.finish(&mut tx, &job, "failed", Some("no API credentials"), now)
                    .await?;
                Step::Failed
            }
            Err(error @ FetchError::NoPlatformApi { .. }) => {
                // Asking again cannot help: the job fails, visibly, and no other platform's
                // API is asked in its place.
                let reason = error.to_string();
                tracing::error!(
                    job_id = job.id,
                    platform = job.platform.as_str(),
                    "enrichment job for a platform chaperone has no API for"
                );
                self.record_unknown(&mut tx, &job, &reason, now).await?;
                self.finish(&mut tx, &job, "failed", Some(&reason), now)
                    .await?;
                Step::Failed
            }
            Err(FetchError::RateLimited { retry_after }) => {
                let reason = match retry_after {
                    Some(wait) => format!(
                        "rate limited: the platform asked to wait {} s, for every call to the account",
                        wait.as_secs()
                    ),
                    None => "rate limited".to_string(),
                };
                self.failed_attempt(&mut tx, &job, &reason, retry_after, now)
                    .await?
            }
            Err(error @ FetchError::AccountHeld { until }) => {
                self.wait_for_account(&mut tx, &job, &error.to_string(), until, now)
                    .await?
            }
            Err(FetchError::Failed(reason)) => {
                self.failed_attempt(&mut tx, &job, &reason, None, now)
                    .await?
            }
        };
        tx.commit().await?;
        self.wakeups.meetings_changed.notify_one();
        if alerts > 0 {
            self.wakeups.alerts_queued.notify_one();
        }
        self.metrics
            .record_enrichment(job.kind.as_str(), step_label(step));
        Ok(step)
    }

    /// Works until nothing is due at `now` (for tests and tools).
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<Vec<Step>, sqlx::Error> {
        let mut steps = Vec::new();
        loop {
            match self.work_next(now).await? {
                Step::Empty => return Ok(steps),
                step => steps.push(step),
            }
        }
    }

    /// Runs each platform's upkeep (see [`super::platform::PlatformApi::upkeep`]); one platform's failure is
    /// logged and does not stop another's.
    pub async fn keep_platforms(&self, now: DateTime<Utc>) {
        for (platform, api) in self.platforms.all() {
            let Some(upkeep) = api.upkeep(now) else {
                continue;
            };
            match upkeep.await {
                Ok(alerts) => {
                    // Upkeep may store what the platform said (bookings read from calendars).
                    self.wakeups.inbox_committed.notify_one();
                    if alerts > 0 {
                        self.wakeups.alerts_queued.notify_one();
                    }
                }
                Err(error) => {
                    tracing::warn!(platform = platform.as_str(), %error, "platform upkeep failed")
                }
            }
        }
    }

    /// During each school's hours, an account with credentials that has sent no event for
    /// the silence period is asked how many meetings are live on it; live meetings and no
    /// events is a coverage finding. Only platforms that can count live meetings are checked.
    pub async fn check_silence(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        for (platform, live_meetings) in self.platforms.with_live_meetings() {
            self.check_platform_silence(platform, live_meetings, now)
                .await?;
        }
        Ok(())
    }

    async fn check_platform_silence(
        &self,
        platform: Platform,
        live_meetings: &dyn LiveMeetingsApi,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let accounts = sqlx::query(
            "SELECT a.account_id, a.school_id, s.timezone FROM platform_accounts a JOIN schools s ON s.id = a.school_id \
             WHERE a.platform = $1 AND a.client_id IS NOT NULL",
        )
        .bind(platform.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        for account in accounts {
            let account_id: String = account.try_get("account_id")?;
            let school_id: i64 = account.try_get("school_id")?;
            // One school's unreadable timezone must not blind the check for every other.
            let timezone = match decode_timezone(
                "schools",
                school_id,
                &account.try_get::<String, _>("timezone")?,
            ) {
                Ok(timezone) => timezone,
                Err(error) => {
                    tracing::error!(school_id, %error, "coverage check skipped for the school's account");
                    continue;
                }
            };
            // Connections are released before the API call: with SQLite there is only one.
            let mut connection = self.db.pool.acquire().await?;
            let settings = school_settings::load(&mut connection, school_id).await?;
            let calendar = SchoolCalendar::new(timezone, settings.calendar, &self.bank_holidays);
            let last =
                sqlx::query("SELECT MAX(received_at) AS last FROM inbox WHERE account_id = $1 AND platform = $2")
                    .bind(&account_id)
                    .bind(platform.as_str())
                    .fetch_one(&mut *connection)
                    .await?
                    .try_get::<Option<i64>, _>("last")?
                    .map(from_millis);
            drop(connection);
            let silent_after = chrono::Duration::from_std(self.tuning.silent_after)
                .unwrap_or(chrono::Duration::hours(1));
            let quiet = last.is_none_or(|last| now - last > silent_after);
            let live = if calendar.within_school_hours(now, now) && quiet {
                // The account's today is its school's: the check runs in the school's hours.
                let today = now.with_timezone(&timezone).date_naive();
                match live_meetings.count(&account_id, today, now).await {
                    Ok(count) if count > 0 => Some(count),
                    Ok(_) => None,
                    // No credentials: nothing to ask. A rate-limited account is asked at
                    // the next check after its hold.
                    Err(FetchError::NotConfigured | FetchError::AccountHeld { .. }) => continue,
                    Err(error) => {
                        tracing::warn!(school_id, %error, "cannot tell whether meetings are live");
                        continue;
                    }
                }
            } else {
                None
            };
            let mut tx = self.db.pool.begin().await?;
            let alerts =
                coverage::record_silence(&mut tx, platform, &account_id, live, now).await?;
            tx.commit().await?;
            if alerts > 0 {
                self.wakeups.alerts_queued.notify_one();
            }
        }
        Ok(())
    }

    async fn claim(&self, now: DateTime<Utc>) -> Result<Option<Job>, sqlx::Error> {
        let sql = DUE_JOBS.claim_with_lease(
            self.db.backend,
            "due_at = $2, attempts = attempts + 1, updated_at = $1",
            "id, platform, school_id, account_id, kind, job_key, instance_id, attempts, deadline_at",
        );
        let lease_until = now + chrono::Duration::from_std(LEASE).expect("lease fits");
        let row = sqlx::query(&sql)
            .bind(to_millis(now))
            .bind(to_millis(lease_until))
            .fetch_optional(&self.db.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn store(
        &self,
        tx: &mut sqlx::AnyConnection,
        job: &Job,
        fetched: Fetched,
        now: DateTime<Utc>,
    ) -> Result<Step, sqlx::Error> {
        match fetched {
            Fetched::MeetingSettings(settings) => {
                store::save_meeting_settings(tx, job, Some(&settings), "ok", None, now).await?;
            }
            Fetched::MeetingGone => {
                store::save_meeting_settings(tx, job, None, "not_found", None, now).await?;
            }
            Fetched::HostSettings(settings) => {
                store::save_user_settings(tx, job, Some(&settings), "ok", None, now).await?;
            }
            Fetched::UserInAccount(inside) => {
                let status = if inside {
                    "in_account"
                } else {
                    "not_in_account"
                };
                store::save_user_account(tx, job, status, None, None, now).await?;
            }
            Fetched::Attendance(None) => {
                return self
                    .failed_attempt(
                        tx,
                        job,
                        "the participant report is not available yet",
                        None,
                        now,
                    )
                    .await;
            }
            Fetched::Registrants(registrants) => {
                store::save_registrants(tx, job, &registrants, now).await?;
                tracing::info!(
                    job_id = job.id,
                    registrants = registrants.len(),
                    "registrants read"
                );
            }
            Fetched::Said { events, accounts } => {
                for account in &accounts {
                    let status = if account.in_account {
                        "in_account"
                    } else {
                        "not_in_account"
                    };
                    let account_job = Job {
                        key: account.platform_user_id.clone(),
                        ..job.clone()
                    };
                    store::save_user_account(
                        tx,
                        &account_job,
                        status,
                        account.email.as_deref(),
                        None,
                        now,
                    )
                    .await?;
                }
                let said_by = inbox::SaidBy {
                    platform: job.platform,
                    school_id: job.school_id,
                    account_id: &job.account_id,
                };
                let stored = inbox::insert_said(tx, &said_by, &events, now).await?;
                if stored > 0 {
                    self.wakeups.inbox_committed.notify_one();
                }
            }
            Fetched::Attendance(Some(sessions)) => {
                let added = store::merge_attendance(tx, job, &sessions, now).await?;
                tracing::info!(
                    job_id = job.id,
                    sessions = sessions.len(),
                    added,
                    "attendance reconciled"
                );
            }
        }
        self.finish(tx, job, "done", None, now).await?;
        Ok(Step::Done)
    }

    /// Schedules another attempt, or gives up after the last attempt or past the deadline.
    async fn failed_attempt(
        &self,
        tx: &mut sqlx::AnyConnection,
        job: &Job,
        reason: &str,
        retry_after: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Result<Step, sqlx::Error> {
        let delay = self.tuning.retry.delay(job.attempts as u32, retry_after);
        let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
        let out_of_attempts =
            job.deadline_at.is_none() && job.attempts as u32 >= self.tuning.retry.max_attempts;
        let past_deadline = job.deadline_at.is_some_and(|deadline| next > deadline);
        if out_of_attempts || past_deadline {
            self.record_unknown(tx, job, reason, now).await?;
            self.finish(tx, job, "failed", Some(reason), now).await?;
            tracing::warn!(
                job_id = job.id,
                kind = job.kind.as_str(),
                attempts = job.attempts,
                "enrichment gave up"
            );
            return Ok(Step::Failed);
        }
        // Settings not read yet are visibly unknown while retrying; never guessed.
        if job.kind != JobKind::Attendance {
            self.record_unknown(tx, job, reason, now).await?;
        }
        sqlx::query("UPDATE enrichment_jobs SET due_at = $1, last_error = $2, updated_at = $3 WHERE id = $4")
            .bind(to_millis(next))
            .bind(reason)
            .bind(to_millis(now))
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        Ok(Step::Retrying)
    }

    /// Puts a job back until the account's rate limit ends; the claim was no attempt.
    async fn wait_for_account(
        &self,
        tx: &mut sqlx::AnyConnection,
        job: &Job,
        reason: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Step, sqlx::Error> {
        if job.kind != JobKind::Attendance {
            self.record_unknown(tx, job, reason, now).await?;
        }
        sqlx::query(
            "UPDATE enrichment_jobs SET due_at = $1, last_error = $2, updated_at = $3, attempts = attempts - 1 WHERE id = $4",
        )
        .bind(to_millis(until))
        .bind(reason)
        .bind(to_millis(now))
        .bind(job.id)
        .execute(&mut *tx)
        .await?;
        Ok(Step::Retrying)
    }

    async fn record_unknown(
        &self,
        tx: &mut sqlx::AnyConnection,
        job: &Job,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        match job.kind {
            JobKind::MeetingSettings => {
                store::save_meeting_settings(tx, job, None, "unknown", Some(reason), now).await
            }
            JobKind::HostSettings => {
                store::save_user_settings(tx, job, None, "unknown", Some(reason), now).await
            }
            JobKind::UserAccount => {
                if store::user_account_known(tx, job.platform, &job.key).await? {
                    return Ok(());
                }
                store::save_user_account(tx, job, "unknown", None, Some(reason), now).await
            }
            JobKind::Attendance => store::give_up_reconciliation(tx, job, reason).await,
            // Registrations not read stay unresolved: the participant is not identified by
            // them, and a later join with an unstored registration asks again.
            JobKind::Registrants => Ok(()),
            // A participant not resolved stays pending until their deadline and is unknown
            // after it; a call's details not read stay unknown. The job's error says why.
            JobKind::Participant | JobKind::Instance => Ok(()),
        }
    }

    async fn finish(
        &self,
        tx: &mut sqlx::AnyConnection,
        job: &Job,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE enrichment_jobs SET status = $1, last_error = $2, updated_at = $3 WHERE id = $4")
            .bind(status)
            .bind(error)
            .bind(to_millis(now))
            .bind(job.id)
            .execute(tx)
            .await?;
        Ok(())
    }
}

/// A claimed job; a platform or kind chaperone cannot read is an error naming the job.
fn job_from_row(row: &AnyRow) -> Result<Job, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let platform: String = row.try_get("platform")?;
    Ok(Job {
        id,
        platform: decode_platform("enrichment_jobs", id, &platform)?,
        school_id: row.try_get("school_id")?,
        account_id: row.try_get("account_id")?,
        kind: decode(
            "enrichment_jobs",
            id,
            "kind",
            "kind of job",
            &kind,
            JobKind::parse,
        )?,
        key: row.try_get("job_key")?,
        instance_id: row.try_get("instance_id")?,
        attempts: row.try_get("attempts")?,
        deadline_at: row
            .try_get::<Option<i64>, _>("deadline_at")?
            .map(from_millis),
    })
}

/// Works whatever platform API jobs are due; woken when the processor queues jobs, and by the
/// poll interval for retries falling due.
impl Worker for Enricher {
    type Error = sqlx::Error;
    const ROLE: Role = Role::Enricher;

    fn woken_by(wakeups: &Wakeups) -> &Arc<Notify> {
        &wakeups.enrichment_requested
    }

    async fn step(&self, now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        Ok(match self.work_next(now).await? {
            Step::Empty => Pass::Idle,
            _ => Pass::Worked,
        })
    }

    async fn run_timer(&self, timer: Timer, now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        match timer {
            Timer::SilenceCheck => self.check_silence(now).await?,
            Timer::PlatformUpkeep => self.keep_platforms(now).await,
            _ => {}
        }
        Ok(Pass::Idle)
    }
}

fn step_label(step: Step) -> &'static str {
    match step {
        Step::Done => "done",
        Step::Retrying => "retrying",
        Step::Failed => "failed",
        Step::Empty => "empty",
    }
}
