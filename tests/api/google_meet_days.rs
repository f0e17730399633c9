//! The school day's calls replayed as Meet: what the Zoom tests check of a compliant call,
//! an evening call, a rejoin, deliveries out of order and twice, an outside account, an
//! anonymous guest and a member of staff nobody monitors gives the same register and findings.

use serde_json::Value;

use crate::alerts::{ago, findings};
use crate::fake_google::{anonymous, signed_in};
use crate::google_meet::{
    attendee, call, ended, joined, left, meet_school, started, MeetSchool, Push, TA_ID, TEACHER_ID,
};

async fn open_findings_of(school: &MeetSchool, rule: &str) -> Vec<Value> {
    findings(&school.app)
        .await
        .into_iter()
        .filter(|f| f["rule"] == rule && f["status"] == "open")
        .collect()
}

/// A call in which the teacher and the guest Dara have been since `joined_ago` seconds.
fn teacher_and_dara(school: &MeetSchool, id: &str, joined_ago: i64) -> (String, Vec<Push>) {
    teacher_and_dara_since(school, id, &ago(joined_ago + 40), &ago(joined_ago))
}

/// A call that started at `start`, the teacher and Dara in it since `joined`.
fn teacher_and_dara_since(
    school: &MeetSchool,
    id: &str,
    start: &str,
    joined_at: &str,
) -> (String, Vec<Push>) {
    let google = &school.google;
    let conference = call(google, id, start, None);
    let teacher = attendee(
        google,
        &conference,
        "p-teacher",
        signed_in(TEACHER_ID, "Ravi Patel"),
        joined_at,
        None,
    );
    let dara = attendee(
        google,
        &conference,
        "p-dara",
        anonymous("Dara Finch"),
        joined_at,
        None,
    );
    let pushes = vec![
        started(&conference, start),
        joined(&teacher, joined_at),
        joined(&dara, joined_at),
    ];
    (conference, pushes)
}

#[tokio::test]
async fn a_teacher_and_a_teaching_assistant_with_a_guest_is_a_compliant_call() {
    let school = meet_school(&["two_adults", "unknown_participant"]).await;
    let (conference, mut pushes) = teacher_and_dara(&school, "compliant", 600);
    let ta = attendee(
        &school.google,
        &conference,
        "p-ta",
        signed_in(TA_ID, "Morgan Shaw"),
        &ago(600),
        None,
    );
    pushes.push(joined(&ta, &ago(600)));
    school.push(&pushes).await;
    school.settle().await;

    assert!(
        findings(&school.app).await.is_empty(),
        "{:#?}",
        findings(&school.app).await
    );
    let meeting = school.app.only_meeting().await;
    let roles: Vec<&str> = meeting["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|participant| participant["identity_basis"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles.iter().filter(|basis| **basis == "verified").count(),
        2,
        "{meeting:#}"
    );
}

#[tokio::test]
async fn a_meet_call_at_twenty_to_eight_in_the_evening_is_outside_school_hours() {
    let school = meet_school(&["school_hours"]).await;
    let google = &school.google;
    // Tuesday 11 March 2025, in term, 19:40 in London (GMT).
    let conference = call(
        google,
        "evening",
        "2025-03-11T19:40:00Z",
        Some("2025-03-11T20:05:00Z"),
    );
    let teacher = attendee(
        google,
        &conference,
        "p-teacher",
        signed_in(TEACHER_ID, "Ravi Patel"),
        "2025-03-11T19:40:00Z",
        None,
    );
    let dara = attendee(
        google,
        &conference,
        "p-dara",
        anonymous("Dara Finch"),
        "2025-03-11T19:41:00Z",
        None,
    );
    school
        .push(&[
            started(&conference, "2025-03-11T19:40:00.000000123Z"),
            joined(&teacher, "2025-03-11T19:40:00Z"),
            joined(&dara, "2025-03-11T19:41:00.5Z"),
            ended(&conference, "2025-03-11T20:05:00Z"),
        ])
        .await;
    school.settle().await;

    let hours = open_findings_of(&school, "school_hours").await;
    assert_eq!(hours.len(), 1, "{:#?}", findings(&school.app).await);
    let summary = hours[0]["summary"].as_str().unwrap();
    assert!(summary.contains("19:40"), "{summary}");
    let mail = school
        .smtp
        .wait_for_mail(1, std::time::Duration::from_secs(5))
        .await;
    assert!(mail[0].text().contains("outside school hours"));
}

