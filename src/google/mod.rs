//! Google Meet: verifying and reading Pub/Sub pushes, translating Meet events, and Google's
//! APIs. See shared/platforms/google-meet.md.

pub mod api;
pub mod event;
pub mod fetcher;
pub mod push_message;
pub mod push_token;
pub mod schedules;
pub mod source;
pub mod store;
pub mod subscriptions;
pub mod translate;
