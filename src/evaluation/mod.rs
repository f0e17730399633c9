//! The evaluation worker: takes meetings off the evaluation queue, loads their picture, runs
//! the policy engine, records what changed in the findings and queues the alerts — all in
//! one transaction — and asks to be woken again when the engine's timers fall due.

pub mod dry_run;
mod load;
pub mod queue;
mod wait;

use chrono::{DateTime, Utc};
use sqlx::Row;
use std::sync::Arc;
use tokio::sync::Notify;

pub use queue::Target;

use crate::alerts::outbox;
use crate::db::Db;
use crate::directory::settings as school_settings;
use crate::findings::{self, EvaluatedScope};
use crate::policy::calendar::{BankHolidays, SchoolCalendar};
use crate::policy::engine;
use crate::supervision::Role;
use crate::timers::Timer;
use crate::worker::{Pass, Wakeups, Worker};

/// Meetings evaluated per transaction: one commit for many, while a transaction stays short
/// enough not to hold up the inbox writer.
const BATCH_SIZE: usize = 32;

/// What a school's evaluations need, read once per batch.
struct School {
    policy: crate::policy::settings::Policy,
    calendar: SchoolCalendar,
}

/// The schools a batch has read so far.
#[derive(Default)]
struct Schools(std::collections::HashMap<i64, School>);

impl Schools {
    async fn get(
        &mut self,
        connection: &mut sqlx::AnyConnection,
        school_id: i64,
        bank_holidays: &BankHolidays,
    ) -> Result<&School, EvaluationError> {
        if let std::collections::hash_map::Entry::Vacant(vacant) = self.0.entry(school_id) {
            let settings = school_settings::load(connection, school_id).await?;
            let policy = settings
                .policy
                .resolve()
                .map_err(|error| EvaluationError::Policy {
                    school_id,
                    reason: error.to_string(),
                })?;
            let timezone = load::school_timezone(connection, school_id).await?;
            let calendar = SchoolCalendar::new(timezone, settings.calendar.clone(), bank_holidays);
            vacant.insert(School { policy, calendar });
        }
        Ok(&self.0[&school_id])
    }
}

/// How long a meeting whose evaluation failed waits before it is tried again.
const RETRY_FAILED_AFTER: chrono::Duration = chrono::Duration::minutes(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Evaluated {
        findings_opened: usize,
    },
    /// The meeting still had events waiting in the inbox: it is judged once they are applied.
    Deferred,
    Empty,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("school {school_id} has a policy that cannot be used: {reason}")]
    Policy { school_id: i64, reason: String },
}

#[derive(Clone)]
pub struct Evaluator {
    db: Db,
    bank_holidays: Arc<BankHolidays>,
    wakeups: Wakeups,
}

impl Evaluator {
    pub fn new(db: Db, bank_holidays: Arc<BankHolidays>, wakeups: Wakeups) -> Self {
        Evaluator {
            db,
            bank_holidays,
            wakeups,
        }
    }

    /// Evaluates the earliest meetings due at `now`, up to a batch, in one transaction. If
    /// one of them cannot be evaluated the batch is rolled back and the earliest is tried
    /// alone, so a meeting that fails is tried again after [`RETRY_FAILED_AFTER`] by itself
    /// and does not hold up every meeting due after it.
    pub async fn evaluate_next(&self, now: DateTime<Utc>) -> Result<Step, EvaluationError> {
        self.db.yield_to_ingestion().await;
        let mut limit = BATCH_SIZE;
        loop {
            let mut tx = self.db.pool.begin().await?;
            let targets = queue::claim_due(&mut tx, self.db.backend, now, limit).await?;
            if targets.is_empty() {
                tx.rollback().await?;
                return Ok(Step::Empty);
            }
            let mut schools = Schools::default();
            let mut evaluated = false;
            let mut findings_opened = 0;
            let mut alerts_queued = false;
            let mut failure = None;
            for target in &targets {
                match self.evaluate(&mut tx, *target, now, &mut schools).await {
                    Ok((step, queued)) => {
                        alerts_queued |= queued;
                        if let Step::Evaluated {
                            findings_opened: opened,
                        } = step
                        {
                            evaluated = true;
                            findings_opened += opened;
                        }
                    }
                    Err(error) => {
                        failure = Some((*target, error));
                        break;
                    }
                }
            }
            let Some((target, error)) = failure else {
                tx.commit().await?;
                if alerts_queued {
                    self.wakeups.alerts_queued.notify_one();
                }
                return Ok(if evaluated {
                    Step::Evaluated { findings_opened }
                } else {
                    Step::Deferred
                });
            };
            tx.rollback().await?;
            if limit > 1 {
                limit = 1;
                continue;
            }
            let retry_at = now + RETRY_FAILED_AFTER;
            let mut connection = self.db.pool.acquire().await?;
            queue::postpone(&mut connection, target, retry_at).await?;
            tracing::error!(?target, %error, "meeting could not be evaluated; will retry");
            return Err(error);
        }
    }

