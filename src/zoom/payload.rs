//! Zoom's webhook bodies, parsed and turned into neutral [`MeetingEvent`]s with a
//! de-duplication key derived from their content (Zoom sends no event id).
//! See shared/platforms/zoom.md §2 for the shapes and their quirks.

use chrono::{DateTime, TimeZone, Utc};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::meeting::{
    InstanceRef, MeetingEvent, ParticipantIdentity, Resolution, RoomRef, ScheduleChange, SignalKind,
};

/// What a verified body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoomDelivery {
    /// `endpoint.url_validation`: answer with the hashed token.
    UrlValidation { plain_token: String },
    /// A meeting event from a Zoom account.
    Event {
        event_name: String,
        account_id: String,
        dedup_key: String,
        event: Box<MeetingEvent>,
    },
    /// An event type chaperone does not use (acknowledged and dropped).
    Ignored { event_name: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PayloadError(String);

impl PayloadError {
    fn new(message: impl Into<String>) -> Self {
        PayloadError(message.into())
    }
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    event_ts: Option<i64>,
    // Kept as text and read once into the type the event name calls for: reading it into a
    // `Value` first would build every field twice.
    payload: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct UrlValidationPayload {
    #[serde(rename = "plainToken")]
    plain_token: String,
}

#[derive(Deserialize)]
struct AccountPayload<O> {
    account_id: String,
    object: O,
    /// Only on `meeting.updated`: when the change was made (ms).
    #[serde(default)]
    time_stamp: Option<i64>,
}

#[derive(Deserialize)]
struct ScheduleObject {
    id: ZoomId,
    #[serde(default)]
    host_id: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    settings: Option<ScheduleSettings>,
    #[serde(default)]
    join_url: Option<String>,
    /// On `meeting.deleted`, present when only some occurrences were deleted.
    #[serde(default)]
    occurrences: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct ScheduleSettings {
    #[serde(default)]
    alternative_hosts: Option<String>,
    #[serde(default)]
    meeting_invitees: Option<Vec<Invitee>>,
}

#[derive(Deserialize)]
struct Invitee {
    email: String,
}

#[derive(Deserialize)]
struct InstanceObject {
    uuid: String,
    #[serde(default)]
    id: Option<ZoomId>,
    #[serde(default)]
    host_id: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    start_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    participant: Option<Participant>,
    #[serde(default)]
    chat_message: Option<ChatMessage>,
    #[serde(default)]
    recording_file: Option<RecordingFile>,
    /// Only on breakout-room events: the room, while `uuid` stays the whole call's.
    #[serde(default)]
    breakout_room_uuid: Option<String>,
}

#[derive(Deserialize)]
struct Participant {
    user_id: ZoomId,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    participant_user_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    registrant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    join_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    leave_time: Option<DateTime<Utc>>,
    #[serde(default)]
    sharing_details: Option<SharingDetails>,
    /// Only on breakout-room events: the participant's `user_id` in the main room.
    #[serde(default, deserialize_with = "lenient_id")]
    parent_user_id: Option<String>,
}

#[derive(Deserialize)]
struct SharingDetails {
    #[serde(default, deserialize_with = "lenient_time")]
    date_time: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ChatMessage {
    message_id: String,
    #[serde(default, deserialize_with = "lenient_time")]
    date_time: Option<DateTime<Utc>>,
    // The message text and the names are deliberately not read.
}

#[derive(Deserialize)]
struct RecordingFile {
    #[serde(default, deserialize_with = "lenient_time")]
    recording_start: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    recording_end: Option<DateTime<Utc>>,
}

/// Zoom sends meeting numbers and participant ids as strings in some events and numbers
/// in others (zoom.md §2.0); both become the same decimal string.
struct ZoomId(String);

impl<'de> Deserialize<'de> for ZoomId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) if !text.trim().is_empty() => {
                Ok(ZoomId(text.trim().to_string()))
            }
            serde_json::Value::Number(number) if number.is_u64() || number.is_i64() => {
                Ok(ZoomId(number.to_string()))
            }
            _ => Err(de::Error::custom(
                "expected a non-empty id (string or integer)",
            )),
        }
    }
}

