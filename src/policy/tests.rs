//! The engine, rule by rule and in combination, on meetings written by hand.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::calendar::{BankHolidays, CalendarSpec, SchoolCalendar};
use super::engine::evaluate;
use super::finding::{Evaluation, Finding, RuleId, Scope};
use super::identity::{Identity, IdentityBasis};
use super::settings::{Policy, PolicyChoice, RecordingMode};
use super::view::*;
use crate::directory::{PersonKind, StaffRole};

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn person(id: i64, name: &str, kind: PersonKind, role: Option<StaffRole>) -> PersonView {
    PersonView {
        id,
        name: name.into(),
        kind,
        staff_role: role,
        children: Vec::new(),
        has_consent: kind == PersonKind::Pupil,
    }
}

fn teacher() -> PersonView {
    person(1, "Ravi Patel", PersonKind::Staff, Some(StaffRole::Staff))
}
fn second_teacher() -> PersonView {
    person(2, "Morgan Shaw", PersonKind::Staff, Some(StaffRole::Staff))
}
fn dsl() -> PersonView {
    person(3, "Dana Lee", PersonKind::Staff, Some(StaffRole::Dsl))
}
fn pupil() -> PersonView {
    person(10, "Jamie Smith", PersonKind::Pupil, None)
}
fn parent_of_pupil() -> PersonView {
    PersonView {
        children: vec![10],
        ..person(20, "Sam Smith", PersonKind::Parent, None)
    }
}

fn session(key: &str, who: Option<PersonView>, joined: &str, left: Option<&str>) -> SessionView {
    SessionView {
        session_key: key.into(),
        platform_user_id: who
            .as_ref()
            .filter(|p| p.is_staff())
            .map(|p| format!("zoom-{}", p.id)),
        identity: match who {
            Some(person) => Identity::of(IdentityBasis::Verified, person),
            None => Identity::unidentified(),
        },
        in_school_account: None,
        display_name: Some("shown name".into()),
        joined_at: Some(t(joined)),
        left_at: left.map(t),
        identity_pending_until: None,
    }
}

/// A call on Tuesday 11 March 2025 (GMT), 14:30–15:00, hosted by the teacher.
fn call(sessions: Vec<SessionView>, ended: Option<&str>) -> MeetingView {
    MeetingView {
        scheduled: None,
        instance: Some(InstanceView {
            topic: Some("Y9 mentoring".into()),
            host: Some(teacher()),
            host_user_id: Some("zoom-1".into()),
            started_at: Some(t("2025-03-11T14:30:00Z")),
            ended_at: ended.map(t),
            sessions,
            chat_messages_at: Vec::new(),
            recording_started_at: Vec::new(),
            room_stays: Vec::new(),
        }),
        planned: Some(approved_plan("2025-03-11T14:30:00Z")),
        settings: PlatformSettings::default(),
        outcome_logged_at: Some(t("2025-03-11T15:10:00Z")),
        children_of_invited_parents: Vec::new(),
    }
}

fn approved_plan(start: &str) -> PlannedView {
    PlannedView {
        starts_at: t(start),
        registered_at: t(start) - Duration::days(2),
        approved: true,
        risk_assessed: true,
        pupils: vec![pupil()],
        adults_only: false,
    }
}

fn policy(preset: &str, overrides: &str) -> Policy {
    PolicyChoice {
        preset: preset.into(),
        overrides: overrides.parse().unwrap(),
    }
    .resolve()
    .unwrap()
}

/// Two staff required, a 60-second grace period, and every other rule on.
fn strict() -> Policy {
    let mut policy = policy(
        "two-staff-code-of-conduct",
        "[two_adults]\ngrace_secs = 60\n",
    );
    policy.dsl_invited.enabled = true;
    policy.approved_in_advance.enabled = true;
    policy.outcome_logged.enabled = true;
    policy
}

fn calendar() -> SchoolCalendar {
    let london: Tz = "Europe/London".parse().unwrap();
    SchoolCalendar::new(london, CalendarSpec::default(), &BankHolidays::shipped())
}

