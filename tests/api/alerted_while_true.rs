//! Judged on the whole picture, alerted only while true: a call is never judged while its own
//! events still wait in the inbox, an alert whose finding closed before its turn is skipped
//! (visibly), and those alerted about a finding that closed by itself are told so.

use std::time::Duration;

use chaperone::policy::calendar::{BankHolidays, CalendarSpec, SchoolCalendar};
use chrono::{DateTime, Utc, Weekday};

use crate::alerts::{findings, pupil_alone_with_one_adult, scenario, Scenario, DSL_EMAIL};
use crate::helpers::TestApp;
use crate::zoom_events::{ended, joined, left, started, HOST, PUPIL};

const EVERY_DAY: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// Opens the example school every day of the week (08:30–16:00, no terms), so that a
/// morning before today is a school day whatever day the test runs; returns the school
/// hours of the latest school day before today.
async fn open_every_day(app: &TestApp) -> (DateTime<Utc>, DateTime<Utc>) {
    app.import_toml(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [school.calendar]\nnation = \"england_and_wales\"\n\
         days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n\
         opens = \"08:30\"\ncloses = \"16:00\"\n",
    )
    .await;
    let spec = CalendarSpec {
        days: EVERY_DAY.to_vec(),
        ..CalendarSpec::default()
    };
    let london = chrono_tz::Europe::London;
    let calendar = SchoolCalendar::new(london, spec, &BankHolidays::shipped());
    let mut day = Utc::now().with_timezone(&london).date_naive();
    loop {
        day = day.pred_opt().unwrap();
        if let Some(hours) = calendar.school_hours_on(day) {
            return hours;
        }
    }
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Zoom's events of a call from `start` to `end`, the pupil with the host throughout.
fn call(start: DateTime<Utc>, end: DateTime<Utc>) -> (Vec<String>, String) {
    let started_at = |body: String| body.replace("2025-03-11T14:31:07Z", &at(start));
    let during = vec![
        started_at(started()),
        started_at(joined(&HOST, &at(start))),
        started_at(joined(&PUPIL, &at(start + chrono::Duration::minutes(1)))),
        started_at(left(&PUPIL, &at(end))),
        started_at(left(&HOST, &at(end))),
    ];
    (during, started_at(ended(&at(end))))
}

#[tokio::test]
async fn a_morning_call_whose_end_waits_in_the_inbox_when_it_is_evaluated_in_the_evening_is_not_flagged(
) {
    // Arrange: a call from 10:00 to 10:20 on a school day, inside school hours.
    let Scenario { app, smtp, .. } = scenario(&["school_hours"], 0).await;
    let (opens, _closes) = open_every_day(&app).await;
    let start = opens + chrono::Duration::minutes(90);
    let (during, end) = call(start, start + chrono::Duration::minutes(20));

    // Act: its events arrive late, after school; the processor applies those it has, and the
    // evaluator runs while `meeting.ended` still waits in the inbox.
    app.deliver(&during).await;
    app.drain().await;
    app.deliver(&[end]).await;
    let evening = Utc::now();
    app.evaluator.drain(evening).await.unwrap();
    let judged_early = findings(&app).await;
    app.settle_at(evening).await;

    // Assert
    assert_eq!(
        judged_early,
        Vec::<serde_json::Value>::new(),
        "the call was judged before its own end was applied"
    );
    assert_eq!(
        findings(&app).await,
        Vec::<serde_json::Value>::new(),
        "the call ran inside school hours"
    );
    let meeting = app.only_meeting().await;
    assert!(meeting["ended_at"].is_string(), "{meeting}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smtp.received().len(), 0, "no alert was sent");
}

#[tokio::test]
async fn a_call_with_no_events_waiting_is_still_found_running_past_school_hours() {
    // The wait holds back only a call with events of its own in the inbox.
    let Scenario { app, smtp, .. } = scenario(&["school_hours"], 0).await;
    let (opens, _closes) = open_every_day(&app).await;
    let (during, _never_ended) = call(opens + chrono::Duration::minutes(90), Utc::now());
    app.deliver(&during[..3]).await;
    app.settle_at(Utc::now()).await;
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], "school_hours");
    assert_eq!(smtp.wait_for_mail(1, Duration::from_secs(5)).await.len(), 1);
}

/// A meeting scheduled without inviting the DSL, and the change that invites them.
fn scheduled_without_the_dsl_then_fixed() -> (String, String) {
    let created = crate::zoom_events::created("2030-03-12T14:30:00Z", "")
        .replace(DSL_EMAIL, "sam.smith@home.example");
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
    (created, fixed.to_string())
}

