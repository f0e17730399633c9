//! A Meet or subscription event as the inbox keeps it: the CloudEvent's attributes and its
//! decoded data, read once at receive (google-meet.md §1.3, §1.4, §1.8). Meet events carry
//! only resource names, so nothing personal is in them to leave out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::push_message::PushMessage;

/// The Meet event types chaperone keeps; lifecycle events are kept as well (see [`Kind`]).
const CONFERENCE_STARTED: &str = "google.workspace.meet.conference.v2.started";
const CONFERENCE_ENDED: &str = "google.workspace.meet.conference.v2.ended";
const PARTICIPANT_JOINED: &str = "google.workspace.meet.participant.v2.joined";
const PARTICIPANT_LEFT: &str = "google.workspace.meet.participant.v2.left";
const RECORDING_STARTED: &str = "google.workspace.meet.recording.v2.started";
const RECORDING_ENDED: &str = "google.workspace.meet.recording.v2.ended";
const RECORDING_FILE_GENERATED: &str = "google.workspace.meet.recording.v2.fileGenerated";
const SUBSCRIPTION_SUSPENDED: &str = "google.workspace.events.subscription.v1.suspended";
const SUBSCRIPTION_EXPIRATION_REMINDER: &str =
    "google.workspace.events.subscription.v1.expirationReminder";
const SUBSCRIPTION_EXPIRED: &str = "google.workspace.events.subscription.v1.expired";

/// What an event is about, by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConferenceStarted,
    ConferenceEnded,
    ParticipantJoined,
    ParticipantLeft,
    RecordingStarted,
    RecordingEnded,
    RecordingFileGenerated,
    SubscriptionSuspended,
    SubscriptionExpirationReminder,
    SubscriptionExpired,
}

impl Kind {
    /// The kind of a CloudEvent type; `None` for a type chaperone does not use (transcripts,
    /// smart notes, and whatever Google adds: the lifecycle guide asks apps to ignore those).
    pub fn of(event_type: &str) -> Option<Kind> {
        Some(match event_type {
            CONFERENCE_STARTED => Kind::ConferenceStarted,
            CONFERENCE_ENDED => Kind::ConferenceEnded,
            PARTICIPANT_JOINED => Kind::ParticipantJoined,
            PARTICIPANT_LEFT => Kind::ParticipantLeft,
            RECORDING_STARTED => Kind::RecordingStarted,
            RECORDING_ENDED => Kind::RecordingEnded,
            RECORDING_FILE_GENERATED => Kind::RecordingFileGenerated,
            SUBSCRIPTION_SUSPENDED => Kind::SubscriptionSuspended,
            SUBSCRIPTION_EXPIRATION_REMINDER => Kind::SubscriptionExpirationReminder,
            SUBSCRIPTION_EXPIRED => Kind::SubscriptionExpired,
            _ => return None,
        })
    }

    /// The data field that names the resource, as `{"participantSession": {"name": …}}`.
    fn resource_field(self) -> &'static str {
        match self {
            Kind::ConferenceStarted | Kind::ConferenceEnded => "conferenceRecord",
            Kind::ParticipantJoined | Kind::ParticipantLeft => "participantSession",
            Kind::RecordingStarted | Kind::RecordingEnded | Kind::RecordingFileGenerated => {
                "recording"
            }
            Kind::SubscriptionSuspended
            | Kind::SubscriptionExpirationReminder
            | Kind::SubscriptionExpired => "subscription",
        }
    }

    /// A neutral name for operators and metrics.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::ConferenceStarted => "instance_started",
            Kind::ConferenceEnded => "instance_ended",
            Kind::ParticipantJoined => "participant_joined",
            Kind::ParticipantLeft => "participant_left",
            Kind::RecordingStarted | Kind::RecordingEnded | Kind::RecordingFileGenerated => {
                "signal"
            }
            Kind::SubscriptionSuspended
            | Kind::SubscriptionExpirationReminder
            | Kind::SubscriptionExpired => "subscription_lifecycle",
        }
    }

    pub fn is_lifecycle(self) -> bool {
        matches!(
            self,
            Kind::SubscriptionSuspended
                | Kind::SubscriptionExpirationReminder
                | Kind::SubscriptionExpired
        )
    }
}

/// An event as stored in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The CloudEvent type, as Google sent it.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The Workspace Events subscription that sent it.
    pub source: String,
    pub id: String,
    /// When Google says it happened.
    pub time: DateTime<Utc>,
    /// The resource the event names (`conferenceRecords/…/participants/…/participantSessions/…`,
    /// `subscriptions/…`).
    pub resource: String,
    /// For lifecycle events: the subscription as the event describes it (its expiry, the
    /// reason it was suspended), in whichever casing Google used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<serde_json::Value>,
}

impl StoredEvent {
    pub fn kind(&self) -> Option<Kind> {
        Kind::of(&self.event_type)
    }

    /// The conference record the event is about (`conferenceRecords/ID`), for Meet events.
    pub fn conference(&self) -> Option<&str> {
        conference_of(&self.resource)
    }
}

