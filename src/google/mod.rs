//! Google Meet: verifying Pub/Sub pushes (and, to come, reading them, Google's APIs and the
//! translation of Meet events). See shared/platforms/google-meet.md.

pub mod push_token;