fn run(view: &MeetingView, policy: &Policy, now: &str) -> Evaluation {
    evaluate(view, policy, &calendar(), t(now))
}

fn of_rule(evaluation: &Evaluation, rule: RuleId) -> Vec<&Finding> {
    evaluation
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .collect()
}

const AFTER: &str = "2025-03-11T15:05:00Z";

#[test]
fn two_adults_grace_period_and_breach_table() {
    // (how long the pupil is with only one member of staff, whether that is a breach)
    let cases = [(30, false), (60, false), (61, true), (180, true)];
    for (alone_secs, breach) in cases {
        let second_joins = t("2025-03-11T14:31:00Z") + Duration::seconds(alone_secs);
        let view = call(
            vec![
                session("1", Some(teacher()), "2025-03-11T14:30:00Z", None),
                session("10", Some(pupil()), "2025-03-11T14:31:00Z", None),
                session(
                    "2",
                    Some(second_teacher()),
                    &second_joins.to_rfc3339(),
                    None,
                ),
            ],
            Some("2025-03-11T15:00:00Z"),
        );
        let evaluation = run(&view, &strict(), AFTER);
        let found = of_rule(&evaluation, RuleId::TwoAdults);
        assert_eq!(found.len(), usize::from(breach), "alone for {alone_secs}s");
        if breach {
            let finding = found[0];
            assert_eq!(finding.subject, "person:10");
            assert_eq!(finding.scope, Scope::Instance);
            assert!(
                finding.summary.contains("Jamie Smith (pupil)"),
                "{}",
                finding.summary
            );
            assert!(
                finding
                    .summary
                    .contains("only one member of staff (Ravi Patel)"),
                "{}",
                finding.summary
            );
            assert!(finding.summary.contains("14:31"), "{}", finding.summary);
            assert_eq!(finding.occurred_at, t("2025-03-11T14:31:00Z"));
        }
    }
}

#[test]
fn a_rejoin_that_briefly_drops_the_staff_count_is_not_a_breach() {
    let view = call(
        vec![
            session("1", Some(teacher()), "2025-03-11T14:30:00Z", None),
            session(
                "2",
                Some(second_teacher()),
                "2025-03-11T14:30:00Z",
                Some("2025-03-11T14:40:00Z"),
            ),
            session("2b", Some(second_teacher()), "2025-03-11T14:40:20Z", None),
            session("10", Some(pupil()), "2025-03-11T14:30:30Z", None),
        ],
        Some("2025-03-11T15:00:00Z"),
    );
    assert!(of_rule(&run(&view, &strict(), AFTER), RuleId::TwoAdults).is_empty());
}

#[test]
fn a_pupil_alone_with_nobody_is_a_breach_naming_no_staff() {
    let view = call(
        vec![
            session(
                "1",
                Some(teacher()),
                "2025-03-11T14:30:00Z",
                Some("2025-03-11T14:35:00Z"),
            ),
            session(
                "2",
                Some(second_teacher()),
                "2025-03-11T14:30:00Z",
                Some("2025-03-11T14:35:00Z"),
            ),
            session("10", Some(pupil()), "2025-03-11T14:30:30Z", None),
        ],
        Some("2025-03-11T15:00:00Z"),
    );
    let found = run(&view, &strict(), AFTER);
    let breach = of_rule(&found, RuleId::TwoAdults);
    assert_eq!(breach.len(), 1);
    assert!(
        breach[0].summary.contains("with no member of staff"),
        "{}",
        breach[0].summary
    );
}

#[test]
fn a_parent_counts_as_an_adult_only_where_the_policy_says_and_only_for_their_child() {
    let with_parent = |parent: PersonView| {
        call(
            vec![
                session("1", Some(teacher()), "2025-03-11T14:30:00Z", None),
                session("20", Some(parent), "2025-03-11T14:30:00Z", None),
                session("10", Some(pupil()), "2025-03-11T14:30:00Z", None),
            ],
            Some("2025-03-11T15:00:00Z"),
        )
    };
    let mut counts = strict();
    counts.two_adults.params.parent_counts = true;
    let view = with_parent(parent_of_pupil());
    assert!(of_rule(&run(&view, &counts, AFTER), RuleId::TwoAdults).is_empty());
    assert_eq!(
        of_rule(&run(&view, &strict(), AFTER), RuleId::TwoAdults).len(),
        1
    );
    let someone_elses = PersonView {
        children: vec![99],
        ..parent_of_pupil()
    };
    assert_eq!(
        of_rule(
            &run(&with_parent(someone_elses), &counts, AFTER),
            RuleId::TwoAdults
        )
        .len(),
        1
    );
}

