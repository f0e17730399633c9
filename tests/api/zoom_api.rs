//! Zoom's API behind the webhooks: settings webhooks do not carry, attendance reconciliation
//! after a call, token renewal, rate limits, outages, refused credentials, silent webhooks.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use crate::fake_zoom::{FakeZoom, CLIENT_ID, CLIENT_SECRET};
use crate::helpers::{
    policy_checking_only, spawn_app_with, TestApp, DSL_ZOOM_ID, HOST_ZOOM_ID, SCHOOL_ACCOUNT,
};
use crate::zoom_events::{
    self, chat_message, ended, joined, left, started, Joiner, HOST, MEETING_NUMBER, MEETING_UUID,
    PUPIL,
};

const SECRET_VARIABLE: &str = "CHAPERONE_TEST_ZOOM_CLIENT_SECRET";

/// The example school, its Zoom account connected to `zoom` with working credentials, and a
/// policy checking only `rules`.
pub async fn connected(zoom: &FakeZoom, rules: &[&str]) -> TestApp {
    connected_with_policy(zoom, &policy_checking_only(rules)).await
}

/// The same, with `policy` as the school's `[school.policy]` section.
pub async fn connected_with_policy(zoom: &FakeZoom, policy: &str) -> TestApp {
    let overrides = zoom.overrides();
    let borrowed: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(&borrowed).await;
    std::env::set_var(SECRET_VARIABLE, CLIENT_SECRET);
    app.import_toml(&format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [[school.zoom_accounts]]\naccount_id = \"{SCHOOL_ACCOUNT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_env = \"{SECRET_VARIABLE}\"\n\
         {policy}\
         [school.calendar]\nnation = \"england_and_wales\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nopens = \"00:00\"\ncloses = \"23:59\"\n"
    ))
    .await;
    app
}

fn report_row(joiner: &Joiner, joined_at: &str, left_at: &str) -> Value {
    json!({
        "id": joiner.zoom_user_id,
        "name": joiner.name,
        "user_id": joiner.session_id,
        "user_email": joiner.email,
        "join_time": joined_at,
        "leave_time": left_at,
        "duration": 60,
        "status": "in_meeting",
        "internal_user": !joiner.zoom_user_id.is_empty()
    })
}

/// A call whose pupil was with the host alone for ten minutes, then with the DSL too.
fn call_with_reconciliation_report(zoom: &FakeZoom) -> Vec<String> {
    let dsl = Joiner {
        session_id: "16780288",
        ..zoom_events::DSL
    };
    zoom.with(|state| {
        state.past_participants.insert(
            MEETING_UUID.to_string(),
            vec![
                report_row(&HOST, "2025-03-11T14:31:07Z", "2025-03-11T15:02:44Z"),
                report_row(&PUPIL, "2025-03-11T14:32:10Z", "2025-03-11T15:02:44Z"),
                report_row(&dsl, "2025-03-11T14:42:10Z", "2025-03-11T15:02:44Z"),
            ],
        );
    });
    vec![
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        joined(&PUPIL, "2025-03-11T14:32:10Z"),
        joined(&dsl, "2025-03-11T14:42:10Z"),
        ended("2025-03-11T15:02:44Z"),
        left(&HOST, "2025-03-11T15:02:44Z"),
        left(&PUPIL, "2025-03-11T15:02:44Z"),
        left(&dsl, "2025-03-11T15:02:44Z"),
    ]
}

/// Runs every worker until the participant report has been asked for and merged.
async fn settle_after_reconciliation(app: &TestApp) {
    app.settle_at(Utc::now()).await;
    app.settle_at(Utc::now() + Duration::minutes(3)).await;
}

fn without_sources_and_times(mut record: Value) -> Value {
    for participant in record["participants"].as_array_mut().unwrap() {
        for stay in participant["attendance"].as_array_mut().unwrap() {
            stay.as_object_mut().unwrap().remove("source");
        }
    }
    record.as_object_mut().unwrap().remove("settings");
    record
}

pub async fn findings(app: &TestApp) -> Vec<Value> {
    app.get_json("/api/v1/findings")
        .await
        .as_array()
        .unwrap()
        .clone()
}

fn summaries(findings: &[Value]) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

