//! What `/readyz` knows about the roles: each one's state as its supervisor sets it, and the
//! last heartbeat its loop stamped. Everything is an atomic, so a beat costs one clock read,
//! one load and one store.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Role;

/// A role's state as its supervisor last set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RoleState {
    /// Not run on this instance (turned off by `server.api_enabled` or `worker_enabled`).
    NotSupervised = 0,
    Running = 1,
    /// Panicked; waiting out the pause before its restart.
    Restarting = 2,
    /// Panicked too often; the process is stopping.
    Failed = 3,
    /// Returned (at shutdown).
    Stopped = 4,
}

impl RoleState {
    fn from_u8(value: u8) -> RoleState {
        match value {
            1 => RoleState::Running,
            2 => RoleState::Restarting,
            3 => RoleState::Failed,
            4 => RoleState::Stopped,
            _ => RoleState::NotSupervised,
        }
    }
}

/// Why a role makes the instance not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Restarting,
    Failed,
    Stopped,
    /// Running, but its loop has not come round for longer than the heartbeat allows.
    HeartbeatStale {
        silent_for: Duration,
    },
}

impl Problem {
    /// The stable label used in the readiness answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Restarting => "restarting",
            Problem::Failed => "failed",
            Problem::Stopped => "stopped",
            Problem::HeartbeatStale { .. } => "heartbeat_stale",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady {
    pub role: Role,
    pub problem: Problem,
}

#[derive(Default)]
struct Slot {
    state: AtomicU8,
    /// Milliseconds since the registry's epoch.
    last_beat_ms: AtomicU64,
    /// Test-only fault injection: panics still to raise at the next beats.
    injected_panics: AtomicU32,
}

struct Inner {
    epoch: Instant,
    stale_after: Duration,
    slots: [Slot; Role::ALL.len()],
}

/// The shared table of roles; cheap to clone.
#[derive(Clone)]
pub struct Roles {
    inner: Arc<Inner>,
}

impl Roles {
    /// A table where a running role whose last beat is older than `stale_after` is not ready.
    pub fn new(stale_after: Duration) -> Roles {
        Roles {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                stale_after,
                slots: Default::default(),
            }),
        }
    }

    /// The handle `role`'s loop stamps on each iteration.
    pub fn heartbeat(&self, role: Role) -> Heartbeat {
        Heartbeat {
            roles: self.clone(),
            role,
        }
    }

    pub(crate) fn set_state(&self, role: Role, state: RoleState) {
        if state == RoleState::Running {
            self.stamp(role);
        }
        self.slot(role).state.store(state as u8, Ordering::Release);
    }

    /// Every supervised role that is not running with a fresh heartbeat.
    pub fn not_ready(&self) -> Vec<NotReady> {
        self.not_ready_at(self.elapsed_ms())
    }

    fn not_ready_at(&self, now_ms: u64) -> Vec<NotReady> {
        Role::ALL
            .into_iter()
            .filter_map(|role| {
                let slot = self.slot(role);
                let problem = match RoleState::from_u8(slot.state.load(Ordering::Acquire)) {
                    RoleState::NotSupervised => return None,
                    RoleState::Restarting => Problem::Restarting,
                    RoleState::Failed => Problem::Failed,
                    RoleState::Stopped => Problem::Stopped,
                    RoleState::Running => {
                        let last_ms = slot.last_beat_ms.load(Ordering::Relaxed);
                        let silent_for = Duration::from_millis(now_ms.saturating_sub(last_ms));
                        if silent_for <= self.inner.stale_after {
                            return None;
                        }
                        Problem::HeartbeatStale { silent_for }
                    }
                };
                Some(NotReady { role, problem })
            })
            .collect()
    }

    /// Makes `role` panic at each of its next `times` heartbeats, to test supervision.
    #[doc(hidden)]
    pub fn inject_panics(&self, role: Role, times: u32) {
        self.slot(role)
            .injected_panics
            .store(times, Ordering::Relaxed);
    }

    fn stamp(&self, role: Role) {
        self.slot(role)
            .last_beat_ms
            .store(self.elapsed_ms(), Ordering::Relaxed);
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn slot(&self, role: Role) -> &Slot {
        &self.inner.slots[role.index()]
    }
}

/// One role's heartbeat; its loop calls [`Heartbeat::beat`] once per iteration, including
/// after waking from an idle wait, so an idle role beats at least once per poll interval.
#[derive(Clone)]
pub struct Heartbeat {
    roles: Roles,
    role: Role,
}

impl Heartbeat {
    pub fn beat(&self) {
        if self
            .roles
            .slot(self.role)
            .injected_panics
            .load(Ordering::Relaxed)
            > 0
        {
            self.raise_injected_panic();
        }
        self.roles.stamp(self.role);
    }

    #[cold]
    fn raise_injected_panic(&self) {
        let remaining = &self.roles.slot(self.role).injected_panics;
        let taken = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        });
        if taken.is_ok() {
            panic!("injected fault: the {} panics for a test", self.role);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_not_run_on_this_instance_do_not_count() {
        let roles = Roles::new(Duration::from_secs(60));
        assert!(roles.not_ready().is_empty());
    }

    #[test]
    fn a_restarting_role_is_not_ready_until_it_runs_again() {
        let roles = Roles::new(Duration::from_secs(60));
        roles.set_state(Role::Evaluator, RoleState::Restarting);
        assert_eq!(
            roles.not_ready(),
            vec![NotReady {
                role: Role::Evaluator,
                problem: Problem::Restarting
            }]
        );
        roles.set_state(Role::Evaluator, RoleState::Running);
        assert!(roles.not_ready().is_empty());
    }

    #[test]
    fn a_running_role_without_a_beat_for_longer_than_allowed_is_stale() {
        let roles = Roles::new(Duration::from_secs(60));
        roles.set_state(Role::Processor, RoleState::Running);
        let beat_ms = roles
            .slot(Role::Processor)
            .last_beat_ms
            .load(Ordering::Relaxed);
        assert!(roles.not_ready_at(beat_ms + 60_000).is_empty());
        assert_eq!(
            roles.not_ready_at(beat_ms + 60_001),
            vec![NotReady {
                role: Role::Processor,
                problem: Problem::HeartbeatStale {
                    silent_for: Duration::from_millis(60_001)
                }
            }]
        );
    }

    #[test]
    fn a_beat_makes_a_stale_role_fresh_again() {
        let roles = Roles::new(Duration::from_millis(20));
        roles.set_state(Role::Dispatcher, RoleState::Running);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(roles.not_ready().len(), 1);
        roles.heartbeat(Role::Dispatcher).beat();
        assert!(roles.not_ready().is_empty());
    }

    #[test]
    fn injected_panics_are_raised_as_many_times_as_asked() {
        let roles = Roles::new(Duration::from_secs(60));
        let heartbeat = roles.heartbeat(Role::Enricher);
        roles.inject_panics(Role::Enricher, 2);
        for _ in 0..2 {
            let beat = heartbeat.clone();
            assert!(std::panic::catch_unwind(move || beat.beat()).is_err());
        }
        heartbeat.beat();
    }
}
