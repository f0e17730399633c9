//! From signed Zoom webhooks to findings and alerts: email to a real SMTP server, signed
//! webhooks to a local receiver that verifies them, retries, escalation, acknowledgement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chaperone::alerts::channels::verify_standard_webhook;
use chaperone::config::Secret;
use chrono::{DateTime, Utc};

use crate::helpers::{policy_checking_only, spawn_app_with, TestApp};
use crate::smtp_sink::SmtpSink;
use crate::zoom_events::{joined, started, Joiner, DSL, HOST, PUPIL};

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(crate) const DSL_EMAIL: &str = "dsl@greenfield.sch.example";
const DEPUTY_EMAIL: &str = "m.shaw@greenfield.sch.example";

/// A case-management system: verifies every delivery's Standard Webhooks signature and
/// refuses the first `fail_first` with 503, or with 429 and `Retry-After: retry_after` when
/// that is set.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) received: Arc<Mutex<Vec<serde_json::Value>>>,
    attempts: Arc<AtomicUsize>,
    /// Every attempt's headers and body, refused or not.
    tries: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// How long it takes to answer, as a slow receiver would.
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    fail_first: usize,
    retry_after: Option<&'static str>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let attempt = receiver.attempts.fetch_add(1, Ordering::SeqCst);
    receiver
        .tries
        .lock()
        .unwrap()
        .push((headers.clone(), body.clone()));
    let delay = receiver.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if attempt < receiver.fail_first {
        return match receiver.retry_after {
            Some(retry_after) => {
                (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, retry_after)]).into_response()
            }
            None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        };
    }
    if verify_standard_webhook(
        &Secret::new(WEBHOOK_SECRET),
        &headers,
        &body,
        Utc::now().timestamp(),
    )
    .is_err()
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    receiver.received.lock().unwrap().push(value);
    StatusCode::NO_CONTENT.into_response()
}

