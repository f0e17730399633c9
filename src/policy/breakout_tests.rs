//! The engine on calls with breakout rooms: the rules about who is with whom apply to each
//! room on its own.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar::{BankHolidays, CalendarSpec, SchoolCalendar};
use super::engine::evaluate;
use super::finding::{Finding, RuleId};
use super::identity::{Identity, IdentityBasis};
use super::settings::{Policy, PolicyChoice};
use super::view::*;
use crate::directory::{PersonKind, StaffRole};

/// "14:40" or "14:40:30", on the day of the call.
fn at(time: &str) -> DateTime<Utc> {
    let time = if time.len() == 5 {
        format!("{time}:00")
    } else {
        time.to_string()
    };
    DateTime::parse_from_rfc3339(&format!("2025-03-11T{time}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

fn person(id: i64, name: &str, kind: PersonKind) -> PersonView {
    PersonView {
        id,
        name: name.into(),
        kind,
        staff_role: (kind == PersonKind::Staff).then_some(StaffRole::Staff),
        children: Vec::new(),
        has_consent: true,
    }
}

fn teacher() -> PersonView {
    person(1, "Ravi Patel", PersonKind::Staff)
}
fn assistant() -> PersonView {
    person(2, "Morgan Shaw", PersonKind::Staff)
}
fn pupil() -> PersonView {
    person(10, "Jamie Smith", PersonKind::Pupil)
}

fn session(key: &str, who: Option<PersonView>) -> SessionView {
    SessionView {
        session_key: key.into(),
        platform_user_id: who.as_ref().map(|p| format!("zoom-{}", p.id)),
        identity: match who {
            Some(person) => Identity::of(IdentityBasis::Verified, person),
            None => Identity::unidentified(),
        },
        in_school_account: None,
        display_name: Some("shown name".into()),
        joined_at: Some(at("14:30")),
        left_at: Some(at("15:00")),
        identity_pending_until: None,
    }
}

fn stay(key: &str, joined: &str, left: &str) -> RoomStayView {
    RoomStayView {
        session_key: key.into(),
        room_key: "FkQbpP2UR028mDrwzEahqw==".into(),
        room_label: "breakout room 1".into(),
        joined_at: Some(at(joined)),
        left_at: Some(at(left)),
    }
}

/// A call 14:30–15:00 with the teacher, the assistant and the pupil in the main room, and
/// `room_stays` in one breakout room.
fn call(extra: Vec<SessionView>, room_stays: Vec<RoomStayView>) -> MeetingView {
    let mut sessions = vec![
        session("t", Some(teacher())),
        session("a", Some(assistant())),
        session("p", Some(pupil())),
    ];
    sessions.extend(extra);
    MeetingView {
        scheduled: None,
        instance: Some(InstanceView {
            topic: Some("Y9 mentoring".into()),
            host: Some(teacher()),
            host_user_id: Some("zoom-1".into()),
            started_at: Some(at("14:30")),
            ended_at: Some(at("15:00")),
            sessions,
            chat_messages_at: Vec::new(),
            recording_started_at: Vec::new(),
            room_stays,
        }),
        planned: None,
        settings: PlatformSettings::default(),
        outcome_logged_at: None,
        children_of_invited_parents: Vec::new(),
    }
}

fn findings_of(view: &MeetingView, rule: RuleId) -> Vec<Finding> {
    let mut policy: Policy = PolicyChoice {
        preset: "two-staff-code-of-conduct".into(),
        overrides: "[two_adults]\ngrace_secs = 60\n".parse().unwrap(),
    }
    .resolve()
    .unwrap();
    policy.outcome_logged.enabled = false;
    let london: Tz = "Europe/London".parse().unwrap();
    let calendar = SchoolCalendar::new(london, CalendarSpec::default(), &BankHolidays::shipped());
    evaluate(view, &policy, &calendar, at("15:05"))
        .findings
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

#[test]
fn breakout_stays_decide_who_is_alone_with_the_pupil() {
    let cases: Vec<(&str, Vec<RoomStayView>, Vec<&str>)> = vec![
        (
            "no breakout rooms: two staff with the pupil",
            vec![],
            vec![],
        ),
        (
            "pupil and teacher in a breakout room, assistant in the main room",
            vec![stay("p", "14:40", "14:50"), stay("t", "14:40", "14:50")],
            vec!["person:10:room:FkQbpP2UR028mDrwzEahqw=="],
        ),
        (
            "all three moved together",
            vec![
                stay("p", "14:40", "14:50"),
                stay("t", "14:40", "14:50"),
                stay("a", "14:40", "14:50"),
            ],
            vec![],
        ),
        (
            "both staff in the breakout room leave the pupil alone in the main room",
            vec![stay("t", "14:40", "14:50"), stay("a", "14:40", "14:50")],
            vec!["person:10"],
        ),
        (
            "a visit shorter than the grace period is not a breach",
            vec![
                stay("p", "14:40", "14:40:30"),
                stay("t", "14:40", "14:40:30"),
            ],
            vec![],
        ),
    ];
    for (name, stays, expected) in cases {
        let found = findings_of(&call(vec![], stays), RuleId::TwoAdults);
        let subjects: Vec<&str> = found.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects, expected, "{name}");
    }
}

#[test]
fn a_breakout_breach_names_the_room_and_its_times() {
    let view = call(
        vec![],
        vec![stay("p", "14:40", "14:50"), stay("t", "14:40", "14:50")],
    );
    let found = findings_of(&view, RuleId::TwoAdults);
    let summary = &found[0].summary;
    assert!(
        summary.contains("was in breakout room 1 of the call \u{201c}Y9 mentoring\u{201d}"),
        "{summary}"
    );
    assert!(
        summary.contains("only one member of staff (Ravi Patel)"),
        "{summary}"
    );
    assert!(summary.contains("from 14:40"), "{summary}");
    assert!(summary.contains("to 14:50"), "{summary}");
}

#[test]
fn an_unknown_participant_in_a_breakout_room_with_a_pupil_is_flagged_for_that_room() {
    let guest = SessionView {
        display_name: Some("Dad".into()),
        ..session("g", None)
    };
    let view = call(
        vec![guest],
        vec![stay("p", "14:40", "14:50"), stay("g", "14:42", "14:55")],
    );
    let found = findings_of(&view, RuleId::UnknownParticipant);
    let subjects: Vec<&str> = found.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(
        subjects,
        vec!["session:g", "session:g:room:FkQbpP2UR028mDrwzEahqw=="]
    );
    let summary = &found[1].summary;
    assert!(
        summary.contains("\u{201c}Dad\u{201d} (not identified) was in breakout room 1"),
        "{summary}"
    );
    assert!(summary.contains("with Jamie Smith (pupil)"), "{summary}");
    assert!(summary.contains("from 14:42"), "{summary}");
    assert!(summary.contains("to 14:50"), "{summary}");
}

#[test]
fn an_unknown_participant_in_a_breakout_room_without_a_pupil_is_flagged_only_for_joining() {
    let view = call(
        vec![session("g", None)],
        vec![stay("g", "14:42", "14:55"), stay("t", "14:42", "14:55")],
    );
    let found = findings_of(&view, RuleId::UnknownParticipant);
    let subjects: Vec<&str> = found.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, vec!["session:g"]);
}
