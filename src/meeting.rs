//! The platform-neutral meeting model: what every platform module turns its events into,
//! and all that the inbox, the processor and the register know of a call.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Zoom,
    GoogleMeet,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Zoom => "zoom",
            Platform::GoogleMeet => "google_meet",
        }
    }

    pub fn parse(text: &str) -> Option<Platform> {
        match text {
            "zoom" => Some(Platform::Zoom),
            "google_meet" => Some(Platform::GoogleMeet),
            _ => None,
        }
    }

    /// The platform's name as people know it, for findings and messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Platform::Zoom => "Zoom",
            Platform::GoogleMeet => "Google Meet",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One held call, as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    /// The platform's key for this one occurrence (Zoom's meeting `uuid`).
    pub instance_key: String,
    /// The scheduled meeting it belongs to (Zoom's meeting number), when the event says.
    pub meeting_id: Option<String>,
    pub host_user_id: Option<String>,
    pub topic: Option<String>,
    /// When the call started, where the event repeats it (Zoom's participant events do),
    /// so the register keeps the start even if the start event itself was lost.
    pub started_at: Option<DateTime<Utc>>,
}

/// Who a participant session is, as far as the platform says. A display name is kept to
/// show in the register, never to identify anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantIdentity {
    /// The platform's key for this one stay in the call; a rejoin gets a new one.
    pub session_key: String,
    /// The platform account of a signed-in participant.
    pub platform_user_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// The meeting registration the participant joined through (Zoom's `registrant_id`):
    /// resolved to the registered address through the platform's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrant_id: Option<String>,
    /// Whether the platform has said who this is yet.
    #[serde(default, skip_serializing_if = "Resolution::is_given")]
    pub resolution: Resolution,
}

/// Whether an event says who a participant is. Some platforms (Google Meet) send only a
/// resource name, and who joined is known after a call to their API: until then the
/// participant is *pending*, which is not the same as an unknown guest. Past `resolve_by`,
/// still unresolved means unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Resolution {
    /// The event carries whatever the platform says of the participant.
    #[default]
    Given,
    /// To be resolved through the platform's API by `resolve_by`.
    Pending { resolve_by: DateTime<Utc> },
}

impl Resolution {
    pub fn is_given(&self) -> bool {
        matches!(self, Resolution::Given)
    }

    pub fn pending_until(&self) -> Option<DateTime<Utc>> {
        match self {
            Resolution::Given => None,
            Resolution::Pending { resolve_by } => Some(*resolve_by),
        }
    }
}

/// A smaller room inside a call (a Zoom breakout room) and one participant's stay in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRef {
    /// The platform's key for the room (Zoom's `breakout_room_uuid`).
    pub room_key: String,
    /// The platform's key for this one stay in the room: each move into a room gets a new
    /// one (Zoom's per-room `user_id`), so two visits to one room stay apart.
    pub stay_key: String,
}

/// What a change to a scheduled meeting said. Absent fields were not part of the change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleChange {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Who may host the meeting besides its host (Zoom's alternative hosts): addresses or
    /// platform user ids. Revisions stored before the rename say `alternative_hosts`.
    #[serde(
        default,
        alias = "alternative_hosts",
        skip_serializing_if = "Option::is_none"
    )]
    pub co_hosts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitees: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
}

/// Activity inside a call that is recorded as a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A chat message was sent; its text is never kept.
    ChatMessage,
    RecordingStarted,
    RecordingStopped,
    SharingStarted,
    SharingEnded,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::ChatMessage => "chat_message",
            SignalKind::RecordingStarted => "recording_started",
            SignalKind::RecordingStopped => "recording_stopped",
            SignalKind::SharingStarted => "sharing_started",
            SignalKind::SharingEnded => "sharing_ended",
        }
    }
}

/// A change observed on a platform, in neutral terms. Each carries the time the platform
/// says it happened, so that applying events in any order gives the same state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeetingEvent {
    ScheduleChanged {
        meeting_id: String,
        at: DateTime<Utc>,
        change: ScheduleChange,
    },
    InstanceStarted {
        instance: InstanceRef,
        at: DateTime<Utc>,
    },
    InstanceEnded {
        instance: InstanceRef,
        at: DateTime<Utc>,
    },
    ParticipantJoined {
        instance: InstanceRef,
        participant: ParticipantIdentity,
        at: DateTime<Utc>,
    },
    ParticipantLeft {
        instance: InstanceRef,
        participant: ParticipantIdentity,
        at: DateTime<Utc>,
    },
    /// A participant moved into a room of the call. `participant.session_key` is their stay
    /// in the call as a whole (the main-room session), so who they are carries over.
    ParticipantRoomJoined {
        instance: InstanceRef,
        participant: ParticipantIdentity,
        room: RoomRef,
        at: DateTime<Utc>,
    },
    ParticipantRoomLeft {
        instance: InstanceRef,
        participant: ParticipantIdentity,
        room: RoomRef,
        at: DateTime<Utc>,
    },
    Signal {
        instance: InstanceRef,
        signal: SignalKind,
        /// Distinguishes two signals of one kind at the same instant: a digest for a chat
        /// message (never its id, as never its text), the sharer's session for screen sharing.
        source_ref: String,
        at: DateTime<Utc>,
    },
}