#[test]
fn an_ongoing_shortfall_inside_the_grace_period_asks_to_be_checked_when_it_ends() {
    let view = call(
        vec![
            session("1", Some(teacher()), "2025-03-11T14:30:00Z", None),
            session("10", Some(pupil()), "2025-03-11T14:31:00Z", None),
        ],
        None,
    );
    let evaluation = run(&view, &strict(), "2025-03-11T14:31:30Z");
    assert!(of_rule(&evaluation, RuleId::TwoAdults).is_empty());
    assert_eq!(evaluation.next_check_at, Some(t("2025-03-11T14:32:01Z")));
    let later = run(&view, &strict(), "2025-03-11T14:32:01Z");
    let breach = of_rule(&later, RuleId::TwoAdults);
    assert_eq!(breach.len(), 1);
    assert!(
        breach[0].summary.contains("still is"),
        "{}",
        breach[0].summary
    );
}

#[test]
fn an_unknown_participant_is_flagged_and_their_display_name_is_not_trusted() {
    let mut impostor = session("77", None, "2025-03-11T14:40:00Z", None);
    impostor.display_name = Some("Dana Lee".into());
    let view = call(
        vec![
            session("1", Some(teacher()), "2025-03-11T14:30:00Z", None),
            session("2", Some(second_teacher()), "2025-03-11T14:30:00Z", None),
            session("10", Some(pupil()), "2025-03-11T14:30:00Z", None),
            impostor,
        ],
        Some("2025-03-11T15:00:00Z"),
    );
    let evaluation = run(&view, &strict(), AFTER);
    let unknown = of_rule(&evaluation, RuleId::UnknownParticipant);
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].subject, "session:77");
    assert!(
        unknown[0]
            .summary
            .contains("shown as \u{201c}Dana Lee\u{201d} (not identified)")
            && unknown[0].summary.contains("not proof"),
        "{}",
        unknown[0].summary
    );
    // The impostor does not count as the DSL for anything.
    assert!(of_rule(&evaluation, RuleId::TwoAdults).is_empty());
}

#[test]
fn a_participant_the_platform_has_not_resolved_yet_is_not_an_unknown_guest_until_the_deadline() {
    let mut pending = session("77", None, "2025-03-11T14:40:00Z", None);
    pending.identity_pending_until = Some(t("2025-03-11T14:42:00Z"));
    let view = call(
        vec![
            session("1", Some(teacher()), "2025-03-11T14:30:00Z", None),
            session("10", Some(pupil()), "2025-03-11T14:30:00Z", None),
            pending,
        ],
        None,
    );
    let before = run(&view, &strict(), "2025-03-11T14:41:00Z");
    assert!(of_rule(&before, RuleId::UnknownParticipant).is_empty());
    // Checked again by the deadline at the latest (other rules may ask for sooner).
    assert!(
        before
            .next_check_at
            .is_some_and(|at| at <= t("2025-03-11T14:42:00Z")),
        "{:?}",
        before.next_check_at
    );
    // Still a possible pupil meanwhile: the pupil is not counted as having a second adult.
    assert_eq!(of_rule(&before, RuleId::TwoAdults).len(), 1);

    let after = run(&view, &strict(), "2025-03-11T14:42:00Z");
    let unknown = of_rule(&after, RuleId::UnknownParticipant);
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].subject, "session:77");
}

