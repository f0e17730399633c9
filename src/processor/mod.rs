//! The processor: claims inbox events one at a time and applies them to the meeting state
//! in the same transaction that marks them processed, so a crash at any point either
//! leaves an event pending or fully applied, never half.

mod apply;
mod translate;

pub use translate::{translate, TranslateError};

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{watch, Notify};

use crate::db::Db;
use crate::enrichment::{self, ReconciliationTiming};
use crate::evaluation;
use crate::inbox;
use crate::meeting::{MeetingEvent, Platform};
use crate::supervision::Heartbeat;
use crate::telemetry::metrics::Metrics;

const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// Events applied in one transaction: one commit for many, while a transaction stays short
/// enough not to hold up the inbox writer.
const BATCH_SIZE: usize = 64;

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
    /// Wakes the evaluation worker: a meeting changed.
    meeting_changed: Arc<Notify>,
    /// Wakes the enrichment worker: platform API jobs were queued.
    enrichment_requested: Arc<Notify>,
    reconciliation: ReconciliationTiming,
}

impl Processor {
    pub fn new(
        db: Db,
        metrics: Arc<Metrics>,
        max_attempts: u32,
        meeting_changed: Arc<Notify>,
        enrichment_requested: Arc<Notify>,
        reconciliation: ReconciliationTiming,
    ) -> Self {
        Processor {
            db,
            metrics,
            max_attempts,
            meeting_changed,
            enrichment_requested,
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
            for pending in &batch {
                let outcome = match translate(pending) {
                    Ok((platform, events)) => {
                        self.apply_all(&mut tx, pending, platform, &events, now)
                            .await
                    }
                    Err(error) => Err(error.to_string()),
                };
                if let Err(error) = outcome {
                    failure = Some((pending, error));
                    break;
                }
            }
            let Some((pending, error)) = failure else {
                for pending in &batch {
                    inbox::mark_processed(&mut tx, pending.id, now).await?;
                }
                tx.commit().await?;
                self.meeting_changed.notify_one();
                self.enrichment_requested.notify_one();
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

    /// Applies the events a stored event stands for, in order.
    async fn apply_all(
        &self,
        tx: &mut sqlx::AnyConnection,
        pending: &inbox::PendingEvent,
        platform: Platform,
        events: &[MeetingEvent],
        now: chrono::DateTime<Utc>,
    ) -> Result<(), String> {
        for event in events {
            self.apply(tx, pending, platform, event, now)
                .await
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// Applies the event, queues its meeting for evaluation and the platform API reads it
    /// calls for, all in the caller's transaction.
    async fn apply(
        &self,
        tx: &mut sqlx::AnyConnection,
        pending: &inbox::PendingEvent,
        platform: Platform,
        event: &MeetingEvent,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let target = apply::apply(tx, pending.school_id, platform, event).await?;
        evaluation::queue::enqueue(tx, target, now).await?;
        if let Some(account_id) = &pending.account_id {
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
        Ok(())
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

    /// Runs until `shutdown` turns true: processes whatever is pending, then waits for the
    /// inbox writer's wake-up or the poll interval (events from other instances).
    pub async fn run(
        self,
        heartbeat: Heartbeat,
        wake: Arc<Notify>,
        poll_interval: Duration,
        retention: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut last_purge: Option<Instant> = None;
        while !*shutdown.borrow() {
            heartbeat.beat();
            let idle = match self.process_next().await {
                Ok(Step::Processed) => false,
                Ok(Step::Failed) => true,
                Ok(Step::Empty) => {
                    if last_purge.is_none_or(|at| at.elapsed() >= PURGE_INTERVAL) {
                        self.purge(retention).await;
                        last_purge = Some(Instant::now());
                    }
                    true
                }
                Err(error) => {
                    tracing::error!(%error, "processor step failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn purge(&self, retention: Duration) {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        match inbox::purge_processed(&self.db, cutoff).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged processed inbox events past retention"),
            Err(error) => tracing::error!(%error, "inbox purge failed"),
        }
    }
}
