//! The platform seam: jobs and accounts are read through the API of the platform they are
//! stored under, findings name that platform, settings are kept as neutral facts (also
//! those read before this release), and a stored value chaperone cannot read is an error
//! naming the row, never a default.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chaperone::enrichment::platform::{LiveMeetingsApi, PlatformApi, PlatformFuture, Platforms};
use chaperone::enrichment::worker::{Enricher, EnrichmentTuning, Step};
use chaperone::enrichment::{self, FetchError, Fetched, Job, JobKind, UserSettingsRecord};
use chaperone::meeting::Platform;
use chaperone::policy::calendar::BankHolidays;
use chaperone::retry::RetryPolicy;
use chaperone::telemetry::metrics::Metrics;
use chaperone::worker::Wakeups;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::Value;
use sqlx::Row;

use crate::alerts::{scenario, Scenario};
use crate::fake_zoom::FakeZoom;
use crate::helpers::{fresh_database_url, spawn_app, test_settings, TestApp};
use crate::upgrade::migrator_up_to;
use crate::zoom_api::connected;
use crate::zoom_events::whole_call;

/// The first schema with neutral platform facts.
const NEUTRAL_FACTS: i64 = 20261202000100;

const MEET_ACCOUNT: &str = "meet-account-7";

/// A `meeting_settings` row: meeting id, co-hosts, records automatically, sign-in required.
type MeetingFacts = (String, Option<String>, Option<i64>, Option<i64>);

/// A second platform, as a test double: it answers host settings and counts live meetings,
/// and remembers what it was asked.
#[derive(Default)]
struct FakeMeet {
    live_meetings: u64,
    asked: Mutex<Vec<String>>,
}

impl PlatformApi for FakeMeet {
    fn platform(&self) -> Platform {
        Platform::GoogleMeet
    }

    fn fetch<'a>(
        &'a self,
        job: &'a Job,
        _now: DateTime<Utc>,
    ) -> PlatformFuture<'a, Result<Fetched, FetchError>> {
        Box::pin(async move {
            self.asked
                .lock()
                .unwrap()
                .push(format!("{}:{}", job.kind.as_str(), job.key));
            match job.kind {
                JobKind::HostSettings => Ok(Fetched::HostSettings(UserSettingsRecord {
                    chat_enabled: Some(false),
                    auto_recording: Some(true),
                })),
                _ => Err(FetchError::Failed("not asked in this test".into())),
            }
        })
    }

    fn live_meetings(&self) -> Option<&dyn LiveMeetingsApi> {
        Some(self)
    }
}

impl LiveMeetingsApi for FakeMeet {
    fn count<'a>(
        &'a self,
        account_id: &'a str,
        _today: NaiveDate,
        _now: DateTime<Utc>,
    ) -> PlatformFuture<'a, Result<u64, FetchError>> {
        Box::pin(async move {
            self.asked
                .lock()
                .unwrap()
                .push(format!("live:{account_id}"));
            Ok(self.live_meetings)
        })
    }
}

/// An enricher over the test app's database that knows only `platforms`.
fn enricher_with(app: &TestApp, platforms: Platforms) -> Enricher {
    Enricher::new(
        app.db.clone(),
        platforms,
        EnrichmentTuning {
            retry: RetryPolicy {
                base_delay: StdDuration::from_secs(5),
                max_delay: StdDuration::from_secs(60),
                max_attempts: 3,
                max_retry_after: StdDuration::from_secs(60),
            },
            silent_after: StdDuration::from_secs(3600),
        },
        Arc::new(Metrics::default()),
        Arc::new(BankHolidays::shipped()),
        Wakeups::default(),
    )
}

async fn school_id(app: &TestApp) -> i64 {
    sqlx::query("SELECT id FROM schools ORDER BY id LIMIT 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id")
}