#[tokio::test]
async fn webhooks_lost_for_one_participant_are_recovered_by_reconciliation_with_the_same_register_and_findings(
) {
    let zoom = FakeZoom::start().await;
    let complete = connected(&zoom, &["two_adults"]).await;
    let events = call_with_reconciliation_report(&zoom);
    complete.deliver(&events).await;
    settle_after_reconciliation(&complete).await;

    let lossy = connected(&zoom, &["two_adults"]).await;
    let pupil_lost: Vec<String> = events
        .iter()
        .filter(|body| !(body.contains("\"user_id\":\"16779264\"")))
        .cloned()
        .collect();
    assert_eq!(
        pupil_lost.len(),
        events.len() - 2,
        "the pupil's join and leave are lost"
    );
    lossy.deliver(&pupil_lost).await;
    lossy.settle_at(Utc::now()).await;
    let before = lossy.only_meeting().await;
    assert_eq!(
        before["participant_count"], 2,
        "only the webhooks' picture before reconciliation"
    );
    assert_eq!(before["reconciliation"], "pending");
    assert!(
        findings(&lossy).await.is_empty(),
        "no pupil seen yet, so nothing to find"
    );

    settle_after_reconciliation(&lossy).await;
    let after = lossy.only_meeting().await;
    assert_eq!(after["reconciliation"], "complete");
    assert_eq!(
        without_sources_and_times(after.clone()),
        without_sources_and_times(complete.only_meeting().await)
    );
    let pupil = after["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "pupil")
        .unwrap()
        .clone();
    assert_eq!(pupil["attendance"][0]["source"], "reconciliation");

    let expected = findings(&complete).await;
    assert_eq!(expected.len(), 1, "{expected:#?}");
    assert_eq!(summaries(&findings(&lossy).await), summaries(&expected));
}

#[tokio::test]
async fn a_report_not_ready_yet_is_asked_for_again_until_it_comes_or_the_deadline_passes() {
    let zoom = FakeZoom::start().await;
    let app = connected(&zoom, &[]).await;
    app.deliver(&[
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        ended("2025-03-11T15:02:44Z"),
    ])
    .await;
    settle_after_reconciliation(&app).await;
    assert_eq!(
        app.only_meeting().await["reconciliation"],
        "pending",
        "no report yet: retrying"
    );

    zoom.with(|state| {
        state.past_participants.insert(
            MEETING_UUID.to_string(),
            vec![report_row(
                &HOST,
                "2025-03-11T14:31:07Z",
                "2025-03-11T15:02:44Z",
            )],
        )
    });
    app.settle_at(Utc::now() + Duration::minutes(30)).await;
    assert_eq!(app.only_meeting().await["reconciliation"], "complete");

    // Another call whose report never comes.
    let never = connected(&zoom, &[]).await;
    let other_uuid = "bm90IGluIHRoZSByZXBvcnQ=";
    never
        .deliver(&[
            started().replace(MEETING_UUID, other_uuid),
            ended("2025-03-11T15:02:44Z").replace(MEETING_UUID, other_uuid),
        ])
        .await;
    never.settle_at(Utc::now()).await;
    for minutes in [30, 60, 95] {
        never
            .settle_at(Utc::now() + Duration::minutes(minutes))
            .await;
    }
    let meeting = never.only_meeting().await;
    assert_eq!(meeting["reconciliation"], "gave_up");
    assert!(
        meeting["reconciliation_error"]
            .as_str()
            .unwrap()
            .contains("not available"),
        "{meeting}"
    );
}

#[tokio::test]
async fn a_uuid_starting_with_a_slash_is_double_encoded_in_the_report_request() {
    let zoom = FakeZoom::start().await;
    let app = connected(&zoom, &[]).await;
    let uuid = "/ajXp112QmuoKj4854875==";
    zoom.with(|state| {
        state.past_participants.insert(
            uuid.to_string(),
            vec![report_row(
                &HOST,
                "2025-03-11T14:31:07Z",
                "2025-03-11T15:02:44Z",
            )],
        )
    });
    app.deliver(&[
        started().replace(MEETING_UUID, uuid),
        ended("2025-03-11T15:02:44Z").replace(MEETING_UUID, uuid),
    ])
    .await;
    settle_after_reconciliation(&app).await;
    assert_eq!(app.only_meeting().await["reconciliation"], "complete");
    let requests = zoom.with(|state| state.requests.clone());
    assert!(
        requests
            .iter()
            .any(|r| r
                .starts_with("/v2/past_meetings/%252FajXp112QmuoKj4854875%253D%253D/participants")),
        "{requests:#?}"
    );
}

fn meeting_details(alternative_hosts: &str, auto_recording: &str) -> Value {
    json!({
        "id": MEETING_NUMBER.parse::<i64>().unwrap(),
        "uuid": "q1VbF0c9Tqy3m8Wc2zL7kA==",
        "host_id": HOST_ZOOM_ID,
        "host_email": HOST.email,
        "topic": zoom_events::TOPIC,
        "type": 2,
        "status": "waiting",
        "start_time": "2030-03-12T14:30:00Z",
        "duration": 30,
        "settings": {
            "alternative_hosts": alternative_hosts,
            "meeting_invitees": [{"email": "sam.smith@home.example"}],
            "auto_recording": auto_recording,
            "waiting_room": true,
            "meeting_authentication": false
        }
    })
}

fn host_settings(chat: bool) -> Value {
    json!({
        "in_meeting": {"chat": chat, "private_chat": chat, "allow_participants_chat_with": if chat { 4 } else { 1 }},
        "recording": {"auto_recording": "none"}
    })
}

/// Zoom knows the meeting (no alternative host, no automatic recording) and its host's
/// chat setting.
pub(crate) fn zoom_knows_the_meeting(zoom: &FakeZoom, chat: bool) {
    zoom.with(|state| {
        state
            .meetings
            .insert(MEETING_NUMBER.into(), meeting_details("", "none"));
        state
            .user_settings
            .insert(HOST_ZOOM_ID.into(), host_settings(chat));
    });
}

/// A scheduled meeting inviting the pupil's parent, in 2030.
pub(crate) fn created_for_parent() -> String {
    zoom_events::created("2030-03-12T14:30:00Z", "")
        .replace("dsl@greenfield.sch.example", "sam.smith@home.example")
}

#[tokio::test]
async fn chat_switched_on_in_the_hosts_settings_is_found_before_the_call() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, true);
    let app = connected(&zoom, &["chat_disabled"]).await;
    app.deliver(&[created_for_parent()]).await;
    app.settle_at(Utc::now()).await;
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], "chat_disabled");
    assert_eq!(found[0]["scope"], "scheduled");
    assert!(
        found[0]["summary"]
            .as_str()
            .unwrap()
            .contains("chat is switched on"),
        "{}",
        found[0]["summary"]
    );

    // The host switches chat off: the finding resolves on the next read.
    zoom.with(|state| {
        state
            .user_settings
            .insert(HOST_ZOOM_ID.into(), host_settings(false))
    });
    app.deliver(&[zoom_events::updated(1741700100999, "2030-03-12T14:30:00Z")])
        .await;
    app.settle_at(Utc::now()).await;
    assert_eq!(findings(&app).await[0]["status"], "resolved");
}

