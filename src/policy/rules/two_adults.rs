//! Whenever a pupil is in the call, at least the required number of staff must be there too
//! (a pupil's own parent or carer counts where the policy says so). A shortfall shorter than
//! the grace period — the order people join in, a member of staff rejoining — is not a breach.

use chrono::{DateTime, Duration, Utc};

use crate::directory::PersonKind;
use crate::policy::engine::{involved, named, Context};
use crate::policy::finding::{RuleId, Scope};
use crate::policy::rooms::{rooms, Room};
use crate::policy::view::{InstanceView, PersonView, SessionView};

type Interval = (DateTime<Utc>, DateTime<Utc>);

pub fn check(context: &mut Context) {
    if !context.enabled(RuleId::TwoAdults) {
        return;
    }
    let Some(instance) = context.view.instance.clone() else {
        return;
    };
    // Breakout rooms are rooms: a pupil moved into one with a single adult is alone with
    // them, whatever the main room holds.
    for room in rooms(&instance) {
        let mut pupils: Vec<&PersonView> = Vec::new();
        for person in room.sessions.iter().filter_map(|s| s.person.as_ref()) {
            if person.kind == PersonKind::Pupil && !pupils.iter().any(|p| p.id == person.id) {
                pupils.push(person);
            }
        }
        for pupil in pupils {
            check_pupil(context, &instance, &room, pupil);
        }
    }
}

fn check_pupil(context: &mut Context, instance: &InstanceView, room: &Room, pupil: &PersonView) {
    let params = context.policy.two_adults.params.clone();
    let grace = Duration::seconds(params.grace_secs);
    let now = context.now;
    let interval_of = |session: &SessionView| -> Option<Interval> {
        let joined = session.joined_at?;
        let left = session.left_at.or(instance.ended_at).unwrap_or(now);
        (left > joined).then_some((joined, left))
    };
    let counts_as_adult = |person: &PersonView| {
        person.is_staff()
            || (params.parent_counts
                && person.kind == PersonKind::Parent
                && person.children.contains(&pupil.id))
    };
    let presence = merge(
        room.sessions
            .iter()
            .filter(|s| s.person.as_ref().is_some_and(|p| p.id == pupil.id))
            .filter_map(interval_of)
            .collect(),
    );
    let adults: Vec<(Interval, &PersonView)> = room
        .sessions
        .iter()
        .filter_map(|s| {
            let person = s.person.as_ref().filter(|p| counts_as_adult(p))?;
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
    let with = match present.len() {
        0 => "no member of staff".to_string(),
        count => format!(
            "only {count} adult{} ({})",
            if count == 1 { "" } else { "s" },
            present
                .iter()
                .map(|p| named(p))
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
    let place = match room.is_breakout() {
        false => context.meeting_name(),
        true => format!("{} of {}", room.label, context.meeting_name()),
    };
    let summary = format!(
        "{} was in {place} with {with} {span}; the policy requires {} staff.{more}",
        named(pupil),
        params.min_staff
    );
    let mut people = vec![involved(pupil)];
    people.extend(present.iter().map(|p| involved(p)));
    context.find(
        RuleId::TwoAdults,
        Scope::Instance,
        match &room.key {
            None => format!("person:{}", pupil.id),
            Some(room_key) => format!("person:{}:room:{room_key}", pupil.id),
        },
        "Pupil without two staff",
        summary,
        people,
        from,
    );
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