async fn deliveries(app: &TestApp, finding_id: i64) -> Vec<serde_json::Value> {
    app.get_json(&format!("/api/v1/findings/{finding_id}"))
        .await["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_finding_opened_and_resolved_before_its_alert_was_dispatched_sends_nothing_and_says_so() {
    let Scenario {
        app,
        smtp,
        receiver,
    } = scenario(&["dsl_invited"], 0).await;
    let (created, fixed) = scheduled_without_the_dsl_then_fixed();

    // The organiser fixes the meeting before the dispatcher's turn comes.
    app.deliver(&[created]).await;
    app.drain().await;
    app.evaluator.drain(Utc::now()).await.unwrap();
    app.deliver(&[fixed]).await;
    app.drain().await;
    app.evaluator.drain(Utc::now()).await.unwrap();
    let steps = app.dispatcher.drain(Utc::now()).await.unwrap();

    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["status"], "resolved");
    let id = found[0]["id"].as_i64().unwrap();
    let deliveries = deliveries(&app, id).await;
    assert_eq!(
        deliveries.len(),
        2,
        "an email and a webhook: {deliveries:#?}"
    );
    for delivery in &deliveries {
        assert_eq!(delivery["status"], "skipped", "{delivery}");
        assert_eq!(delivery["attempts"], 0, "{delivery}");
        let why = delivery["skipped_because"].as_str().unwrap();
        assert!(why.contains("no longer open"), "{why}");
    }
    assert_eq!(steps.len(), 2, "{steps:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smtp.received().len(), 0);
    assert_eq!(receiver.received.lock().unwrap().len(), 0);
    let metrics = app.metrics_text().await;
    assert!(
        metrics
            .contains("chaperone_alert_deliveries_total{channel=\"email\",outcome=\"skipped\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn those_alerted_about_a_finding_that_closes_by_itself_are_told_it_closed_and_why() {
    let Scenario {
        app,
        smtp,
        receiver,
    } = scenario(&["dsl_invited"], 0).await;
    let (created, fixed) = scheduled_without_the_dsl_then_fixed();
    app.deliver(&[created]).await;
    app.settle_at(Utc::now()).await;
    let alert = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert_eq!(alert.len(), 1);

    // The organiser adds the DSL as alternative host: the finding closes by itself.
    app.deliver(&[fixed]).await;
    app.settle_at(Utc::now()).await;

    let mail = smtp.wait_for_mail(2, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 2, "the alert, then the closure notice");
    let notice = &mail[1];
    assert_eq!(notice.recipients, vec![DSL_EMAIL.to_string()]);
    let subject = notice.subject().unwrap();
    assert!(subject.contains("CLOSED"), "{subject}");
    let text = notice.text();
    assert!(text.contains("closed by itself"), "{text}");
    assert!(
        text.contains("A DSL or senior leader is now invited to the meeting."),
        "{text}"
    );
    assert!(
        !text.contains("/acknowledge/"),
        "nothing to acknowledge: {text}"
    );

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "{received:#?}");
    assert_eq!(received[1]["type"], "finding.closed");
    assert_eq!(received[1]["finding_id"], received[0]["finding_id"]);
    assert_eq!(
        received[1]["closed_because"],
        "A DSL or senior leader is now invited to the meeting."
    );

    let found = findings(&app).await;
    assert_eq!(found[0]["status"], "resolved");
    let kinds: Vec<(String, String)> = deliveries(&app, found[0]["id"].as_i64().unwrap())
        .await
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let sent = |kind: &str| (kind.to_string(), "sent".to_string());
    assert_eq!(
        kinds,
        vec![sent("alert"), sent("alert"), sent("closed"), sent("closed")]
    );

    // Evaluating again changes nothing: the notice goes once.
    app.settle_at(Utc::now() + chrono::Duration::minutes(1))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smtp.received().len(), 2);
}

#[tokio::test]
async fn a_finding_a_person_resolves_sends_no_closure_notice() {
    let Scenario { app, smtp, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    assert_eq!(smtp.wait_for_mail(1, Duration::from_secs(5)).await.len(), 1);
    let id = findings(&app).await[0]["id"].as_i64().unwrap();
    let resolved = app
        .post_json(
            &format!("/api/v1/findings/{id}/resolve"),
            serde_json::json!({"by": "Dana Lee", "note": "Spoke to the teacher."}),
        )
        .await;
    assert_eq!(resolved.status(), 200);
    app.settle_at(Utc::now() + chrono::Duration::minutes(1))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smtp.received().len(), 1);
    assert!(deliveries(&app, id)
        .await
        .iter()
        .all(|delivery| delivery["kind"] != "closed"));
}

#[tokio::test]
async fn digest_hour_minus_one_turns_the_digest_off_and_an_hour_out_of_range_is_refused() {
    let Scenario { app, smtp, .. } = scenario(&["two_adults"], 0).await;
    let school = |digest_hour: i64| {
        format!(
            "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
             [school.alerts]\ndigest_hour = {digest_hour}\n[[school.alerts.contacts]]\nperson = \"STAFF-0001\"\n"
        )
    };
    let path = app.folder.path().join("out-of-range.toml");
    std::fs::write(&path, school(25)).unwrap();
    let refused = chaperone::import::import_path(&app.db, &app.state.secrets, &path, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("digest_hour 25"), "{refused}");

    app.import_toml(&school(-1)).await;
    assert_eq!(app.dispatcher.send_digests(Utc::now()).await.unwrap(), 0);
    // The same school with a digest at midnight gets one.
    app.import_toml(&school(0)).await;
    assert_eq!(app.dispatcher.send_digests(Utc::now()).await.unwrap(), 1);
    let mail = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert!(mail[0].subject().unwrap().contains("Daily digest"));
}
