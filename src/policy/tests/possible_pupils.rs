//! Who counts as a possible pupil, and every rule that depends on it, for each basis of
//! identification: a call with a guest who may be a child is checked like a call with a
//! known pupil, and findings say how sure they are.

use super::*;
use crate::policy::identity::{identify, Clues};

const NOON: &str = "2025-03-11T12:00:00Z";

fn external_adult() -> PersonView {
    person(40, "Alex Social-Worker", PersonKind::ExternalAdult, None)
}

/// A session of someone identified on `basis` as `who` (`None`: nobody).
fn identified(
    key: &str,
    shown: &str,
    basis: IdentityBasis,
    who: Option<PersonView>,
    joined: &str,
) -> SessionView {
    SessionView {
        session_key: key.into(),
        identity: Identity { basis, person: who },
        display_name: Some(shown.into()),
        platform_user_id: None,
        in_school_account: None,
        joined_at: Some(t(joined)),
        left_at: None,
        identity_pending_until: None,
    }
}

/// A call with no planned session, so nothing but the participants says a child is there.
fn unplanned(sessions: Vec<SessionView>, start: &str, minutes: i64) -> MeetingView {
    let mut view = call(sessions, None);
    let start = t(start);
    let instance = view.instance.as_mut().unwrap();
    instance.started_at = Some(start);
    instance.ended_at = Some(start + Duration::minutes(minutes));
    view.planned = None;
    view
}

fn two_staff_required() -> Policy {
    policy(
        "two-staff-code-of-conduct",
        "[two_adults]\ngrace_secs = 60\n[dsl_invited]\nenabled = false\n",
    )
}

#[test]
fn every_identification_basis_is_checked_for_two_adults_and_named_as_sure_as_it_is() {
    let dara = person(11, "Dara Finch", PersonKind::Pupil, None);
    // (basis, who it is thought to be, what the finding must say, found with the stance off)
    let cases = [
        (
            IdentityBasis::Verified,
            Some(dara.clone()),
            "Dara Finch (pupil) was in",
            true,
        ),
        (
            IdentityBasis::Registrant,
            Some(dara.clone()),
            "Dara Finch (pupil) was in",
            true,
        ),
        (
            IdentityBasis::Expected,
            Some(dara.clone()),
            "(expected to be the pupil Dara Finch from the planned session \u{2014} not verified)",
            false,
        ),
        (
            IdentityBasis::DisplayName,
            Some(dara.clone()),
            "A participant who is not identified as staff, shown as \u{201c}Dara Finch\u{201d} \
             (probably the pupil Dara Finch, by display name \u{2014} not verified), was in",
            false,
        ),
        (
            IdentityBasis::None,
            None,
            "shown as \u{201c}Dara Finch\u{201d} (not identified)",
            false,
        ),
    ];
    for (basis, who, words, found_when_off) in cases {
        let view = unplanned(
            vec![
                session("1", Some(teacher()), "2025-03-11T10:01:00Z", None),
                identified(
                    "9",
                    "Dara Finch",
                    basis,
                    who.clone(),
                    "2025-03-11T10:01:00Z",
                ),
            ],
            "2025-03-11T10:01:00Z",
            10,
        );
        let found = run(&view, &two_staff_required(), NOON);
        let alone = of_rule(&found, RuleId::TwoAdults);
        assert_eq!(alone.len(), 1, "{basis:?}: {found:#?}");
        let summary = &alone[0].summary;
        assert!(summary.contains(words), "{basis:?}: {summary}");
        assert!(
            summary.contains("with only one member of staff (Ravi Patel) from 10:01"),
            "{basis:?}: {summary}"
        );
        assert!(summary.contains("to 10:11"), "{basis:?}: {summary}");
        let expected_subject = match &who {
            Some(person) => format!("person:{}", person.id),
            None => "guest:darafinch".to_string(),
        };
        assert_eq!(alone[0].subject, expected_subject, "{basis:?}");

        let mut stance_off = two_staff_required();
        stance_off.check_possible_pupils = false;
        let found = run(&view, &stance_off, NOON);
        assert_eq!(
            !of_rule(&found, RuleId::TwoAdults).is_empty(),
            found_when_off,
            "{basis:?} with possible pupils unchecked"
        );
    }
}

