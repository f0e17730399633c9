//! `POST /webhooks/zoom`: signatures, refusals, validation, de-duplication.

use chaperone::config::Secret;
use chaperone::telemetry::metrics::WebhookOutcome;
use chaperone::zoom::signature;

use crate::helpers::{now_secs, spawn_app, spawn_app_with, ZOOM_SECRET};
use crate::zoom_events::{joined, started, HOST};

// A real Zoom delivery and its signature (shared/platforms/zoom.md §1.2, test vector 1).
const VECTOR_SECRET: &str = "4fv1RkqGQUq5sWbEz6hA5A";
const VECTOR_TIMESTAMP: &str = "1720705455";
const VECTOR_BODY: &str = r#"{"payload":{"plainToken":"xys8n8PGS7mAU0m5-YJjRA"},"event_ts":1720705455858,"event":"endpoint.url_validation"}"#;
const VECTOR_SIGNATURE: &str =
    "v0=93a1a675965ceb9c5a50c5dfb31f20e50f763be37a54ef74cd2d16a1a8e5c0d6";

#[tokio::test]
async fn zooms_real_url_validation_delivery_is_answered_with_the_hashed_token() {
    // The vector was signed in 2024, so this instance accepts old signatures.
    let app = spawn_app_with(&[
        ("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", VECTOR_SECRET),
        ("CHAPERONE__ZOOM__MAX_SIGNATURE_AGE_SECS", "4000000000"),
    ])
    .await;
    let response = app
        .post_zoom_raw(
            VECTOR_BODY.as_bytes().to_vec(),
            &[
                ("x-zm-request-timestamp", VECTOR_TIMESTAMP),
                ("x-zm-signature", VECTOR_SIGNATURE),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["plainToken"], "xys8n8PGS7mAU0m5-YJjRA");
    assert_eq!(
        body["encryptedToken"],
        "2fffc6a967dde4f68024025a5bd991c5ae1e5313b4e6365be4883e3e81d479b3"
    );
    assert_eq!(
        app.inbox_count().await,
        0,
        "a validation request is not an event"
    );
}

#[tokio::test]
async fn the_real_vector_is_refused_as_stale_under_the_default_window() {
    let app = spawn_app_with(&[("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", VECTOR_SECRET)]).await;
    let response = app
        .post_zoom_raw(
            VECTOR_BODY.as_bytes().to_vec(),
            &[
                ("x-zm-request-timestamp", VECTOR_TIMESTAMP),
                ("x-zm-signature", VECTOR_SIGNATURE),
            ],
        )
        .await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_signature");
    assert!(body["detail"].as_str().unwrap().contains("too old"));
}

#[tokio::test]
async fn a_signed_event_is_stored_before_it_is_acknowledged() {
    let app = spawn_app().await;
    let response = app.post_zoom(&started()).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    // No waiting: the row is committed by the time the answer arrives.
    assert_eq!(app.inbox_count().await, 1);
}

/// Each refusal: the status, and every table unchanged.
async fn assert_refused(
    app: &crate::helpers::TestApp,
    body: Vec<u8>,
    headers: &[(&str, &str)],
    status: u16,
) -> serde_json::Value {
    let before = app.snapshot().await;
    let response = app.post_zoom_raw(body, headers).await;
    assert_eq!(response.status(), status);
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed stored data"
    );
    answer
}

#[tokio::test]
async fn forged_truncated_and_missing_signatures_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let body = joined(&HOST, "2025-03-11T14:31:07Z");
    let now = now_secs().to_string();
    let good = signature::sign(&Secret::new(ZOOM_SECRET), now_secs(), body.as_bytes());
    let forged = signature::sign(
        &Secret::new("someone-elses-secret"),
        now_secs(),
        body.as_bytes(),
    );

    let answer = assert_refused(
        &app,
        body.clone().into_bytes(),
        &[
            ("x-zm-request-timestamp", &now),
            ("x-zm-signature", &forged),
        ],
        401,
    )
    .await;
    assert_eq!(answer["code"], "invalid_signature");
    assert_refused(
        &app,
        body.clone().into_bytes(),
        &[
            ("x-zm-request-timestamp", &now),
            ("x-zm-signature", &good[..good.len() - 1]),
        ],
        401,
    )
    .await;
    assert_refused(
        &app,
        body.clone().into_bytes(),
        &[("x-zm-request-timestamp", &now)],
        401,
    )
    .await;
    assert_refused(
        &app,
        body.clone().into_bytes(),
        &[("x-zm-signature", &good)],
        401,
    )
    .await;
    assert_refused(&app, body.clone().into_bytes(), &[], 401).await;
    // The right signature over a body changed after signing.
    let tampered = body.replace("Ravi Patel", "Ravi Patem");
    assert_refused(
        &app,
        tampered.into_bytes(),
        &[("x-zm-request-timestamp", &now), ("x-zm-signature", &good)],
        401,
    )
    .await;
    let metrics = &app.state.metrics;
    assert_eq!(
        metrics.webhook_count("zoom", WebhookOutcome::Refused("signature_mismatch")),
        2
    );
    assert_eq!(
        metrics.webhook_count("zoom", WebhookOutcome::Refused("signature_malformed")),
        1
    );
    assert_eq!(
        metrics.webhook_count("zoom", WebhookOutcome::Refused("signature_missing")),
        3
    );
}

