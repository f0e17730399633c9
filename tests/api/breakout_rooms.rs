//! Breakout rooms are rooms: signed Zoom breakout-room events, through the register and the
//! policy, to the DSL's email.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::json;
use sqlx::Row;

use crate::helpers::{policy_checking_only, spawn_app_with, TestApp, SCHOOL_ACCOUNT};
use crate::smtp_sink::SmtpSink;
use crate::zoom_events::{joined, left, Joiner, HOST, MEETING_NUMBER, MEETING_UUID, PUPIL, TOPIC};

const ROOM: &str = "FkQbpP2UR028mDrwzEahqw==";

/// A second member of staff, known by her school email.
const ASSISTANT: Joiner = Joiner {
    session_id: "16781000",
    name: "Morgan Shaw",
    zoom_user_id: "",
    email: "m.shaw@greenfield.sch.example",
};

/// The pupil back in the main room: Zoom gives a new `user_id` on every move.
const PUPIL_BACK: Joiner = Joiner {
    session_id: "16790000",
    ..PUPIL
};

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn call_object(started: DateTime<Utc>, extra: serde_json::Value) -> serde_json::Value {
    let mut object = json!({
        "uuid": MEETING_UUID,
        "id": MEETING_NUMBER,
        "host_id": crate::helpers::HOST_ZOOM_ID,
        "topic": TOPIC,
        "type": 2,
        "start_time": time(started),
        "timezone": "Europe/London",
        "duration": 30
    });
    for (key, value) in extra.as_object().unwrap() {
        object[key] = value.clone();
    }
    object
}

fn envelope(event: &str, object: serde_json::Value) -> String {
    json!({
        "event": event,
        "event_ts": Utc::now().timestamp_millis(),
        "payload": { "account_id": SCHOOL_ACCOUNT, "object": object }
    })
    .to_string()
}

/// A move into (`entered`) or out of the breakout room, in the shape of Zoom's reference:
/// a new `user_id` for the room, the main-room one as `parent_user_id`.
fn breakout(
    entered: bool,
    joiner: &Joiner,
    room_user_id: &str,
    started: DateTime<Utc>,
    at: DateTime<Utc>,
) -> String {
    let (event, time_field) = if entered {
        ("meeting.participant_joined_breakout_room", "join_time")
    } else {
        ("meeting.participant_left_breakout_room", "leave_time")
    };
    let participant = json!({
        "user_id": room_user_id,
        "parent_user_id": joiner.session_id,
        "user_name": joiner.name,
        "participant_user_id": joiner.zoom_user_id,
        "id": joiner.zoom_user_id,
        "participant_uuid": "5A1C09E2-7B3D-4C11-9F20-6D8E2B1A7C44",
        "email": joiner.email,
        time_field: time(at),
    });
    envelope(
        event,
        call_object(
            started,
            json!({ "breakout_room_uuid": ROOM, "participant": participant }),
        ),
    )
}

fn started_event(started: DateTime<Utc>) -> String {
    envelope("meeting.started", call_object(started, json!({})))
}

fn ended_event(started: DateTime<Utc>, at: DateTime<Utc>) -> String {
    envelope(
        "meeting.ended",
        call_object(started, json!({ "end_time": time(at) })),
    )
}

/// Participant events with the call's real start (the shared helpers carry a fixed one).
fn at_call(body: String, started: DateTime<Utc>) -> String {
    body.replace("2025-03-11T14:31:07Z", &time(started))
}