    /// Evaluates `target` inside `tx`; says whether alerts were queued.
    async fn evaluate(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        target: Target,
        now: DateTime<Utc>,
        schools: &mut Schools,
    ) -> Result<(Step, bool), EvaluationError> {
        if wait::awaits_events(tx, target).await? {
            queue::enqueue(&mut *tx, target, wait::retry_at(now)).await?;
            tracing::debug!(
                ?target,
                "evaluation deferred: events for the meeting are not yet applied"
            );
            return Ok((Step::Deferred, false));
        }
        let nothing = Step::Evaluated { findings_opened: 0 };
        let Some(school_id) = school_of(tx, target).await? else {
            return Ok((nothing, false));
        };
        let school = schools.get(tx, school_id, &self.bank_holidays).await?;
        let window = school.policy.approved_in_advance.params.match_window_mins;
        let loaded = match target {
            Target::Scheduled(id) => load::scheduled(tx, id, now, window).await?,
            Target::Instance(id) => load::instance(tx, id, now, window).await?,
        };
        let Some((ids, view)) = loaded else {
            return Ok((nothing, false));
        };
        let (policy, calendar) = (&school.policy, &school.calendar);
        let evaluation = engine::evaluate(&view, policy, calendar, now);
        let scope = EvaluatedScope {
            school_id,
            scheduled_meeting_id: ids.scheduled_meeting_id,
            meeting_instance_id: ids.meeting_instance_id,
            platform_account_id: None,
        };
        // A call's evaluation owns the call's findings only; its schedule keeps its own.
        let scope = match target {
            Target::Instance(_) => scope,
            Target::Scheduled(_) => EvaluatedScope {
                meeting_instance_id: None,
                ..scope
            },
        };
        let applied = findings::apply_evaluation(tx, &scope, &evaluation.findings, now).await?;
        let queued = outbox::queue_after_evaluation(tx, &applied, now).await?;
        let opened = applied.opened;
        if let Some(next) = evaluation.next_check_at {
            queue::enqueue(tx, target, next).await?;
        }
        tracing::debug!(
            ?target,
            findings = evaluation.findings.len(),
            opened = opened.len(),
            "meeting evaluated"
        );
        let step = Step::Evaluated {
            findings_opened: opened.len(),
        };
        Ok((step, queued > 0))
    }

    /// Evaluates until nothing is due at `now` (for tests and tools).
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<usize, EvaluationError> {
        let mut opened = 0;
        loop {
            match self.evaluate_next(now).await? {
                Step::Evaluated { findings_opened } => opened += findings_opened,
                Step::Deferred => {}
                Step::Empty => return Ok(opened),
            }
        }
    }
}

/// Evaluates whatever is due; woken by the processor and the enricher, and by the poll
/// interval for the engine's own timers and other instances' work.
impl Worker for Evaluator {
    type Error = EvaluationError;
    const ROLE: Role = Role::Evaluator;

    fn woken_by(wakeups: &Wakeups) -> &Arc<Notify> {
        &wakeups.meetings_changed
    }

    async fn step(&self, now: DateTime<Utc>) -> Result<Pass, EvaluationError> {
        Ok(match self.evaluate_next(now).await? {
            Step::Evaluated { .. } | Step::Deferred => Pass::Worked,
            Step::Empty => Pass::Idle,
        })
    }

    async fn run_timer(&self, _timer: Timer, _now: DateTime<Utc>) -> Result<Pass, EvaluationError> {
        Ok(Pass::Idle)
    }
}

async fn school_of(
    connection: &mut sqlx::AnyConnection,
    target: Target,
) -> Result<Option<i64>, sqlx::Error> {
    let sql = match target {
        Target::Scheduled(_) => "SELECT school_id FROM scheduled_meetings WHERE id = $1",
        Target::Instance(_) => "SELECT school_id FROM meeting_instances WHERE id = $1",
    };
    let id = match target {
        Target::Scheduled(id) | Target::Instance(id) => id,
    };
    let row = sqlx::query(sql).bind(id).fetch_optional(connection).await?;
    row.map(|row| row.try_get("school_id")).transpose()
}
