//! The policy engine: a pure function from a meeting, the school's policy, its calendar and
//! the time to the findings that hold now. No I/O, no clock of its own.
//!
//! Calls a child may be in are checked: a pupil is invited (directly or through a parent), on
//! the matched planned session, or present — or, where the policy checks possible pupils (every
//! preset does), anyone not identified as staff or as a listed adult is present or invited.
//! Meetings of identified adults only are kept in the register but are not a safeguarding
//! matter.

use chrono::{DateTime, Utc};

use super::calendar::SchoolCalendar;
use super::finding::{Evaluation, Finding, Involved, RuleId, Scope};
use super::identity::{Identity, IdentityBasis};
use super::rules;
use super::settings::Policy;
use super::view::{MeetingView, PersonView};
use super::Severity;
use crate::directory::PersonKind;

/// What coverage findings quote: the design's promise, not a school's clause.
pub const COVERAGE_CLAUSE: &str =
    "Silence from the platforms is never read as \u{201c}all is well\u{201d}.";

/// Everything a rule reads, and where it writes.
pub struct Context<'a> {
    pub view: &'a MeetingView,
    pub policy: &'a Policy,
    pub calendar: &'a SchoolCalendar,
    pub now: DateTime<Utc>,
    /// The scope findings about the schedule are filed under: the scheduled meeting, or the
    /// instance when the call had no schedule (an instant meeting).
    pub schedule_scope: Scope,
    findings: Vec<Finding>,
    next_check_at: Option<DateTime<Utc>>,
}

pub fn evaluate(
    view: &MeetingView,
    policy: &Policy,
    calendar: &SchoolCalendar,
    now: DateTime<Utc>,
) -> Evaluation {
    if view.scheduled.as_ref().is_some_and(|s| s.deleted) && view.instance.is_none() {
        return Evaluation::default();
    }
    let mut context = Context {
        view,
        policy,
        calendar,
        now,
        schedule_scope: if view.instance.is_some() {
            Scope::Instance
        } else {
            Scope::Scheduled
        },
        findings: Vec::new(),
        next_check_at: None,
    };
    let checked =
        involves_pupil(view) || (policy.check_possible_pupils && involves_possible_pupil(view));
    if !checked {
        return Evaluation::default();
    }
    // The schedule is checked on its own before the call; once the call runs, only an
    // unscheduled call has its schedule-type checks filed with the call.
    if view.instance.is_none() || view.scheduled.is_none() {
        rules::schedule::check(&mut context);
    }
    if view.instance.is_some() {
        rules::call::check(&mut context);
        rules::two_adults::check(&mut context);
    }
    Evaluation {
        findings: context.findings,
        next_check_at: context.next_check_at,
    }
}

/// Pupils the call is known to involve: invited directly, or present.
pub fn pupils_involved(view: &MeetingView) -> Vec<&PersonView> {
    let invited = view
        .scheduled
        .iter()
        .flat_map(|scheduled| scheduled.all_invited())
        .filter_map(|invitee| invitee.person.as_ref());
    let present = view
        .instance
        .iter()
        .flat_map(|instance| instance.sessions.iter())
        .filter_map(|session| session.identity.identified());
    let mut pupils: Vec<&PersonView> = Vec::new();
    for person in invited.chain(present) {
        if person.kind == PersonKind::Pupil && !pupils.iter().any(|p| p.id == person.id) {
            pupils.push(person);
        }
    }
    pupils
}

fn involves_pupil(view: &MeetingView) -> bool {
    view.planned
        .as_ref()
        .is_some_and(|planned| !planned.adults_only)
        || !view.children_of_invited_parents.is_empty()
        || !pupils_involved(view).is_empty()
}

/// Someone present who is not identified as an adult, or an invited address the directory
/// does not know.
fn involves_possible_pupil(view: &MeetingView) -> bool {
    let present = view.instance.as_ref().is_some_and(|instance| {
        instance
            .sessions
            .iter()
            .any(|session| session.identity.is_possible_pupil())
    });
    let invited = view.scheduled.as_ref().is_some_and(|scheduled| {
        scheduled
            .invitees
            .iter()
            .any(|invitee| invitee.person.is_none())
    });
    present || invited
}