#[tokio::test]
async fn deliveries_out_of_order_and_twice_give_the_same_register_and_findings() {
    let (start, joined_at) = (ago(700), ago(660));
    let in_order = meet_school(&["two_adults"]).await;
    let (_, pushes) = teacher_and_dara_since(&in_order, "ordered", &start, &joined_at);
    in_order.push(&pushes).await;
    in_order.settle().await;

    let shuffled = meet_school(&["two_adults"]).await;
    let (_, pushes) = teacher_and_dara_since(&shuffled, "ordered", &start, &joined_at);
    let reversed: Vec<Push> = pushes.into_iter().rev().collect();
    let token = shuffled.google.push_token(crate::google_meet::AUDIENCE);
    for (index, push) in reversed.iter().enumerate() {
        let body = shuffled.body(push, &format!("evt-twice-{index}"));
        for _ in 0..2 {
            assert_eq!(shuffled.post(&body, Some(&token)).await.status(), 200);
        }
    }
    shuffled.settle().await;

    let summaries = |findings: Vec<Value>| -> Vec<String> {
        findings
            .iter()
            .map(|finding| format!("{} {}", finding["rule"], finding["title"]))
            .collect()
    };
    let expected = summaries(findings(&in_order.app).await);
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert_eq!(summaries(findings(&shuffled.app).await), expected);
    assert_eq!(
        shuffled.app.only_meeting().await["participants"],
        in_order.app.only_meeting().await["participants"]
    );
}

