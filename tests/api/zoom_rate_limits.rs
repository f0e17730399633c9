//! Zoom's rate limits as Zoom answers them (shared/platforms/zoom.md §3.6): a `429` holds back
//! the whole account — every job, not only the refused one — for as long as Zoom says, whether
//! it says so in seconds, as the daily limit's ISO 8601 time or with the per-second limit's
//! `X-RateLimit-Reset`.

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use sqlx::Row;

use crate::fake_zoom::FakeZoom;
use crate::helpers::TestApp;
use crate::zoom_api::{connected, created_for_parent, zoom_knows_the_meeting};

/// An enrichment job still waiting, as stored.
struct PendingJob {
    due_at: DateTime<Utc>,
    last_error: String,
}

async fn pending_jobs(app: &TestApp) -> Vec<PendingJob> {
    sqlx::query("SELECT due_at, last_error FROM enrichment_jobs WHERE status = 'pending'")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| PendingJob {
            due_at: Utc.timestamp_millis_opt(row.get("due_at")).unwrap(),
            last_error: row
                .get::<Option<String>, _>("last_error")
                .unwrap_or_default(),
        })
        .collect()
}

/// A scheduled meeting whose settings and host settings are read: two jobs for one account,
/// the first answered 429 with `headers`.
async fn two_jobs_for_one_account_the_first_refused_with(
    headers: Vec<(&'static str, String)>,
) -> (FakeZoom, TestApp) {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    zoom.with(|state| {
        state.rate_limit_next = 1;
        state.rate_limit_headers = Some(headers);
    });
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    (zoom, app)
}

fn api_calls(zoom: &FakeZoom) -> usize {
    zoom.with(|state| state.api_calls.len())
}

fn close_to(at: DateTime<Utc>, expected: DateTime<Utc>) -> bool {
    (at - expected).abs() <= Duration::seconds(2)
}

#[tokio::test]
async fn after_a_429_with_retry_after_two_seconds_no_job_calls_the_account_for_two_seconds() {
    let (zoom, app) =
        two_jobs_for_one_account_the_first_refused_with(vec![("retry-after", "2".into())]).await;
    let now = Utc::now();
    app.settle_at(now).await;

    assert_eq!(api_calls(&zoom), 1, "the second job did not call");
    let jobs = pending_jobs(&app).await;
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .any(|job| job.last_error.contains("holds the account's calls back")),
        "the waiting job says why"
    );

    // By the worker's clock both jobs are due long before; the account still waits.
    app.settle_at(now + Duration::minutes(5)).await;

    let calls = zoom.with(|state| state.api_calls.clone());
    let (refused_at, refused) = calls[0];
    assert!(refused);
    assert_eq!(calls.len(), 3, "each job called once more");
    for (at, _) in &calls[1..] {
        let after = at.duration_since(refused_at);
        assert!(
            after >= std::time::Duration::from_secs(2),
            "a call went out {after:?} after the 429"
        );
    }
    assert!(pending_jobs(&app).await.is_empty());
}

#[tokio::test]
async fn the_daily_limits_iso_8601_retry_after_holds_every_job_until_that_time() {
    let reset = Utc::now() + Duration::hours(3);
    let (zoom, app) = two_jobs_for_one_account_the_first_refused_with(vec![(
        "retry-after",
        reset.to_rfc3339_opts(SecondsFormat::Millis, true),
    )])
    .await;
    let now = Utc::now();
    app.settle_at(now).await;

    let jobs = pending_jobs(&app).await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert!(
            close_to(job.due_at, reset),
            "due {} for a reset at {reset}",
            job.due_at
        );
        assert!(job.last_error.contains("rate limit"), "{}", job.last_error);
    }

    app.settle_at(now + Duration::hours(1)).await;
    assert_eq!(api_calls(&zoom), 1, "nothing is asked before the reset");

    app.settle_at(reset + Duration::minutes(1)).await;
    assert_eq!(api_calls(&zoom), 3);
    assert!(pending_jobs(&app).await.is_empty());
}

#[tokio::test]
async fn the_per_second_limits_x_ratelimit_reset_without_retry_after_is_honoured() {
    // A reset two minutes away (as a Unix time), so that it cannot be confused with the
    // retry schedule's own ten seconds.
    let reset = Utc::now().timestamp() + 120;
    let (zoom, app) = two_jobs_for_one_account_the_first_refused_with(vec![(
        "x-ratelimit-reset",
        reset.to_string(),
    )])
    .await;
    let now = Utc::now();
    app.settle_at(now).await;

    let reset = Utc.timestamp_opt(reset, 0).unwrap();
    let jobs = pending_jobs(&app).await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert!(
            close_to(job.due_at, reset),
            "due {} for a reset at {reset}",
            job.due_at
        );
    }

    app.settle_at(now + Duration::seconds(30)).await;
    assert_eq!(api_calls(&zoom), 1, "nothing is asked before the reset");

    app.settle_at(reset + Duration::seconds(1)).await;
    assert_eq!(api_calls(&zoom), 3);
    assert!(pending_jobs(&app).await.is_empty());
}
