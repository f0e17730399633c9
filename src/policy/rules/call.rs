//! Checks on the call as it happened: when it ran, chat and recording, consent for the
//! pupils present, who could not be identified, staff not signed in to a school account, and
//! the outcome record afterwards.

use crate::directory::PersonKind;
use crate::policy::engine::{involved, named, participant, Context};
use crate::policy::finding::{RuleId, Scope};
use crate::policy::identity::{describe, IdentityBasis};
use crate::policy::rooms::rooms;
use crate::policy::rules::schedule::capitalised;
use crate::policy::settings::RecordingMode;
use crate::policy::view::{InstanceView, SessionView};

type Overlap = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

pub fn check(context: &mut Context) {
    let Some(instance) = context.view.instance.clone() else {
        return;
    };
    actual_hours(context, &instance);
    chat_used(context, &instance);
    recording(context, &instance);
    consent_of_present(context, &instance);
    unknown_participants(context, &instance);
    unknown_with_a_pupil_in_a_breakout_room(context, &instance);
    school_identities(context, &instance);
    outcome_logged(context, &instance);
}

fn actual_hours(context: &mut Context, instance: &InstanceView) {
    let Some(started) = instance.started_at else {
        return;
    };
    let until = instance.ended_at.unwrap_or(context.now);
    if !context.calendar.within_school_hours(started, started) {
        let summary = format!(
            "{} started at {}, outside school hours.",
            capitalised(&context.meeting_name()),
            context.when(started)
        );
        context.find(
            RuleId::SchoolHours,
            Scope::Instance,
            "actual_time",
            "Call outside school hours",
            summary,
            Vec::new(),
            started,
        );
        return;
    }
    match context.calendar.hours_end_after(started) {
        Some(close) if until > close => {
            let summary = format!(
                "{} started at {} and was still running when school hours ended at {}.",
                capitalised(&context.meeting_name()),
                context.when(started),
                context.when(close)
            );
            context.find(
                RuleId::SchoolHours,
                Scope::Instance,
                "actual_time",
                "Call ran past school hours",
                summary,
                Vec::new(),
                close,
            );
        }
        Some(close) if instance.ended_at.is_none() => {
            context.check_again_at(close + chrono::Duration::seconds(1))
        }
        _ => {}
    }
}

fn chat_used(context: &mut Context, instance: &InstanceView) {
    let Some(first) = instance.chat_messages_at.iter().min().copied() else {
        return;
    };
    let count = instance.chat_messages_at.len();
    let summary = format!(
        "{} chat message{} sent in {}, the first at {}.",
        count,
        if count == 1 { " was" } else { "s were" },
        context.meeting_name(),
        context.when(first)
    );
    context.find(
        RuleId::ChatDisabled,
        Scope::Instance,
        "chat_used",
        "Chat used in a call",
        summary,
        Vec::new(),
        first,
    );
}

fn recording(context: &mut Context, instance: &InstanceView) {
    let params = context.policy.recording.params.clone();
    match params.mode {
        RecordingMode::Forbidden => {
            if let Some(first) = instance.recording_started_at.iter().min().copied() {
                let summary = format!(
                    "{} was recorded from {}.",
                    capitalised(&context.meeting_name()),
                    context.when(first)
                );
                context.find(
                    RuleId::Recording,
                    Scope::Instance,
                    "recording",
                    "Call recorded",
                    summary,
                    Vec::new(),
                    first,
                );
            }
        }
        RecordingMode::Required => {
            if let (Some(ended), true) =
                (instance.ended_at, instance.recording_started_at.is_empty())
            {
                let summary = format!(
                    "{} ended at {} and was not recorded.",
                    capitalised(&context.meeting_name()),
                    context.when(ended)
                );
                context.find(
                    RuleId::Recording,
                    Scope::Instance,
                    "recording",
                    "Call not recorded",
                    summary,
                    Vec::new(),
                    ended,
                );
            }
        }
    }
}

fn consent_of_present(context: &mut Context, instance: &InstanceView) {
    let mut reported = Vec::new();
    for session in &instance.sessions {
        let (Some(pupil), Some(joined)) = (session.identity.probable(), session.joined_at) else {
            continue;
        };
        if pupil.kind != PersonKind::Pupil || pupil.has_consent || reported.contains(&pupil.id) {
            continue;
        }
        reported.push(pupil.id);
        let summary = if session.identity.basis.is_proof() {
            format!(
                "{} joined {} at {} with no signed parental agreement on file.",
                named(pupil),
                context.meeting_name(),
                context.when(joined)
            )
        } else {
            format!(
                "{} joined {} at {}; {} has no signed parental agreement on file.",
                capitalised(&describe(
                    &session.identity,
                    session.display_name.as_deref()
                )),
                context.meeting_name(),
                context.when(joined),
                pupil.name
            )
        };
        context.find(
            RuleId::ParentalConsent,
            Scope::Instance,
            format!("person:{}", pupil.id),
            "No parental consent",
            summary,
            vec![involved(pupil)],
            joined,
        );
    }
}

fn unknown_participants(context: &mut Context, instance: &InstanceView) {
    for session in &instance.sessions {
        let Some(joined) = session.joined_at else {
            continue;
        };
        if session.identity.basis != IdentityBasis::None {
            continue;
        }
        // Not an unknown guest yet: the platform's API may still say who this is.
        if let Some(until) = session
            .identity_pending_until
            .filter(|_| session.identity_pending_at(context.now))
        {
            context.check_again_at(until);
            continue;
        }
        let summary = format!(
            "{} joined {} at {}. A display name is not proof of who anyone is.",
            capitalised(&describe(
                &session.identity,
                session.display_name.as_deref()
            )),
            context.meeting_name(),
            context.when(joined)
        );
        let people = vec![participant(
            &session.identity,
            session.display_name.as_deref(),
        )];
        context.find(
            RuleId::UnknownParticipant,
            Scope::Instance,
            format!("session:{}", session.session_key),
            "Unknown participant",
            summary,
            people,
            joined,
        );
    }
}

