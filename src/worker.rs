//! One runner for every background worker. A pass runs the worker's due timers, then its
//! next unit of work; a worker that did something goes again at once, one that found nothing
//! waits for its wake-up, its poll interval or shutdown. Each worker says only what one pass
//! is ([`Worker`]); the waiting, the heartbeat and the logging of failed passes live here.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::supervision::{Heartbeat, Role};
use crate::timers::{Scheduled, Timer};

/// The signals that pass work downstream, one per hand-over in the data flow: each is
/// notified by the stage that queues work and waited on by the worker that takes it.
#[derive(Clone, Default)]
pub struct Wakeups {
    /// The inbox writer committed events: wakes the processor.
    pub inbox_committed: Arc<Notify>,
    /// Meetings were queued for evaluation: wakes the evaluator.
    pub meetings_changed: Arc<Notify>,
    /// Platform API jobs were queued: wakes the enricher.
    pub enrichment_requested: Arc<Notify>,
    /// Alert deliveries were queued: wakes the dispatcher.
    pub alerts_queued: Arc<Notify>,
    /// Records the ledger covers were written: wakes the ledger keeper.
    pub records_written: Arc<Notify>,
}

/// What one pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Something was done: there may be more, so go again without waiting.
    Worked,
    /// Nothing was due (or the pass failed in a way that retrying at once would not fix).
    Idle,
}

/// A background worker, as the runner sees it.
pub trait Worker: Send + Sync + 'static {
    type Error: Display + Send;

    /// The supervised role this worker is.
    const ROLE: Role;

    /// The wake-up that tells this worker there is new work.
    fn woken_by(wakeups: &Wakeups) -> &Arc<Notify>;

    /// Works the next unit due at `now`, if any.
    fn step(&self, now: DateTime<Utc>) -> impl Future<Output = Result<Pass, Self::Error>> + Send;

    /// Runs one of this worker's timers (the list is in [`crate::timers`]).
    fn run_timer(
        &self,
        timer: Timer,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Pass, Self::Error>> + Send;
}

/// How a worker is run: when it looks for work unprompted, and what else it runs on a timer.
pub struct Cadence {
    pub poll_interval: Duration,
    pub timers: Vec<Scheduled>,
}

/// Runs `worker` until `shutdown` turns true.
pub async fn run<W: Worker>(
    worker: &W,
    heartbeat: Heartbeat,
    wakeups: &Wakeups,
    cadence: &Cadence,
    mut shutdown: watch::Receiver<bool>,
) {
    let wake = W::woken_by(wakeups);
    let mut last_run: Vec<Option<Instant>> = vec![None; cadence.timers.len()];
    while !*shutdown.borrow() {
        heartbeat.beat();
        let now = Utc::now();
        let mut worked = false;
        for (scheduled, last_run) in cadence.timers.iter().zip(last_run.iter_mut()) {
            if last_run.is_some_and(|at| at.elapsed() < scheduled.every) {
                continue;
            }
            *last_run = Some(Instant::now());
            match worker.run_timer(scheduled.timer, now).await {
                Ok(pass) => worked |= pass == Pass::Worked,
                Err(error) => {
                    tracing::error!(role = %W::ROLE, timer = scheduled.timer.name(), %error, "timer failed")
                }
            }
        }
        match worker.step(now).await {
            Ok(pass) => worked |= pass == Pass::Worked,
            Err(error) => tracing::error!(role = %W::ROLE, %error, "worker pass failed"),
        }
        if worked {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(cadence.poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::supervision::Roles;

    /// Has `work` units queued; counts its passes and timer runs.
    #[derive(Default)]
    struct Counting {
        work: AtomicU32,
        passes: AtomicU32,
        timer_runs: AtomicU32,
    }

    impl Worker for Counting {
        type Error = String;
        const ROLE: Role = Role::Evaluator;

        fn woken_by(wakeups: &Wakeups) -> &Arc<Notify> {
            &wakeups.meetings_changed
        }

        async fn step(&self, _now: DateTime<Utc>) -> Result<Pass, String> {
            self.passes.fetch_add(1, Ordering::SeqCst);
            let left = self.work.load(Ordering::SeqCst);
            if left == 0 {
                return Ok(Pass::Idle);
            }
            self.work.store(left - 1, Ordering::SeqCst);
            Ok(Pass::Worked)
        }

        async fn run_timer(&self, _timer: Timer, _now: DateTime<Utc>) -> Result<Pass, String> {
            self.timer_runs.fetch_add(1, Ordering::SeqCst);
            Err("timers may fail without stopping the worker".to_owned())
        }
    }

    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn work_is_done_at_once_then_the_worker_waits_for_its_wake_up_timer_or_poll() {
        let worker = Arc::new(Counting::default());
        worker.work.store(3, Ordering::SeqCst);
        let wakeups = Wakeups::default();
        let cadence = Cadence {
            poll_interval: Duration::from_secs(10),
            timers: vec![Scheduled {
                timer: Timer::Escalation,
                every: Duration::from_secs(25),
            }],
        };
        let (stop, shutdown) = watch::channel(false);
        let heartbeat = Roles::new(Duration::from_secs(60)).heartbeat(Role::Evaluator);
        let running = tokio::spawn({
            let (worker, wakeups) = (worker.clone(), wakeups.clone());
            async move { run(&*worker, heartbeat, &wakeups, &cadence, shutdown).await }
        });
        settle().await;
        // Three units, one at a time without waiting, then an idle pass.
        assert_eq!(worker.passes.load(Ordering::SeqCst), 4);
        assert_eq!(worker.timer_runs.load(Ordering::SeqCst), 1);

        worker.work.store(1, Ordering::SeqCst);
        wakeups.meetings_changed.notify_one();
        settle().await;
        assert_eq!(worker.passes.load(Ordering::SeqCst), 6, "woken, not polled");
        // Another role's wake-up does not wake it.
        wakeups.alerts_queued.notify_one();
        settle().await;
        assert_eq!(worker.passes.load(Ordering::SeqCst), 6);

        tokio::time::advance(Duration::from_secs(10)).await;
        settle().await;
        assert_eq!(worker.passes.load(Ordering::SeqCst), 7, "the poll interval");
        assert_eq!(worker.timer_runs.load(Ordering::SeqCst), 1, "not due yet");
        tokio::time::advance(Duration::from_secs(20)).await;
        settle().await;
        assert_eq!(
            worker.timer_runs.load(Ordering::SeqCst),
            2,
            "due after 25 s"
        );

        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .expect("stops on shutdown")
            .unwrap();
    }
}
