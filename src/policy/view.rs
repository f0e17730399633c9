//! What the engine is given about one meeting: a neutral picture, loaded from storage by the
//! evaluation worker (or written by hand in tests).

use chrono::{DateTime, Utc};

use super::identity::Identity;
use crate::directory::{PersonKind, StaffRole};

/// A directory person as the rules need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonView {
    pub id: i64,
    pub name: String,
    pub kind: PersonKind,
    pub staff_role: Option<StaffRole>,
    /// For parents: their children's person ids.
    pub children: Vec<i64>,
    /// For pupils: whether a signed, unexpired, unwithdrawn parental agreement is on file
    /// for the day in question.
    pub has_consent: bool,
}

impl PersonView {
    pub fn is_staff(&self) -> bool {
        self.kind == PersonKind::Staff
    }

    /// DSL, deputy DSL or senior leader: someone whose presence or invitation the
    /// `dsl_invited` rule accepts.
    pub fn is_safeguarding_lead(&self) -> bool {
        matches!(
            self.staff_role,
            Some(StaffRole::Dsl | StaffRole::DeputyDsl | StaffRole::SeniorLeader)
        )
    }

    pub fn role_label(&self) -> &'static str {
        match (self.kind, self.staff_role) {
            (PersonKind::Staff, Some(StaffRole::Dsl)) => "DSL",
            (PersonKind::Staff, Some(StaffRole::DeputyDsl)) => "deputy DSL",
            (PersonKind::Staff, Some(StaffRole::SeniorLeader)) => "senior leader",
            (PersonKind::Staff, _) => "staff",
            (PersonKind::Pupil, _) => "pupil",
            (PersonKind::Parent, _) => "parent",
            (PersonKind::ExternalAdult, _) => "external adult",
        }
    }
}

/// An invitation: an address, and who it belongs to when the directory knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteeView {
    pub email: String,
    pub person: Option<PersonView>,
}

/// The meeting as scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledView {
    pub meeting_id: String,
    pub topic: Option<String>,
    pub host: Option<PersonView>,
    pub start: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub invitees: Vec<InviteeView>,
    /// Who may host besides the host (Zoom's alternative hosts).
    pub co_hosts: Vec<InviteeView>,
    pub deleted: bool,
}

impl ScheduledView {
    pub fn end(&self) -> Option<DateTime<Utc>> {
        Some(self.start? + chrono::Duration::minutes(self.duration_minutes?))
    }

    /// Everyone invited in any way: invitees and co-hosts.
    pub fn all_invited(&self) -> impl Iterator<Item = &InviteeView> {
        self.invitees.iter().chain(self.co_hosts.iter())
    }
}

/// One stay of one participant in the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session_key: String,
    /// Who the participant is thought to be, and how sure that is.
    pub identity: Identity,
    pub display_name: Option<String>,
    /// The platform account the participant was signed in with, if any.
    pub platform_user_id: Option<String>,
    /// Whether that account is one of the school's (from the platform's API; `None`: not known).
    pub in_school_account: Option<bool>,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
    /// Until when the platform's API may still say who this is (see
    /// `meeting::Resolution`); `None` when the events said all there is.
    pub identity_pending_until: Option<DateTime<Utc>>,
}

impl SessionView {
    /// Whether the participant may still be resolved at `now`: not yet an unknown guest.
    pub fn identity_pending_at(&self, now: DateTime<Utc>) -> bool {
        self.identity_pending_until.is_some_and(|until| now < until)
    }
}

/// The call as it happened (so far).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub topic: Option<String>,
    pub host: Option<PersonView>,
    pub host_user_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub sessions: Vec<SessionView>,
    pub chat_messages_at: Vec<DateTime<Utc>>,
    pub recording_started_at: Vec<DateTime<Utc>>,
    /// Stays in breakout rooms; whoever is in one is not in the main room meanwhile.
    pub room_stays: Vec<RoomStayView>,
}

/// One stay of one session (by `session_key`) in a breakout room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomStayView {
    pub session_key: String,
    pub room_key: String,
    /// "breakout room 2": how findings name the room.
    pub room_label: String,
    pub joined_at: Option<DateTime<Utc>>,
    /// `None`: still in the room (or the leave was not seen).
    pub left_at: Option<DateTime<Utc>>,
}

/// The planned session on the timetable that the call was matched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedView {
    pub starts_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    pub approved: bool,
    pub risk_assessed: bool,
    /// The pupils the session names.
    pub pupils: Vec<PersonView>,
    /// Marked as a meeting of adults only: nobody is expected to be a pupil (an unidentified
    /// guest still may be one).
    pub adults_only: bool,
}

/// Settings read from the platform's API, where known (`None`: not known, never guessed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformSettings {
    pub chat_enabled: Option<bool>,
    pub auto_recording: Option<bool>,
    /// Whether participants must sign in to join (Zoom's meeting authentication).
    pub sign_in_required: Option<bool>,
}

/// Everything the rules see about one meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingView {
    pub scheduled: Option<ScheduledView>,
    pub instance: Option<InstanceView>,
    pub planned: Option<PlannedView>,
    pub settings: PlatformSettings,
    pub outcome_logged_at: Option<DateTime<Utc>>,
    /// The children of invited parents and carers: the pupils the call is for.
    pub children_of_invited_parents: Vec<PersonView>,
}
