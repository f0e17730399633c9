//! Retention: how long each school keeps each class of record, and the purge that removes
//! what has outlived it. The school sets days per class (`[school.retention]` in its import
//! file); a class it leaves out keeps the default, chosen to follow the guidance an English
//! school works to (see README.md, "Retention").
//!
//! A record is kept while any kept record refers to it: a call that led to a finding is kept
//! as long as the finding is, and one with an outcome as long as the outcome. A finding's
//! history has no period of its own and goes with its finding; an alert delivery goes after
//! its own period or with its finding, whichever comes first. An open finding is never
//! purged, and neither is an inbox event not yet applied.
//!
//! A purge marks every ledger record it removes, in its own transaction, so that the ledger
//! keeper chains a tombstone (`purged`) for it and empties the content of its earlier entries;
//! raw inbox events, which the ledger does not hold, get one `purge` statement per batch.
//! What was purged is kept in `retention_purges`, which the day's completeness statement
//! reports.

mod periods;
mod purge;

pub use periods::{
    cutoffs, Cutoffs, PeriodLine, Periods, RetentionError, RetentionSettings,
    DEFAULT_ALERT_DELIVERIES_DAYS, DEFAULT_FINDINGS_DAYS, DEFAULT_OUTCOMES_DAYS,
    DEFAULT_REGISTER_DAYS, MIN_DAYS, MIN_INBOX_DAYS,
};
pub use purge::{purge_due, purge_school, PurgeReport, Purged};