#[test]
fn a_guest_in_a_call_is_checked_for_hours_chat_recording_and_unknown_participants() {
    for basis in [IdentityBasis::DisplayName, IdentityBasis::None] {
        let who = (basis != IdentityBasis::None)
            .then(|| person(11, "Dara Finch", PersonKind::Pupil, None));
        let mut view = unplanned(
            vec![
                session("1", Some(teacher()), "2025-03-11T19:40:00Z", None),
                session("2", Some(second_teacher()), "2025-03-11T19:40:00Z", None),
                identified("9", "Dara Finch", basis, who, "2025-03-11T19:40:00Z"),
            ],
            "2025-03-11T19:40:00Z",
            20,
        );
        let instance = view.instance.as_mut().unwrap();
        instance.chat_messages_at = vec![t("2025-03-11T19:45:00Z")];
        instance.recording_started_at = vec![t("2025-03-11T19:46:00Z")];
        let mut policy = two_staff_required();
        policy.recording.params.mode = RecordingMode::Forbidden;
        policy.recording.enabled = true;
        let found = run(&view, &policy, "2025-03-11T21:00:00Z");
        for rule in [RuleId::SchoolHours, RuleId::ChatDisabled, RuleId::Recording] {
            assert_eq!(
                of_rule(&found, rule).len(),
                1,
                "{basis:?} {rule:?}: {found:#?}"
            );
        }
        assert!(
            of_rule(&found, RuleId::TwoAdults).is_empty(),
            "two staff were there"
        );
        let unknown = of_rule(&found, RuleId::UnknownParticipant);
        assert_eq!(
            unknown.len(),
            usize::from(basis == IdentityBasis::None),
            "{basis:?}: only a guest nobody could be matched to is unknown"
        );
    }
}

#[test]
fn identified_adults_only_are_not_checked_and_one_unidentified_guest_makes_the_call_checked() {
    let adults = vec![
        session("1", Some(teacher()), "2025-03-11T19:40:00Z", None),
        session("40", Some(external_adult()), "2025-03-11T19:40:00Z", None),
    ];
    let view = unplanned(adults.clone(), "2025-03-11T19:40:00Z", 20);
    let found = run(&view, &two_staff_required(), "2025-03-11T21:00:00Z");
    assert!(found.findings.is_empty(), "{found:#?}");

    let mut with_guest = adults;
    with_guest.push(identified(
        "9",
        "iPad",
        IdentityBasis::None,
        None,
        "2025-03-11T19:41:00Z",
    ));
    let view = unplanned(with_guest, "2025-03-11T19:40:00Z", 20);
    let found = run(&view, &two_staff_required(), "2025-03-11T21:00:00Z");
    assert_eq!(of_rule(&found, RuleId::SchoolHours).len(), 1, "{found:#?}");
    assert_eq!(of_rule(&found, RuleId::UnknownParticipant).len(), 1);
    let alone = of_rule(&found, RuleId::TwoAdults);
    assert_eq!(alone.len(), 1, "the external adult is not staff");
    assert!(
        alone[0]
            .summary
            .contains("only one member of staff (Ravi Patel)"),
        "{}",
        alone[0].summary
    );
}

#[test]
fn an_unidentified_guest_never_counts_as_staff_and_a_signed_in_parent_is_no_possible_pupil() {
    // The guest calls themselves "Ravi Patel": a name is no proof, so the teacher is alone
    // with them and with the verified pupil.
    let view = unplanned(
        vec![
            session("1", Some(teacher()), "2025-03-11T10:00:00Z", None),
            session("10", Some(pupil()), "2025-03-11T10:00:00Z", None),
            identified(
                "8",
                "Ravi Patel",
                IdentityBasis::None,
                None,
                "2025-03-11T10:00:00Z",
            ),
        ],
        "2025-03-11T10:00:00Z",
        15,
    );
    let found = run(&view, &two_staff_required(), NOON);
    assert_eq!(of_rule(&found, RuleId::TwoAdults).len(), 2, "{found:#?}");

    // A parent signed in with their own account is an identified adult: a meeting of the
    // teacher with that parent alone is not a call with a child.
    let view = unplanned(
        vec![
            session("1", Some(teacher()), "2025-03-11T10:00:00Z", None),
            session("20", Some(parent_of_pupil()), "2025-03-11T10:00:00Z", None),
        ],
        "2025-03-11T10:00:00Z",
        15,
    );
    assert!(run(&view, &two_staff_required(), NOON).findings.is_empty());
}