#[test]
fn staff_joining_without_a_school_account_are_flagged() {
    let mut signed_out = session("2", Some(second_teacher()), "2025-03-11T14:30:00Z", None);
    signed_out.platform_user_id = None;
    let view = call(
        vec![
            session("1", Some(teacher()), "2025-03-11T14:30:00Z", None),
            signed_out,
            session("10", Some(pupil()), "2025-03-11T14:30:00Z", None),
        ],
        Some("2025-03-11T15:00:00Z"),
    );
    let found = run(&view, &strict(), AFTER);
    let account = of_rule(&found, RuleId::SchoolAccount);
    assert_eq!(account.len(), 1);
    assert_eq!(account[0].subject, "person:2");
}

/// A compliant call at `start` for 30 minutes, ended.
fn compliant_call_at(start: &str) -> MeetingView {
    let start_time = t(start);
    let end = (start_time + Duration::minutes(30)).to_rfc3339();
    let mut view = call(
        vec![
            session("1", Some(teacher()), start, None),
            session("2", Some(second_teacher()), start, None),
            session("3", Some(dsl()), start, None),
            session("10", Some(pupil()), start, None),
        ],
        Some(&end),
    );
    let instance = view.instance.as_mut().unwrap();
    instance.started_at = Some(start_time);
    view.planned = Some(approved_plan(start));
    view
}

#[test]
fn school_hours_follow_the_local_clock_across_the_change_to_summer_time() {
    // (start in UTC, inside school hours 08:30–16:00 London time)
    let cases = [
        ("2025-03-28T08:45:00Z", true),  // Friday, GMT: 08:45 local
        ("2025-03-28T07:45:00Z", false), // 07:45 local
        ("2025-03-31T07:45:00Z", true),  // Monday, BST: 08:45 local
        ("2025-03-31T06:45:00Z", false), // 07:45 local
        ("2025-03-31T14:45:00Z", false), // 15:45 local, ends 16:15
        ("2025-03-29T10:00:00Z", false), // Saturday
        ("2025-05-05T10:00:00Z", false), // early May bank holiday
    ];
    for (start, inside) in cases {
        let view = compliant_call_at(start);
        let later = (t(start) + Duration::hours(2)).to_rfc3339();
        let evaluation = run(&view, &strict(), &later);
        let found = of_rule(&evaluation, RuleId::SchoolHours);
        assert_eq!(found.is_empty(), inside, "call at {start}: {found:?}");
    }
}

#[test]
fn a_call_still_running_when_school_hours_end_is_flagged_then_and_not_before() {
    let mut view = compliant_call_at("2025-03-11T15:30:00Z");
    view.instance.as_mut().unwrap().ended_at = None;
    let before = run(&view, &strict(), "2025-03-11T15:50:00Z");
    assert!(of_rule(&before, RuleId::SchoolHours).is_empty());
    assert_eq!(before.next_check_at, Some(t("2025-03-11T16:00:01Z")));
    let after = run(&view, &strict(), "2025-03-11T16:00:01Z");
    let found = of_rule(&after, RuleId::SchoolHours);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].summary.contains("still running"),
        "{}",
        found[0].summary
    );
}

#[test]
fn chat_seen_in_a_call_is_a_finding() {
    let mut view = compliant_call_at("2025-03-11T10:00:00Z");
    view.instance.as_mut().unwrap().chat_messages_at =
        vec![t("2025-03-11T10:05:00Z"), t("2025-03-11T10:06:00Z")];
    let found = run(&view, &strict(), "2025-03-11T11:00:00Z");
    let chat = of_rule(&found, RuleId::ChatDisabled);
    assert_eq!(chat.len(), 1);
    assert!(
        chat[0].summary.starts_with("2 chat messages were sent"),
        "{}",
        chat[0].summary
    );
}

#[test]
fn recording_is_checked_as_forbidden_or_required() {
    let mut recorded = compliant_call_at("2025-03-11T10:00:00Z");
    recorded.instance.as_mut().unwrap().recording_started_at = vec![t("2025-03-11T10:01:00Z")];
    let unrecorded = compliant_call_at("2025-03-11T10:00:00Z");
    let forbidden = strict();
    let mut required = strict();
    required.recording.params.mode = RecordingMode::Required;
    let now = "2025-03-11T11:00:00Z";
    assert_eq!(
        of_rule(&run(&recorded, &forbidden, now), RuleId::Recording).len(),
        1
    );
    assert_eq!(
        of_rule(&run(&unrecorded, &forbidden, now), RuleId::Recording).len(),
        0
    );
    assert_eq!(
        of_rule(&run(&recorded, &required, now), RuleId::Recording).len(),
        0
    );
    assert_eq!(
        of_rule(&run(&unrecorded, &required, now), RuleId::Recording).len(),
        1
    );
}

