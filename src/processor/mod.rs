//! The processor: claims inbox events one at a time and applies them to the meeting state
//! in the same transaction that marks them processed, so a crash at any point either
//! leaves an event pending or fully applied, never half.

mod apply;
mod bulk;
mod translate;

pub use translate::{translate, TranslateError, Translated};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::db::Db;
use crate::enrichment::{self, ReconciliationTiming};
use crate::evaluation;
use crate::inbox;
use crate::meeting::{MeetingEvent, Platform};
use crate::supervision::Role;
use crate::telemetry::metrics::Metrics;
use crate::timers::Timer;
use crate::worker::{Pass, Wakeups, Worker};

/// Events applied in one transaction: one commit for many, while a transaction stays short
/// enough not to hold up the inbox writer.
const BATCH_SIZE: usize = 64;

/// What a batch has learnt so far, in its own transaction.
#[derive(Default)]
struct BatchState {
    /// Each meeting the batch changed, queued for evaluation once after it.
    changed: HashSet<evaluation::Target>,
    /// Whether each account the batch's events came from has API credentials.
    api_configured: HashMap<(Platform, String), bool>,
    /// Alerts queued by what the batch said about delivery (a coverage gap found or closed).
    alerts_queued: usize,
    /// The directory's answers so far.
    people: apply::People,
    /// The calls [`bulk`] wrote, by platform and instance key.
    written: HashMap<(Platform, String), i64>,
}

/// What one step of the processor did; tests drain with it instead of sleeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Processed,
    Failed,
    Empty,
}

#[derive(Clone)]
pub struct Processor {
    db: Db,
    metrics: Arc<Metrics>,
    max_attempts: u32,
    wakeups: Wakeups,
    reconciliation: ReconciliationTiming,
}

impl Processor {
    pub fn new(
        db: Db,
        metrics: Arc<Metrics>,
        max_attempts: u32,
        wakeups: Wakeups,
        reconciliation: ReconciliationTiming,
    ) -> Self {
        Processor {
            db,
            metrics,
            max_attempts,
            wakeups,
            reconciliation,
        }
    }

    /// Applies the oldest pending events, up to a batch, in one transaction. If one of
    /// them cannot be applied, the batch is rolled back and the oldest event is tried alone,
    /// so a failing event is retried (and set aside) by itself.
    #[tracing::instrument(skip_all)]
    pub async fn process_next(&self) -> Result<Step, sqlx::Error> {
        self.db.yield_to_ingestion().await;
        let mut limit = BATCH_SIZE;
        loop {
            let mut tx = self.db.pool.begin().await?;
            let batch = inbox::claim(&mut tx, self.db.backend, limit).await?;
            if batch.is_empty() {
                tx.rollback().await?;
                return Ok(Step::Empty);
            }
            let now = Utc::now();
            let mut failure = None;
            let mut batch_state = BatchState::default();
            let mut translated = Vec::with_capacity(batch.len());
            for pending in &batch {
                match translate(pending) {
                    Ok(events) => translated.push(events),
                    Err(error) => {
                        failure = Some((pending, error.to_string()));
                        break;
                    }
                }
            }
            if failure.is_none() {
                if let Err(error) = self
                    .write_calls(&mut tx, &batch, &translated, &mut batch_state)
                    .await
                {
                    // Tried again one event at a time, which names the event.
                    failure = Some((&batch[0], error.to_string()));
                }
            }
            if failure.is_none() {
                for (pending, translated) in batch.iter().zip(&translated) {
                    if let Err(error) = self
                        .apply_all(&mut tx, pending, translated, now, &mut batch_state)
                        .await
                    {
                        failure = Some((pending, error));
                        break;
                    }
                }
            }
            let Some((pending, error)) = failure else {
                let changed: Vec<evaluation::Target> = batch_state.changed.into_iter().collect();
                evaluation::queue::enqueue_many(&mut tx, self.db.backend, &changed, now).await?;
                let ids: Vec<i64> = batch.iter().map(|pending| pending.id).collect();
                inbox::mark_processed(&mut tx, &ids, now).await?;
                tx.commit().await?;
                self.wakeups.meetings_changed.notify_one();
                self.wakeups.enrichment_requested.notify_one();
                self.wakeups.records_written.notify_one();
                if batch_state.alerts_queued > 0 {
                    self.wakeups.alerts_queued.notify_one();
                }
                for pending in &batch {
                    let latency = (now - pending.received_at).to_std().unwrap_or_default();
                    self.metrics.record_processed(latency);
                }
                return Ok(Step::Processed);
            };
            tx.rollback().await?;
            if limit > 1 {
                limit = 1;
                continue;
            }
            let set_aside =
                inbox::record_failure(&self.db, pending.id, &error, self.max_attempts, Utc::now())
                    .await?;
            self.metrics.record_processing_failure(set_aside);
            tracing::warn!(inbox_id = pending.id, attempts = pending.attempts + 1, set_aside, %error, "event could not be applied");
            return Ok(Step::Failed);
        }
    }

