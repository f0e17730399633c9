//! Supervision of the roles: one that panics shows on /readyz and in /metrics, is restarted
//! and works again; one that keeps panicking stops the application with an error naming it.

use std::time::{Duration, Instant};

use chaperone::inbox::InboxCounts;
use chaperone::supervision::Role;
use serde_json::json;

use crate::helpers::{eventually, spawn_app_with, TestApp};
use crate::zoom_events::started;

const WORKERS_ON: (&str, &str) = ("CHAPERONE__SERVER__WORKER_ENABLED", "true");

async fn reports_restarting(app: &TestApp, role: &str) -> bool {
    let (status, body) = app.readiness().await;
    status == 503
        && body["roles"]
            .as_array()
            .is_some_and(|roles| roles.contains(&json!({ "role": role, "problem": "restarting" })))
}

async fn is_ready(app: &TestApp) -> bool {
    app.readiness().await == (200, json!({ "status": "ready" }))
}

#[tokio::test]
async fn a_worker_that_panics_is_reported_restarted_and_processes_events_again() {
    let app = spawn_app_with(&[WORKERS_ON]).await;
    assert!(is_ready(&app).await);

    app.state.roles.inject_panics(Role::Processor, 1);

    // The idle processor beats, and so panics, within its poll interval; it is restarted
    // after the default first pause of one second.
    let reported = eventually(Duration::from_secs(5), || {
        reports_restarting(&app, "processor")
    })
    .await;
    assert!(reported, "readyz did not name the restarting processor");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("chaperone_role_restarts_total{role=\"processor\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chaperone_role_restarts_total{role=\"evaluator\"} 0"),
        "{metrics}"
    );
    let recovered = eventually(Duration::from_secs(10), || is_ready(&app)).await;
    assert!(
        recovered,
        "readyz did not recover: {:?}",
        app.readiness().await
    );

    app.deliver(&[started()]).await;
    let processed = eventually(Duration::from_secs(10), || async {
        let meetings = app.get_json("/api/v1/meetings").await;
        meetings.as_array().is_some_and(|list| list.len() == 1)
    })
    .await;
    assert!(processed, "the restarted processor did not apply the event");
}

#[tokio::test]
async fn a_webhook_sent_while_the_inbox_writer_is_down_is_answered_503_in_time_and_kept() {
    let app = spawn_app_with(&[
        ("CHAPERONE__SUPERVISION__RESTART_BACKOFF_FIRST_MS", "4000"),
        ("CHAPERONE__SUPERVISION__RESTART_BACKOFF_MAX_MS", "4000"),
    ])
    .await;

    app.state.roles.inject_panics(Role::InboxWriter, 1);
    let reported = eventually(Duration::from_secs(5), || {
        reports_restarting(&app, "inbox_writer")
    })
    .await;
    assert!(reported, "readyz did not name the restarting inbox writer");

    let sent_at = Instant::now();
    let response = app.post_zoom(&started()).await;
    assert_eq!(response.status(), 503, "Zoom is asked to retry");
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "answered within Zoom's 3 s deadline, not left hanging"
    );

    let recovered = eventually(Duration::from_secs(10), || is_ready(&app)).await;
    assert!(
        recovered,
        "readyz did not recover: {:?}",
        app.readiness().await
    );
    // The restarted writer committed what was queued; Zoom's retry is then a duplicate.
    app.deliver(&[started()]).await;
    assert_eq!(app.inbox_count().await, 1);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("chaperone_role_restarts_total{role=\"inbox_writer\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_worker_that_keeps_panicking_stops_the_application_with_an_error_naming_it() {
    let mut app = spawn_app_with(&[
        WORKERS_ON,
        ("CHAPERONE__SUPERVISION__RESTART_BACKOFF_FIRST_MS", "10"),
        ("CHAPERONE__SUPERVISION__RESTART_BACKOFF_MAX_MS", "20"),
        ("CHAPERONE__SUPERVISION__MAX_RESTARTS", "2"),
        ("CHAPERONE__SERVER__SHUTDOWN_GRACE_SECS", "1"),
    ])
    .await;

    app.state.roles.inject_panics(Role::Evaluator, u32::MAX);

    let ended = app
        .ended_within(Duration::from_secs(30))
        .await
        .expect("the application stopped by itself");
    let error = format!("{:#}", ended.expect_err("it stopped with an error"));
    assert!(error.contains("evaluator"), "{error}");
    let metrics = app.state.metrics.render(InboxCounts::default());
    assert!(
        metrics.contains("chaperone_role_restarts_total{role=\"evaluator\"} 2"),
        "two restarts, then the third panic stops it: {metrics}"
    );
}