#[test]
fn a_pupil_without_consent_in_the_call_is_a_finding() {
    let mut view = compliant_call_at("2025-03-11T10:00:00Z");
    let sessions = &mut view.instance.as_mut().unwrap().sessions;
    sessions[3].identity.person.as_mut().unwrap().has_consent = false;
    let found = run(&view, &strict(), "2025-03-11T11:00:00Z");
    assert_eq!(of_rule(&found, RuleId::ParentalConsent).len(), 1);
}

#[test]
fn a_compliant_call_has_no_findings() {
    let view = compliant_call_at("2025-03-11T10:00:00Z");
    let evaluation = run(&view, &strict(), "2025-03-11T11:00:00Z");
    assert_eq!(evaluation.findings, Vec::new());
}

#[test]
fn a_staff_only_meeting_is_not_checked() {
    let view = MeetingView {
        planned: None,
        ..call(
            vec![session("1", Some(teacher()), "2025-03-11T19:40:00Z", None)],
            Some("2025-03-11T20:00:00Z"),
        )
    };
    assert_eq!(
        run(&view, &strict(), "2025-03-11T21:00:00Z").findings,
        Vec::new()
    );
}

/// A scheduled meeting (no call yet) inviting `invitees`.
fn scheduled(invitees: Vec<InviteeView>, co_hosts: Vec<InviteeView>) -> MeetingView {
    MeetingView {
        scheduled: Some(ScheduledView {
            meeting_id: "84712345678".into(),
            topic: Some("Y9 mentoring".into()),
            host: Some(teacher()),
            start: Some(t("2025-03-11T14:30:00Z")),
            duration_minutes: Some(30),
            invitees,
            co_hosts,
            deleted: false,
        }),
        instance: None,
        planned: Some(approved_plan("2025-03-11T14:30:00Z")),
        settings: PlatformSettings::default(),
        outcome_logged_at: None,
        children_of_invited_parents: Vec::new(),
    }
}

fn invitee(who: PersonView) -> InviteeView {
    InviteeView {
        email: format!("{}@school.example", who.id),
        person: Some(who),
    }
}

const BEFORE: &str = "2025-03-10T09:00:00Z";

#[test]
fn before_the_call_a_missing_dsl_invitation_is_found_and_an_alternative_host_counts() {
    let without = scheduled(vec![invitee(parent_of_pupil())], Vec::new());
    let mut view = without.clone();
    view.children_of_invited_parents = vec![pupil()];
    let found = run(&view, &strict(), BEFORE);
    let dsl_missing = of_rule(&found, RuleId::DslInvited);
    assert_eq!(dsl_missing.len(), 1);
    assert_eq!(dsl_missing[0].scope, Scope::Scheduled);
    assert!(
        dsl_missing[0].summary.contains("does not invite a DSL"),
        "{}",
        dsl_missing[0].summary
    );

    let mut with_dsl = scheduled(vec![invitee(parent_of_pupil())], vec![invitee(dsl())]);
    with_dsl.children_of_invited_parents = vec![pupil()];
    assert!(of_rule(&run(&with_dsl, &strict(), BEFORE), RuleId::DslInvited).is_empty());
}

#[test]
fn before_the_call_an_invitation_to_the_pupils_own_address_is_found() {
    let view = scheduled(vec![invitee(pupil()), invitee(dsl())], Vec::new());
    let found = run(&view, &strict(), BEFORE);
    let direct = of_rule(&found, RuleId::InviteViaParent);
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].subject, "person:10");
}

