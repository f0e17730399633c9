//! Zoom's answers read as Zoom means them (shared/platforms/zoom.md §3): the token endpoint's
//! refusal apart from its 429s and other failures, the live-meetings request with the dates
//! Zoom's SDKs require, and an empty participant report as the complete report of a call
//! with one participant.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use crate::fake_zoom::{FakeZoom, TokenAnswer};
use crate::helpers::TestApp;
use crate::zoom_api::{connected, created_for_parent, findings, zoom_knows_the_meeting};
use crate::zoom_events::{ended, joined, started, HOST, MEETING_UUID};

/// Enough answers for every job the first settle works.
const EVERY_FIRST_TOKEN_REQUEST: usize = 10;

fn next_token_requests_answered(
    zoom: &FakeZoom,
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Value,
) {
    let answer = TokenAnswer {
        status,
        headers,
        body,
    };
    zoom.with(|state| state.token_answers_next = vec![answer; EVERY_FIRST_TOKEN_REQUEST]);
}

/// When the earliest job still waiting is due, and every waiting job's last error.
async fn waiting_jobs(app: &TestApp) -> (DateTime<Utc>, Vec<String>) {
    let due: i64 =
        sqlx::query_scalar("SELECT MIN(due_at) FROM enrichment_jobs WHERE status = 'pending'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT last_error FROM enrichment_jobs WHERE status = 'pending'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    (
        Utc.timestamp_millis_opt(due).unwrap(),
        errors.into_iter().map(Option::unwrap_or_default).collect(),
    )
}

async fn pending_jobs(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM enrichment_jobs WHERE status = 'pending'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rate_limited_token_request_waits_for_retry_after_and_opens_no_coverage_finding() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    next_token_requests_answered(
        &zoom,
        StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "30".into())],
        json!({"code": 429, "message": "Too many requests. Please try again later."}),
    );
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    let now = Utc::now();
    app.settle_at(now).await;

    assert!(findings(&app).await.is_empty(), "a 429 refuses nothing");
    let (due, errors) = waiting_jobs(&app).await;
    assert!(
        due - now >= Duration::seconds(29) && due - now <= Duration::seconds(35),
        "waits {} for Retry-After: 30",
        due - now
    );
    assert!(
        errors.iter().all(|error| error.contains("rate limited")),
        "{errors:?}"
    );

    zoom.with(|state| state.token_answers_next.clear());
    app.settle_at(now + Duration::seconds(31)).await;
    assert_eq!(pending_jobs(&app).await, 0);
    assert!(findings(&app).await.is_empty());
}

#[tokio::test]
async fn a_token_endpoint_failure_that_is_not_a_refusal_is_retried_without_a_coverage_finding() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    next_token_requests_answered(
        &zoom,
        StatusCode::REQUEST_TIMEOUT,
        Vec::new(),
        json!({"reason": "Request timeout"}),
    );
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    app.settle_at(Utc::now()).await;

    assert!(findings(&app).await.is_empty(), "a timeout refuses nothing");
    let (_, errors) = waiting_jobs(&app).await;
    assert!(
        errors.iter().all(|error| error.contains("HTTP 408")),
        "{errors:?}"
    );

    zoom.with(|state| state.token_answers_next.clear());
    app.settle_at(Utc::now() + Duration::minutes(30)).await;
    assert_eq!(pending_jobs(&app).await, 0);
    assert!(findings(&app).await.is_empty());
}

#[tokio::test]
async fn a_401_invalid_client_from_the_token_endpoint_is_credentials_refused() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    next_token_requests_answered(
        &zoom,
        StatusCode::UNAUTHORIZED,
        Vec::new(),
        json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
    );
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    app.settle_at(Utc::now()).await;

    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], "coverage");
    assert!(
        found[0]["summary"]
            .as_str()
            .unwrap()
            .contains("Invalid client_id or client_secret"),
        "{}",
        found[0]["summary"]
    );
}

#[tokio::test]
async fn the_live_meetings_request_carries_the_schools_dates_and_silent_webhooks_are_still_found() {
    let zoom = FakeZoom::start().await;
    zoom.with(|state| state.live_meetings = 2);
    let app = connected(&zoom, &[]).await;
    // Half past midnight on Thursday 16 July in London, still the 15th in UTC.
    let after_london_midnight = Utc.with_ymd_and_hms(2026, 7, 15, 23, 30, 0).unwrap();
    app.enricher
        .check_silence(after_london_midnight)
        .await
        .unwrap();

    let requests = zoom.with(|state| state.requests.clone());
    let live: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("/v2/metrics/meetings"))
        .collect();
    assert_eq!(live.len(), 1, "{requests:#?}");
    assert!(
        live[0].contains("type=live") && live[0].contains("from=2026-07-15&to=2026-07-16"),
        "{}",
        live[0]
    );
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]["summary"]
            .as_str()
            .unwrap()
            .contains("2 meetings were live"),
        "{}",
        found[0]["summary"]
    );
}

#[tokio::test]
async fn a_one_participant_call_reconciles_as_complete_on_the_first_read() {
    let zoom = FakeZoom::start().await;
    // Zoom's report of a call with one participant lists nobody.
    zoom.with(|state| {
        state
            .past_participants
            .insert(MEETING_UUID.to_string(), Vec::new())
    });
    let app = connected(&zoom, &[]).await;
    app.deliver(&[
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        ended("2025-03-11T15:02:44Z"),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    app.settle_at(Utc::now() + Duration::minutes(3)).await;

    let meeting = app.only_meeting().await;
    assert_eq!(meeting["reconciliation"], "complete", "{meeting}");
    assert_eq!(meeting["participant_count"], 1, "{meeting}");
    let report_reads = zoom.with(|state| {
        state
            .requests
            .iter()
            .filter(|r| r.starts_with("/v2/past_meetings/"))
            .count()
    });
    assert_eq!(report_reads, 1);
}
