//! The school's safeguarding policy as data, the school calendar, and the pure engine that
//! checks a meeting against them.

pub mod calendar;
pub mod edit;
pub mod engine;
pub mod finding;
pub mod identity;
pub mod rooms;
mod rules;
pub mod settings;
pub mod severity;
pub mod view;

pub use severity::Severity;

#[cfg(test)]
mod breakout_tests;
#[cfg(test)]
mod tests;
