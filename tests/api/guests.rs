//! Pupils who join as guests — from the link sent to a parent, not signed in, with an empty
//! email and user id, only a display name — are checked like known pupils, from the signed
//! webhooks to the DSL's email, and every finding says how sure it is of who they are.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::alerts::{ago, findings, scenario_importing, Scenario, DSL_EMAIL};
use crate::fake_zoom::FakeZoom;
use crate::helpers::{policy_checking_only, TestApp};
use crate::zoom_api::connected_with_policy;
use crate::zoom_events::{chat_message, ended, joined, started, Joiner, HOST, MEETING_NUMBER};

/// Dara joins from the link her parent was sent: no account, no email, only her name.
const DARA_AS_GUEST: Joiner = Joiner {
    session_id: "16790000",
    name: "Dara Finch",
    zoom_user_id: "",
    email: "",
};

/// A teaching assistant, signed in with the school address.
const TA: Joiner = Joiner {
    session_id: "16790001",
    name: "Morgan Shaw",
    zoom_user_id: "",
    email: "m.shaw@greenfield.sch.example",
};

/// Someone who calls themselves "Dad": nobody the directory knows.
const DAD: Joiner = Joiner {
    session_id: "16790002",
    name: "Dad",
    zoom_user_id: "",
    email: "",
};

/// A social worker the school lists as an external adult, signed in with that address.
const SOCIAL_WORKER: Joiner = Joiner {
    session_id: "16790003",
    name: "Alex Morgan",
    zoom_user_id: "",
    email: "alex.morgan@council.example",
};

const MORE_PEOPLE: &str = r#"
[[school.people]]
ref = "PUPIL-1003"
kind = "pupil"
name = "Dara Finch"
emails = ["dara.finch@home.example"]
[[school.people]]
ref = "EXT-3001"
kind = "external_adult"
name = "Alex Morgan"
emails = ["alex.morgan@council.example"]
"#;

async fn school_checking(rules: &[&str]) -> Scenario {
    scenario_importing(rules, 0, false, MORE_PEOPLE).await
}

/// The call started at `start` (as Zoom writes times).
fn started_at(start: &str) -> String {
    started().replace("2025-03-11T14:31:07Z", start)
}

async fn open_findings_of(app: &TestApp, rule: &str) -> Vec<Value> {
    findings(app)
        .await
        .into_iter()
        .filter(|f| f["rule"] == rule && f["status"] == "open")
        .collect()
}

async fn participant_shown_as(app: &TestApp, name: &str) -> Value {
    let meeting = app.only_meeting().await;
    meeting["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == name)
        .unwrap_or_else(|| panic!("no participant shown as {name}: {meeting:#}"))
        .clone()
}

#[tokio::test]
async fn a_pupil_who_joins_as_a_guest_alone_with_one_teacher_reaches_the_dsl_named_as_sure_as_it_is(
) {
    let Scenario { app, smtp, .. } = school_checking(&["two_adults"]).await;
    app.deliver(&[
        started_at(&ago(700)),
        joined(&HOST, &ago(660)),
        joined(&DARA_AS_GUEST, &ago(660)),
    ])
    .await;
    app.settle_at(Utc::now()).await;

    let alone = open_findings_of(&app, "two_adults").await;
    assert_eq!(alone.len(), 1, "{alone:#?}");
    let summary = alone[0]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "A participant who is not identified as staff, shown as \u{201c}Dara Finch\u{201d} \
             (probably the pupil Dara Finch, by display name \u{2014} not verified), was in the call"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("with only one member of staff (Ravi Patel) since"),
        "{summary}"
    );

    let mail = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].recipients, vec![DSL_EMAIL.to_string()]);
    let text = mail[0].text();
    assert!(
        text.contains("Dara Finch") && text.contains("by display name"),
        "{text}"
    );

    let guest = participant_shown_as(&app, "Dara Finch").await;
    assert_eq!(guest["identity_basis"], "display_name", "{guest:#}");
    assert_eq!(guest["person"], Value::Null, "a name proves nothing");
    assert_eq!(guest["possibly"]["reference"], "PUPIL-1003", "{guest:#}");
    assert_eq!(guest["role"], "unknown");
    let host = participant_shown_as(&app, "Ravi Patel").await;
    assert_eq!(host["identity_basis"], "verified");

    let csv = app
        .get_api("/api/v1/register.csv")
        .await
        .text()
        .await
        .unwrap();
    let guest_row = csv
        .lines()
        .find(|line| line.contains(",Dara Finch,"))
        .unwrap_or_else(|| panic!("no row for the guest: {csv}"));
    assert!(
        guest_row.contains(",display_name,Dara Finch (pupil),"),
        "{guest_row}"
    );
}

