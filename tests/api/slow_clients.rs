//! Slow and half-sent requests hold nothing for long: a request head not finished in time
//! closes its connection, a body not finished in time is answered and dropped, and the bytes of
//! bodies read at once are capped, one over the cap refused with 503 and `Retry-After` before it
//! is read.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, TestApp};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// What the server says before closing, and how long it took to close.
async fn until_closed(mut stream: TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut said = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut said)).await;
    assert!(read.is_ok(), "the connection is still open after {limit:?}");
    (
        String::from_utf8_lossy(&said).to_string(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_request_head_not_finished_in_time_closes_the_connection() {
    let app = spawn_app_with(&[("CHAPERONE__SERVER__HEADER_READ_TIMEOUT_MS", "500")]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /webhooks/zoom HTTP/1.1\r\nHost: chaperone\r\nContent-Type: appl")
        .await
        .unwrap();
    let (_, took) = until_closed(stream, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    assert_eq!(app.inbox_count().await, 0);
}

#[tokio::test]
async fn a_body_not_finished_in_time_is_answered_and_nothing_is_stored() {
    let app = spawn_app_with(&[("CHAPERONE__SERVER__REQUEST_TIMEOUT_MS", "3000")]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /webhooks/zoom HTTP/1.1\r\nHost: chaperone\r\nContent-Type: application/json\r\n\
              Content-Length: 100000\r\nConnection: close\r\n\r\n{\"event\":",
        )
        .await
        .unwrap();
    let (said, took) = until_closed(stream, Duration::from_secs(10)).await;
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    assert_eq!(app.inbox_count().await, 0);
}

#[tokio::test]
async fn bodies_over_the_budget_are_refused_before_they_are_read() {
    // Room for two 100 kB bodies and a little more.
    let app = spawn_app_with(&[("CHAPERONE__SERVER__WEBHOOK_BODY_BUDGET_BYTES", "215000")]).await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream
            .write_all(
                b"POST /webhooks/zoom HTTP/1.1\r\nHost: chaperone\r\nContent-Type: application/json\r\n\
                  Content-Length: 100000\r\n\r\n{",
            )
            .await
            .unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A small delivery still fits; a 20 kB one does not.
    let small = app.post_zoom_raw(b"{}".to_vec(), &[]).await;
    assert_eq!(small.status(), 401, "read, and unsigned");
    let large = format!("{{\"padding\":\"{}\"}}", "x".repeat(20_000)).into_bytes();
    let refused = app.post_zoom_raw(large.clone(), &[]).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));

    // The slow ones gone, a delivery is read again (and, unsigned, refused for that).
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let read = app.post_zoom_raw(large, &[]).await;
    assert_eq!(read.status(), 401);
    assert_eq!(app.inbox_count().await, 0);
}