impl Context<'_> {
    /// Whether the rule is on, with its severity and clause.
    fn setting(&self, rule: RuleId) -> (bool, Severity, &str) {
        let p = self.policy;
        macro_rules! of {
            ($field:ident) => {
                (
                    p.$field.enabled,
                    p.$field.severity,
                    p.$field.clause.as_str(),
                )
            };
        }
        match rule {
            RuleId::SchoolAccount => of!(school_account),
            RuleId::DslInvited => of!(dsl_invited),
            RuleId::ChatDisabled => of!(chat_disabled),
            RuleId::SchoolHours => of!(school_hours),
            RuleId::TwoAdults => of!(two_adults),
            RuleId::ApprovedInAdvance => of!(approved_in_advance),
            RuleId::Recording => of!(recording),
            RuleId::ParentalConsent => of!(parental_consent),
            RuleId::InviteViaParent => of!(invite_via_parent),
            RuleId::UnknownParticipant => of!(unknown_participant),
            RuleId::OutcomeLogged => of!(outcome_logged),
            // Monitoring gaps are found outside the engine and always reported.
            RuleId::Coverage => (true, Severity::High, COVERAGE_CLAUSE),
        }
    }

    pub fn enabled(&self, rule: RuleId) -> bool {
        self.setting(rule).0
    }

    /// Records a finding for an enabled rule; the finding, to add what only some rules know
    /// (its windows), or `None` for a rule switched off.
    #[allow(clippy::too_many_arguments)]
    pub fn find(
        &mut self,
        rule: RuleId,
        scope: Scope,
        subject: impl Into<String>,
        title: &str,
        summary: String,
        people: Vec<Involved>,
        occurred_at: DateTime<Utc>,
    ) -> Option<&mut Finding> {
        let (enabled, severity, clause) = self.setting(rule);
        if !enabled {
            return None;
        }
        let finding = Finding {
            rule,
            scope,
            subject: subject.into(),
            severity,
            title: title.to_string(),
            summary,
            clause: clause.to_string(),
            people,
            occurred_at,
            windows: Vec::new(),
        };
        self.findings.push(finding);
        self.findings.last_mut()
    }

    /// Asks to be evaluated again at `at` (the earliest request wins).
    pub fn check_again_at(&mut self, at: DateTime<Utc>) {
        if at > self.now {
            self.next_check_at = Some(self.next_check_at.map_or(at, |current| current.min(at)));
        }
    }

    /// "14:32 on Tuesday 11 March", in the school's time.
    pub fn when(&self, at: DateTime<Utc>) -> String {
        self.calendar.describe_local(at)
    }

    /// The meeting as a DSL would name it.
    pub fn meeting_name(&self) -> String {
        let topic = self
            .view
            .instance
            .as_ref()
            .and_then(|i| i.topic.clone())
            .or_else(|| self.view.scheduled.as_ref().and_then(|s| s.topic.clone()));
        match topic {
            Some(topic) => format!("the call \u{201c}{topic}\u{201d}"),
            None => "the call".to_string(),
        }
    }
}

/// A directory person as a finding names them.
pub fn involved(person: &PersonView) -> Involved {
    Involved {
        person_id: Some(person.id),
        name: person.name.clone(),
        role: person.role_label().to_string(),
    }
}

/// The participant as a finding lists them: the person where proven, else the guest as shown.
pub fn participant(identity: &Identity, display_name: Option<&str>) -> Involved {
    match identity.identified() {
        Some(person) => involved(person),
        None => Involved {
            person_id: None,
            name: display_name.unwrap_or("unnamed guest").to_string(),
            role: match identity.basis {
                IdentityBasis::Expected => "possible pupil (expected from the planned session)",
                IdentityBasis::DisplayName => "possible pupil (by display name)",
                _ => "possible pupil (not identified)",
            }
            .to_string(),
        },
    }
}

/// "Jamie Smith (pupil)".
pub fn named(person: &PersonView) -> String {
    format!("{} ({})", person.name, person.role_label())
}
