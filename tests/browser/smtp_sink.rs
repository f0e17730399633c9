//! A real SMTP server on 127.0.0.1 standing in for the school's mail relay, for the real
//! binary's alert emails: the channel unit tests' own sink, included rather than copied (as
//! `tests/api/smtp_sink.rs` does).

#[allow(dead_code)]
#[path = "../../src/alerts/channels/test_smtp.rs"]
mod shared;

pub use shared::SmtpSink;