#[tokio::test]
async fn a_guest_call_at_twenty_to_eight_in_the_evening_is_outside_school_hours() {
    let Scenario { app, smtp, .. } = school_checking(&["school_hours"]).await;
    // Tuesday 11 March 2025, in term, 19:40 in London (GMT).
    app.deliver(&[
        started_at("2025-03-11T19:40:00Z"),
        joined(&HOST, "2025-03-11T19:40:00Z"),
        joined(&DARA_AS_GUEST, "2025-03-11T19:41:00Z"),
        ended("2025-03-11T20:05:00Z"),
    ])
    .await;
    app.settle_at(Utc::now()).await;

    let hours = open_findings_of(&app, "school_hours").await;
    assert_eq!(hours.len(), 1, "{:#?}", findings(&app).await);
    let summary = hours[0]["summary"].as_str().unwrap();
    assert!(summary.contains("19:40"), "{summary}");
    let mail = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].text().contains("outside school hours"));
}

#[tokio::test]
async fn chat_in_a_call_with_a_guest_is_found_though_no_pupil_is_proven() {
    let Scenario { app, smtp, .. } = school_checking(&["chat_disabled"]).await;
    app.deliver(&[
        started_at(&ago(600)),
        joined(&HOST, &ago(600)),
        joined(&TA, &ago(600)),
        joined(&DARA_AS_GUEST, &ago(590)),
        chat_message("MSG-1", &ago(300), "Hello"),
    ])
    .await;
    app.settle_at(Utc::now()).await;

    assert_eq!(open_findings_of(&app, "chat_disabled").await.len(), 1);
    assert_eq!(smtp.wait_for_mail(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test]
async fn an_unidentified_adult_joining_a_teacher_and_a_teaching_assistant_is_an_unknown_participant(
) {
    let Scenario { app, smtp, .. } = school_checking(&["two_adults", "unknown_participant"]).await;
    app.deliver(&[
        started_at(&ago(600)),
        joined(&HOST, &ago(600)),
        joined(&TA, &ago(600)),
        joined(&DAD, &ago(500)),
    ])
    .await;
    app.settle_at(Utc::now()).await;

    let unknown = open_findings_of(&app, "unknown_participant").await;
    assert_eq!(unknown.len(), 1, "{:#?}", findings(&app).await);
    let summary = unknown[0]["summary"].as_str().unwrap();
    assert!(
        summary.contains("shown as \u{201c}Dad\u{201d} (not identified)"),
        "{summary}"
    );
    assert!(
        open_findings_of(&app, "two_adults").await.is_empty(),
        "two staff were with them"
    );
    assert_eq!(smtp.wait_for_mail(1, Duration::from_secs(5)).await.len(), 1);
    assert_eq!(
        participant_shown_as(&app, "Dad").await["identity_basis"],
        "none"
    );
}

#[tokio::test]
async fn a_call_of_staff_and_a_listed_external_adult_is_not_flagged_but_the_same_call_with_a_guest_is(
) {
    let rules = ["two_adults", "unknown_participant", "school_hours"];
    let Scenario { app, .. } = school_checking(&rules).await;
    app.deliver(&[
        started_at("2025-03-11T19:40:00Z"),
        joined(&HOST, "2025-03-11T19:40:00Z"),
        joined(&SOCIAL_WORKER, "2025-03-11T19:40:00Z"),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    assert!(
        findings(&app).await.is_empty(),
        "{:#?}",
        findings(&app).await
    );
    let listed = participant_shown_as(&app, "Alex Morgan").await;
    assert_eq!(listed["role"], "external_adult", "{listed:#}");

    app.deliver(&[joined(&DAD, "2025-03-11T19:42:00Z")]).await;
    app.settle_at(Utc::now()).await;
    for rule in rules {
        assert_eq!(
            open_findings_of(&app, rule).await.len(),
            1,
            "{rule}: {:#?}",
            findings(&app).await
        );
    }
    let alone = &open_findings_of(&app, "two_adults").await[0];
    assert!(
        alone["summary"]
            .as_str()
            .unwrap()
            .contains("only one member of staff (Ravi Patel)"),
        "the external adult is not staff: {alone:#}"
    );
}

#[tokio::test]
async fn a_pupil_who_joined_through_the_meetings_registration_is_identified_and_named_plainly() {
    let zoom = FakeZoom::start().await;
    zoom.with(|state| {
        state.registrants.insert(
            MEETING_NUMBER.to_string(),
            vec![json!({
                "id": "reg-dara",
                "email": "Dara.Finch@home.example",
                "first_name": "Dara",
                "last_name": "Finch",
                "status": "approved",
                "create_time": "2025-03-10T09:00:00Z",
                "join_url": format!("https://greenfield.zoom.us/w/{MEETING_NUMBER}?tk=reg-dara")
            })],
        )
    });
    let policy = format!("{}{MORE_PEOPLE}", policy_checking_only(&["two_adults"]));
    let app = connected_with_policy(&zoom, &policy).await;
    // Shown only as "D": nothing but the registration says who this is.
    let mut join: Value = serde_json::from_str(&joined(
        &Joiner {
            name: "D",
            ..DARA_AS_GUEST
        },
        &ago(600),
    ))
    .unwrap();
    join["payload"]["object"]["participant"]["registrant_id"] = json!("reg-dara");
    app.deliver(&[
        started_at(&ago(660)),
        joined(&HOST, &ago(660)),
        join.to_string(),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    app.settle_at(Utc::now()).await;

    let alone = open_findings_of(&app, "two_adults").await;
    assert_eq!(alone.len(), 1, "{:#?}", findings(&app).await);
    let summary = alone[0]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Dara Finch (pupil) was in the call"),
        "{summary}"
    );
    let registered = participant_shown_as(&app, "D").await;
    assert_eq!(registered["identity_basis"], "registrant", "{registered:#}");
    assert_eq!(registered["person"]["reference"], "PUPIL-1003");
    assert_eq!(registered["role"], "pupil");
}

/// A participant the platform's events do not name (as Google Meet's carry only resource
/// names) is *pending* until its API has had the chance to say who it is: no
/// `unknown_participant` before the deadline, and one after it if still unresolved.
#[tokio::test]
async fn a_participant_pending_resolution_is_not_an_unknown_guest_until_the_deadline() {
    use chaperone::meeting::{MeetingEvent, Resolution};
    use chaperone::zoom::payload::{parse, ZoomDelivery};

    let Scenario { app, .. } = school_checking(&["unknown_participant"]).await;
    app.deliver(&[started_at(&ago(120)), joined(&HOST, &ago(120))])
        .await;
    let resolve_by = Utc::now() + chrono::Duration::minutes(2);
    let ZoomDelivery::Event { event, .. } = parse(joined(&DAD, &ago(60)).as_bytes()).unwrap()
    else {
        panic!("an event");
    };
    let MeetingEvent::ParticipantJoined {
        instance,
        mut participant,
        at,
    } = *event
    else {
        panic!("a join");
    };
    // What a translation that must ask the platform's API stores: no name, no address yet.
    participant.display_name = None;
    participant.resolution = Resolution::Pending { resolve_by };
    let pending = MeetingEvent::ParticipantJoined {
        instance,
        participant,
        at,
    };
    let school_id: i64 = sqlx::query_scalar("SELECT id FROM schools WHERE slug = 'greenfield'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO inbox (platform, school_id, dedup_key, event_type, occurred_at, received_at, body, body_format) \
         VALUES ('zoom', $1, 'pending-join', 'participant_joined', 0, 0, $2, 'neutral')",
    )
    .bind(school_id)
    .bind(serde_json::to_string(&pending).unwrap())
    .execute(&app.db.pool)
    .await
    .unwrap();

    app.settle_at(Utc::now()).await;
    assert!(
        open_findings_of(&app, "unknown_participant")
            .await
            .is_empty(),
        "{:#?}",
        findings(&app).await
    );

    app.settle_at(resolve_by + chrono::Duration::seconds(1))
        .await;
    let unknown = open_findings_of(&app, "unknown_participant").await;
    assert_eq!(unknown.len(), 1, "{unknown:#?}");
    assert_eq!(unknown[0]["subject"], format!("session:{}", DAD.session_id));
}

/// A NUL or a lone surrogate escape in what Zoom sends (a topic, a display name) is replaced by
/// U+FFFD and the event kept, so that the call and its findings are the same on SQLite and
/// PostgreSQL (whose text cannot hold U+0000), and no event is refused for a broken emoji.
#[tokio::test]
async fn a_nul_or_a_lone_surrogate_in_a_topic_or_a_name_changes_nothing_but_that_character() {
    let Scenario { app, smtp, .. } = school_checking(&["two_adults", "unknown_participant"]).await;
    let broken = |body: String| {
        body.replace("\"Y9 mentoring", "\"\\u0000Y9 mentoring")
            .replace("\"Dad\"", "\"D\\u0000ad\\ud83d\"")
    };
    let bodies = [
        started_at(&ago(600)),
        joined(&HOST, &ago(600)),
        joined(&TA, &ago(600)),
        joined(&DAD, &ago(500)),
    ]
    .map(broken);
    for body in &bodies {
        let answer = app.post_zoom(body).await;
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    }
    app.settle_at(Utc::now()).await;

    let meeting = app.only_meeting().await;
    assert_eq!(meeting["topic"], "\u{FFFD}Y9 mentoring – J.S. 🎓 café");
    let unknown = open_findings_of(&app, "unknown_participant").await;
    assert_eq!(unknown.len(), 1, "{:#?}", findings(&app).await);
    assert_eq!(
        participant_shown_as(&app, "D\u{FFFD}ad\u{FFFD}").await["identity_basis"],
        "none"
    );
    assert_eq!(smtp.wait_for_mail(1, Duration::from_secs(5)).await.len(), 1);
    let set_aside: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE failed_at IS NOT NULL")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(set_aside, 0);
}