/// An id that may be absent, `""`, a string or an integer.
fn lenient_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => {
            Ok(Some(text.trim().to_string()))
        }
        Some(serde_json::Value::Number(number)) if number.is_u64() || number.is_i64() => {
            Ok(Some(number.to_string()))
        }
        Some(serde_json::Value::String(_) | serde_json::Value::Null) | None => Ok(None),
        Some(_) => Err(de::Error::custom("expected an id (string or integer)")),
    }
}

/// Zoom sends `""` for times that are not set (instant meetings).
fn lenient_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|time| Some(time.with_timezone(&Utc)))
            .map_err(|_| {
                de::Error::custom("expected an RFC 3339 time such as 2025-03-11T14:30:00Z")
            }),
    }
}

/// Parses a verified body. A body that is not the JSON Zoom sends is an error with a reason.
pub fn parse(body: &[u8]) -> Result<ZoomDelivery, PayloadError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|error| PayloadError::new(format!("not a Zoom event envelope: {error}")))?;
    let event_time = envelope
        .event_ts
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    let name = envelope.event.as_str();
    match name {
        "endpoint.url_validation" => {
            let payload: UrlValidationPayload = typed(name, &envelope.payload)?;
            Ok(ZoomDelivery::UrlValidation {
                plain_token: payload.plain_token,
            })
        }
        "meeting.created" | "meeting.updated" | "meeting.deleted" => {
            let payload: AccountPayload<ScheduleObject> = typed(name, &envelope.payload)?;
            schedule_event(name, payload, event_time)
        }
        "meeting.started"
        | "meeting.ended"
        | "meeting.participant_joined"
        | "meeting.participant_left"
        | "meeting.chat_message_sent"
        | "meeting.sharing_started"
        | "meeting.sharing_ended"
        | "recording.started"
        | "recording.stopped"
        | "meeting.participant_joined_breakout_room"
        | "meeting.participant_left_breakout_room" => {
            let payload: AccountPayload<InstanceObject> = typed(name, &envelope.payload)?;
            instance_event(name, payload, event_time)
        }
        _ => Ok(ZoomDelivery::Ignored {
            event_name: envelope.event,
        }),
    }
}

fn typed<T: serde::de::DeserializeOwned>(
    name: &str,
    payload: &serde_json::value::RawValue,
) -> Result<T, PayloadError> {
    serde_json::from_str(payload.get())
        .map_err(|error| PayloadError::new(format!("{name}: payload {error}")))
}

fn schedule_event(
    name: &str,
    payload: AccountPayload<ScheduleObject>,
    event_time: Option<DateTime<Utc>>,
) -> Result<ZoomDelivery, PayloadError> {
    let object = payload.object;
    let changed_ms = payload
        .time_stamp
        .or(event_time.map(|t| t.timestamp_millis()));
    let at = changed_ms
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .ok_or_else(|| {
            PayloadError::new(format!("{name}: neither event_ts nor time_stamp is set"))
        })?;
    let settings = object.settings;
    let change = ScheduleChange {
        deleted: name == "meeting.deleted" && object.occurrences.is_none(),
        host_user_id: object.host_id.filter(|id| !id.is_empty()),
        topic: object.topic,
        start_time: object.start_time,
        duration_minutes: object.duration,
        timezone: object.timezone.filter(|tz| !tz.is_empty()),
        co_hosts: settings
            .as_ref()
            .and_then(|s| s.alternative_hosts.as_deref())
            .map(split_alternative_hosts),
        join_url: object.join_url.filter(|url| url.starts_with("https://")),
        invitees: settings.and_then(|s| s.meeting_invitees).map(|invitees| {
            invitees
                .into_iter()
                .map(|invitee| invitee.email.trim().to_lowercase())
                .collect()
        }),
    };
    let meeting_id = object.id.0;
    let dedup_key = dedup_key(&[name, &meeting_id, &at.timestamp_millis().to_string()]);
    Ok(ZoomDelivery::Event {
        event_name: name.to_string(),
        account_id: payload.account_id,
        dedup_key,
        event: Box::new(MeetingEvent::ScheduleChanged {
            meeting_id,
            at,
            change,
        }),
    })
}

fn split_alternative_hosts(list: &str) -> Vec<String> {
    list.split([';', ','])
        .map(|entry| entry.trim().to_lowercase())
        .filter(|entry| !entry.is_empty())
        .collect()
}

