//! Checks that can be made before the call: who is invited, when it is planned, whether it
//! is on the timetable, consent for the invited pupils, and the platform's chat, recording
//! and sign-in settings.
//! For an unscheduled (instant) call they run once the call has started.

use chrono::{DateTime, Utc};

use crate::directory::PersonKind;
use crate::policy::engine::{involved, named, pupils_involved, Context};
use crate::policy::finding::{RuleId, Scope};
use crate::policy::settings::RecordingMode;
use crate::policy::view::PersonView;

pub fn check(context: &mut Context) {
    let scope = context.schedule_scope;
    let Some(planned_for) = planned_start(context) else {
        return;
    };
    dsl_invited(context, scope, planned_for);
    invite_via_parent(context, scope, planned_for);
    approved_in_advance(context, scope, planned_for);
    planned_hours(context, scope, planned_for);
    consent_of_invited(context, scope, planned_for);
    chat_setting(context, scope, planned_for);
    recording_setting(context, scope, planned_for);
    sign_in_setting(context, scope, planned_for);
}

/// A scheduled meeting open to participants who have not signed in, where the policy asks
/// pupils to sign in. Only a setting the platform reported counts: unknown is no finding.
fn sign_in_setting(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    if !context.policy.school_account.params.require_sign_in
        || context.view.scheduled.is_none()
        || context.view.settings.sign_in_required != Some(false)
    {
        return;
    }
    let summary = format!(
        "{}, planned for {}, lets participants join without signing in to a school account; \
         the policy asks pupils to sign in.",
        capitalised(&context.meeting_name()),
        context.when(planned_for)
    );
    context.find(
        RuleId::SchoolAccount,
        scope,
        "sign_in_setting",
        "Joining without signing in",
        summary,
        Vec::new(),
        planned_for,
    );
}

fn recording_setting(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    let mode = context.policy.recording.params.mode;
    let problem = match (mode, context.view.settings.auto_recording) {
        (RecordingMode::Required, Some(false)) => "is not set to record automatically",
        (RecordingMode::Forbidden, Some(true)) => "is set to record automatically",
        _ => return,
    };
    let summary = format!(
        "{}, planned for {}, {problem}.",
        capitalised(&context.meeting_name()),
        context.when(planned_for)
    );
    context.find(
        RuleId::Recording,
        scope,
        "recording_setting",
        "Recording setting against policy",
        summary,
        Vec::new(),
        planned_for,
    );
}

/// The planned start, or the actual one for an unscheduled call.
fn planned_start(context: &Context) -> Option<DateTime<Utc>> {
    let view = context.view;
    view.scheduled
        .as_ref()
        .and_then(|s| s.start)
        .or_else(|| view.instance.as_ref().and_then(|i| i.started_at))
        .or_else(|| view.planned.as_ref().map(|p| p.starts_at))
}

fn dsl_invited(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    let view = context.view;
    let invited = view.scheduled.as_ref().is_some_and(|scheduled| {
        scheduled
            .host
            .as_ref()
            .is_some_and(|h| h.is_safeguarding_lead())
            || scheduled.all_invited().any(|invitee| {
                invitee
                    .person
                    .as_ref()
                    .is_some_and(|p| p.is_safeguarding_lead())
            })
    });
    let present = view.instance.as_ref().is_some_and(|instance| {
        instance
            .host
            .as_ref()
            .is_some_and(|h| h.is_safeguarding_lead())
            || instance
                .sessions
                .iter()
                .filter_map(|s| s.identity.identified())
                .any(|p| p.is_safeguarding_lead())
    });
    if invited || present {
        return;
    }
    let organiser = view
        .scheduled
        .as_ref()
        .and_then(|s| s.host.as_ref())
        .or_else(|| view.instance.as_ref().and_then(|i| i.host.as_ref()));
    let by = organiser
        .map(|o| format!(" organised by {}", named(o)))
        .unwrap_or_default();
    let summary = if view.scheduled.is_some() {
        format!(
            "{}{by}, planned for {}, does not invite a DSL or senior leader, so none can join at any time.",
            capitalised(&context.meeting_name()),
            context.when(planned_for)
        )
    } else {
        format!(
            "{}{by} was started at {} without being scheduled, so no DSL or senior leader was invited.",
            capitalised(&context.meeting_name()),
            context.when(planned_for)
        )
    };
    let people = organiser.map(involved).into_iter().collect();
    context.find(
        RuleId::DslInvited,
        scope,
        "meeting",
        "No DSL invited",
        summary,
        people,
        planned_for,
    );
}