#[tokio::test]
async fn a_signature_from_the_future_is_refused_but_a_late_retry_is_accepted() {
    let app = spawn_app().await;
    let body = started();
    let before = app.snapshot().await;
    let response = app.post_zoom_signed_at(&body, now_secs() + 301).await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.snapshot().await, before);

    // Zoom retries up to ~85 minutes after the first attempt, maybe with the old signature.
    let response = app.post_zoom_signed_at(&body, now_secs() - 85 * 60).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.inbox_count().await, 1);

    let before = app.snapshot().await;
    let response = app
        .post_zoom_signed_at(&joined(&HOST, "2025-03-11T14:31:07Z"), now_secs() - 7300)
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn the_previous_secret_still_verifies_during_a_rotation() {
    let app = spawn_app_with(&[
        ("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", "the-new-secret"),
        (
            "CHAPERONE__ZOOM__PREVIOUS_WEBHOOK_SECRET_TOKEN",
            ZOOM_SECRET,
        ),
    ])
    .await;
    // post_zoom signs with ZOOM_SECRET, now the previous one.
    assert_eq!(app.post_zoom(&started()).await.status(), 200);
    assert_eq!(app.inbox_count().await, 1);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_changes_nothing() {
    let app = spawn_app_with(&[("CHAPERONE__SERVER__MAX_BODY_BYTES", "4096")]).await;
    let padding = "x".repeat(5000);
    let body = started().replace(
        "\"type\":2",
        &format!("\"type\":2,\"padding\":\"{padding}\""),
    );
    let before = app.snapshot().await;
    let response = app.post_zoom(&body).await;
    assert_eq!(response.status(), 413);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "payload_too_large");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_zoom_event_is_refused_with_a_reason() {
    let app = spawn_app().await;
    for (body, reason) in [
        ("this is not json".to_string(), "envelope"),
        (r#"{"event":"meeting.started","payload":{"account_id":"gA7kQ2xYTvOeW3mN9pLr4A","object":{"id":"1"}}}"#.to_string(), "uuid"),
        (joined(&HOST, "2025-03-11T14:31:07Z").replace("2025-03-11T14:31:07Z", "soon"), "RFC 3339"),
    ] {
        let signature = signature::sign(&Secret::new(ZOOM_SECRET), now_secs(), body.as_bytes());
        let now = now_secs().to_string();
        let answer = assert_refused(
            &app,
            body.into_bytes(),
            &[("x-zm-request-timestamp", &now), ("x-zm-signature", &signature)],
            400,
        )
        .await;
        assert_eq!(answer["code"], "malformed_event");
        assert!(answer["detail"].as_str().unwrap().contains(reason), "{answer}");
    }
}

#[tokio::test]
async fn events_from_an_account_no_school_monitors_are_acknowledged_and_not_stored() {
    let app = spawn_app().await;
    let body = started().replace("gA7kQ2xYTvOeW3mN9pLr4A", "SomeOtherSchoolAccount1");
    let before = app.snapshot().await;
    let response = app.post_zoom(&body).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "not_monitored");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        app.state
            .metrics
            .webhook_count("zoom", WebhookOutcome::Unmonitored),
        1
    );
}

#[tokio::test]
async fn a_redelivered_event_is_acknowledged_and_changes_nothing() {
    let app = spawn_app().await;
    let body = joined(&HOST, "2025-03-11T14:31:07Z");
    assert_eq!(app.post_zoom(&body).await.status(), 200);
    app.drain().await;
    let after_first = app.snapshot().await;
    let register = app.only_meeting().await;

    // The same event again, and again with a different event_ts as a second subscription sends it.
    let response = app.post_zoom(&body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["status"],
        "duplicate"
    );
    let retimed = body.replace("1741703470555", "1741703470999");
    assert_eq!(app.post_zoom(&retimed).await.status(), 200);
    assert_eq!(app.drain().await, 0, "nothing new to process");
    assert_eq!(app.snapshot().await, after_first);
    assert_eq!(app.only_meeting().await, register);
    assert_eq!(
        app.state
            .metrics
            .webhook_count("zoom", WebhookOutcome::Duplicate),
        2
    );
}

#[tokio::test]
async fn a_topic_with_emoji_and_escaped_characters_verifies_and_is_kept_exactly() {
    let app = spawn_app().await;
    // Raw UTF-8 beside a JSON-escaped surrogate pair, hashed over the bytes as sent.
    let body = started().replace("Y9 mentoring", "Y9 \\ud83d\\ude00 mentoring");
    assert_eq!(app.post_zoom(&body).await.status(), 200);
    app.drain().await;
    let meeting = app.only_meeting().await;
    assert_eq!(meeting["topic"], "Y9 😀 mentoring – J.S. 🎓 café");
}

#[tokio::test]
async fn event_types_chaperone_does_not_use_are_acknowledged_and_not_stored() {
    let app = spawn_app().await;
    let body = started().replace("meeting.started", "meeting.participant_role_changed");
    let before = app.snapshot().await;
    assert_eq!(app.post_zoom(&body).await.status(), 200);
    assert_eq!(app.snapshot().await, before);
}
