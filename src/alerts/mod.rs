//! Alerts: what a finding tells the DSL, and the channels it travels by.

pub mod channels;
pub mod contacts;
pub mod digest;
pub mod dispatcher;
pub mod links;
pub mod message;
pub mod outbox;
pub mod test_alert;
