//! Logs (structured, ids only: never names, emails, topics, chat text or secrets) and metrics.

pub mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; RUST_LOG, when set, overrides the configured level.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.level.as_str()));
    // Colour codes only for a person at a terminal: in a file or a log collector they are noise.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Sends panics to the log without their run-time message (see [`panic_reason`]): the service
/// logs no personal data, and a panic in a worker is restarted, not a crash to debug at a
/// terminal. Installed by the service's binary only, so tests keep their assertion messages.
pub fn log_panics_without_data() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|at| format!("{}:{}", at.file(), at.line()))
            .unwrap_or_default();
        tracing::error!(%location, reason = panic_reason(info.payload()), "panic");
    }));
}

/// What a panic may say in the log: a message written in the code (`expect("…")`), never one
/// formatted at run time, which may carry a value read from a request or the database.
fn panic_reason(payload: &(dyn std::any::Any + Send)) -> &'static str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .unwrap_or("(message withheld: it may contain data)")
}

#[cfg(test)]
mod tests {
    use super::panic_reason;

    #[test]
    fn a_panic_logs_only_messages_written_in_the_code() {
        let fixed: Box<dyn std::any::Any + Send> = Box::new("events serialise");
        assert_eq!(panic_reason(fixed.as_ref()), "events serialise");
        let formatted: Box<dyn std::any::Any + Send> =
            Box::new(format!("bad row for {}", "dara.finch@home.example"));
        assert!(!panic_reason(formatted.as_ref()).contains("dara"));
    }
}
