//! Health, readiness and metrics.

use crate::helpers::spawn_app;
use crate::zoom_events::started;

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn metrics_count_events_refusals_backlog_and_processing() {
    let app = spawn_app().await;
    app.deliver(&[started()]).await;
    app.post_zoom_raw(b"{}".to_vec(), &[]).await;
    let text = app.metrics_text().await;
    assert!(
        text.contains("chaperone_webhook_events_received_total{platform=\"zoom\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("outcome=\"refused\",reason=\"signature_missing\"} 1"),
        "{text}"
    );
    assert!(text.contains("chaperone_inbox_pending 1"), "{text}");

    app.drain().await;
    let text = app.metrics_text().await;
    assert!(text.contains("chaperone_inbox_pending 0"), "{text}");
    assert!(
        text.contains("chaperone_events_processed_total 1"),
        "{text}"
    );
    assert!(
        text.contains("chaperone_event_processing_latency_seconds_count 1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_running_processor_applies_events_without_being_drained() {
    let app =
        crate::helpers::spawn_app_with(&[("CHAPERONE__SERVER__WORKER_ENABLED", "true")]).await;
    app.deliver(&[started()]).await;
    let processed = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let meetings = app.get_json("/api/v1/meetings").await;
        meetings.as_array().is_some_and(|list| list.len() == 1)
    })
    .await;
    assert!(
        processed,
        "the background processor did not apply the event"
    );
}

/// A database that cannot be reached is something to retry: 503 with `Retry-After`, never a
/// 500 that a client reads as "this request is wrong".
#[tokio::test]
async fn a_database_that_cannot_be_reached_is_a_503_with_retry_after() {
    let app = spawn_app().await;
    assert_eq!(app.get_api("/api/v1/schools").await.status(), 200);
    app.db.pool.close().await;

    let answer = app.get_api("/api/v1/schools").await;
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "5");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
}

/// "Accepted" means on disk: SQLite fsyncs every commit (`synchronous = FULL`, not the
/// crash-safe-only NORMAL), and PostgreSQL waits for its WAL flush (`synchronous_commit = on`).
#[tokio::test]
async fn an_acknowledged_commit_is_on_disk_on_either_backend() {
    use sqlx::Row;
    let app = spawn_app().await;
    let mut connection = app.db.pool.acquire().await.unwrap();
    match app.db.backend {
        chaperone::db::Backend::Sqlite => {
            let row = sqlx::query("PRAGMA synchronous")
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(row.try_get::<i64, _>(0).unwrap(), 2, "2 is FULL");
        }
        chaperone::db::Backend::Postgres => {
            let row = sqlx::query("SHOW synchronous_commit")
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(row.try_get::<String, _>(0).unwrap(), "on");
        }
    }
}