/// A Google Meet account of the example school with credentials to read with.
async fn connect_meet_account(app: &TestApp) {
    sqlx::query(
        "INSERT INTO platform_accounts (school_id, platform, account_id, label, client_id, client_secret) \
         VALUES ($1, 'google_meet', $2, 'Greenfield Meet', 'service-account', 'key')",
    )
    .bind(school_id(app).await)
    .bind(MEET_ACCOUNT)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

async fn queue_host_settings(app: &TestApp, platform: Platform, host: &str) {
    let school_id = school_id(app).await;
    let mut connection = app.db.pool.acquire().await.unwrap();
    enrichment::request(
        &mut connection,
        platform,
        school_id,
        MEET_ACCOUNT,
        JobKind::HostSettings,
        host,
        None,
        Utc::now(),
        None,
    )
    .await
    .unwrap();
}

async fn findings(app: &TestApp) -> Vec<Value> {
    app.get_json("/api/v1/findings")
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_job_is_read_through_the_api_of_the_platform_it_is_stored_under() {
    let app = spawn_app().await;
    connect_meet_account(&app).await;
    let meet = Arc::new(FakeMeet::default());
    let enricher = enricher_with(&app, Platforms::default().with(meet.clone()));
    queue_host_settings(&app, Platform::GoogleMeet, "meet-host-1").await;

    let steps = enricher.drain(Utc::now()).await.unwrap();

    assert_eq!(steps, vec![Step::Done]);
    assert_eq!(
        *meet.asked.lock().unwrap(),
        vec!["host_settings:meet-host-1".to_string()]
    );
    let row = sqlx::query(
        "SELECT chat_enabled, auto_recording_enabled FROM user_settings \
         WHERE platform = 'google_meet' AND platform_user_id = 'meet-host-1' AND status = 'ok'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<Option<i64>, _>("chat_enabled"), Some(0));
    assert_eq!(row.get::<Option<i64>, _>("auto_recording_enabled"), Some(1));
}

#[tokio::test]
async fn a_job_for_a_platform_without_an_api_fails_naming_the_job_and_asks_no_other_platform() {
    let zoom = FakeZoom::start().await;
    let app = connected(&zoom, &[]).await;
    queue_host_settings(&app, Platform::GoogleMeet, "meet-host-1").await;
    let requests_before = zoom.with(|state| state.requests.len());
    // An installation with no Google Meet API to read with.
    let enricher = enricher_with(&app, Platforms::default());

    let steps = enricher.drain(Utc::now()).await.unwrap();

    assert_eq!(steps, vec![Step::Failed]);
    let row = sqlx::query(
        "SELECT id, status, last_error FROM enrichment_jobs WHERE platform = 'google_meet'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let id: i64 = row.get("id");
    let error: String = row.get("last_error");
    assert_eq!(row.get::<String, _>("status"), "failed");
    assert!(error.contains(&format!("job {id}")), "{error}");
    assert!(error.contains("Google Meet"), "{error}");
    assert_eq!(zoom.with(|state| state.requests.len()), requests_before);
    let status: String = sqlx::query_scalar(
        "SELECT status FROM user_settings WHERE platform = 'google_meet' AND platform_user_id = 'meet-host-1'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(status, "unknown");
}

#[tokio::test]
async fn a_job_stored_under_a_platform_chaperone_does_not_know_is_an_error_naming_the_row() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO enrichment_jobs (platform, school_id, account_id, kind, job_key, status, due_at, attempts, updated_at) \
         VALUES ('teams', $1, 'a', 'host_settings', 'u', 'pending', 0, 0, 0)",
    )
    .bind(school_id(&app).await)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM enrichment_jobs")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();

    let error = app
        .enricher
        .drain(Utc::now())
        .await
        .unwrap_err()
        .to_string();

    assert!(
        error.contains(&format!("enrichment_jobs row {id}")),
        "{error}"
    );
    assert!(error.contains("\"teams\""), "{error}");
}

#[tokio::test]
async fn the_silence_check_asks_every_platform_that_counts_live_meetings_and_names_it() {
    let app = spawn_app().await;
    connect_meet_account(&app).await;
    let meet = Arc::new(FakeMeet {
        live_meetings: 2,
        ..FakeMeet::default()
    });
    let enricher = enricher_with(&app, Platforms::default().with(meet.clone()));
    let wednesday_noon = Utc.with_ymd_and_hms(2026, 11, 18, 12, 0, 0).unwrap();

    enricher.check_silence(wednesday_noon).await.unwrap();

    assert_eq!(
        *meet.asked.lock().unwrap(),
        vec![format!("live:{MEET_ACCOUNT}")]
    );
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], "coverage");
    assert_eq!(found[0]["title"], "Google Meet webhooks have stopped");
    let summary = found[0]["summary"].as_str().unwrap();
    assert!(
        summary.contains("No Google Meet events have arrived from the Google Meet account \u{201c}Greenfield Meet\u{201d}"),
        "{summary}"
    );
    assert!(summary.contains("2 meetings were live"), "{summary}");
    assert!(!summary.contains("Zoom"), "{summary}");
}

#[tokio::test]
async fn a_school_whose_timezone_cannot_be_read_gets_an_error_from_the_register_not_utc_dates() {
    let app = spawn_app().await;
    app.deliver(&whole_call()).await;
    app.drain().await;
    let school = school_id(&app).await;
    sqlx::query("UPDATE schools SET timezone = 'Europe/Londres' WHERE id = $1")
        .bind(school)
        .execute(&app.db.pool)
        .await
        .unwrap();

    for path in [
        "/api/v1/register.csv".to_string(),
        format!("/api/v1/register?school_id={school}&from=2025-03-11"),
    ] {
        let response = app.get_api(&path).await;
        assert_eq!(response.status(), 500, "GET {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "internal", "GET {path}");
    }
}

#[tokio::test]
async fn a_school_whose_timezone_cannot_be_read_stops_its_evaluation_with_an_error_naming_it() {
    let app = spawn_app().await;
    app.deliver(&whole_call()).await;
    app.drain().await;
    let school = school_id(&app).await;
    sqlx::query("UPDATE schools SET timezone = 'Europe/Londres' WHERE id = $1")
        .bind(school)
        .execute(&app.db.pool)
        .await
        .unwrap();

    let error = app
        .evaluator
        .drain(Utc::now())
        .await
        .unwrap_err()
        .to_string();

    assert!(error.contains(&format!("schools row {school}")), "{error}");
    assert!(error.contains("\"Europe/Londres\""), "{error}");
}

#[tokio::test]
async fn an_earlier_databases_zoom_settings_are_kept_as_neutral_facts() {
    let folder = tempfile::tempdir().unwrap();
    let url = fresh_database_url(folder.path()).await;
    let db = chaperone::db::Db::connect(&test_settings(&url, &[]).database)
        .await
        .unwrap();
    migrator_up_to(db.backend, NEUTRAL_FACTS - 1)
        .run(&db.pool)
        .await
        .unwrap();
    for statement in [
        "INSERT INTO schools (id, slug, name, timezone, created_at) VALUES (1, 'greenfield', 'Greenfield', 'Europe/London', 0)",
        // chat, private_chat, chat_with, auto_recording as Zoom reported them.
        "INSERT INTO user_settings (platform, platform_user_id, status, read_at, chat, private_chat, chat_with, auto_recording) VALUES \
           ('zoom', 'everyone', 'ok', 0, 1, 1, 4, 'local'), \
           ('zoom', 'nobody', 'ok', 0, 1, 1, 1, 'none'), \
           ('zoom', 'off', 'ok', 0, 0, NULL, NULL, 'cloud'), \
           ('zoom', 'nobody_unsaid', 'ok', 0, NULL, NULL, 1, NULL), \
           ('zoom', 'unread', 'unknown', 0, NULL, NULL, NULL, NULL)",
        "INSERT INTO meeting_settings (platform, platform_meeting_id, status, read_at, alternative_hosts, auto_recording, authentication) VALUES \
           ('zoom', '111', 'ok', 0, 'dsl@school.example;u-9', 'cloud', 1), \
           ('zoom', '222', 'ok', 0, '', 'none', 0), \
           ('zoom', '333', 'unknown', 0, NULL, NULL, NULL)",
        "INSERT INTO scheduled_meetings (id, school_id, platform, platform_meeting_id, alternative_hosts, revised_at) \
           VALUES (5, 1, 'zoom', '111', 'dsl@school.example', 0)",
    ] {
        sqlx::query(statement).execute(&db.pool).await.unwrap();
    }

    db.migrate().await.unwrap();

    let users = sqlx::query(
        "SELECT platform_user_id, chat_enabled, auto_recording_enabled FROM user_settings ORDER BY platform_user_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let users: Vec<(String, Option<i64>, Option<i64>)> = users
        .iter()
        .map(|row| {
            (
                row.get("platform_user_id"),
                row.get("chat_enabled"),
                row.get("auto_recording_enabled"),
            )
        })
        .collect();
    assert_eq!(
        users,
        vec![
            ("everyone".to_string(), Some(1), Some(1)),
            ("nobody".to_string(), Some(0), Some(0)),
            ("nobody_unsaid".to_string(), Some(0), None),
            ("off".to_string(), Some(0), Some(1)),
            ("unread".to_string(), None, None),
        ]
    );
    let meetings = sqlx::query(
        "SELECT platform_meeting_id, co_hosts, auto_recording_enabled, authentication FROM meeting_settings \
         ORDER BY platform_meeting_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let meetings: Vec<MeetingFacts> = meetings
        .iter()
        .map(|row| {
            (
                row.get("platform_meeting_id"),
                row.get("co_hosts"),
                row.get("auto_recording_enabled"),
                row.get("authentication"),
            )
        })
        .collect();
    assert_eq!(
        meetings,
        vec![
            (
                "111".to_string(),
                Some("dsl@school.example;u-9".to_string()),
                Some(1),
                Some(1)
            ),
            ("222".to_string(), Some(String::new()), Some(0), Some(0)),
            ("333".to_string(), None, None, None),
        ]
    );
    let co_hosts: Option<String> =
        sqlx::query_scalar("SELECT co_hosts FROM scheduled_meetings WHERE id = 5")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(co_hosts.as_deref(), Some("dsl@school.example"));
}

#[tokio::test]
async fn a_school_whose_timezone_cannot_be_read_gets_no_digest_at_a_guessed_hour() {
    let Scenario { app, smtp, .. } = scenario(&["two_adults"], 0).await;
    app.import_toml(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [school.alerts]\ndigest_hour = 0\n[[school.alerts.contacts]]\nperson = \"STAFF-0001\"\n",
    )
    .await;
    sqlx::query("UPDATE schools SET timezone = 'Europe/Londres' WHERE slug = 'greenfield'")
        .execute(&app.db.pool)
        .await
        .unwrap();

    assert_eq!(app.dispatcher.send_digests(Utc::now()).await.unwrap(), 0);

    sqlx::query("UPDATE schools SET timezone = 'Europe/London' WHERE slug = 'greenfield'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(app.dispatcher.send_digests(Utc::now()).await.unwrap(), 1);
    let mail = smtp.wait_for_mail(1, StdDuration::from_secs(5)).await;
    assert!(mail[0].subject().unwrap().contains("Daily digest"));
}