#[test]
fn a_parent_counts_for_their_proven_or_expected_child_but_not_for_a_name_alone() {
    let policy = policy(
        "remote-send-pastoral",
        "[two_adults]\nenabled = true\nmin_staff = 2\nparent_counts = true\ngrace_secs = 60\n",
    );
    // (basis, who the guest is thought to be, whether the teacher and parent fall short)
    let cases = [
        (IdentityBasis::Expected, Some(pupil()), false),
        (IdentityBasis::Verified, Some(pupil()), false),
        (IdentityBasis::DisplayName, Some(pupil()), true),
        (IdentityBasis::None, None, true),
    ];
    for (basis, thought_to_be, breach) in cases {
        let view = unplanned(
            vec![
                session("1", Some(teacher()), "2025-03-11T10:00:00Z", None),
                session("20", Some(parent_of_pupil()), "2025-03-11T10:00:00Z", None),
                identified("9", "J", basis, thought_to_be, "2025-03-11T10:00:00Z"),
            ],
            "2025-03-11T10:00:00Z",
            15,
        );
        let found = run(&view, &policy, NOON);
        assert_eq!(
            !of_rule(&found, RuleId::TwoAdults).is_empty(),
            breach,
            "{basis:?}: {found:#?}"
        );
    }
}

#[test]
fn consent_is_checked_for_the_pupil_a_guest_is_thought_to_be_and_says_so() {
    let mut dara = person(11, "Dara Finch", PersonKind::Pupil, None);
    dara.has_consent = false;
    let view = unplanned(
        vec![
            session("1", Some(teacher()), "2025-03-11T10:00:00Z", None),
            session("2", Some(second_teacher()), "2025-03-11T10:00:00Z", None),
            identified(
                "9",
                "Dara Finch",
                IdentityBasis::DisplayName,
                Some(dara),
                "2025-03-11T10:00:00Z",
            ),
        ],
        "2025-03-11T10:00:00Z",
        15,
    );
    let found = run(&view, &strict(), NOON);
    let consent = of_rule(&found, RuleId::ParentalConsent);
    assert_eq!(consent.len(), 1, "{found:#?}");
    assert!(
        consent[0].summary.contains("probably the pupil Dara Finch")
            && consent[0]
                .summary
                .contains("Dara Finch has no signed parental agreement"),
        "{}",
        consent[0].summary
    );
}

#[test]
fn before_the_call_an_invitation_to_an_unknown_address_is_checked_unless_the_stance_is_off() {
    let mut view = scheduled(
        vec![InviteeView {
            email: "someone@home.example".into(),
            person: None,
        }],
        Vec::new(),
    );
    view.planned = None;
    let mut policy = strict();
    let found = run(&view, &policy, "2025-03-10T09:00:00Z");
    assert_eq!(of_rule(&found, RuleId::DslInvited).len(), 1, "{found:#?}");
    policy.check_possible_pupils = false;
    assert!(run(&view, &policy, "2025-03-10T09:00:00Z")
        .findings
        .is_empty());
}

// --- identification ---------------------------------------------------------------------

fn guest(name: &str) -> Clues {
    Clues {
        name_key: Some(crate::directory::name_key(name)),
        ..Clues::default()
    }
}

fn matching(name: &str, people: Vec<PersonView>) -> Clues {
    Clues {
        by_display_name: people,
        ..guest(name)
    }
}

/// A case name, the call's sessions, its planned pupils, and the (basis, person id) each
/// session must get.
type IdentificationCase = (
    &'static str,
    Vec<Clues>,
    Vec<PersonView>,
    Vec<(IdentityBasis, Option<i64>)>,
);