/// Only `school_account`, asking pupils to sign in.
fn policy_asking_pupils_to_sign_in() -> String {
    let only_school_account = policy_checking_only(&["school_account"]);
    let section = "[school.policy.overrides.school_account]\nenabled = true\n";
    assert!(only_school_account.contains(section));
    only_school_account.replace(section, &format!("{section}require_sign_in = true\n"))
}

#[tokio::test]
async fn a_meeting_that_lets_participants_join_without_signing_in_is_found_before_the_call_where_the_policy_asks_pupils_to_sign_in(
) {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    assert_eq!(
        zoom.with(
            |state| state.meetings[MEETING_NUMBER]["settings"]["meeting_authentication"].clone()
        ),
        json!(false)
    );
    let app = connected_with_policy(&zoom, &policy_asking_pupils_to_sign_in()).await;
    app.deliver(&[created_for_parent()]).await;
    app.drain().await;
    app.evaluator.drain(Utc::now()).await.unwrap();
    assert!(
        findings(&app).await.is_empty(),
        "the webhook does not say: not read is never guessed"
    );

    app.settle_at(Utc::now()).await;
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], "school_account");
    assert_eq!(found[0]["scope"], "scheduled");
    assert!(
        found[0]["summary"].as_str().unwrap().contains(
            "lets participants join without signing in to a school account; the policy asks pupils to sign in"
        ),
        "{}",
        found[0]["summary"]
    );

    // The organiser turns meeting authentication on: the next read resolves the finding.
    zoom.with(|state| {
        state.meetings.get_mut(MEETING_NUMBER).unwrap()["settings"]["meeting_authentication"] =
            json!(true)
    });
    app.deliver(&[zoom_events::updated(1741700100999, "2030-03-12T14:30:00Z")])
        .await;
    app.settle_at(Utc::now()).await;
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["status"], "resolved");
}