async fn start_receiver(
    fail_first: usize,
    retry_after: Option<&'static str>,
) -> (Receiver, String) {
    let receiver = Receiver {
        received: Arc::default(),
        attempts: Arc::default(),
        tries: Arc::default(),
        delay_ms: Arc::default(),
        fail_first,
        retry_after,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/chaperone", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hooks/chaperone", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

pub(crate) struct Scenario {
    pub(crate) app: TestApp,
    pub(crate) smtp: SmtpSink,
    pub(crate) receiver: Receiver,
}

/// The example school with a policy that checks only `rules` (plus whatever they need),
/// alerts going to the DSL, then the deputy DSL, and a signed webhook.
pub(crate) async fn scenario(rules: &[&str], webhook_failures: usize) -> Scenario {
    scenario_with(rules, webhook_failures, false).await
}

async fn scenario_with(rules: &[&str], webhook_failures: usize, workers: bool) -> Scenario {
    scenario_importing(rules, webhook_failures, workers, "").await
}

/// As [`scenario_with`], with `more` added to the school's import (people, say).
pub(crate) async fn scenario_importing(
    rules: &[&str],
    webhook_failures: usize,
    workers: bool,
    more: &str,
) -> Scenario {
    scenario_receiving(rules, webhook_failures, None, workers, more, &[]).await
}

/// As [`scenario_importing`], with settings of the test's own (platform endpoints, say).
pub(crate) async fn scenario_configured(
    rules: &[&str],
    more: &str,
    overrides: &[(&str, &str)],
) -> Scenario {
    scenario_receiving(rules, 0, None, false, more, overrides).await
}

/// The scenario whose webhook receiver answers its first `webhook_failures` deliveries with
/// 429 and `Retry-After: retry_after` (503 when `None`).
async fn scenario_receiving(
    rules: &[&str],
    webhook_failures: usize,
    retry_after: Option<&'static str>,
    workers: bool,
    more: &str,
    overrides: &[(&str, &str)],
) -> Scenario {
    let smtp = SmtpSink::start().await;
    let port = smtp.port().to_string();
    let mut settings = vec![
        (
            "CHAPERONE__SERVER__WORKER_ENABLED",
            if workers { "true" } else { "false" },
        ),
        ("CHAPERONE__SMTP__HOST", "127.0.0.1"),
        ("CHAPERONE__SMTP__PORT", &port),
        ("CHAPERONE__SMTP__SECURITY", "none"),
        ("CHAPERONE__ALERTS__RETRY_BASE_MS", "10"),
        ("CHAPERONE__ALERTS__MAX_ATTEMPTS", "5"),
    ];
    settings.extend_from_slice(overrides);
    let app = spawn_app_with(&settings).await;
    let (receiver, url) = start_receiver(webhook_failures, retry_after).await;
    let secret_variable = format!(
        "CHAPERONE_TEST_WEBHOOK_SECRET_{}",
        app.folder
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(['.', '-'], "_")
    );
    std::env::set_var(&secret_variable, WEBHOOK_SECRET);
    let policy = policy_checking_only(rules);
    app.import_toml(&format!(
        r#"
[[school]]
slug = "greenfield"
name = "Greenfield Academy"
timezone = "Europe/London"
{policy}
[school.alerts]
escalate_after_mins = 10
[[school.alerts.contacts]]
person = "STAFF-0001"
min_severity = "low"
[[school.alerts.contacts]]
person = "STAFF-0003"
min_severity = "medium"
[[school.alerts.webhooks]]
url = "{url}"
secret_env = "{secret_variable}"
{more}
"#
    ))
    .await;
    Scenario {
        app,
        smtp,
        receiver,
    }
}

pub(crate) fn ago(seconds: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A call that started five minutes ago in which the pupil has been with only the host for
/// four minutes: a two-staff breach past its grace period.
pub(crate) fn pupil_alone_with_one_adult() -> Vec<String> {
    vec![
        started().replace("2025-03-11T14:31:07Z", &ago(300)),
        joined(&HOST, &ago(300)),
        joined(&PUPIL, &ago(240)),
    ]
}

pub(crate) async fn findings(app: &TestApp) -> Vec<serde_json::Value> {
    app.get_json("/api/v1/findings")
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// The signed-webhook delivery of the only finding, as the API shows it.
async fn webhook_delivery(app: &TestApp) -> serde_json::Value {
    let id = findings(app).await[0]["id"].as_i64().unwrap();
    let detail = app.get_json(&format!("/api/v1/findings/{id}")).await;
    detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "webhook")
        .unwrap()
        .clone()
}

fn link_in(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_pupil_alone_with_one_adult_reaches_the_dsl_by_email_and_the_case_system_by_signed_webhook(
) {
    let Scenario {
        app,
        smtp,
        receiver,
    } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;

    let findings = findings(&app).await;
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["rule"], "two_adults");
    assert_eq!(finding["severity"], "critical");
    assert_eq!(finding["status"], "open");
    let summary = finding["summary"].as_str().unwrap();
    assert!(summary.contains("Jamie Smith (pupil)"), "{summary}");
    assert!(
        summary.contains("only one member of staff (Ravi Patel)"),
        "{summary}"
    );

    let mail = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].recipients, vec![DSL_EMAIL.to_string()]);
    // The delivery's own id at the sender's domain, not the machine's name.
    let message_id = mail[0].header("Message-ID").unwrap();
    let sender_domain = mail[0].header("From").unwrap();
    let sender_domain = sender_domain
        .trim_end_matches('>')
        .rsplit('@')
        .next()
        .unwrap();
    assert!(
        message_id.starts_with("<msg_") && message_id.ends_with(&format!("@{sender_domain}>")),
        "{message_id}"
    );
    assert!(
        mail[0].subject().unwrap().contains("CRITICAL"),
        "{:?}",
        mail[0].subject()
    );
    let text = mail[0].text();
    assert!(text.contains("Jamie Smith"), "{text}");
    assert!(
        !text.contains("Y9 mentoring – J.S. 🎓 café") || text.contains("Y9"),
        "{text}"
    );

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "one signed webhook");
    assert_eq!(received[0]["finding_id"], finding["id"]);
    assert_eq!(received[0]["rule"], "two_adults");

    // Evaluating again finds the same thing: nothing new is sent.
    app.deliver(&[joined(
        &Joiner {
            session_id: "555",
            ..DSL
        },
        &ago(5),
    )])
    .await;
    app.settle_at(Utc::now()).await;
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(receiver.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_channel_that_fails_three_times_and_recovers_gets_the_alert_exactly_once() {
    let Scenario { app, receiver, .. } = scenario(&["two_adults"], 3).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    for minutes in 1..=5 {
        app.settle_at(Utc::now() + chrono::Duration::minutes(minutes))
            .await;
    }
    assert_eq!(
        receiver.attempts.load(Ordering::SeqCst),
        4,
        "three refusals, then one success"
    );
    assert_eq!(receiver.received.lock().unwrap().len(), 1);
    let webhook = webhook_delivery(&app).await;
    assert_eq!(webhook["status"], "sent");
    assert_eq!(webhook["attempts"], 4);
    // Each retry is the first attempt again, byte for byte, under one id that no other
    // delivery (here or in another installation) has: a receiver de-duplicating by
    // `webhook-id`, as Standard Webhooks advises, keeps exactly this alert.
    let tries = receiver.tries.lock().unwrap().clone();
    assert_eq!(tries.len(), 4);
    let id_of = |headers: &HeaderMap| headers["webhook-id"].to_str().unwrap().to_string();
    let (first_headers, first_body) = &tries[0];
    let first_id = &id_of(first_headers);
    assert!(
        first_id.starts_with("msg_") && first_id.len() == 36,
        "{first_id}"
    );
    for (headers, body) in &tries[1..] {
        assert_eq!(&id_of(headers), first_id);
        assert_eq!(body, first_body);
    }
}

#[tokio::test]
async fn a_receiver_asking_to_wait_an_hour_gets_the_alert_again_within_the_minute_bound() {
    let Scenario { app, receiver, .. } =
        scenario_receiving(&["two_adults"], 1, Some("3600"), false, "", &[]).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    let now = Utc::now();
    app.settle_at(now).await;
    assert_eq!(receiver.attempts.load(Ordering::SeqCst), 1, "refused once");
    let refused = webhook_delivery(&app).await;
    assert_eq!(refused["status"], "pending", "{refused}");
    assert!(
        refused["last_error"].as_str().unwrap().contains("429"),
        "{refused}"
    );

    // alerts.max_retry_after_secs is 60 by default: the hour asked for is cut to a minute.
    app.settle_at(now + chrono::Duration::seconds(61)).await;

    assert_eq!(receiver.attempts.load(Ordering::SeqCst), 2);
    assert_eq!(receiver.received.lock().unwrap().len(), 1);
    let webhook = webhook_delivery(&app).await;
    assert_eq!(webhook["status"], "sent", "{webhook}");
}

#[tokio::test]
async fn a_channel_that_never_recovers_is_marked_failed_visibly() {
    let Scenario { app, .. } = scenario(&["two_adults"], usize::MAX).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    for minutes in 0..=10 {
        app.settle_at(Utc::now() + chrono::Duration::minutes(minutes))
            .await;
    }
    let webhook = webhook_delivery(&app).await;
    assert_eq!(webhook["status"], "failed");
    assert_eq!(webhook["attempts"], 5);
    let last_error = webhook["last_error"].as_str().unwrap();
    assert!(last_error.contains("503"), "{webhook}");
    assert!(
        last_error.starts_with("delivery failed after 5 attempts")
            && !last_error.contains("worth retrying"),
        "{last_error}"
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics
            .contains("chaperone_alert_deliveries_total{channel=\"webhook\",outcome=\"failed\"} 1"),
        "{metrics}"
    );
}

async fn escalation_run(acknowledge_first: bool) -> (Vec<String>, serde_json::Value) {
    let Scenario { app, smtp, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    let now = Utc::now();
    app.settle_at(now).await;
    let first = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    if acknowledge_first {
        let link = link_in(&first[0].text(), "http://127.0.0.1:8080/acknowledge/");
        let path = link.trim_start_matches("http://127.0.0.1:8080");
        let page = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page
            .text()
            .await
            .unwrap()
            .contains("<form method=\"post\">"));
        let status = findings(&app).await[0]["status"].clone();
        assert_eq!(status, "open", "opening the link alone changes nothing");
        let done = app
            .client
            .post(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
    }
    let later: DateTime<Utc> = now + chrono::Duration::minutes(11);
    app.settle_at(later).await;
    let recipients = smtp
        .received()
        .iter()
        .flat_map(|m| m.recipients.clone())
        .collect();
    (recipients, findings(&app).await[0].clone())
}

#[tokio::test]
async fn an_alert_nobody_acknowledges_escalates_to_the_next_contact() {
    let (recipients, finding) = escalation_run(false).await;
    assert_eq!(
        recipients,
        vec![DSL_EMAIL.to_string(), DEPUTY_EMAIL.to_string()]
    );
    assert_eq!(finding["alert_level"], 1);
}

#[tokio::test]
async fn an_acknowledged_alert_does_not_escalate() {
    let (recipients, finding) = escalation_run(true).await;
    assert_eq!(recipients, vec![DSL_EMAIL.to_string()]);
    assert_eq!(finding["status"], "acknowledged");
    assert!(
        finding["acknowledged_by"]
            .as_str()
            .unwrap()
            .contains("Dana Lee"),
        "{finding}"
    );
}

#[tokio::test]
async fn a_meeting_scheduled_without_the_dsl_is_flagged_before_the_call_and_resolves_when_fixed() {
    let Scenario { app, smtp, .. } = scenario(&["dsl_invited"], 0).await;
    // The organiser invites the pupil's parent and nobody from safeguarding.
    let created = crate::zoom_events::created("2030-03-12T14:30:00Z", "")
        .replace(DSL_EMAIL, "sam.smith@home.example");
    app.deliver(&[created]).await;
    app.settle_at(Utc::now()).await;
    let open = findings(&app).await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["rule"], "dsl_invited");
    assert_eq!(open[0]["scope"], "scheduled");
    assert!(open[0]["summary"]
        .as_str()
        .unwrap()
        .contains("does not invite a DSL"));
    assert_eq!(smtp.wait_for_mail(1, Duration::from_secs(5)).await.len(), 1);

    // The organiser adds the DSL as alternative host: the finding resolves itself.
    let fixed = serde_json::json!({
        "event": "meeting.updated",
        "event_ts": 1741700100999i64,
        "payload": {
            "account_id": crate::helpers::SCHOOL_ACCOUNT,
            "operator_id": crate::helpers::HOST_ZOOM_ID,
            "time_stamp": 1741700100999i64,
            "object": {"id": 84712345678i64, "settings": {"alternative_hosts": DSL_EMAIL}},
            "old_object": {"id": 84712345678i64, "settings": {"alternative_hosts": ""}}
        }
    });
    app.deliver(&[fixed.to_string()]).await;
    app.settle_at(Utc::now()).await;
    let after = findings(&app).await;
    assert_eq!(after[0]["status"], "resolved");
    assert_eq!(after[0]["resolved_by"], "chaperone");
    let id = after[0]["id"].as_i64().unwrap();
    let history = app.get_json(&format!("/api/v1/findings/{id}")).await["history"].clone();
    let changes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, vec!["opened", "resolved"]);
}

#[tokio::test]
async fn findings_are_acknowledged_and_resolved_through_the_api_and_keep_their_history() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let id = findings(&app).await[0]["id"].as_i64().unwrap();

    let no_note = app
        .post_json(
            &format!("/api/v1/findings/{id}/resolve"),
            serde_json::json!({"by": "Dana Lee"}),
        )
        .await;
    assert_eq!(no_note.status(), 400);
    let acknowledged = app
        .post_json(
            &format!("/api/v1/findings/{id}/acknowledge"),
            serde_json::json!({"by": "Dana Lee"}),
        )
        .await;
    assert_eq!(acknowledged.status(), 200);
    let resolved = app
        .post_json(
            &format!("/api/v1/findings/{id}/resolve"),
            serde_json::json!({"by": "Dana Lee", "note": "Spoke to the teacher; a second adult joins from now on."}),
        )
        .await;
    assert_eq!(resolved.status(), 200);
    let again = app
        .post_json(
            &format!("/api/v1/findings/{id}/acknowledge"),
            serde_json::json!({"by": "Dana Lee"}),
        )
        .await;
    assert_eq!(again.status(), 409);

    // A person's resolution stands when the engine finds the same thing again.
    app.settle_at(Utc::now() + chrono::Duration::minutes(1))
        .await;
    let detail = app.get_json(&format!("/api/v1/findings/{id}")).await;
    assert_eq!(detail["status"], "resolved");
    let changes: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, vec!["opened", "acknowledged", "resolved"]);
    let filtered = app
        .get_json("/api/v1/findings?status=open&severity=critical,high")
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 0);
    let bad = app.get_api("/api/v1/findings?severity=urgent").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_call_matching_an_approved_planned_session_is_not_flagged_and_an_unplanned_one_is() {
    let Scenario { app, .. } = scenario(&["approved_in_advance"], 0).await;
    let school_id = app.get_json("/api/v1/schools").await[0]["id"]
        .as_i64()
        .unwrap();
    let start = Utc::now();
    let registered = app
        .post_json(
            "/api/v1/planned-sessions",
            serde_json::json!({
                "school_id": school_id,
                "host_ref": "STAFF-0002",
                "pupil_refs": ["PUPIL-1001"],
                "starts_at": start - chrono::Duration::minutes(3),
                "ends_at": start + chrono::Duration::minutes(30),
                "purpose": "Mentoring",
                "approved_by_ref": "STAFF-0004",
                "risk_assessment_ref": "RA-2026-14"
            }),
        )
        .await;
    assert_eq!(
        registered.status(),
        201,
        "{}",
        registered.text().await.unwrap()
    );
    // The call starts after it was put on the timetable.
    let soon = |seconds: i64| {
        (Utc::now() + chrono::Duration::seconds(seconds))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    app.deliver(&[
        started().replace("2025-03-11T14:31:07Z", &soon(2)),
        joined(&HOST, &soon(2)),
        joined(&PUPIL, &soon(3)),
    ])
    .await;
    app.settle_at(Utc::now() + chrono::Duration::minutes(1))
        .await;
    assert_eq!(
        findings(&app).await.len(),
        0,
        "the call is on the timetable"
    );

    let unknown = app
        .post_json(
            "/api/v1/planned-sessions",
            serde_json::json!({"school_id": school_id, "host_ref": "NOBODY", "starts_at": start, "ends_at": start, "purpose": "x"}),
        )
        .await;
    assert_eq!(unknown.status(), 400);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert!(
        body["code"] == "unknown_person" || body["code"] == "invalid_request",
        "{body}"
    );
}

#[tokio::test]
async fn consent_recorded_through_the_api_clears_a_consent_finding() {
    let Scenario { app, .. } = scenario(&["parental_consent"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let open = findings(&app).await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["rule"], "parental_consent");

    let school_id = app.get_json("/api/v1/schools").await[0]["id"]
        .as_i64()
        .unwrap();
    let recorded = app
        .post_json(
            "/api/v1/consents",
            serde_json::json!({"school_id": school_id, "pupil_ref": "PUPIL-1001", "parent_ref": "PARENT-2001", "signed_on": "2020-09-01"}),
        )
        .await;
    assert_eq!(recorded.status(), 201);
    app.settle_at(Utc::now()).await;
    assert_eq!(findings(&app).await[0]["status"], "resolved");
}

#[tokio::test]
async fn the_daily_digest_goes_once_to_every_contact_with_the_days_calls_and_findings() {
    let Scenario { app, smtp, .. } = scenario(&["two_adults"], 0).await;
    app.import_toml(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [school.alerts]\ndigest_hour = 0\n\
         [[school.alerts.contacts]]\nperson = \"STAFF-0001\"\n[[school.alerts.contacts]]\nperson = \"STAFF-0003\"\n",
    )
    .await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let alerts = smtp.wait_for_mail(1, Duration::from_secs(5)).await.len();

    let sent = app.dispatcher.send_digests(Utc::now()).await.unwrap();
    assert_eq!(sent, 2);
    let mail = smtp.wait_for_mail(alerts + 2, Duration::from_secs(5)).await;
    let digests: Vec<_> = mail
        .iter()
        .filter(|m| m.subject().unwrap_or_default().contains("Daily digest"))
        .collect();
    assert_eq!(digests.len(), 2);
    let text = digests[0].text();
    assert!(text.contains("Calls held: 1"), "{text}");
    assert!(text.contains("critical: 1 (1 still open)"), "{text}");
    assert!(
        !text.contains("Jamie"),
        "a digest carries counts, not names: {text}"
    );
    assert_eq!(
        app.dispatcher.send_digests(Utc::now()).await.unwrap(),
        0,
        "once a day"
    );
}

/// Teams and Slack incoming webhooks: record what they receive.
async fn start_chat_receiver() -> (Arc<Mutex<Vec<(String, serde_json::Value)>>>, String) {
    let received: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = received.clone();
    let app = Router::new().route(
        "/{service}",
        post(
            move |axum::extract::Path(service): axum::extract::Path<String>, body: Bytes| {
                let store = store.clone();
                async move {
                    let value: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    store.lock().unwrap().push((service, value));
                    StatusCode::OK
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, base)
}

#[tokio::test]
async fn a_contact_on_teams_and_slack_gets_an_adaptive_card_and_a_slack_message() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    let (received, base) = start_chat_receiver().await;
    let suffix = app
        .folder
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(['.', '-'], "_");
    let teams_variable = format!("CHAPERONE_TEST_TEAMS_{suffix}");
    let slack_variable = format!("CHAPERONE_TEST_SLACK_{suffix}");
    std::env::set_var(&teams_variable, format!("{base}/teams"));
    std::env::set_var(&slack_variable, format!("{base}/slack"));
    app.import_toml(&format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [school.alerts]\n[[school.alerts.contacts]]\nperson = \"STAFF-0001\"\nemail = false\n\
         teams_url_env = \"{teams_variable}\"\nslack_url_env = \"{slack_variable}\"\n"
    ))
    .await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let received = received.lock().unwrap().clone();
    let teams = received
        .iter()
        .find(|(service, _)| service == "teams")
        .expect("a Teams post")
        .1
        .clone();
    let slack = received
        .iter()
        .find(|(service, _)| service == "slack")
        .expect("a Slack post")
        .1
        .clone();
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(teams.to_string().contains("/acknowledge/"), "{teams}");
    assert!(slack["blocks"].is_array(), "{slack}");
    assert!(slack.to_string().contains("Jamie Smith"), "{slack}");
}

#[tokio::test]
async fn with_the_workers_running_the_dsl_is_emailed_within_seconds_of_the_webhook() {
    let Scenario {
        app,
        smtp,
        receiver,
    } = scenario_with(&["two_adults"], 0, true).await;
    let sent = std::time::Instant::now();
    app.deliver(&pupil_alone_with_one_adult()).await;
    let mail = smtp.wait_for_mail(1, Duration::from_secs(10)).await;
    assert_eq!(mail[0].recipients, vec![DSL_EMAIL.to_string()]);
    assert!(sent.elapsed() < Duration::from_secs(10));
    let webhook_arrived = crate::helpers::eventually(Duration::from_secs(10), || {
        let count = receiver.received.lock().unwrap().len();
        async move { count == 1 }
    })
    .await;
    assert!(webhook_arrived, "the signed webhook did not arrive");
}

#[tokio::test]
async fn two_dispatchers_draining_one_outbox_send_each_alert_once() {
    let Scenario {
        app,
        smtp,
        receiver,
    } = scenario(&["two_adults", "unknown_participant"], 0).await;
    let mut events = pupil_alone_with_one_adult();
    for guest in 0..8 {
        let session_id: &'static str = Box::leak(format!("9{guest:07}").into_boxed_str());
        events.push(joined(
            &Joiner {
                session_id,
                name: "Guest",
                zoom_user_id: "",
                email: "",
            },
            &ago(60),
        ));
    }
    app.deliver(&events).await;
    app.drain().await;
    app.evaluator.drain(Utc::now()).await.unwrap();
    // A second instance's dispatcher on the same database.
    let other = app.dispatcher.clone();
    let now = Utc::now();
    let (first, second) = tokio::join!(app.dispatcher.drain(now), other.drain(now));
    let sent = first.unwrap().len() + second.unwrap().len();
    let findings = findings(&app).await.len();
    assert_eq!(
        findings, 9,
        "one two-adults finding and eight unknown guests"
    );
    assert_eq!(sent, findings * 2, "an email and a webhook per finding");
    assert_eq!(receiver.received.lock().unwrap().len(), findings);
    assert_eq!(
        smtp.wait_for_mail(findings, Duration::from_secs(5))
            .await
            .len(),
        findings
    );
    let mut ids: Vec<i64> = receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|v| v["finding_id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), findings, "no finding alerted twice");
}

/// What a receiver using the official Standard Webhooks library (PyPI `standardwebhooks`,
/// installed by `.ci/run`) makes of a delivery: it verifies, with the secret written as
/// chaperone's import reads it.
#[tokio::test]
async fn a_delivery_verifies_with_the_official_standard_webhooks_library() {
    let Scenario { app, receiver, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let (headers, body) = receiver.tries.lock().unwrap()[0].clone();
    let header = |name: &str| headers[name].to_str().unwrap().to_string();
    let delivery = serde_json::json!({
        "secret": WEBHOOK_SECRET,
        "headers": {
            "webhook-id": header("webhook-id"),
            "webhook-timestamp": header("webhook-timestamp"),
            "webhook-signature": header("webhook-signature"),
        },
        "body": String::from_utf8(body.to_vec()).unwrap(),
    });
    let verify = |delivery: &serde_json::Value| {
        let mut child = std::process::Command::new("python3")
            .args(["-c", OFFICIAL_VERIFIER])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the official verifier");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(delivery.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };

    let output = verify(&delivery);
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        !said.contains("No module named"),
        "the official library is missing: pip install standardwebhooks ({said})"
    );
    assert!(output.status.success(), "{said}");
    assert_eq!(said.trim(), "verified two_adults");

    // The same delivery with one byte of its body changed does not verify.
    let mut altered = delivery.clone();
    altered["body"] = serde_json::Value::String(delivery["body"].as_str().unwrap().replacen(
        "two_adults",
        "two_adultz",
        1,
    ));
    assert!(!verify(&altered).status.success());
}

const OFFICIAL_VERIFIER: &str = r#"
import json, sys
from standardwebhooks import Webhook
delivery = json.load(sys.stdin)
payload = Webhook(delivery["secret"]).verify(delivery["body"], delivery["headers"])
print("verified", payload["rule"])
"#;

/// Two instances sending: a receiver slower than the lease keeps the delivery with the
/// instance that is sending it (the lease is renewed while the send runs), so the alert goes
/// once; the lease itself is short, so a dead instance's delivery is taken over in seconds.
#[tokio::test]
async fn a_send_slower_than_the_lease_is_not_taken_over_by_another_instance() {
    let Scenario {
        app,
        receiver,
        smtp,
    } = scenario(&["two_adults"], 0).await;
    receiver.delay_ms.store(7_000, Ordering::SeqCst);
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.drain().await;
    let now = Utc::now();
    app.enricher.drain(now).await.unwrap();
    app.evaluator.drain(now).await.unwrap();

    let started = Utc::now();
    let lease = chaperone::alerts::dispatcher::LEASE;
    let one = app.dispatcher.drain(started);
    // The other instance looks after the first one's lease would have run out.
    let other = async {
        tokio::time::sleep(Duration::from_secs(6)).await;
        app.dispatcher
            .drain(
                started + chrono::Duration::from_std(lease).unwrap() + chrono::Duration::seconds(1),
            )
            .await
    };
    let (one, other) = tokio::join!(one, other);
    one.unwrap();
    other.unwrap();

    assert_eq!(receiver.attempts.load(Ordering::SeqCst), 1, "sent once");
    assert_eq!(webhook_delivery(&app).await["status"], "sent");
    assert_eq!(smtp.wait_for_mail(1, Duration::from_secs(5)).await.len(), 1);
    assert!(
        lease <= Duration::from_secs(30),
        "a dead instance's delivery waits at most {lease:?}"
    );
}