fn instance_event(
    name: &str,
    payload: AccountPayload<InstanceObject>,
    event_time: Option<DateTime<Utc>>,
) -> Result<ZoomDelivery, PayloadError> {
    let object = payload.object;
    let missing = |what: &str| PayloadError::new(format!("{name}: {what} is missing"));
    let instance = InstanceRef {
        instance_key: object.uuid.clone(),
        meeting_id: object.id.map(|id| id.0),
        host_user_id: object.host_id.filter(|id| !id.is_empty()),
        topic: object.topic,
        started_at: object.start_time,
    };
    let uuid = object.uuid.as_str();
    let (event, key_parts): (MeetingEvent, Vec<String>) = match name {
        "meeting.started" => {
            let at = object
                .start_time
                .or(event_time)
                .ok_or_else(|| missing("start_time"))?;
            // One instance starts once: the uuid alone identifies the event.
            (MeetingEvent::InstanceStarted { instance, at }, vec![])
        }
        "meeting.ended" => {
            let at = object
                .end_time
                .or(event_time)
                .ok_or_else(|| missing("end_time"))?;
            (MeetingEvent::InstanceEnded { instance, at }, vec![])
        }
        "meeting.participant_joined" | "meeting.participant_left" => {
            let participant = object.participant.ok_or_else(|| missing("participant"))?;
            let joined = name == "meeting.participant_joined";
            let at = if joined {
                participant.join_time
            } else {
                participant.leave_time
            }
            .or(event_time)
            .ok_or_else(|| missing(if joined { "join_time" } else { "leave_time" }))?;
            let identity = participant_identity(participant);
            let parts = vec![
                identity.session_key.clone(),
                at.timestamp_millis().to_string(),
            ];
            let event = if joined {
                MeetingEvent::ParticipantJoined {
                    instance,
                    participant: identity,
                    at,
                }
            } else {
                MeetingEvent::ParticipantLeft {
                    instance,
                    participant: identity,
                    at,
                }
            };
            (event, parts)
        }
        "meeting.participant_joined_breakout_room" | "meeting.participant_left_breakout_room" => {
            room_event(
                name,
                object.breakout_room_uuid,
                object.participant,
                instance,
                event_time,
            )?
        }
        "meeting.chat_message_sent" => {
            let message = object.chat_message.ok_or_else(|| missing("chat_message"))?;
            let at = message
                .date_time
                .or(event_time)
                .ok_or_else(|| missing("date_time"))?;
            let parts = vec![message.message_id.clone()];
            (
                MeetingEvent::Signal {
                    instance,
                    signal: SignalKind::ChatMessage,
                    source_ref: chat_message_ref(&message.message_id),
                    at,
                },
                parts,
            )
        }
        "meeting.sharing_started" | "meeting.sharing_ended" => {
            let participant = object.participant.ok_or_else(|| missing("participant"))?;
            let at = participant
                .sharing_details
                .and_then(|details| details.date_time)
                .or(event_time)
                .ok_or_else(|| missing("sharing_details.date_time"))?;
            let signal = if name == "meeting.sharing_started" {
                SignalKind::SharingStarted
            } else {
                SignalKind::SharingEnded
            };
            let source_ref = participant.user_id.0;
            let parts = vec![source_ref.clone(), at.timestamp_millis().to_string()];
            (
                MeetingEvent::Signal {
                    instance,
                    signal,
                    source_ref,
                    at,
                },
                parts,
            )
        }
        "recording.started" | "recording.stopped" => {
            let started = name == "recording.started";
            let file = object.recording_file;
            let at = file
                .and_then(|f| {
                    if started {
                        f.recording_start
                    } else {
                        f.recording_end
                    }
                })
                .or(event_time)
                .ok_or_else(|| missing("recording_file"))?;
            let signal = if started {
                SignalKind::RecordingStarted
            } else {
                SignalKind::RecordingStopped
            };
            let parts = vec![at.timestamp_millis().to_string()];
            (
                MeetingEvent::Signal {
                    instance,
                    signal,
                    source_ref: "cloud".into(),
                    at,
                },
                parts,
            )
        }
        _ => unreachable!("parse() routes only instance events here"),
    };
    let mut all_parts: Vec<&str> = vec![name, uuid];
    all_parts.extend(key_parts.iter().map(String::as_str));
    Ok(ZoomDelivery::Event {
        event_name: name.to_string(),
        account_id: payload.account_id,
        dedup_key: dedup_key(&all_parts),
        event: Box::new(event),
    })
}