fn invite_via_parent(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    let Some(scheduled) = &context.view.scheduled else {
        return;
    };
    let pupils_invited: Vec<_> = scheduled
        .all_invited()
        .filter_map(|invitee| invitee.person.clone())
        .filter(|person| person.kind == PersonKind::Pupil)
        .collect();
    for pupil in pupils_invited {
        let summary = format!(
            "The invitation to {}, planned for {}, was sent to {}'s own address instead of a parent's or carer's.",
            context.meeting_name(),
            context.when(planned_for),
            named(&pupil)
        );
        context.find(
            RuleId::InviteViaParent,
            scope,
            format!("person:{}", pupil.id),
            "Invitation sent to a pupil",
            summary,
            vec![involved(&pupil)],
            planned_for,
        );
    }
}

fn approved_in_advance(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    let params = &context.policy.approved_in_advance.params;
    let name = capitalised(&context.meeting_name());
    let when = context.when(planned_for);
    let problem = match &context.view.planned {
        None => Some(format!(
            "{name}, at {when}, is not on the timetable of planned sessions."
        )),
        Some(planned) if planned.registered_at >= planned_for => Some(format!(
            "{name}, at {when}, was put on the timetable only after it started."
        )),
        Some(planned) if params.require_approval && !planned.approved => Some(format!(
            "{name}, at {when}, is on the timetable but has not been approved."
        )),
        Some(planned) if params.require_risk_assessment && !planned.risk_assessed => Some(format!(
            "{name}, at {when}, is on the timetable but has no risk assessment."
        )),
        Some(_) => None,
    };
    if let Some(summary) = problem {
        context.find(
            RuleId::ApprovedInAdvance,
            scope,
            "meeting",
            "Not approved in advance",
            summary,
            Vec::new(),
            planned_for,
        );
    }
}

fn planned_hours(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    // For an unscheduled call the actual times are checked with the call.
    let Some(scheduled) = &context.view.scheduled else {
        return;
    };
    let end = scheduled.end().unwrap_or(planned_for);
    if context.calendar.within_school_hours(planned_for, end) {
        return;
    }
    let summary = format!(
        "{} is planned for {}, outside school hours.",
        capitalised(&context.meeting_name()),
        context.when(planned_for)
    );
    context.find(
        RuleId::SchoolHours,
        scope,
        "planned_time",
        "Planned outside school hours",
        summary,
        Vec::new(),
        planned_for,
    );
}

fn consent_of_invited(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    if context.view.scheduled.is_none() {
        return;
    }
    let mut pupils: Vec<PersonView> = pupils_involved(context.view).into_iter().cloned().collect();
    for child in &context.view.children_of_invited_parents {
        if !pupils.iter().any(|pupil| pupil.id == child.id) {
            pupils.push(child.clone());
        }
    }
    for pupil in pupils.into_iter().filter(|pupil| !pupil.has_consent) {
        let summary = format!(
            "{} is invited to {}, planned for {}, and has no signed parental agreement on file.",
            named(&pupil),
            context.meeting_name(),
            context.when(planned_for)
        );
        context.find(
            RuleId::ParentalConsent,
            scope,
            format!("person:{}", pupil.id),
            "No parental consent",
            summary,
            vec![involved(&pupil)],
            planned_for,
        );
    }
}

fn chat_setting(context: &mut Context, scope: Scope, planned_for: DateTime<Utc>) {
    if context.view.settings.chat_enabled != Some(true) {
        return;
    }
    let summary = format!(
        "In-meeting chat is switched on for {}, planned for {}.",
        context.meeting_name(),
        context.when(planned_for)
    );
    context.find(
        RuleId::ChatDisabled,
        scope,
        "chat_setting",
        "Chat is switched on",
        summary,
        Vec::new(),
        planned_for,
    );
}

pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
