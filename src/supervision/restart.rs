//! When a role that panicked is restarted, and when the process gives up on it. A panic
//! that repeats is most likely a bug or a poisoned input that a restart will meet again:
//! the pause doubles so that it does not spin, and past `max_restarts` within `window` the
//! process stops loudly instead of limping on.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::SupervisionSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Pause before restarting after the first panic within the window.
    pub first_backoff: Duration,
    /// The pause doubles with each panic within the window, up to this.
    pub max_backoff: Duration,
    /// Restarts allowed within the window; the next panic stops the process.
    pub max_restarts: u32,
    pub window: Duration,
}

impl RestartPolicy {
    pub fn from_settings(settings: &SupervisionSettings) -> RestartPolicy {
        RestartPolicy {
            first_backoff: settings.restart_backoff_first,
            max_backoff: settings.restart_backoff_max,
            max_restarts: settings.max_restarts,
            window: settings.restart_window,
        }
    }

    /// The pause before the restart that follows the `panics`-th panic within the window.
    fn backoff(&self, panics: usize) -> Duration {
        let doublings = u32::try_from(panics.saturating_sub(1)).unwrap_or(u32::MAX);
        let factor = 2u32.checked_pow(doublings).unwrap_or(u32::MAX);
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What to do after a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RestartAfter(Duration),
    /// `panics` within the window is more than the policy allows.
    GiveUp {
        panics: usize,
    },
}

/// The recent panics of one role.
#[derive(Debug, Default)]
pub struct PanicHistory {
    within_window: VecDeque<Instant>,
}

impl PanicHistory {
    /// Records a panic at `now` and decides, forgetting panics older than the window.
    pub fn record(&mut self, now: Instant, policy: &RestartPolicy) -> Decision {
        while self
            .within_window
            .front()
            .is_some_and(|at| now.duration_since(*at) > policy.window)
        {
            self.within_window.pop_front();
        }
        self.within_window.push_back(now);
        let panics = self.within_window.len();
        if panics > policy.max_restarts as usize {
            Decision::GiveUp { panics }
        } else {
            Decision::RestartAfter(policy.backoff(panics))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RestartPolicy = RestartPolicy {
        first_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        max_restarts: 5,
        window: Duration::from_secs(600),
    };

    #[test]
    fn the_pause_doubles_from_one_second_up_to_thirty() {
        let pauses: Vec<u64> = (1..=7)
            .map(|panics| POLICY.backoff(panics).as_secs())
            .collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(POLICY.backoff(10_000), Duration::from_secs(30));
    }

    #[test]
    fn one_panic_more_than_the_restarts_allowed_within_the_window_gives_up() {
        let mut history = PanicHistory::default();
        let start = Instant::now();
        for panic in 0..5 {
            let at = start + Duration::from_secs(panic * 10);
            assert!(matches!(
                history.record(at, &POLICY),
                Decision::RestartAfter(_)
            ));
        }
        assert_eq!(
            history.record(start + Duration::from_secs(60), &POLICY),
            Decision::GiveUp { panics: 6 }
        );
    }

    #[test]
    fn panics_older_than_the_window_are_forgotten() {
        let mut history = PanicHistory::default();
        let start = Instant::now();
        for panic in 0..5 {
            history.record(start + Duration::from_secs(panic), &POLICY);
        }
        let later = start + Duration::from_secs(4 + 601);
        assert_eq!(
            history.record(later, &POLICY),
            Decision::RestartAfter(Duration::from_secs(1)),
            "a panic after a quiet window starts the schedule again"
        );
    }

    #[test]
    fn no_restarts_allowed_means_the_first_panic_stops_the_process() {
        let policy = RestartPolicy {
            max_restarts: 0,
            ..POLICY
        };
        assert_eq!(
            PanicHistory::default().record(Instant::now(), &policy),
            Decision::GiveUp { panics: 1 }
        );
    }
}
