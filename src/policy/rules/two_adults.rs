//! Whenever a pupil is in the call, at least the required number of staff must be there too
//! (a pupil's own parent or carer counts where the policy says so). A shortfall shorter than
//! the grace period — the order people join in, a member of staff rejoining — is not a breach.

use chrono::{DateTime, Duration, Utc};

use crate::directory::{name_key, PersonKind};
use crate::policy::engine::{involved, participant, Context};
use crate::policy::finding::{RuleId, Scope, Window};
use crate::policy::identity::{describe, Identity, IdentityBasis};
use crate::policy::rooms::{rooms, Room};
use crate::policy::rules::schedule::capitalised;
use crate::policy::view::{InstanceView, PersonView, SessionView};

type Interval = (DateTime<Utc>, DateTime<Utc>);

pub fn check(context: &mut Context) {
    if !context.enabled(RuleId::TwoAdults) {
        return;
    }
    let Some(instance) = context.view.instance.clone() else {
        return;
    };
    let unproven_too = context.policy.check_possible_pupils;
    // Breakout rooms are rooms: a pupil moved into one with a single adult is alone with
    // them, whatever the main room holds.
    for room in rooms(&instance) {
        for pupil in possible_pupils(&room.sessions, unproven_too) {
            check_pupil(context, &instance, &room, &pupil);
        }
    }
}

/// One child who may be in the call, and the sessions that are them.
struct PossiblePupil<'a> {
    /// What findings about them are filed under: the person they are (thought to be), else
    /// the guest's folded display name (a rejoin is the same guest), else the session.
    subject: String,
    /// The strongest identity among their sessions.
    identity: &'a Identity,
    display_name: Option<&'a str>,
    sessions: Vec<&'a SessionView>,
}

/// Everyone in the call who may be a child: proven pupils, and — where the policy checks
/// possible pupils — everyone not identified as an adult.
fn possible_pupils(sessions: &[SessionView], unproven_too: bool) -> Vec<PossiblePupil<'_>> {
    let mut pupils: Vec<PossiblePupil> = Vec::new();
    for session in sessions {
        let identity = &session.identity;
        let proven = identity
            .identified()
            .is_some_and(|person| person.kind == PersonKind::Pupil);
        if !identity.is_possible_pupil() || !(proven || unproven_too) {
            continue;
        }
        let subject = match (identity.probable(), session.display_name.as_deref()) {
            (Some(person), _) => format!("person:{}", person.id),
            (None, Some(name)) if !name_key(name).is_empty() => format!("guest:{}", name_key(name)),
            (None, _) => format!("session:{}", session.session_key),
        };
        match pupils.iter_mut().find(|pupil| pupil.subject == subject) {
            Some(pupil) => {
                if identity.basis < pupil.identity.basis {
                    pupil.identity = identity;
                    pupil.display_name = session.display_name.as_deref();
                }
                pupil.sessions.push(session);
            }
            None => pupils.push(PossiblePupil {
                subject,
                identity,
                display_name: session.display_name.as_deref(),
                sessions: vec![session],
            }),
        }
    }
    pupils
}