struct Call {
    start: DateTime<Utc>,
    moved: DateTime<Utc>,
    back: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Call {
    fn recent() -> Call {
        let now = Utc::now();
        let minutes = |m: i64| {
            DateTime::from_timestamp(now.timestamp() - m * 60, 0).expect("a time in range")
        };
        Call {
            start: minutes(40),
            moved: minutes(30),
            back: minutes(18),
            end: minutes(10),
        }
    }

    /// Host, assistant and pupil in the main room; the pupil and the host move into a
    /// breakout room while the assistant stays; both come back. For the pupil, Zoom also
    /// reports a main-room leave at the move and a new main-room join on the way back.
    fn events(&self) -> Vec<String> {
        let Call {
            start,
            moved,
            back,
            end,
        } = *self;
        let second = chrono::Duration::seconds(1);
        vec![
            started_event(start),
            at_call(joined(&HOST, &time(start)), start),
            at_call(joined(&ASSISTANT, &time(start)), start),
            at_call(joined(&PUPIL, &time(start + second)), start),
            at_call(left(&PUPIL, &time(moved)), start),
            breakout(true, &PUPIL, "33558528", start, moved),
            breakout(true, &HOST, "33559552", start, moved),
            breakout(false, &PUPIL, "33558528", start, back),
            breakout(false, &HOST, "33559552", start, back),
            at_call(joined(&PUPIL_BACK, &time(back)), start),
            ended_event(start, end),
            at_call(left(&HOST, &time(end)), start),
            at_call(left(&ASSISTANT, &time(end)), start),
            at_call(left(&PUPIL_BACK, &time(end)), start),
        ]
    }
}

async fn school_checking_two_adults(smtp: &SmtpSink) -> TestApp {
    let port = smtp.port().to_string();
    let app = spawn_app_with(&[
        ("CHAPERONE__SMTP__HOST", "127.0.0.1"),
        ("CHAPERONE__SMTP__PORT", &port),
        ("CHAPERONE__SMTP__SECURITY", "none"),
    ])
    .await;
    let policy = policy_checking_only(&["two_adults"]);
    app.import_toml(&format!(
        r#"
[[school]]
slug = "greenfield"
name = "Greenfield Academy"
timezone = "Europe/London"
{policy}
[[school.alerts.contacts]]
person = "STAFF-0001"
min_severity = "low"
"#
    ))
    .await;
    app
}

async fn findings(app: &TestApp) -> Vec<serde_json::Value> {
    app.get_json("/api/v1/findings")
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn room_stay_count(app: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM room_stays")
        .fetch_one(&app.db.pool)
        .await
        .expect("count room stays")
        .try_get("n")
        .expect("count")
}

fn local(at: DateTime<Utc>) -> String {
    let london: Tz = "Europe/London".parse().unwrap();
    at.with_timezone(&london).format("%H:%M").to_string()
}

#[tokio::test]
async fn a_pupil_moved_into_a_breakout_room_with_one_teacher_is_a_two_adults_finding_for_that_room()
{
    let smtp = SmtpSink::start().await;
    let app = school_checking_two_adults(&smtp).await;
    let call = Call::recent();
    app.deliver(&call.events()).await;
    app.settle_at(Utc::now()).await;

    let findings = findings(&app).await;
    assert_eq!(findings.len(), 1, "only the breakout room: {findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["rule"], "two_adults");
    let pupil_id = &finding["people"][0]["person_id"];
    assert_eq!(finding["subject"], format!("person:{pupil_id}:room:{ROOM}"));
    let summary = finding["summary"].as_str().unwrap();
    assert!(
        summary.contains("Jamie Smith (pupil) was in breakout room 1 of the call"),
        "{summary}"
    );
    assert!(
        summary.contains("only one member of staff (Ravi Patel)"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("from {} on", local(call.moved))),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("to {} on", local(call.back))),
        "{summary}"
    );
    assert!(summary.contains("(12 min)"), "{summary}");

    let mail = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].text().contains("breakout room 1"),
        "{}",
        mail[0].text()
    );
}

#[tokio::test]
async fn the_register_shows_who_was_in_which_breakout_room_when() {
    let smtp = SmtpSink::start().await;
    let app = school_checking_two_adults(&smtp).await;
    let call = Call::recent();
    app.deliver(&call.events()).await;
    app.drain().await;

    let record = app.only_meeting().await;
    let stays = record["room_stays"].as_array().expect("room stays");
    assert_eq!(stays.len(), 2, "{stays:#?}");
    let names: Vec<&str> = stays
        .iter()
        .map(|stay| stay["person"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Jamie Smith") && names.contains(&"Ravi Patel"),
        "{names:?}"
    );
    for stay in stays {
        assert_eq!(stay["room_key"], ROOM);
        assert_eq!(stay["room_label"], "breakout room 1");
        assert_eq!(stay["joined_at"], time(call.moved));
        assert_eq!(stay["left_at"], time(call.back));
        assert_eq!(stay["left_at_inferred"], false);
    }
    let pupil = stays.iter().find(|s| s["role"] == "pupil").unwrap();
    assert_eq!(pupil["display_name"], PUPIL.name);
    let host = stays.iter().find(|s| s["is_host"] == true).unwrap();
    assert_eq!(host["person"]["name"], "Ravi Patel");

    let csv = app
        .get_api("/api/v1/register.csv")
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let room = headers
        .iter()
        .position(|h| h == "room")
        .expect("a room column");
    let rooms: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[room].to_string())
        .collect();
    // Host, assistant and the pupil's two stays in the call, then the two in the room.
    assert_eq!(
        rooms,
        ["", "", "", "", "breakout room 1", "breakout room 1"],
        "{csv}"
    );
}

#[tokio::test]
async fn a_redelivered_breakout_event_changes_nothing() {
    let smtp = SmtpSink::start().await;
    let app = school_checking_two_adults(&smtp).await;
    let call = Call::recent();
    let events = call.events();
    app.deliver(&events).await;
    app.settle_at(Utc::now()).await;
    let before = (
        app.snapshot().await,
        room_stay_count(&app).await,
        app.only_meeting().await,
        findings(&app).await,
    );
    smtp.wait_for_mail(1, Duration::from_secs(5)).await;

    // Zoom retries with the same body (a new event_ts): the same happening, the same key.
    let redelivered: Vec<String> = events
        .iter()
        .filter(|body| body.contains("breakout_room"))
        .map(|body| body.replace("\"event_ts\":", "\"event_ts\":1"))
        .collect();
    assert_eq!(redelivered.len(), 4);
    app.deliver(&redelivered).await;
    app.settle_at(Utc::now()).await;

    let after = (
        app.snapshot().await,
        room_stay_count(&app).await,
        app.only_meeting().await,
        findings(&app).await,
    );
    assert_eq!(before, after);
    assert_eq!(smtp.received().len(), 1, "no second alert");
}
