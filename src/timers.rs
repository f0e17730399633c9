//! Every job that runs on a clock rather than on a queue, in one list: what it does, how
//! often, and which worker runs it (between its passes, see [`crate::worker::run`]).

use std::time::Duration;

use crate::config::Settings;
use crate::supervision::Role;

/// A job run on a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Purges, per school, what its retention says is due: raw inbox events once applied
    /// (the register keeps what they said), the register, findings, outcomes and alert
    /// deliveries, leaving tombstones in the ledger. `inbox_days` is the instance's period
    /// for raw events, for schools that set none.
    Retention { inbox_days: u32 },
    /// Asks the platforms whether monitored accounts that have gone quiet have live meetings:
    /// live meetings and no events means webhooks have stopped.
    SilenceCheck,
    /// Sends each school's daily digest once its time has come.
    DailyDigests,
    /// Alerts the next contact for findings nobody acknowledged in time.
    Escalation,
    /// Keeps each platform's delivery of events going (Google's subscriptions: made for
    /// monitored staff, renewed, reactivated, made again), and checks it against the
    /// platform's own list on start and daily.
    PlatformUpkeep,
    /// Deletes MIS files uploaded in the console and never applied, once past their expiry.
    UploadExpiry,
    /// Signs each school's ledger head once its local day has ended, with the day's
    /// completeness statement.
    LedgerHeads,
}

impl Timer {
    /// The stable label used in logs.
    pub fn name(self) -> &'static str {
        match self {
            Timer::Retention { .. } => "retention",
            Timer::SilenceCheck => "silence_check",
            Timer::DailyDigests => "daily_digests",
            Timer::Escalation => "escalation",
            Timer::PlatformUpkeep => "platform_upkeep",
            Timer::UploadExpiry => "upload_expiry",
            Timer::LedgerHeads => "ledger_heads",
        }
    }
}

/// A timer and how often it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduled {
    pub timer: Timer,
    pub every: Duration,
}

/// Retention is purged this often; it is counted in days, so hourly is ample.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Uploads expire after half an hour; a few minutes more is as long as one may outlive it.
const UPLOAD_EXPIRY_EVERY: Duration = Duration::from_secs(300);
/// Digests are due at a minute of the school's day: checking each minute sends them on time.
const DAILY_DIGESTS_EVERY: Duration = Duration::from_secs(60);
/// An expired or failed subscription is made again within this long: monitoring is blind
/// until it is. Renewal is due days ahead, so this is ample for it.
const PLATFORM_UPKEEP_EVERY: Duration = Duration::from_secs(300);

/// A day's head is signed within this long of the day's end.
const LEDGER_HEADS_EVERY: Duration = Duration::from_secs(300);

/// Every timer, with the role that runs it.
pub fn all(settings: &Settings) -> Vec<(Role, Scheduled)> {
    let inbox_days = u32::try_from(settings.inbox.retention_days).unwrap_or(u32::MAX);
    vec![
        (
            Role::Processor,
            Scheduled {
                timer: Timer::UploadExpiry,
                every: UPLOAD_EXPIRY_EVERY,
            },
        ),
        (
            Role::Enricher,
            Scheduled {
                timer: Timer::SilenceCheck,
                every: settings.enrichment.silence_check_interval,
            },
        ),
        (
            Role::Enricher,
            Scheduled {
                timer: Timer::PlatformUpkeep,
                every: PLATFORM_UPKEEP_EVERY,
            },
        ),
        (
            Role::Dispatcher,
            Scheduled {
                timer: Timer::DailyDigests,
                every: DAILY_DIGESTS_EVERY,
            },
        ),
        (
            Role::Dispatcher,
            Scheduled {
                // Escalations fall due by the minute; looking on every poll keeps them prompt.
                timer: Timer::Escalation,
                every: settings.alerts.poll_interval,
            },
        ),
        (
            Role::LedgerKeeper,
            Scheduled {
                timer: Timer::LedgerHeads,
                every: LEDGER_HEADS_EVERY,
            },
        ),
        (
            // The keeper chains the tombstones a purge leaves, right after it.
            Role::LedgerKeeper,
            Scheduled {
                timer: Timer::Retention { inbox_days },
                every: RETENTION_EVERY,
            },
        ),
    ]
}

/// The timers `role` runs.
pub fn of(role: Role, settings: &Settings) -> Vec<Scheduled> {
    all(settings)
        .into_iter()
        .filter(|(runs_in, _)| *runs_in == role)
        .map(|(_, scheduled)| scheduled)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timer_is_run_by_exactly_one_role() {
        let settings = Settings::load_from(None, Vec::new()).unwrap();
        let timers = all(&settings);
        for (_, scheduled) in &timers {
            let runners = timers
                .iter()
                .filter(|(_, other)| other.timer.name() == scheduled.timer.name())
                .count();
            assert_eq!(runners, 1, "{}", scheduled.timer.name());
        }
        let run = |role| of(role, &settings).len();
        assert_eq!(run(Role::Processor), 1);
        assert_eq!(run(Role::Enricher), 2);
        assert_eq!(run(Role::Dispatcher), 2);
        assert_eq!(run(Role::Evaluator), 0);
        assert_eq!(run(Role::InboxWriter), 0);
        assert_eq!(run(Role::LedgerKeeper), 2);
    }

    #[test]
    fn raw_events_are_kept_the_configured_days_where_a_school_sets_none() {
        let mut settings = Settings::load_from(None, Vec::new()).unwrap();
        settings.inbox.retention_days = 30;
        assert!(of(Role::LedgerKeeper, &settings)
            .iter()
            .any(|scheduled| scheduled.timer == Timer::Retention { inbox_days: 30 }));
    }
}