#[tokio::test]
async fn a_meeting_that_requires_sign_in_or_a_policy_that_does_not_ask_for_it_finds_nothing() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    let not_asked = connected(&zoom, &["school_account"]).await;
    not_asked.deliver(&[created_for_parent()]).await;
    not_asked.settle_at(Utc::now()).await;
    assert!(
        findings(&not_asked).await.is_empty(),
        "the shipped preset does not ask pupils to sign in"
    );

    zoom.with(|state| {
        state.meetings.get_mut(MEETING_NUMBER).unwrap()["settings"]["meeting_authentication"] =
            json!(true)
    });
    let asked = connected_with_policy(&zoom, &policy_asking_pupils_to_sign_in()).await;
    asked.deliver(&[created_for_parent()]).await;
    asked.settle_at(Utc::now()).await;
    let read: Option<i64> =
        sqlx::query_scalar("SELECT authentication FROM meeting_settings WHERE status = 'ok'")
            .fetch_one(&asked.db.pool)
            .await
            .unwrap();
    assert_eq!(read, Some(1), "the setting was read");
    assert!(findings(&asked).await.is_empty());
}

#[tokio::test]
async fn a_chat_message_in_a_call_whose_settings_said_off_is_found() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    let app = connected(&zoom, &["chat_disabled"]).await;
    app.deliver(&[
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        joined(&PUPIL, "2025-03-11T14:32:10Z"),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    assert!(findings(&app).await.is_empty(), "settings say chat is off");
    app.deliver(&[chat_message("m1", "2025-03-11T14:38:20Z", "hello")])
        .await;
    app.settle_at(Utc::now()).await;
    let found = findings(&app).await;
    assert_eq!(found.len(), 1);
    assert!(found[0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("1 chat message was sent"));
}

#[tokio::test]
async fn the_invitees_are_re_read_from_the_api_after_an_update_that_carries_only_a_diff() {
    let zoom = FakeZoom::start().await;
    // The API says the DSL is an alternative host, although no webhook said so.
    zoom.with(|state| {
        state.meetings.insert(
            MEETING_NUMBER.into(),
            meeting_details("dsl@greenfield.sch.example", "none"),
        );
        state
            .user_settings
            .insert(HOST_ZOOM_ID.into(), host_settings(false));
    });
    let app = connected(&zoom, &["dsl_invited"]).await;
    app.deliver(&[created_for_parent()]).await;
    app.drain().await;
    app.evaluator.drain(Utc::now()).await.unwrap();
    assert_eq!(
        findings(&app).await.len(),
        1,
        "from the webhook alone, no DSL is invited"
    );
    app.settle_at(Utc::now()).await;
    assert_eq!(
        findings(&app).await[0]["status"],
        "resolved",
        "the API shows the DSL as alternative host"
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_retried() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    zoom.with(|state| {
        state.revoke_next = 1;
    });
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    app.settle_at(Utc::now()).await;
    assert_eq!(
        zoom.with(|state| state.tokens_issued),
        2,
        "one token, revoked, and one fresh"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM meeting_settings")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "ok");
}

#[tokio::test]
async fn a_token_is_reused_while_valid_and_renewed_in_its_last_minute() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    app.settle_at(Utc::now()).await;
    assert_eq!(
        zoom.with(|state| state.tokens_issued),
        1,
        "two calls, one token"
    );

    // Tokens that expire within a minute are renewed before every call.
    zoom.with(|state| state.token_ttl_secs = Some(59));
    let before = zoom.with(|state| state.tokens_issued);
    app.deliver(&[zoom_events::updated(1741700100999, "2030-03-12T14:30:00Z")])
        .await;
    app.settle_at(Utc::now()).await;
    assert_eq!(
        zoom.with(|state| state.tokens_issued),
        before,
        "the hour-long token is still good"
    );
    let other = connected(&zoom, &[]).await;
    other.deliver(&[created_for_parent()]).await;
    other.settle_at(Utc::now()).await;
    assert_eq!(
        zoom.with(|state| state.tokens_issued),
        before + 2,
        "a 59-second token is renewed for each call"
    );
}

#[tokio::test]
async fn a_rate_limited_call_waits_for_retry_after_and_then_succeeds() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    zoom.with(|state| {
        state.rate_limit_next = 1;
        state.retry_after_secs = 120;
    });
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    let now = Utc::now();
    app.settle_at(now).await;
    let due: i64 =
        sqlx::query_scalar("SELECT MAX(due_at) FROM enrichment_jobs WHERE status = 'pending'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let wait = Utc.timestamp_millis_opt(due).unwrap() - now;
    assert!(
        wait >= Duration::seconds(119) && wait <= Duration::seconds(125),
        "waits {wait} for Retry-After: 120"
    );
    app.settle_at(now + Duration::seconds(121)).await;
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM enrichment_jobs WHERE status = 'pending'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn a_meeting_the_api_does_not_know_is_recorded_as_not_found() {
    let zoom = FakeZoom::start().await;
    let app = connected(&zoom, &[]).await;
    app.deliver(&[started(), joined(&HOST, "2025-03-11T14:31:07Z")])
        .await;
    app.settle_at(Utc::now()).await;
    assert_eq!(app.only_meeting().await["settings"]["status"], "not_found");
}

#[tokio::test]
async fn an_api_outage_never_blocks_webhooks_and_settings_show_unknown_until_it_ends() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    zoom.with(|state| {
        state.down = true;
    });
    let app = connected(&zoom, &[]).await;
    app.deliver(&[started(), joined(&HOST, "2025-03-11T14:31:07Z")])
        .await;
    app.settle_at(Utc::now()).await;
    let meeting = app.only_meeting().await;
    assert_eq!(meeting["settings"]["status"], "unknown");
    assert!(
        meeting["settings"]["error"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{meeting}"
    );
    // Webhooks still go in while the API is down.
    app.deliver(&[joined(&PUPIL, "2025-03-11T14:32:10Z")]).await;

    zoom.with(|state| state.down = false);
    app.settle_at(Utc::now() + Duration::minutes(30)).await;
    assert_eq!(app.only_meeting().await["settings"]["status"], "ok");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(
            "chaperone_platform_api_jobs_total{kind=\"meeting_settings\",outcome=\"retrying\"}"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn refused_credentials_are_a_coverage_finding_that_resolves_when_they_work_again() {
    let zoom = FakeZoom::start().await;
    zoom_knows_the_meeting(&zoom, false);
    zoom.with(|state| {
        state.refuse_credentials = true;
    });
    let app = connected(&zoom, &[]).await;
    app.deliver(&[created_for_parent()]).await;
    app.settle_at(Utc::now()).await;
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], "coverage");
    assert_eq!(found[0]["scope"], "account");
    assert!(
        found[0]["summary"].as_str().unwrap().contains("refused"),
        "{}",
        found[0]["summary"]
    );

    zoom.with(|state| state.refuse_credentials = false);
    app.settle_at(Utc::now() + Duration::hours(1)).await;
    assert_eq!(findings(&app).await[0]["status"], "resolved");
}

#[tokio::test]
async fn webhooks_silent_in_school_hours_while_meetings_are_live_are_a_coverage_finding() {
    let zoom = FakeZoom::start().await;
    zoom.with(|state| state.live_meetings = 3);
    let app = connected(&zoom, &[]).await;
    let wednesday_noon: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 18, 12, 0, 0).unwrap();
    app.enricher.check_silence(wednesday_noon).await.unwrap();
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]["summary"]
            .as_str()
            .unwrap()
            .contains("3 meetings were live"),
        "{}",
        found[0]["summary"]
    );

    zoom.with(|state| state.live_meetings = 0);
    app.enricher
        .check_silence(wednesday_noon + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(findings(&app).await[0]["status"], "resolved");
}

#[tokio::test]
async fn staff_signed_in_to_an_outside_account_are_found_once_the_api_says_so() {
    let zoom = FakeZoom::start().await;
    zoom.with(|state| {
        state.users.insert(
            HOST_ZOOM_ID.into(),
            json!({"id": HOST_ZOOM_ID, "account_id": SCHOOL_ACCOUNT}),
        );
        // The DSL's Zoom user id is not a user of the school's account (404 / code 1001).
    });
    let app = connected(&zoom, &["school_account"]).await;
    let dsl = Joiner {
        session_id: "16780288",
        ..zoom_events::DSL
    };
    assert_eq!(dsl.zoom_user_id, DSL_ZOOM_ID);
    app.deliver(&[
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        joined(&PUPIL, "2025-03-11T14:32:10Z"),
        joined(&dsl, "2025-03-11T14:33:00Z"),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    let found = findings(&app).await;
    let outside: Vec<&Value> = found
        .iter()
        .filter(|f| f["rule"] == "school_account" && f["subject"] != "host")
        .collect();
    assert_eq!(outside.len(), 1, "{found:#?}");
    assert!(
        outside[0]["summary"]
            .as_str()
            .unwrap()
            .contains("Dana Lee (DSL)"),
        "{}",
        outside[0]["summary"]
    );
    assert!(outside[0]["summary"]
        .as_str()
        .unwrap()
        .contains("outside the school"));
}
