//! Google Meet: verifying and reading Pub/Sub pushes (and, to come, Google's APIs and the
//! translation of Meet events). See shared/platforms/google-meet.md.

pub mod push_message;
pub mod push_token;