/// A move into or out of a breakout room. Zoom gives the participant a new `user_id` in each
/// room and names their main-room one in `parent_user_id`: the stay is filed under the
/// main-room session, so the person identified there is the person in the room. Without a
/// `parent_user_id` the room's own `user_id` stands in, as a session of its own.
fn room_event(
    name: &str,
    room_key: Option<String>,
    participant: Option<Participant>,
    instance: InstanceRef,
    event_time: Option<DateTime<Utc>>,
) -> Result<(MeetingEvent, Vec<String>), PayloadError> {
    let missing = |what: &str| PayloadError::new(format!("{name}: {what} is missing"));
    let room_key = room_key
        .filter(|key| !key.trim().is_empty())
        .ok_or_else(|| missing("breakout_room_uuid"))?;
    let mut participant = participant.ok_or_else(|| missing("participant"))?;
    let joined = name == "meeting.participant_joined_breakout_room";
    let at = if joined {
        participant.join_time
    } else {
        participant.leave_time
    }
    .or(event_time)
    .ok_or_else(|| missing(if joined { "join_time" } else { "leave_time" }))?;
    let stay_key = participant.user_id.0.clone();
    if let Some(parent) = participant.parent_user_id.take() {
        participant.user_id = ZoomId(parent);
    }
    let participant = participant_identity(participant);
    let room = RoomRef { room_key, stay_key };
    let parts = vec![
        room.room_key.clone(),
        room.stay_key.clone(),
        at.timestamp_millis().to_string(),
    ];
    let event = if joined {
        MeetingEvent::ParticipantRoomJoined {
            instance,
            participant,
            room,
            at,
        }
    } else {
        MeetingEvent::ParticipantRoomLeft {
            instance,
            participant,
            room,
            at,
        }
    };
    Ok((event, parts))
}

fn participant_identity(participant: Participant) -> ParticipantIdentity {
    let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    ParticipantIdentity {
        session_key: participant.user_id.0,
        platform_user_id: non_empty(participant.participant_user_id).or(non_empty(participant.id)),
        email: non_empty(participant.email).map(|email| email.trim().to_lowercase()),
        display_name: non_empty(participant.user_name),
        registrant_id: non_empty(participant.registrant_id),
        // Zoom's events say all Zoom will say of a participant.
        resolution: Resolution::Given,
    }
}

/// A chat message is kept as "a message was sent at this time"; the digest only keeps two
/// messages at the same instant apart and cannot be turned back into Zoom's message id.
/// A stored body already holds the digest in place of the id (see `source`), and keeps it.
pub(crate) fn chat_message_ref(message_id: &str) -> String {
    if message_id.starts_with(CHAT_REF_PREFIX) {
        return message_id.to_string();
    }
    let digest = Sha256::digest(message_id.as_bytes());
    format!("{CHAT_REF_PREFIX}{}", hex::encode(&digest[..8]))
}

const CHAT_REF_PREFIX: &str = "chat:";

