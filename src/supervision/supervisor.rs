//! Runs a role as a task, restarts it after a panic, and reports the role that has to be
//! given up on. A panic is seen through the task's `JoinError`, so a role needs no
//! `catch_unwind` of its own and a panic anywhere inside it counts.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::registry::RoleState;
use super::restart::{Decision, PanicHistory};
use super::{Heartbeat, RestartPolicy, Role, Roles};
use crate::telemetry::metrics::Metrics;

/// A role that panicked more often than the restart policy allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {role} panicked {panics} times within {window_secs} s and was not restarted again; \
     stopping so that the process supervisor restarts chaperone"
)]
pub struct RoleFailed {
    pub role: Role,
    pub panics: usize,
    pub window_secs: u64,
}

/// Starts roles under supervision; every role it starts reports a failure on one channel.
#[derive(Clone)]
pub struct Supervisor {
    pub roles: Roles,
    pub metrics: Arc<Metrics>,
    pub policy: RestartPolicy,
    /// Turns true at shutdown: a role waiting for its restart then stays down.
    pub shutdown: watch::Receiver<bool>,
    pub failures: mpsc::UnboundedSender<RoleFailed>,
}

impl Supervisor {
    /// Runs `role` as a task made by `start`, again after each panic, until it returns
    /// (at shutdown) or is given up on (then sent on `failures`).
    pub fn start<F, Fut>(&self, role: Role, start: F) -> JoinHandle<()>
    where
        F: FnMut(Heartbeat) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let supervisor = self.clone();
        tokio::spawn(async move {
            if let Err(failed) = supervisor.supervise(role, start).await {
                let _ = supervisor.failures.send(failed);
            }
        })
    }

    async fn supervise<F, Fut>(&self, role: Role, mut start: F) -> Result<(), RoleFailed>
    where
        F: FnMut(Heartbeat) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut history = PanicHistory::default();
        loop {
            self.roles.set_state(role, RoleState::Running);
            let ended = tokio::spawn(start(self.roles.heartbeat(role))).await;
            match ended {
                Err(error) if error.is_panic() => {}
                // Returned, or cancelled with the runtime: either way the process is stopping.
                _ => {
                    self.roles.set_state(role, RoleState::Stopped);
                    return Ok(());
                }
            }
            // The panic payload is not logged: it may quote the data being worked on.
            let pause = match history.record(Instant::now(), &self.policy) {
                Decision::RestartAfter(pause) => pause,
                Decision::GiveUp { panics } => {
                    self.roles.set_state(role, RoleState::Failed);
                    return Err(RoleFailed {
                        role,
                        panics,
                        window_secs: self.policy.window.as_secs(),
                    });
                }
            };
            self.roles.set_state(role, RoleState::Restarting);
            self.metrics.record_role_restart(role);
            tracing::error!(
                role = role.as_str(),
                restart_in_ms = millis(pause),
                "role panicked; restarting it"
            );
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|stopping| *stopping) => {
                    self.roles.set_state(role, RoleState::Stopped);
                    return Ok(());
                }
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Harness {
        supervisor: Supervisor,
        failed: mpsc::UnboundedReceiver<RoleFailed>,
        _stop: watch::Sender<bool>,
    }

    fn harness(max_restarts: u32) -> Harness {
        let (failures, failed) = mpsc::unbounded_channel();
        let (stop, shutdown) = watch::channel(false);
        let supervisor = Supervisor {
            roles: Roles::new(Duration::from_secs(60)),
            metrics: Arc::new(Metrics::default()),
            policy: RestartPolicy {
                first_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
                max_restarts,
                window: Duration::from_secs(60),
            },
            shutdown,
            failures,
        };
        Harness {
            supervisor,
            failed,
            _stop: stop,
        }
    }

    #[tokio::test]
    async fn a_role_that_panics_once_is_restarted_and_then_runs_to_its_end() {
        let Harness {
            supervisor,
            mut failed,
            _stop,
        } = harness(3);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let task = supervisor.start(Role::Processor, move |_| {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    panic!("first run fails");
                }
            }
        });
        task.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        drop(supervisor);
        assert!(failed.recv().await.is_none(), "not given up on");
    }

    #[tokio::test]
    async fn a_role_that_keeps_panicking_is_reported_by_name() {
        let Harness {
            supervisor,
            mut failed,
            _stop,
        } = harness(2);
        supervisor
            .start(Role::Evaluator, |_| async { panic!("always fails") })
            .await
            .unwrap();
        let failure = failed.recv().await.expect("a failure");
        assert_eq!((failure.role, failure.panics), (Role::Evaluator, 3));
        assert!(failure.to_string().contains("evaluator"), "{failure}");
        assert_eq!(supervisor.roles.not_ready().len(), 1);
    }
}