#[test]
fn before_the_call_missing_consent_for_the_child_of_an_invited_parent_is_found() {
    let mut view = scheduled(vec![invitee(parent_of_pupil()), invitee(dsl())], Vec::new());
    view.children_of_invited_parents = vec![PersonView {
        has_consent: false,
        ..pupil()
    }];
    let found = run(&view, &strict(), BEFORE);
    let consent = of_rule(&found, RuleId::ParentalConsent);
    assert_eq!(consent.len(), 1);
    assert_eq!(consent[0].subject, "person:10");
}

#[test]
fn before_the_call_the_timetable_and_approval_are_checked() {
    let base = || {
        let mut view = scheduled(vec![invitee(parent_of_pupil()), invitee(dsl())], Vec::new());
        view.children_of_invited_parents = vec![pupil()];
        view
    };
    let mut policy = policy("remote-send-pastoral", "");
    policy.school_hours.enabled = false;
    let check = |view: &MeetingView| -> Vec<String> {
        run(view, &policy, BEFORE)
            .findings
            .iter()
            .filter(|f| f.rule == RuleId::ApprovedInAdvance)
            .map(|f| f.summary.clone())
            .collect()
    };
    assert!(check(&base()).is_empty());
    let mut unplanned = base();
    unplanned.planned = None;
    assert!(check(&unplanned)[0].contains("not on the timetable"));
    let mut late = base();
    late.planned.as_mut().unwrap().registered_at = t("2025-03-11T14:40:00Z");
    assert!(check(&late)[0].contains("only after it started"));
    let mut unapproved = base();
    unapproved.planned.as_mut().unwrap().approved = false;
    assert!(check(&unapproved)[0].contains("not been approved"));
    let mut unassessed = base();
    unassessed.planned.as_mut().unwrap().risk_assessed = false;
    assert!(check(&unassessed)[0].contains("no risk assessment"));
}

#[test]
fn before_the_call_a_time_outside_school_hours_is_found() {
    let mut view = scheduled(vec![invitee(pupil()), invitee(dsl())], Vec::new());
    view.scheduled.as_mut().unwrap().start = Some(t("2025-03-11T19:40:00Z"));
    let found = run(&view, &strict(), BEFORE);
    let hours = of_rule(&found, RuleId::SchoolHours);
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].subject, "planned_time");
    assert!(hours[0].summary.contains("19:40"), "{}", hours[0].summary);
}

#[test]
fn the_outcome_deadline_is_a_timer_and_then_a_finding() {
    let mut view = compliant_call_at("2025-03-11T10:00:00Z");
    view.outcome_logged_at = None;
    let mut policy = strict();
    policy.outcome_logged.params.within_hours = 24;
    let soon = run(&view, &policy, "2025-03-11T11:00:00Z");
    assert!(of_rule(&soon, RuleId::OutcomeLogged).is_empty());
    assert_eq!(soon.next_check_at, Some(t("2025-03-12T10:30:00Z")));
    let late = run(&view, &policy, "2025-03-12T10:30:00Z");
    assert_eq!(of_rule(&late, RuleId::OutcomeLogged).len(), 1);
}

#[test]
fn a_disabled_rule_finds_nothing() {
    let mut view = compliant_call_at("2025-03-11T10:00:00Z");
    view.instance.as_mut().unwrap().chat_messages_at = vec![t("2025-03-11T10:05:00Z")];
    let mut policy = strict();
    policy.chat_disabled.enabled = false;
    assert!(of_rule(
        &run(&view, &policy, "2025-03-11T11:00:00Z"),
        RuleId::ChatDisabled
    )
    .is_empty());
}

#[test]
fn several_rules_find_several_things_at_once() {
    let mut view = call(
        vec![
            session("1", Some(teacher()), "2025-03-11T19:40:00Z", None),
            session("10", Some(pupil()), "2025-03-11T19:40:00Z", None),
            session("77", None, "2025-03-11T19:45:00Z", None),
        ],
        None,
    );
    view.planned = None;
    let instance = view.instance.as_mut().unwrap();
    instance.started_at = Some(t("2025-03-11T19:40:00Z"));
    instance.chat_messages_at = vec![t("2025-03-11T19:41:00Z")];
    let found = run(&view, &strict(), "2025-03-11T19:50:00Z");
    let mut rules: Vec<RuleId> = found.findings.iter().map(|f| f.rule).collect();
    rules.sort();
    rules.dedup();
    assert_eq!(
        rules,
        vec![
            RuleId::DslInvited,
            RuleId::ChatDisabled,
            RuleId::SchoolHours,
            RuleId::TwoAdults,
            RuleId::ApprovedInAdvance,
            RuleId::UnknownParticipant,
        ]
    );
}