/// `zoom:` + SHA-256 of the parts that identify one happening, so that a redelivery
/// (same content, any headers) maps to the same key.
fn dedup_key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    format!("zoom:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOINED: &str = r#"{"event":"meeting.participant_joined","event_ts":1741703530010,"payload":{"account_id":"gA7kQ2xYTvOeW3mN9pLr4A","object":{"uuid":"c2Vzc2lvbk9uZUFCQ0RFRg==","participant":{"user_id":"16779264","user_name":"J S","registrant_id":"","participant_user_id":"","id":"","participant_uuid":"B7E4F1A0-22C9-4D6B-8E13-0F5A9C3D2E71","join_time":"2025-03-11T14:32:10Z","email":""},"id":"84712345678","type":2,"topic":"Y9 mentoring – J.S.","host_id":"Hs8dK2lPQw6vB1nZ0yXc3E","duration":30,"start_time":"2025-03-11T14:31:07Z","timezone":"Europe/London"}}}"#;

    fn event_of(body: &str) -> (String, MeetingEvent) {
        match parse(body.as_bytes()).unwrap() {
            ZoomDelivery::Event {
                dedup_key, event, ..
            } => (dedup_key, *event),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn a_guest_join_has_no_platform_identity_and_keeps_the_join_time() {
        let (_, event) = event_of(JOINED);
        let MeetingEvent::ParticipantJoined {
            instance,
            participant,
            at,
        } = event
        else {
            panic!("not a join");
        };
        assert_eq!(instance.instance_key, "c2Vzc2lvbk9uZUFCQ0RFRg==");
        assert_eq!(instance.meeting_id.as_deref(), Some("84712345678"));
        assert_eq!(participant.session_key, "16779264");
        assert_eq!(participant.platform_user_id, None);
        assert_eq!(participant.email, None);
        assert_eq!(at.to_rfc3339(), "2025-03-11T14:32:10+00:00");
    }

    #[test]
    fn meeting_numbers_as_integers_and_strings_are_the_same_id() {
        let as_number = JOINED.replace(r#""id":"84712345678""#, r#""id":84712345678"#);
        let (key_string, _) = event_of(JOINED);
        let (key_number, event) = event_of(&as_number);
        assert_eq!(key_string, key_number);
        let MeetingEvent::ParticipantJoined { instance, .. } = event else {
            panic!()
        };
        assert_eq!(instance.meeting_id.as_deref(), Some("84712345678"));
    }

    #[test]
    fn a_redelivery_with_a_new_event_ts_has_the_same_key() {
        let (first, _) = event_of(JOINED);
        let (second, _) = event_of(&JOINED.replace("1741703530010", "1741703999999"));
        assert_eq!(first, second);
    }

    #[test]
    fn the_chat_text_is_never_read_into_the_event() {
        let body = r#"{"event":"meeting.chat_message_sent","event_ts":1741703900123,"payload":{"account_id":"A","object":{"id":84712345678,"uuid":"u==","chat_message":{"date_time":"2025-03-11T14:38:20Z","sender_session_id":"16778240","sender_name":"Ravi Patel","sender_type":"host","recipient_type":"guest","message_id":"MS17","message_content":"Can you see my screen?"}}}}"#;
        let (_, event) = event_of(body);
        let stored = serde_json::to_string(&event).unwrap();
        assert!(!stored.contains("Can you see"));
        assert!(!stored.contains("Ravi"));
        assert!(!stored.contains("MS17"), "nor the message id: {stored}");
        assert!(matches!(
            event,
            MeetingEvent::Signal {
                signal: SignalKind::ChatMessage,
                ..
            }
        ));
    }

    #[test]
    fn an_update_is_a_partial_change_at_its_time_stamp() {
        let body = r#"{"event":"meeting.updated","event_ts":1741700100789,"payload":{"account_id":"A","operator":"x","operator_id":"y","scope":"single","time_stamp":1741700100788,"object":{"id":84712345678,"start_time":"2025-03-11T18:45:00Z","settings":{"alternative_hosts":""}},"old_object":{"id":84712345678}}}"#;
        let (_, event) = event_of(body);
        let MeetingEvent::ScheduleChanged {
            meeting_id,
            at,
            change,
        } = event
        else {
            panic!()
        };
        assert_eq!(meeting_id, "84712345678");
        assert_eq!(at.timestamp_millis(), 1741700100788);
        assert_eq!(change.co_hosts, Some(vec![]));
        assert_eq!(change.topic, None);
        assert!(change.start_time.is_some());
    }

    #[test]
    fn unknown_event_types_are_ignored_not_refused() {
        let body = r#"{"event":"meeting.participant_role_changed","payload":{}}"#;
        assert_eq!(
            parse(body.as_bytes()).unwrap(),
            ZoomDelivery::Ignored {
                event_name: "meeting.participant_role_changed".into()
            }
        );
    }

    const JOINED_ROOM: &str = r#"{"event":"meeting.participant_joined_breakout_room","event_ts":1741703700000,"payload":{"account_id":"gA7kQ2xYTvOeW3mN9pLr4A","object":{"uuid":"c2Vzc2lvbk9uZUFCQ0RFRg==","breakout_room_uuid":"FkQbpP2UR028mDrwzEahqw==","id":"84712345678","type":2,"topic":"Y9 mentoring","host_id":"Hs8dK2lPQw6vB1nZ0yXc3E","duration":30,"start_time":"2025-03-11T14:31:07Z","timezone":"Europe/London","participant":{"user_id":"33558528","parent_user_id":"16779264","user_name":"J S","participant_user_id":"","id":"","participant_uuid":"B7E4F1A0-22C9-4D6B-8E13-0F5A9C3D2E71","join_time":"2025-03-11T14:35:00Z","email":"jamie.smith@pupils.greenfield.sch.example"}}}}"#;

    fn left_room() -> String {
        JOINED_ROOM
            .replace(
                "participant_joined_breakout_room",
                "participant_left_breakout_room",
            )
            .replace(
                r#""join_time":"2025-03-11T14:35:00Z""#,
                r#""leave_time":"2025-03-11T14:45:00Z","leave_reason":"left the breakout room""#,
            )
    }

    #[test]
    fn a_move_into_a_breakout_room_is_filed_under_the_main_room_session() {
        let (_, event) = event_of(JOINED_ROOM);
        let MeetingEvent::ParticipantRoomJoined {
            instance,
            participant,
            room,
            at,
        } = event
        else {
            panic!("not a room join: {event:?}");
        };
        assert_eq!(instance.instance_key, "c2Vzc2lvbk9uZUFCQ0RFRg==");
        assert_eq!(participant.session_key, "16779264", "the parent_user_id");
        assert_eq!(
            participant.email.as_deref(),
            Some("jamie.smith@pupils.greenfield.sch.example")
        );
        assert_eq!(room.room_key, "FkQbpP2UR028mDrwzEahqw==");
        assert_eq!(room.stay_key, "33558528", "the room's own user_id");
        assert_eq!(at.to_rfc3339(), "2025-03-11T14:35:00+00:00");
    }

    #[test]
    fn a_move_out_of_a_breakout_room_keeps_the_leave_time() {
        let (_, event) = event_of(&left_room());
        let MeetingEvent::ParticipantRoomLeft {
            participant,
            room,
            at,
            ..
        } = event
        else {
            panic!("not a room leave: {event:?}");
        };
        assert_eq!(participant.session_key, "16779264");
        assert_eq!(room.stay_key, "33558528");
        assert_eq!(at.to_rfc3339(), "2025-03-11T14:45:00+00:00");
    }

    #[test]
    fn without_a_parent_user_id_the_rooms_own_user_id_is_the_session() {
        let body = JOINED_ROOM.replace(r#""parent_user_id":"16779264","#, "");
        let (_, event) = event_of(&body);
        let MeetingEvent::ParticipantRoomJoined { participant, .. } = event else {
            panic!()
        };
        assert_eq!(participant.session_key, "33558528");
    }

    #[test]
    fn breakout_events_have_content_keys_apart_from_each_other_and_from_redeliveries() {
        let (joined, _) = event_of(JOINED_ROOM);
        let (left, _) = event_of(&left_room());
        let (redelivered, _) = event_of(&JOINED_ROOM.replace("1741703700000", "1741703799999"));
        let (other_room, _) = event_of(&JOINED_ROOM.replace("FkQbpP2U", "ZZZZpP2U"));
        assert_eq!(joined, redelivered);
        assert_ne!(joined, left);
        assert_ne!(joined, other_room);
    }

    #[test]
    fn a_breakout_event_without_its_room_is_refused_with_a_reason() {
        let no_room =
            JOINED_ROOM.replace(r#""breakout_room_uuid":"FkQbpP2UR028mDrwzEahqw==","#, "");
        let error = parse(no_room.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("breakout_room_uuid"), "{error}");
        let no_participant = r#"{"event":"meeting.participant_left_breakout_room","event_ts":1,"payload":{"account_id":"A","object":{"uuid":"u","breakout_room_uuid":"r"}}}"#;
        let error = parse(no_participant.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("participant"), "{error}");
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        assert!(parse(b"not json")
            .unwrap_err()
            .to_string()
            .contains("envelope"));
        let no_uuid = r#"{"event":"meeting.started","event_ts":1,"payload":{"account_id":"A","object":{"id":"1"}}}"#;
        assert!(parse(no_uuid.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("uuid"));
        let no_account =
            r#"{"event":"meeting.started","event_ts":1,"payload":{"object":{"uuid":"u"}}}"#;
        assert!(parse(no_account.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("account_id"));
        let bad_time = JOINED.replace("2025-03-11T14:32:10Z", "half past two");
        assert!(parse(bad_time.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("RFC 3339"));
    }
}