fn check_pupil(context: &mut Context, instance: &InstanceView, room: &Room, pupil: &PossiblePupil) {
    let params = context.policy.two_adults.params.clone();
    let grace = Duration::seconds(params.grace_secs);
    let now = context.now;
    let interval_of = |session: &SessionView| -> Option<Interval> {
        let joined = session.joined_at?;
        let left = session.left_at.or(instance.ended_at).unwrap_or(now);
        (left > joined).then_some((joined, left))
    };
    // Only identified adults count: an unidentified guest is never assumed to be one. A parent
    // counts (where the policy says) for their own child: one proven, or the planned session's
    // pupil a guest is expected to be — a display name alone is too weak to lower the bar.
    let child_id = match pupil.identity.basis {
        IdentityBasis::DisplayName | IdentityBasis::None => None,
        _ => pupil.identity.probable().map(|person| person.id),
    };
    let counts_as_adult = |person: &PersonView| {
        person.is_staff()
            || (params.parent_counts
                && person.kind == PersonKind::Parent
                && child_id.is_some_and(|id| person.children.contains(&id)))
    };
    let presence = merge(
        pupil
            .sessions
            .iter()
            .filter_map(|session| interval_of(session))
            .collect(),
    );
    let adults: Vec<(Interval, &PersonView)> = room
        .sessions
        .iter()
        .filter_map(|s| {
            let person = s.identity.identified().filter(|p| counts_as_adult(p))?;
            Some((interval_of(s)?, person))
        })
        .collect();

    let mut breaches: Vec<Interval> = Vec::new();
    for shortfall in shortfalls(&presence, &adults, params.min_staff as usize) {
        let (from, until) = shortfall;
        let ongoing = instance.ended_at.is_none() && until >= now;
        if until - from > grace {
            breaches.push(shortfall);
        } else if ongoing {
            context.check_again_at(from + grace + Duration::seconds(1));
        }
    }
    let Some(&(from, until)) = breaches.first() else {
        return;
    };
    let present: Vec<&PersonView> = adults
        .iter()
        .filter(|((start, end), _)| *start <= from && *end > from)
        .map(|(_, person)| *person)
        .fold(Vec::new(), |mut unique, person| {
            if !unique.iter().any(|p: &&PersonView| p.id == person.id) {
                unique.push(person);
            }
            unique
        });
    let with = match present.as_slice() {
        [] => "no member of staff".to_string(),
        [only] => format!("only one {} ({})", adult_noun(only), only.name),
        several => format!(
            "only {} adults ({})",
            several.len(),
            several
                .iter()
                .map(|p| format!("{} ({})", p.name, p.role_label()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let still = instance.ended_at.is_none() && until >= now;
    let span = if still {
        format!("since {} and still is", context.when(from))
    } else {
        format!(
            "from {} to {} ({} min)",
            context.when(from),
            context.calendar.describe_local(until),
            (until - from).num_minutes().max(1)
        )
    };
    let more = match breaches.len() {
        1 => String::new(),
        count => format!(" This happened {count} times in the call."),
    };
    let mut who = describe(pupil.identity, pupil.display_name);
    if !pupil.identity.basis.is_proof() {
        // "A participant …, shown as “Dara Finch” (probably …), was in the call …"
        who.push(',');
    }
    let place = match room.is_breakout() {
        false => context.meeting_name(),
        true => format!("{} of {}", room.label, context.meeting_name()),
    };
    let summary = format!(
        "{} was in {place} with {with} {span}; the policy requires {} staff.{more}",
        capitalised(&who),
        params.min_staff
    );
    let mut people = vec![participant(pupil.identity, pupil.display_name)];
    people.extend(present.iter().map(|p| involved(p)));
    let windows: Vec<Window> = breaches
        .iter()
        .map(|&(from, until)| Window {
            from,
            until: (instance.ended_at.is_some() || until < now).then_some(until),
        })
        .collect();
    if let Some(finding) = context.find(
        RuleId::TwoAdults,
        Scope::Instance,
        match &room.key {
            None => pupil.subject.clone(),
            Some(room_key) => format!("{}:room:{room_key}", pupil.subject),
        },
        "Pupil without two staff",
        summary,
        people,
        from,
    ) {
        finding.windows = windows;
    }
}

fn adult_noun(person: &PersonView) -> &'static str {
    if person.is_staff() {
        "member of staff"
    } else {
        "adult"
    }
}

/// Merges overlapping intervals (a pupil on two devices is present once).
fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut merged: Vec<Interval> = Vec::new();
    for (start, end) in intervals {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The stretches of `presence` during which fewer than `required` adults were present.
fn shortfalls(
    presence: &[Interval],
    adults: &[(Interval, &PersonView)],
    required: usize,
) -> Vec<Interval> {
    let mut result: Vec<Interval> = Vec::new();
    for &(start, end) in presence {
        let mut points = vec![start, end];
        for ((adult_start, adult_end), _) in adults {
            for point in [*adult_start, *adult_end] {
                if point > start && point < end {
                    points.push(point);
                }
            }
        }
        points.sort();
        points.dedup();
        for pair in points.windows(2) {
            let (from, until) = (pair[0], pair[1]);
            let mut present: Vec<i64> = adults
                .iter()
                .filter(|((s, e), _)| *s <= from && *e > from)
                .map(|(_, person)| person.id)
                .collect();
            present.sort();
            present.dedup();
            if present.len() < required {
                match result.last_mut() {
                    Some(last) if last.1 == from => last.1 = until,
                    _ => result.push((from, until)),
                }
            }
        }
    }
    result
}
