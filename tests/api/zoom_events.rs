//! Zoom webhook bodies in the shapes of shared/platforms/zoom.md §2, for one meeting.

use serde_json::json;

use crate::helpers::SCHOOL_ACCOUNT;

pub const MEETING_NUMBER: &str = "84712345678";
pub const MEETING_UUID: &str = "c2Vzc2lvbk9uZUFCQ0RFRg==";
pub const TOPIC: &str = "Y9 mentoring – J.S. 🎓 café";

/// A participant as Zoom describes them in participant events.
#[derive(Clone)]
pub struct Joiner {
    pub session_id: &'static str,
    pub name: &'static str,
    pub zoom_user_id: &'static str,
    pub email: &'static str,
}

pub const HOST: Joiner = Joiner {
    session_id: "16778240",
    name: "Ravi Patel",
    zoom_user_id: crate::helpers::HOST_ZOOM_ID,
    email: "r.patel@greenfield.sch.example",
};

/// The pupil joins from the school's pupil account, signed out of Zoom, with their email
/// shown in a different case.
pub const PUPIL: Joiner = Joiner {
    session_id: "16779264",
    name: "J S",
    zoom_user_id: "",
    email: "Jamie.Smith@Pupils.Greenfield.sch.example",
};

pub const DSL: Joiner = Joiner {
    session_id: "16780288",
    name: "Dana Lee",
    zoom_user_id: crate::helpers::DSL_ZOOM_ID,
    email: "",
};

/// A guest who calls themselves by the DSL's name: a display name identifies no one.
pub const IMPOSTOR: Joiner = Joiner {
    session_id: "16781312",
    name: "Dana Lee",
    zoom_user_id: "",
    email: "",
};

fn object(extra: serde_json::Value) -> serde_json::Value {
    let mut object = json!({
        "uuid": MEETING_UUID,
        "id": MEETING_NUMBER,
        "host_id": crate::helpers::HOST_ZOOM_ID,
        "topic": TOPIC,
        "type": 2,
        "start_time": "2025-03-11T14:31:07Z",
        "timezone": "Europe/London",
        "duration": 30
    });
    if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            object.insert(key.clone(), value.clone());
        }
    }
    object
}

fn envelope(event: &str, event_ts: i64, object: serde_json::Value) -> String {
    json!({
        "event": event,
        "event_ts": event_ts,
        "payload": { "account_id": SCHOOL_ACCOUNT, "object": object }
    })
    .to_string()
}

pub fn started() -> String {
    envelope("meeting.started", 1741703467120, object(json!({})))
}

pub fn ended(at: &str) -> String {
    envelope(
        "meeting.ended",
        1741705364901,
        object(json!({ "end_time": at })),
    )
}

fn participant(joiner: &Joiner, time_field: &str, at: &str) -> serde_json::Value {
    json!({
        "user_id": joiner.session_id,
        "user_name": joiner.name,
        "registrant_id": "",
        "participant_user_id": joiner.zoom_user_id,
        "id": joiner.zoom_user_id,
        "participant_uuid": "5A1C09E2-7B3D-4C11-9F20-6D8E2B1A7C44",
        time_field: at,
        "email": joiner.email
    })
}

pub fn joined(joiner: &Joiner, at: &str) -> String {
    envelope(
        "meeting.participant_joined",
        1741703470555,
        object(json!({ "participant": participant(joiner, "join_time", at) })),
    )
}

pub fn left(joiner: &Joiner, at: &str) -> String {
    let mut participant = participant(joiner, "leave_time", at);
    participant["leave_reason"] = json!("left the meeting. Reason : Host ended the meeting.");
    envelope(
        "meeting.participant_left",
        1741705366800,
        object(json!({ "participant": participant })),
    )
}

pub fn waiting_room(joiner: &Joiner, at: &str) -> String {
    envelope(
        "meeting.participant_joined_waiting_room",
        1741703500000,
        object(json!({ "participant": participant(joiner, "date_time", at) })),
    )
}