/// Someone unidentified in a breakout room with a (possible) pupil is flagged for that room
/// as well as for joining: in a breakout room they may be the only other person with the child.
fn unknown_with_a_pupil_in_a_breakout_room(context: &mut Context, instance: &InstanceView) {
    let until_of = |session: &SessionView| session.left_at.or(instance.ended_at);
    for room in rooms(instance)
        .into_iter()
        .filter(|room| room.is_breakout())
    {
        let mut reported: Vec<&str> = Vec::new();
        for unknown in &room.sessions {
            let (IdentityBasis::None, Some(joined)) = (unknown.identity.basis, unknown.joined_at)
            else {
                continue;
            };
            if let Some(until) = unknown
                .identity_pending_until
                .filter(|_| unknown.identity_pending_at(context.now))
            {
                context.check_again_at(until);
                continue;
            }
            if reported.contains(&unknown.session_key.as_str()) {
                continue;
            }
            let unknown_until = until_of(unknown).unwrap_or(context.now);
            let pupils: Vec<(&SessionView, Overlap)> = room
                .sessions
                .iter()
                .filter(|other| other.session_key != unknown.session_key)
                .filter(|other| other.identity.is_possible_pupil())
                .filter_map(|other| {
                    let from = joined.max(other.joined_at?);
                    let until = unknown_until.min(until_of(other).unwrap_or(context.now));
                    (until > from).then_some((other, (from, until)))
                })
                .collect();
            let Some((from, until)) = pupils.iter().map(|(_, overlap)| *overlap).min() else {
                continue;
            };
            reported.push(&unknown.session_key);
            let mut with: Vec<String> = Vec::new();
            let mut people = vec![participant(
                &unknown.identity,
                unknown.display_name.as_deref(),
            )];
            for (pupil, _) in &pupils {
                let described = describe(&pupil.identity, pupil.display_name.as_deref());
                if !with.contains(&described) {
                    with.push(described);
                    people.push(participant(&pupil.identity, pupil.display_name.as_deref()));
                }
            }
            let still = instance.ended_at.is_none() && until >= context.now;
            let span = if still {
                format!("since {} and still is", context.when(from))
            } else {
                format!("from {} to {}", context.when(from), context.when(until))
            };
            let summary = format!(
                "{} was in {} of {} with {} {span}.",
                capitalised(&describe(
                    &unknown.identity,
                    unknown.display_name.as_deref()
                )),
                room.label,
                context.meeting_name(),
                with.join("; ")
            );
            let room_key = room.key.as_deref().unwrap_or_default();
            context.find(
                RuleId::UnknownParticipant,
                Scope::Instance,
                format!("session:{}:room:{room_key}", unknown.session_key),
                "Unknown participant in a breakout room with a pupil",
                summary,
                people,
                from,
            );
        }
    }
}

fn school_identities(context: &mut Context, instance: &InstanceView) {
    if instance.host.is_none() && instance.host_user_id.is_some() {
        let at = instance.started_at.unwrap_or(context.now);
        let summary = format!(
            "{} is hosted by an account that is not linked to anyone in the school's directory.",
            capitalised(&context.meeting_name())
        );
        context.find(
            RuleId::SchoolAccount,
            Scope::Instance,
            "host",
            "Host not in the directory",
            summary,
            Vec::new(),
            at,
        );
    }
    let mut reported = Vec::new();
    for session in &instance.sessions {
        let (Some(person), Some(joined)) = (session.identity.identified(), session.joined_at)
        else {
            continue;
        };
        let how = match (&session.platform_user_id, session.in_school_account) {
            (None, _) => "without signing in to a school account",
            (Some(_), Some(false)) => "signed in to an account outside the school's",
            _ => continue,
        };
        if !person.is_staff() || reported.contains(&person.id) {
            continue;
        }
        reported.push(person.id);
        let summary = format!(
            "{} joined {} at {} {how}.",
            named(person),
            context.meeting_name(),
            context.when(joined)
        );
        context.find(
            RuleId::SchoolAccount,
            Scope::Instance,
            format!("person:{}", person.id),
            "Staff not on a school account",
            summary,
            vec![involved(person)],
            joined,
        );
    }
}

fn outcome_logged(context: &mut Context, instance: &InstanceView) {
    let Some(ended) = instance.ended_at else {
        return;
    };
    if context.view.outcome_logged_at.is_some() {
        return;
    }
    let deadline =
        ended + chrono::Duration::hours(context.policy.outcome_logged.params.within_hours);
    if context.now < deadline {
        context.check_again_at(deadline);
        return;
    }
    let host = instance.host.as_ref();
    let summary = format!(
        "No outcome has been logged for {}{}, which ended at {}.",
        context.meeting_name(),
        host.map(|h| format!(" hosted by {}", named(h)))
            .unwrap_or_default(),
        context.when(ended)
    );
    let people = host.map(involved).into_iter().collect();
    context.find(
        RuleId::OutcomeLogged,
        Scope::Instance,
        "outcome",
        "No outcome logged",
        summary,
        people,
        deadline,
    );
}
