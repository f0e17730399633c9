//! A real SMTP server on 127.0.0.1 standing in for the school's mail relay: point the app's SMTP
//! settings at `sink.host()` / `sink.port()` with no TLS, then `sink.wait_for_mail(1, timeout)`
//! and assert on `subject()`, `recipients` and the decoded `text()`. `SmtpSink::start_secured`
//! with a certificate from a [`TestCa`] gives a relay speaking STARTTLS or TLS from the first
//! byte.
//!
//! The code is the channel unit tests' own sink, included rather than copied.

#[allow(dead_code)]
#[path = "../../src/alerts/channels/test_smtp.rs"]
mod shared;

// Allowed while no test names one of these types.
#[allow(unused_imports)]
pub use shared::{ReceivedMail, SinkSecurity, SmtpSink, TestCa};