#[tokio::test]
async fn a_rejoin_is_a_second_stay_of_the_same_person() {
    let school = meet_school(&["two_adults"]).await;
    let google = &school.google;
    let conference = call(google, "rejoin", &ago(900), None);
    let participant = google.add_participant(
        &conference,
        "p-teacher",
        signed_in(TEACHER_ID, "Ravi Patel"),
        &ago(900),
        None,
    );
    let first = google.add_session(&participant, "s1", &ago(900), Some(&ago(600)));
    let second = google.add_session(&participant, "s2", &ago(550), None);
    school
        .push(&[
            started(&conference, &ago(900)),
            joined(&first, &ago(900)),
            left(&first, &ago(600)),
            joined(&second, &ago(550)),
        ])
        .await;
    school.settle().await;

    let meeting = school.app.only_meeting().await;
    let participants = meeting["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 1, "one person: {meeting:#}");
    assert_eq!(participants[0]["identity_basis"], "verified");
    let stays = participants[0]["attendance"].as_array().unwrap();
    assert_eq!(stays.len(), 2, "{meeting:#}");
    assert!(stays[0]["left_at"].is_string() && stays[1]["left_at"].is_null());
    assert_eq!(meeting["host"]["name"], "Ravi Patel", "{meeting:#}");
}

#[tokio::test]
async fn someone_signed_in_to_an_account_outside_the_school_never_counts_as_staff() {
    let school = meet_school(&["two_adults"]).await;
    let google = &school.google;
    google.with(|state| {
        state
            .other_domain_users
            .insert("200000000000000000009".to_string())
    });
    let (conference, mut pushes) = teacher_and_dara(&school, "outside", 660);
    // Someone signed in with a personal account, calling themselves by the TA's name.
    let outsider = attendee(
        google,
        &conference,
        "p-outside",
        signed_in("200000000000000000009", "Morgan Shaw"),
        &ago(660),
        None,
    );
    pushes.push(joined(&outsider, &ago(660)));
    school.push(&pushes).await;
    school.settle().await;

    let alone = open_findings_of(&school, "two_adults").await;
    assert_eq!(alone.len(), 2, "{:#?}", findings(&school.app).await);
    let meeting = school.app.only_meeting().await;
    let outsider = meeting["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == "Morgan Shaw")
        .unwrap()
        .clone();
    assert_ne!(outsider["identity_basis"], "verified", "{outsider:#}");
    assert_eq!(outsider["person"], Value::Null, "{outsider:#}");
}

#[tokio::test]
async fn events_from_a_subscription_the_school_does_not_hold_are_acknowledged_and_not_kept() {
    let school = meet_school(&["two_adults"]).await;
    let session = "conferenceRecords/x/participants/p/participantSessions/s";
    let mut body = school.body(&joined(session, &ago(30)), "evt-stranger");
    let stranger = "//workspaceevents.googleapis.com/subscriptions/someone-else";
    body["message"]["attributes"]["ce-source"] = Value::from(stranger);
    let response = school
        .post(
            &body,
            Some(&school.google.push_token(crate::google_meet::AUDIENCE)),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "not_monitored"
    );
    assert_eq!(school.app.inbox_count().await, 0);
}

#[tokio::test]
async fn an_anonymous_guest_stays_pending_not_unknown_while_meet_is_asked() {
    let school = meet_school(&["unknown_participant"]).await;
    let (_, pushes) = teacher_and_dara(&school, "pending", 20);
    school.google.with(|state| state.down = true);
    school.push(&pushes).await;
    school.settle().await;
    // Meet cannot be reached: who joined is not known yet, and nobody is called unknown.
    assert!(open_findings_of(&school, "unknown_participant")
        .await
        .is_empty());
    let meeting = school.app.only_meeting().await;
    for participant in meeting["participants"].as_array().unwrap() {
        assert_eq!(participant["identity_basis"], "none");
        let stay = &participant["attendance"][0];
        assert!(stay["identity_pending_until"].is_string(), "{stay:#}");
        assert!(
            stay["identity_unresolved"]
                .as_str()
                .is_some_and(|why| why.contains("unavailable")),
            "the failure is shown: {stay:#}"
        );
    }

    // Past the deadline, still unresolved means unknown, and the failure is on the job.
    let later = chrono::Utc::now() + chrono::Duration::minutes(4);
    school.app.settle_at(later).await;
    let unknown = open_findings_of(&school, "unknown_participant").await;
    assert_eq!(unknown.len(), 2, "{:#?}", findings(&school.app).await);
}

struct CallTimes {
    start: String,
    joined_at: String,
    left_at: String,
    end: String,
}

/// The findings and register of a call with the teacher and Dara, with Dara's pushes never
/// delivered when `lose_dara`.
async fn ended_call_with_dara(lose_dara: bool, times: &CallTimes) -> (Vec<String>, Value) {
    let school = crate::google_meet::meet_school_with(
        &["two_adults"],
        &[("CHAPERONE__ENRICHMENT__RECONCILE_AFTER_SECS", "0")],
    )
    .await;
    let google = &school.google;
    let CallTimes {
        start,
        joined_at,
        left_at,
        end,
    } = times;
    let conference = call(google, "lost", start, Some(end));
    let teacher = attendee(
        google,
        &conference,
        "p-teacher",
        signed_in(TEACHER_ID, "Ravi Patel"),
        joined_at,
        Some(left_at),
    );
    let dara = attendee(
        google,
        &conference,
        "p-dara",
        anonymous("Dara Finch"),
        joined_at,
        Some(left_at),
    );
    let mut pushes = vec![
        started(&conference, start),
        joined(&teacher, joined_at),
        left(&teacher, left_at),
    ];
    if !lose_dara {
        pushes.push(joined(&dara, joined_at));
        pushes.push(left(&dara, left_at));
    }
    pushes.push(ended(&conference, end));
    school.push(&pushes).await;
    school.settle().await;

    let mut meeting = school.app.only_meeting().await;
    assert_eq!(meeting["reconciliation"], "complete", "{meeting:#}");
    // Where a stay was learned is the one thing that may differ.
    for participant in meeting["participants"].as_array_mut().unwrap() {
        for stay in participant["attendance"].as_array_mut().unwrap() {
            stay.as_object_mut().unwrap().remove("source");
        }
    }
    let found = findings(&school.app)
        .await
        .iter()
        .map(|finding| {
            format!(
                "{} {} {}",
                finding["rule"], finding["status"], finding["summary"]
            )
        })
        .collect();
    (found, meeting["participants"].clone())
}

#[tokio::test]
async fn a_lost_join_and_leave_end_after_reconciliation_as_if_they_had_arrived() {
    let times = CallTimes {
        start: ago(1300),
        joined_at: ago(1200),
        left_at: ago(600),
        end: ago(300),
    };
    let (delivered_findings, delivered_register) = ended_call_with_dara(false, &times).await;
    let (reconciled_findings, reconciled_register) = ended_call_with_dara(true, &times).await;
    assert_eq!(delivered_findings.len(), 1, "{delivered_findings:#?}");
    assert_eq!(reconciled_findings, delivered_findings);
    assert_eq!(reconciled_register, delivered_register);
}

#[tokio::test]
async fn chat_open_to_everyone_in_the_space_is_found_and_chat_for_hosts_only_is_chat_off() {
    let hosts_only = meet_school(&["chat_disabled"]).await;
    let (_, pushes) = teacher_and_dara(&hosts_only, "quiet", 600);
    hosts_only.push(&pushes).await;
    hosts_only.settle().await;
    assert!(open_findings_of(&hosts_only, "chat_disabled")
        .await
        .is_empty());

    let open_chat = meet_school(&["chat_disabled"]).await;
    open_chat.google.with(|state| {
        state.spaces.get_mut(crate::google_meet::SPACE).unwrap()["config"]
            ["moderationRestrictions"]["chatRestriction"] = Value::from("NO_RESTRICTION")
    });
    let (_, pushes) = teacher_and_dara(&open_chat, "chatty", 600);
    open_chat.push(&pushes).await;
    open_chat.settle().await;
    let chat = open_findings_of(&open_chat, "chat_disabled").await;
    assert_eq!(chat.len(), 1, "{:#?}", findings(&open_chat.app).await);
    assert_eq!(chat[0]["title"], "Chat is switched on");
}

#[tokio::test]
async fn a_recording_s_file_is_proof_the_call_was_recorded() {
    let school = meet_school(&["recording"]).await;
    let (conference, mut pushes) = teacher_and_dara(&school, "recorded", 600);
    school.push(&pushes).await;
    school.settle().await;
    assert!(open_findings_of(&school, "recording").await.is_empty());

    pushes.clear();
    pushes.push(Push {
        event_type: "google.workspace.meet.recording.v2.fileGenerated",
        resource: format!("{conference}/recordings/9a1c4e7f"),
        at: ago(60),
    });
    school.push(&pushes).await;
    school.settle().await;
    let recorded = open_findings_of(&school, "recording").await;
    assert_eq!(recorded.len(), 1, "{:#?}", findings(&school.app).await);
}