    /// Writes the calls and sessions the batch's start, end, join and leave events describe,
    /// each once (see [`bulk`]); the per-event pass then finds them written.
    async fn write_calls(
        &self,
        tx: &mut sqlx::AnyConnection,
        batch: &[inbox::PendingEvent],
        translated: &[Translated],
        state: &mut BatchState,
    ) -> Result<(), sqlx::Error> {
        let mut calls = bulk::Bulk::default();
        for (pending, translated) in batch.iter().zip(translated) {
            for event in translated.events.iter().filter(|event| bulk::takes(event)) {
                calls.add(pending.school_id, translated.platform, event);
            }
        }
        state.written = calls.write(tx, self.db.backend, &mut state.people).await?;
        Ok(())
    }

    /// Applies the events a stored event stands for, in order, and records what it says
    /// about the platform's delivery.
    async fn apply_all(
        &self,
        tx: &mut sqlx::AnyConnection,
        pending: &inbox::PendingEvent,
        translated: &Translated,
        now: chrono::DateTime<Utc>,
        batch: &mut BatchState,
    ) -> Result<(), String> {
        let platform = translated.platform;
        for event in &translated.events {
            let target = self
                .apply(tx, pending, platform, event, now, batch)
                .await
                .map_err(|error| error.to_string())?;
            batch.changed.insert(target);
        }
        if let Some(account_id) = &pending.account_id {
            for notice in &translated.notices {
                batch.alerts_queued += enrichment::coverage::record_delivery_notice(
                    tx, platform, account_id, notice, now,
                )
                .await
                .map_err(|error| error.to_string())?;
            }
        }
        Ok(())
    }

    /// Applies the event and queues the platform API reads it calls for, in the caller's
    /// transaction; returns the meeting it changed.
    async fn apply(
        &self,
        tx: &mut sqlx::AnyConnection,
        pending: &inbox::PendingEvent,
        platform: Platform,
        event: &MeetingEvent,
        now: chrono::DateTime<Utc>,
        batch: &mut BatchState,
    ) -> Result<evaluation::Target, sqlx::Error> {
        let written = bulk::instance_key(event)
            .and_then(|key| batch.written.get(&(platform, key.to_string())));
        let target = match written {
            Some(id) => evaluation::Target::Instance(*id),
            None => apply::apply(tx, &mut batch.people, pending.school_id, platform, event).await?,
        };
        let Some(account_id) = &pending.account_id else {
            return Ok(target);
        };
        // Without API credentials there is nothing to ask: the register shows the settings as
        // not read and the call as not reconciled, and no job is queued on every event.
        let key = (platform, account_id.clone());
        let api_configured = match batch.api_configured.get(&key) {
            Some(configured) => *configured,
            None => {
                let configured =
                    enrichment::store::api_configured(tx, platform, account_id).await?;
                batch.api_configured.insert(key, configured);
                configured
            }
        };
        if api_configured {
            enrichment::request_after_event(
                tx,
                platform,
                pending.school_id,
                account_id,
                event,
                target,
                self.reconciliation,
                now,
            )
            .await?;
        }
        Ok(target)
    }

    /// Processes until nothing is pending (for tests and tools).
    pub async fn drain(&self) -> Result<usize, sqlx::Error> {
        let mut steps = 0;
        loop {
            match self.process_next().await? {
                Step::Empty => return Ok(steps),
                Step::Processed | Step::Failed => steps += 1,
            }
        }
    }
}

/// Applies whatever the inbox holds; woken by the inbox writer's commits, and by the poll
/// interval for events other instances stored.
impl Worker for Processor {
    type Error = sqlx::Error;
    const ROLE: Role = Role::Processor;

    fn woken_by(wakeups: &Wakeups) -> &Arc<Notify> {
        &wakeups.inbox_committed
    }

    async fn step(&self, _now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        Ok(match self.process_next().await? {
            Step::Processed => Pass::Worked,
            // Set aside or to be retried later: going again at once would only fail again.
            Step::Failed | Step::Empty => Pass::Idle,
        })
    }

    async fn run_timer(&self, timer: Timer, now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        match timer {
            Timer::UploadExpiry => {
                let purged = crate::import::uploads::purge_expired(&self.db, now).await?;
                if purged > 0 {
                    tracing::info!(purged, "deleted MIS uploads past their expiry");
                }
            }
            other => tracing::error!(timer = other.name(), "timer run by the wrong worker"),
        }
        Ok(Pass::Idle)
    }
}
