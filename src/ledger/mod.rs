//! The record ledger: every fact chaperone keeps about a call — the call, its participants'
//! joins and leaves and their sources, breakout stays, signals, the settings read, findings
//! and every change to them, alert deliveries, outcomes — chained per school, so that a
//! record altered, removed or slipped in afterwards shows.
//!
//! Triggers in the database note each write to a covered table in the writer's own
//! transaction (`ledger_pending`); the [`keeper`] chains what changed shortly after, and once
//! a day appends each school's completeness statement and signs the head with a key the
//! database does not hold. [`verify`] walks a chain and holds every record to it. Retention
//! purges leave a tombstone and empty the purged record's content, so the chain still
//! verifies after them.

mod append;
pub mod chain;
pub mod classes;
pub mod heads;
pub mod keeper;
mod sync;
mod verify;

pub use append::{append_one, Appender, Change, NewEntry, NO_CONTENT};
pub use heads::{HeadSigner, SignedHead};
pub use keeper::Keeper;
pub use sync::sync_pending;
pub use verify::{school_ids, verify, verify_school, Problem, ProblemKind, SchoolVerification};
