//! Signed Zoom `meeting.participant_joined` deliveries, each a guest no school knows, so each
//! is a new participant in the register (and, where the school's policy checks for them, an
//! unknown-participant finding).

use chaperone::config::Secret;
use chaperone::zoom::payload::{self, ZoomDelivery};
use chaperone::zoom::signature;
use chrono::{SecondsFormat, Utc};
use serde_json::json;

pub const ZOOM_SECRET: &str = "faults-zoom-secret-token";
/// The Zoom account the school monitors.
pub const SCHOOL_ACCOUNT: &str = "gA7kQ2xYTvOeW3mN9pLr4A";
const HOST_ZOOM_ID: &str = "Hs8dK2lPQw6vB1nZ0yXc3E";

/// One delivery: its body, and what it is known by in the store.
pub struct Delivery {
    pub body: String,
    /// The inbox's de-duplication key, as chaperone derives it from the body.
    pub dedup_key: String,
    /// The participant's session key in the register.
    pub session_key: String,
}

/// A guest joining meeting `meeting` as session `session`, now.
pub fn guest_joined(meeting: u64, session: u64) -> Delivery {
    let now = Utc::now();
    let session_key = format!("{}", 40_000_000 + session);
    let body = json!({
        "event": "meeting.participant_joined",
        "event_ts": now.timestamp_millis(),
        "payload": {
            "account_id": SCHOOL_ACCOUNT,
            "object": {
                "uuid": format!("ZmF1bHRzLW1lZXRpbmct{meeting:08}=="),
                "id": format!("{}", 91_000_000_000u64 + meeting),
                "host_id": HOST_ZOOM_ID,
                "topic": "Fault suite",
                "type": 2,
                "start_time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
                "timezone": "Europe/London",
                "duration": 30,
                "participant": {
                    "user_id": session_key,
                    "user_name": "Guest",
                    "registrant_id": "",
                    "participant_user_id": "",
                    "id": "",
                    "participant_uuid": format!("F4D1E2A0-0000-4000-8000-{session:012}"),
                    "join_time": now.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "email": ""
                }
            }
        }
    })
    .to_string();
    let dedup_key = match payload::parse(body.as_bytes()) {
        Ok(ZoomDelivery::Event { dedup_key, .. }) => dedup_key,
        other => panic!("a participant_joined body parses as an event, not {other:?}"),
    };
    Delivery {
        body,
        dedup_key,
        session_key,
    }
}

/// The `x-zm-request-timestamp` and `x-zm-signature` headers for `body`, signed now.
pub fn signature_headers(body: &str) -> [(&'static str, String); 2] {
    let timestamp = Utc::now().timestamp();
    let signature = signature::sign(&Secret::new(ZOOM_SECRET), timestamp, body.as_bytes());
    [
        ("x-zm-request-timestamp", timestamp.to_string()),
        ("x-zm-signature", signature),
    ]
}