#[test]
fn staff_signed_in_to_an_account_outside_the_school_are_flagged_once_the_platform_says_so() {
    let mut outside = session("2", Some(second_teacher()), "2025-03-11T14:30:00Z", None);
    outside.in_school_account = Some(false);
    let mut view = compliant_call_at("2025-03-11T14:30:00Z");
    view.instance.as_mut().unwrap().sessions[1] = outside.clone();
    let found = run(&view, &strict(), AFTER);
    let account = of_rule(&found, RuleId::SchoolAccount);
    assert_eq!(account.len(), 1);
    assert!(
        account[0].summary.contains("outside the school"),
        "{}",
        account[0].summary
    );
    outside.in_school_account = None;
    view.instance.as_mut().unwrap().sessions[1] = outside;
    assert!(
        of_rule(&run(&view, &strict(), AFTER), RuleId::SchoolAccount).is_empty(),
        "unknown is not a finding"
    );
}

#[test]
fn before_the_call_chat_and_recording_settings_are_checked_when_known() {
    let mut view = scheduled(vec![invitee(pupil()), invitee(dsl())], Vec::new());
    assert!(
        of_rule(&run(&view, &strict(), BEFORE), RuleId::ChatDisabled).is_empty(),
        "unknown is never guessed"
    );
    view.settings = PlatformSettings {
        chat_enabled: Some(true),
        auto_recording: Some(true),
        sign_in_required: None,
    };
    let found = run(&view, &strict(), BEFORE);
    assert_eq!(of_rule(&found, RuleId::ChatDisabled).len(), 1);
    let recording = of_rule(&found, RuleId::Recording);
    assert_eq!(recording.len(), 1, "the strict code forbids recording");
    assert!(recording[0].summary.contains("set to record automatically"));
}

#[test]
fn before_the_call_a_meeting_open_to_guests_is_found_only_where_the_policy_asks_pupils_to_sign_in()
{
    // (the policy asks pupils to sign in, what the platform reported, whether it is a finding)
    let cases = [
        (true, Some(false), true),
        (true, Some(true), false),
        (true, None, false),
        (false, Some(false), false),
        (false, Some(true), false),
        (false, None, false),
    ];
    for (require_sign_in, sign_in_required, found) in cases {
        let mut view = scheduled(vec![invitee(pupil()), invitee(dsl())], Vec::new());
        view.settings.sign_in_required = sign_in_required;
        let mut policy = strict();
        policy.school_account.params.require_sign_in = require_sign_in;
        let findings = run(&view, &policy, BEFORE);
        let sign_in: Vec<&Finding> = of_rule(&findings, RuleId::SchoolAccount)
            .into_iter()
            .filter(|f| f.subject == "sign_in_setting")
            .collect();
        assert_eq!(
            sign_in.len(),
            usize::from(found),
            "policy asks: {require_sign_in}, platform says: {sign_in_required:?}"
        );
        if found {
            assert_eq!(sign_in[0].scope, Scope::Scheduled);
            assert!(
                sign_in[0].summary.contains(
                    "lets participants join without signing in to a school account; \
                     the policy asks pupils to sign in"
                ),
                "{}",
                sign_in[0].summary
            );
        }
    }
}

#[test]
fn no_shipped_preset_asks_pupils_to_sign_in() {
    for preset in [
        "two-staff-code-of-conduct",
        "remote-send-pastoral",
        "in-school-one-to-one",
    ] {
        assert!(
            !policy(preset, "").school_account.params.require_sign_in,
            "{preset}"
        );
    }
    assert!(
        policy(
            "remote-send-pastoral",
            "[school_account]\nrequire_sign_in = true\n"
        )
        .school_account
        .params
        .require_sign_in,
        "a school turns it on with an override"
    );
}

mod possible_pupils;