impl MeetingEvent {
    /// A short, stable name for metrics and logs.
    pub fn type_name(&self) -> &'static str {
        match self {
            MeetingEvent::ScheduleChanged { .. } => "schedule_changed",
            MeetingEvent::InstanceStarted { .. } => "instance_started",
            MeetingEvent::InstanceEnded { .. } => "instance_ended",
            MeetingEvent::ParticipantJoined { .. } => "participant_joined",
            MeetingEvent::ParticipantLeft { .. } => "participant_left",
            MeetingEvent::ParticipantRoomJoined { .. } => "participant_room_joined",
            MeetingEvent::ParticipantRoomLeft { .. } => "participant_room_left",
            MeetingEvent::Signal { .. } => "signal",
        }
    }

    /// The meeting the event is about, as the inbox files it: `instance:KEY` for a call,
    /// `scheduled:ID` for a scheduled meeting. The evaluation worker waits while a meeting
    /// it is about to judge still has events of its own unapplied.
    pub fn meeting_ref(&self) -> String {
        match self {
            MeetingEvent::ScheduleChanged { meeting_id, .. } => scheduled_ref(meeting_id),
            MeetingEvent::InstanceStarted { instance, .. }
            | MeetingEvent::InstanceEnded { instance, .. }
            | MeetingEvent::ParticipantJoined { instance, .. }
            | MeetingEvent::ParticipantLeft { instance, .. }
            | MeetingEvent::ParticipantRoomJoined { instance, .. }
            | MeetingEvent::ParticipantRoomLeft { instance, .. }
            | MeetingEvent::Signal { instance, .. } => instance_ref(&instance.instance_key),
        }
    }

    /// When the platform says the change happened.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            MeetingEvent::ScheduleChanged { at, .. }
            | MeetingEvent::InstanceStarted { at, .. }
            | MeetingEvent::InstanceEnded { at, .. }
            | MeetingEvent::ParticipantJoined { at, .. }
            | MeetingEvent::ParticipantLeft { at, .. }
            | MeetingEvent::ParticipantRoomJoined { at, .. }
            | MeetingEvent::ParticipantRoomLeft { at, .. }
            | MeetingEvent::Signal { at, .. } => *at,
        }
    }
}

/// What a platform says about its delivery of events to chaperone rather than about a call:
/// a Google subscription suspended, about to expire, or expired. `feed` is the platform's
/// name for what delivers (`subscriptions/…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryNotice {
    /// Delivery has stopped until the cause is fixed.
    Suspended {
        feed: String,
        reason: Option<String>,
    },
    /// Delivery stops soon unless renewed.
    Expiring { feed: String },
    /// Delivery has stopped for good: the feed must be made again.
    Expired { feed: String },
}

/// How the inbox files the events of one call (see [`MeetingEvent::meeting_ref`]).
pub fn instance_ref(instance_key: &str) -> String {
    format!("instance:{instance_key}")
}

/// How the inbox files the events of one scheduled meeting (see [`MeetingEvent::meeting_ref`]).
pub fn scheduled_ref(meeting_id: &str) -> String {
    format!("scheduled:{meeting_id}")
}

/// An event accepted from a platform, ready for the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedEvent {
    pub platform: Platform,
    pub school_id: i64,
    /// The connection (`platform_accounts` row) it came through.
    pub connection_id: i64,
    /// The platform account the event came from (Zoom's `account_id`).
    pub account_id: String,
    /// Derived from the event's content: a redelivery has the same key.
    pub dedup_key: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub meeting_ref: Option<String>,
    /// The platform's event as verified, less what is never stored; translated by the
    /// processor.
    pub body: String,
    /// Why an authentic event that cannot be read is committed already set aside.
    pub set_aside: Option<String>,
}

impl AcceptedEvent {
    /// An event that came through connection `connection_id` of `account_id`.
    pub fn new(
        platform: Platform,
        school_id: i64,
        connection_id: i64,
        account_id: String,
        arrival: crate::http::webhooks::source::Arrival,
    ) -> Self {
        AcceptedEvent {
            platform,
            school_id,
            connection_id,
            account_id,
            dedup_key: arrival.dedup_key,
            event_type: arrival.event_type,
            occurred_at: arrival.occurred_at,
            meeting_ref: arrival.meeting_ref,
            body: arrival.stored_body,
            set_aside: None,
        }
    }
}
