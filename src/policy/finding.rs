//! What the engine concludes: findings, each with a stable identity within its meeting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    SchoolAccount,
    DslInvited,
    ChatDisabled,
    SchoolHours,
    TwoAdults,
    ApprovedInAdvance,
    Recording,
    ParentalConsent,
    InviteViaParent,
    UnknownParticipant,
    OutcomeLogged,
    /// Not a policy rule: monitoring itself has a gap (credentials refused, webhooks silent).
    Coverage,
}

impl RuleId {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::SchoolAccount => "school_account",
            RuleId::DslInvited => "dsl_invited",
            RuleId::ChatDisabled => "chat_disabled",
            RuleId::SchoolHours => "school_hours",
            RuleId::TwoAdults => "two_adults",
            RuleId::ApprovedInAdvance => "approved_in_advance",
            RuleId::Recording => "recording",
            RuleId::ParentalConsent => "parental_consent",
            RuleId::InviteViaParent => "invite_via_parent",
            RuleId::UnknownParticipant => "unknown_participant",
            RuleId::OutcomeLogged => "outcome_logged",
            RuleId::Coverage => "coverage",
        }
    }

    pub const ALL: [RuleId; 12] = [
        RuleId::SchoolAccount,
        RuleId::DslInvited,
        RuleId::ChatDisabled,
        RuleId::SchoolHours,
        RuleId::TwoAdults,
        RuleId::ApprovedInAdvance,
        RuleId::Recording,
        RuleId::ParentalConsent,
        RuleId::InviteViaParent,
        RuleId::UnknownParticipant,
        RuleId::OutcomeLogged,
        RuleId::Coverage,
    ];

    pub fn parse(text: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|rule| rule.as_str() == text)
    }

    /// The rule's name as a DSL knows it.
    pub fn title(self) -> &'static str {
        match self {
            RuleId::SchoolAccount => "School accounts",
            RuleId::DslInvited => "DSL invited",
            RuleId::ChatDisabled => "Chat off",
            RuleId::SchoolHours => "Within school hours",
            RuleId::TwoAdults => "Two adults",
            RuleId::ApprovedInAdvance => "Planned in advance",
            RuleId::Recording => "Recording",
            RuleId::ParentalConsent => "Parental consent",
            RuleId::InviteViaParent => "Invited through a parent",
            RuleId::UnknownParticipant => "Only expected people",
            RuleId::OutcomeLogged => "Outcome logged",
            RuleId::Coverage => "Monitoring gap",
        }
    }
}

/// Whether a finding is about the meeting as scheduled (found before the call) or about
/// the call as it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Scheduled,
    Instance,
    /// About a monitored platform account rather than a meeting.
    Account,
}

/// A person a finding names, with their role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Involved {
    pub person_id: Option<i64>,
    /// The directory name, or the display name (marked unverified) for unknown people.
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: RuleId,
    pub scope: Scope,
    /// What the finding is about within the meeting: `meeting`, `person:12`, `session:16779264`, ...
    /// Together with the meeting and the rule it is the finding's identity.
    pub subject: String,
    pub severity: Severity,
    /// A short headline.
    pub title: String,
    /// The sentence a DSL reads.
    pub summary: String,
    /// The policy clause the rule enforces.
    pub clause: String,
    pub people: Vec<Involved>,
    /// When the breach began (or, before the call, when the call is planned for).
    pub occurred_at: DateTime<Utc>,
    /// For a breach that lasts (a pupil without two staff): each time it held, in order.
    pub windows: Vec<Window>,
}

/// A time a breach held: from `from` until `until`, or still (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// The engine's answer for one meeting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    /// When the meeting must be evaluated again even if nothing happens (a grace period
    /// ends, school hours end while the call runs, the outcome deadline passes).
    pub next_check_at: Option<DateTime<Utc>>,
}
