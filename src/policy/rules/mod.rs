//! The rules, grouped by what they look at: the schedule (before the call), the call as it
//! happened, and who was present with whom.

pub mod call;
pub mod schedule;
pub mod two_adults;