pub fn chat_message(message_id: &str, at: &str, text: &str) -> String {
    json!({
        "event": "meeting.chat_message_sent",
        "event_ts": 1741703900123i64,
        "payload": {
            "account_id": SCHOOL_ACCOUNT,
            "object": {
                "id": MEETING_NUMBER.parse::<i64>().unwrap(),
                "uuid": MEETING_UUID,
                "chat_message": {
                    "date_time": at,
                    "sender_session_id": HOST.session_id,
                    "sender_name": HOST.name,
                    "sender_email": HOST.email,
                    "sender_type": "host",
                    "recipient_session_id": PUPIL.session_id,
                    "recipient_name": PUPIL.name,
                    "recipient_email": "",
                    "recipient_type": "guest",
                    "message_id": message_id,
                    "message_content": text
                }
            }
        }
    })
    .to_string()
}

pub fn created(start_time: &str, alternative_hosts: &str) -> String {
    json!({
        "event": "meeting.created",
        "event_ts": 1741699800456i64,
        "payload": {
            "account_id": SCHOOL_ACCOUNT,
            "operator": HOST.email,
            "operator_id": crate::helpers::HOST_ZOOM_ID,
            "operation": "single",
            "object": {
                "uuid": "q1VbF0c9Tqy3m8Wc2zL7kA==",
                "id": MEETING_NUMBER.parse::<i64>().unwrap(),
                "host_id": crate::helpers::HOST_ZOOM_ID,
                "topic": TOPIC,
                "type": 2,
                "start_time": start_time,
                "duration": 30,
                "timezone": "Europe/London",
                "join_url": "https://greenfield.zoom.us/j/84712345678?pwd=abc",
                "settings": {
                    "use_pmi": false,
                    "alternative_hosts": alternative_hosts,
                    "meeting_invitees": [{"email": "dsl@greenfield.sch.example"}],
                    "join_before_host": false,
                    "jbh_time": 0
                }
            }
        }
    })
    .to_string()
}

pub fn updated(time_stamp: i64, start_time: &str) -> String {
    json!({
        "event": "meeting.updated",
        "event_ts": time_stamp + 1,
        "payload": {
            "account_id": SCHOOL_ACCOUNT,
            "operator": HOST.email,
            "operator_id": crate::helpers::HOST_ZOOM_ID,
            "scope": "single",
            "time_stamp": time_stamp,
            "object": {"id": MEETING_NUMBER.parse::<i64>().unwrap(), "start_time": start_time},
            "old_object": {"id": MEETING_NUMBER.parse::<i64>().unwrap()}
        }
    })
    .to_string()
}

/// A whole call: host starts, pupil waits then joins, DSL joins late, the pupil drops out
/// and rejoins, a guest using the DSL's name joins, and `meeting.ended` precedes the last
/// `participant_left` events (as in Zoom's real captures).
pub fn whole_call() -> Vec<String> {
    vec![
        created("2025-03-11T14:30:00Z", "dsl@greenfield.sch.example"),
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        waiting_room(&PUPIL, "2025-03-11T14:31:59Z"),
        joined(&PUPIL, "2025-03-11T14:32:10Z"),
        joined(&DSL, "2025-03-11T14:40:00Z"),
        chat_message(
            "MS17QUJDRC0xMjM0",
            "2025-03-11T14:38:20Z",
            "Can you see my screen?",
        ),
        left(&PUPIL, "2025-03-11T14:45:00Z"),
        joined(
            &Joiner {
                session_id: "16782336",
                ..PUPIL
            },
            "2025-03-11T14:46:30Z",
        ),
        joined(&IMPOSTOR, "2025-03-11T14:50:00Z"),
        left(&IMPOSTOR, "2025-03-11T14:51:00Z"),
        ended("2025-03-11T15:02:44Z"),
        left(&HOST, "2025-03-11T15:02:44Z"),
        left(&DSL, "2025-03-11T15:02:44Z"),
        left(
            &Joiner {
                session_id: "16782336",
                ..PUPIL
            },
            "2025-03-11T15:02:44Z",
        ),
    ]
}
