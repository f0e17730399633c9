//! The call, as Zoom's webhook bodies for the scanned school: every body carries the names,
//! emails, topic and chat text a real one would.

use serde_json::{json, Value};

use crate::alerts::ago;

use super::{
    ACCOUNT, CHAT_TEXT, GUEST_NAME, HOST_ZOOM_ID, MEETING_NUMBER, MEETING_UUID, PUPIL_DISPLAY_NAME,
    TOPIC, USER_EMAIL,
};

fn envelope(event: &str, object: Value) -> String {
    let mut object = object;
    for (key, value) in [
        ("uuid", json!(MEETING_UUID)),
        ("id", json!(MEETING_NUMBER)),
        ("host_id", json!(HOST_ZOOM_ID)),
        ("topic", json!(TOPIC)),
        ("type", json!(2)),
        ("timezone", json!("Europe/London")),
    ] {
        object.as_object_mut().unwrap().entry(key).or_insert(value);
    }
    json!({
        "event": event,
        "event_ts": chrono::Utc::now().timestamp_millis(),
        "payload": {"account_id": ACCOUNT, "object": object}
    })
    .to_string()
}

fn participant(session: &str, name: &str, zoom_id: &str, email: &str, at: (&str, &str)) -> Value {
    json!({
        "user_id": session,
        "user_name": name,
        "participant_user_id": zoom_id,
        "id": zoom_id,
        "email": email,
        at.0: at.1,
    })
}

fn joined(session: &str, name: &str, zoom_id: &str, email: &str, at: &str) -> String {
    envelope(
        "meeting.participant_joined",
        json!({"participant": participant(session, name, zoom_id, email, ("join_time", at))}),
    )
}

fn left(session: &str, name: &str, zoom_id: &str, email: &str, at: &str) -> String {
    envelope(
        "meeting.participant_left",
        json!({"participant": participant(session, name, zoom_id, email, ("leave_time", at))}),
    )
}

const HOST_SESSION: (&str, &str, &str, &str) = (
    "16910001",
    "Thaddeus Wrenwhistle",
    HOST_ZOOM_ID,
    "t.wrenwhistle@hollowmere.sch.example",
);
const PUPIL_SESSION: (&str, &str, &str, &str) = (
    "16910002",
    PUPIL_DISPLAY_NAME,
    "",
    "Zephyrine.Quillfeather@pupils.hollowmere.sch.example",
);

/// The call so far: scheduled with the DSL as alternative host, started five minutes ago,
/// the pupil alone with the host for four, a waiting-room knock.
pub(super) fn call_so_far() -> Vec<String> {
    let (h, p) = (HOST_SESSION, PUPIL_SESSION);
    vec![
        json!({
            "event": "meeting.created",
            "event_ts": chrono::Utc::now().timestamp_millis() - 3_600_000,
            "payload": {
                "account_id": ACCOUNT,
                "operator": h.3,
                "operator_id": HOST_ZOOM_ID,
                "object": {
                    "id": MEETING_NUMBER, "host_id": HOST_ZOOM_ID, "topic": TOPIC, "type": 2,
                    "start_time": ago(300), "duration": 30, "timezone": "Europe/London",
                    "join_url": "https://hollowmere.zoom.us/j/93715824601?pwd=Qm9va",
                    "settings": {
                        "alternative_hosts": "p.ashcombe-vell@hollowmere.sch.example",
                        "meeting_invitees": [{"email": "leofric.quillfeather@home.example"}]
                    }
                }
            }
        })
        .to_string(),
        envelope("meeting.started", json!({"start_time": ago(300)})),
        joined(h.0, h.1, h.2, h.3, &ago(300)),
        envelope(
            "meeting.participant_joined_waiting_room",
            json!({"participant": participant(p.0, p.1, p.2, p.3, ("date_time", &ago(250)))}),
        ),
        joined(p.0, p.1, p.2, p.3, &ago(240)),
    ]
}

/// A guest known only by the name they typed.
pub(super) fn guest_joins() -> String {
    joined("16910004", GUEST_NAME, "", "", &ago(120))
}

/// The guest again, this time with an email (sent with a forged signature).
pub(super) fn guest_joins_again() -> String {
    joined("16910005", GUEST_NAME, "", USER_EMAIL, &ago(60))
}

/// A chat message from the host to the pupil.
pub(super) fn chat() -> String {
    envelope(
        "meeting.chat_message_sent",
        json!({
            "chat_message": {
                "date_time": ago(90),
                "sender_session_id": HOST_SESSION.0,
                "sender_name": HOST_SESSION.1,
                "sender_email": HOST_SESSION.3,
                "sender_type": "host",
                "recipient_session_id": PUPIL_SESSION.0,
                "recipient_name": PUPIL_SESSION.1,
                "recipient_email": PUPIL_SESSION.3,
                "recipient_type": "guest",
                "message_id": "TG9nU2Nhbk1lc3NhZ2U=",
                "message_content": CHAT_TEXT
            }
        }),
    )
}

/// The guest leaves, the call ends, everyone leaves.
pub(super) fn call_ends() -> Vec<String> {
    let (h, p) = (HOST_SESSION, PUPIL_SESSION);
    vec![
        left("16910004", GUEST_NAME, "", "", &ago(30)),
        envelope("meeting.ended", json!({"end_time": ago(10)})),
        left(h.0, h.1, h.2, h.3, &ago(10)),
        left(p.0, p.1, p.2, p.3, &ago(10)),
    ]
}

/// Signed bodies that cannot be read, each holding personal data where a parser's error
/// message might quote it.
pub(super) fn unreadable_bodies() -> Vec<String> {
    let cut_off = format!(
        r#"{{"event":"meeting.participant_joined","payload":{{"object":{{"user_name":"{GUEST_NAME}"#
    );
    let name_for_time = json!({
        "user_id": "16910006",
        "user_name": GUEST_NAME,
        "leave_time": GUEST_NAME
    });
    let topic_for_id = json!({
        "event": "meeting.created",
        "event_ts": 1,
        "payload": {"account_id": ACCOUNT, "object": {"id": {"topic": TOPIC}}}
    });
    vec![
        // Not JSON at all, cut off inside a name.
        cut_off,
        // A participant where an object belongs.
        envelope(
            "meeting.participant_joined",
            json!({"participant": format!("{GUEST_NAME} <{USER_EMAIL}>")}),
        ),
        // A name where a time belongs.
        envelope(
            "meeting.participant_left",
            json!({ "participant": name_for_time }),
        ),
        // A topic where the meeting's id belongs.
        topic_for_id.to_string(),
    ]
}
