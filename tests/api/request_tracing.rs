//! Every request gets an id (echoed on the response) and one completion log event that names
//! the route template, never the path or query actually requested.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chaperone::alerts::links::AcknowledgeGrant;
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::spawn_app;

/// Log output kept in memory, for assertions on what reached the log.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures this thread's log events. The test runtime has one thread, so the server's tasks
/// log here too. A second dispatcher is kept alive alongside: while only one exists, tracing
/// decides a callsite's interest from the default of whichever thread reaches it first, so a
/// concurrent test (without a subscriber) would switch our events off for good.
fn capture_logs() -> (
    CapturedLog,
    (tracing::subscriber::DefaultGuard, tracing::Dispatch),
) {
    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(log.clone())
        .finish();
    let companion = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let guard = tracing::subscriber::set_default(subscriber);
    (log, (guard, companion))
}

#[tokio::test]
async fn a_response_carries_a_generated_request_id() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit()), "{id}");
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_echoed() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "edge-4f1c2a.7")
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["x-request-id"], "edge-4f1c2a.7");
}

#[tokio::test]
async fn a_request_id_that_is_not_plain_is_replaced() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "jane.doe@school.example")
        .send()
        .await
        .unwrap();

    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "jane.doe@school.example");
    assert_eq!(id.len(), 32, "{id}");
}

#[tokio::test]
async fn the_request_log_names_the_route_but_not_the_token_or_the_query() {
    let (log, _capturing) = capture_logs();
    let app = spawn_app().await;
    let token = app.state.links.acknowledge_token(
        AcknowledgeGrant {
            finding_id: 424242,
            contact_id: 7,
        },
        chrono::Utc::now(),
    );

    let response = app
        .client
        .get(format!(
            "{}/acknowledge/{token}?email=pupil.name%40school.example",
            app.address
        ))
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    let text = log.text();
    let finished: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("request finished"))
        .collect();
    assert_eq!(finished.len(), 1, "{text}");
    let line = finished[0];
    assert!(line.contains(r#"route="/acknowledge/{token}""#), "{line}");
    assert!(line.contains("method=GET"), "{line}");
    assert!(line.contains(r#"request_id="trace-me-1""#), "{line}");
    assert!(line.contains("status=404"), "{line}");
    assert!(line.contains("latency_ms="), "{line}");
    assert!(!text.contains(&token), "the token reached the log: {text}");
    assert!(
        !text.contains("pupil.name"),
        "the query reached the log: {text}"
    );
    assert!(
        !text.contains("email="),
        "the query reached the log: {text}"
    );
}