/// Why an authentic push cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableEvent {
    #[error("the event has no data")]
    NoData,
    #[error("the event's data is not JSON")]
    NotJson,
    #[error("the event's data does not name its {0}")]
    NoResource(&'static str),
    #[error("the event's resource name {0:?} is not a Meet conference's")]
    NotAConference(String),
}

/// Reads a push of a kind chaperone keeps. `received_at` stands in for an event time Google
/// did not say.
pub fn read(
    push: &PushMessage,
    kind: Kind,
    received_at: DateTime<Utc>,
) -> Result<StoredEvent, UnreadableEvent> {
    if push.data.is_empty() {
        return Err(UnreadableEvent::NoData);
    }
    let data: serde_json::Value =
        serde_json::from_slice(&push.data).map_err(|_| UnreadableEvent::NotJson)?;
    let field = kind.resource_field();
    let object = data.get(field);
    let resource = object
        .and_then(|object| object.get("name"))
        .and_then(|name| name.as_str())
        .filter(|name| !name.is_empty())
        .ok_or(UnreadableEvent::NoResource(field))?
        .to_string();
    if !kind.is_lifecycle() && conference_of(&resource).is_none() {
        return Err(UnreadableEvent::NotAConference(resource));
    }
    let time = push
        .event
        .time
        .as_deref()
        .and_then(|time| DateTime::parse_from_rfc3339(time).ok())
        .map_or(received_at, |time| time.with_timezone(&Utc));
    Ok(StoredEvent {
        event_type: push.event.event_type.clone(),
        source: push.event.source.clone(),
        id: push.event.id.clone(),
        time,
        resource,
        subscription: kind.is_lifecycle().then(|| object.cloned()).flatten(),
    })
}

/// `conferenceRecords/ID` of a conference record or any resource inside one.
pub fn conference_of(resource: &str) -> Option<&str> {
    let rest = resource.strip_prefix("conferenceRecords/")?;
    let id_len = rest.find('/').unwrap_or(rest.len());
    (id_len > 0).then(|| &resource[.."conferenceRecords/".len() + id_len])
}

/// `conferenceRecords/C/participants/P` of a participant session's name.
pub fn participant_of(session: &str) -> Option<&str> {
    let (participant, session_id) = session.rsplit_once("/participantSessions/")?;
    (!session_id.is_empty() && participant.contains("/participants/")).then_some(participant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::push_message::CloudEvent;

    const SESSION: &str = "conferenceRecords/aB3x/participants/1082/participantSessions/Cg0x";

    fn push(event_type: &str, data: &str) -> PushMessage {
        PushMessage {
            event: CloudEvent {
                id: "evt-1".into(),
                source: "//workspaceevents.googleapis.com/subscriptions/s1".into(),
                event_type: event_type.into(),
                subject: None,
                time: Some("2026-03-10T14:32:05.123456789Z".into()),
            },
            message_id: Some("1".into()),
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_join_is_read_into_its_session_and_conference_at_nanosecond_precision() {
        let data = format!(r#"{{"participantSession":{{"name":"{SESSION}"}}}}"#);
        let event = read(
            &push(PARTICIPANT_JOINED, &data),
            Kind::ParticipantJoined,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(event.resource, SESSION);
        assert_eq!(event.conference(), Some("conferenceRecords/aB3x"));
        assert_eq!(
            event
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2026-03-10T14:32:05.123456789Z"
        );
        assert_eq!(
            participant_of(SESSION),
            Some("conferenceRecords/aB3x/participants/1082")
        );
    }

    #[test]
    fn events_without_data_or_their_resource_are_unreadable() {
        let kind = Kind::ParticipantJoined;
        let now = Utc::now();
        assert_eq!(
            read(&push(PARTICIPANT_JOINED, ""), kind, now),
            Err(UnreadableEvent::NoData)
        );
        assert_eq!(
            read(&push(PARTICIPANT_JOINED, "{not json"), kind, now),
            Err(UnreadableEvent::NotJson)
        );
        assert_eq!(
            read(
                &push(PARTICIPANT_JOINED, r#"{"conferenceRecord":{}}"#),
                kind,
                now
            ),
            Err(UnreadableEvent::NoResource("participantSession"))
        );
        assert!(matches!(
            read(
                &push(
                    PARTICIPANT_JOINED,
                    r#"{"participantSession":{"name":"spaces/x"}}"#
                ),
                kind,
                now
            ),
            Err(UnreadableEvent::NotAConference(_))
        ));
    }

    #[test]
    fn a_lifecycle_event_keeps_what_it_says_of_the_subscription_in_either_casing() {
        let data = r#"{"subscription":{"name":"subscriptions/s1","suspension_reason":"ENDPOINT_PERMISSION_DENIED"}}"#;
        let event = read(
            &push(SUBSCRIPTION_SUSPENDED, data),
            Kind::SubscriptionSuspended,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(event.resource, "subscriptions/s1");
        assert_eq!(
            event.subscription.unwrap()["suspension_reason"],
            "ENDPOINT_PERMISSION_DENIED"
        );
    }

    #[test]
    fn types_chaperone_does_not_use_have_no_kind() {
        assert_eq!(
            Kind::of("google.workspace.meet.transcript.v2.fileGenerated"),
            None
        );
        assert_eq!(Kind::of("google.workspace.meet.future.v9.thing"), None);
    }
}