#[test]
fn identification_takes_the_strongest_basis_the_call_allows() {
    let dara = person(11, "Dara Finch", PersonKind::Pupil, None);
    let eli = person(12, "Eli Finch", PersonKind::Pupil, None);
    let parent = person(21, "Sam Finch", PersonKind::Parent, None);
    let signed_in = Clues {
        verified: Some(teacher()),
        ..Clues::default()
    };
    let registered = Clues {
        registrant: Some(dara.clone()),
        ..guest("D")
    };
    use IdentityBasis::{DisplayName, Expected, Registrant, Verified};
    // (sessions, planned pupils, expected (basis, person id) per session)
    let cases: Vec<IdentificationCase> = vec![
        (
            "signed in",
            vec![signed_in.clone()],
            vec![],
            vec![(Verified, Some(1))],
        ),
        (
            "registered",
            vec![registered.clone()],
            vec![dara.clone()],
            vec![(Registrant, Some(11))],
        ),
        (
            "the one guest in a planned call is its pupil",
            vec![signed_in.clone(), guest("iPad")],
            vec![dara.clone()],
            vec![(Verified, Some(1)), (Expected, Some(11))],
        ),
        (
            "a rejoining guest is still the one guest",
            vec![guest("iPad"), guest("IPAD ")],
            vec![dara.clone()],
            vec![(Expected, Some(11)), (Expected, Some(11))],
        ),
        (
            "two guests and one planned pupil: the name decides",
            vec![matching("Dara Finch", vec![dara.clone()]), guest("Dad")],
            vec![dara.clone()],
            vec![(Expected, Some(11)), (IdentityBasis::None, None)],
        ),
        (
            "two guests and one planned pupil, no names: nobody is assumed",
            vec![guest("iPad"), guest("Dad")],
            vec![dara.clone()],
            vec![(IdentityBasis::None, None), (IdentityBasis::None, None)],
        ),
        (
            "the planned pupil already signed in: a guest is not them",
            vec![
                Clues {
                    verified: Some(dara.clone()),
                    ..Clues::default()
                },
                guest("Dad"),
            ],
            vec![dara.clone()],
            vec![(Verified, Some(11)), (IdentityBasis::None, None)],
        ),
        (
            "a name matching one pupil not planned",
            vec![matching("Eli Finch", vec![eli.clone()])],
            vec![dara.clone()],
            vec![(DisplayName, Some(12))],
        ),
        (
            "a name matching a parent",
            vec![matching("Sam Finch", vec![parent.clone()])],
            vec![],
            vec![(DisplayName, Some(21))],
        ),
        (
            "a name matching two people is no match",
            vec![matching("D Finch", vec![dara.clone(), eli.clone()])],
            vec![],
            vec![(IdentityBasis::None, None)],
        ),
        (
            "an adults-only session expects nobody",
            vec![guest("iPad")],
            vec![],
            vec![(IdentityBasis::None, None)],
        ),
    ];
    for (case, sessions, planned, expected) in cases {
        let got: Vec<(IdentityBasis, Option<i64>)> = identify(&sessions, &planned)
            .iter()
            .map(|identity| (identity.basis, identity.probable().map(|p| p.id)))
            .collect();
        assert_eq!(got, expected, "{case}");
    }
}

#[test]
fn only_identified_staff_parents_and_listed_adults_are_not_possible_pupils() {
    use IdentityBasis::{DisplayName, Expected, Registrant, Verified};
    let cases = [
        (Verified, teacher(), false),
        (Registrant, teacher(), false),
        (Verified, parent_of_pupil(), false),
        (Verified, external_adult(), false),
        (Verified, pupil(), true),
        (DisplayName, teacher(), true),
        (Expected, pupil(), true),
        (DisplayName, external_adult(), true),
    ];
    for (basis, who, possible) in cases {
        let identity = Identity::of(basis, who.clone());
        assert_eq!(
            identity.is_possible_pupil(),
            possible,
            "{basis:?} {}",
            who.name
        );
    }
    assert!(Identity::unidentified().is_possible_pupil());
}

#[test]
fn a_guest_moved_into_a_breakout_room_with_one_teacher_is_alone_with_them() {
    let stay = |key: &str, from: &str, until: &str| RoomStayView {
        session_key: key.into(),
        room_key: "room-1".into(),
        room_label: "breakout room 1".into(),
        joined_at: Some(t(from)),
        left_at: Some(t(until)),
    };
    let mut view = unplanned(
        vec![
            session("1", Some(teacher()), "2025-03-11T10:00:00Z", None),
            session("2", Some(second_teacher()), "2025-03-11T10:00:00Z", None),
            identified(
                "9",
                "iPad",
                IdentityBasis::None,
                None,
                "2025-03-11T10:00:00Z",
            ),
        ],
        "2025-03-11T10:00:00Z",
        30,
    );
    view.instance.as_mut().unwrap().room_stays = vec![
        stay("1", "2025-03-11T10:05:00Z", "2025-03-11T10:15:00Z"),
        stay("9", "2025-03-11T10:05:00Z", "2025-03-11T10:15:00Z"),
    ];
    let found = run(&view, &two_staff_required(), NOON);
    let alone = of_rule(&found, RuleId::TwoAdults);
    assert_eq!(alone.len(), 1, "{found:#?}");
    assert_eq!(alone[0].subject, "guest:ipad:room:room-1");
    assert!(
        alone[0].summary.contains(
            "shown as \u{201c}iPad\u{201d} (not identified), was in breakout room 1 of the call"
        ) && alone[0].summary.contains("from 10:05"),
        "{}",
        alone[0].summary
    );
}
