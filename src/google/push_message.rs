//! A Pub/Sub push read into the CloudEvent it carries (google-meet.md §1.4, §2.1, §2.4). The
//! default *wrapped* form is a JSON `PubsubMessage` whose attributes are the CloudEvent's, each
//! prefixed `ce-`, and whose `data` is the event's data in standard base64. The *unwrapped*
//! form (with `writeMetadata`) puts the event data in the body and the attributes in headers.
//! Either way the event is named by its CloudEvent `source` + `id`: a redelivery carries the
//! same pair, even where Pub/Sub gives it a new message id.

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The CloudEvent attributes chaperone reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    pub id: String,
    /// The Workspace Events subscription that sent it.
    pub source: String,
    /// The event type, as `google.workspace.meet.participant.v2.joined`.
    pub event_type: String,
    pub subject: Option<String>,
    /// RFC 3339, as sent.
    pub time: Option<String>,
}

/// A push, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    pub event: CloudEvent,
    pub message_id: Option<String>,
    /// The event's data, as sent (JSON for Meet).
    pub data: Vec<u8>,
}

impl PushMessage {
    /// The inbox key: the same for every delivery of one event.
    pub fn dedup_key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.event.source.as_bytes());
        hasher.update([0]);
        hasher.update(self.event.id.as_bytes());
        format!("google:{}", hex::encode(hasher.finalize()))
    }
}

/// Why a push cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushMessageError {
    #[error("the body is not a Pub/Sub push: {0}")]
    NotAPush(String),
    #[error("the message data is not base64")]
    Data,
    #[error("the message lacks the CloudEvent attribute {0}")]
    MissingAttribute(&'static str),
}

#[derive(Deserialize)]
struct Wrapped {
    message: Message,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(default)]
    attributes: HashMap<String, String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    message_id: Option<String>,
}

/// Reads a wrapped push (a JSON body with a `message`) or, failing that shape, an unwrapped
/// one whose CloudEvent attributes are `ce-*` headers.
pub fn read(headers: &HeaderMap, body: &[u8]) -> Result<PushMessage, PushMessageError> {
    if headers.contains_key("ce-id") {
        return read_unwrapped(headers, body);
    }
    let wrapped: Wrapped = serde_json::from_slice(body)
        .map_err(|error| PushMessageError::NotAPush(error.to_string()))?;
    let message = wrapped.message;
    let data = match message.data {
        Some(data) => STANDARD
            .decode(data.trim())
            .map_err(|_| PushMessageError::Data)?,
        None => Vec::new(),
    };
    let attribute = |name: &str| message.attributes.get(name).cloned();
    Ok(PushMessage {
        event: cloud_event(attribute)?,
        message_id: message.message_id,
        data,
    })
}

fn read_unwrapped(headers: &HeaderMap, body: &[u8]) -> Result<PushMessage, PushMessageError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    Ok(PushMessage {
        event: cloud_event(header)?,
        message_id: header("x-goog-pubsub-message-id"),
        data: body.to_vec(),
    })
}

fn cloud_event(attribute: impl Fn(&str) -> Option<String>) -> Result<CloudEvent, PushMessageError> {
    let required = |name: &'static str| {
        attribute(name)
            .filter(|value| !value.is_empty())
            .ok_or(PushMessageError::MissingAttribute(name))
    };
    Ok(CloudEvent {
        id: required("ce-id")?,
        source: required("ce-source")?,
        event_type: required("ce-type")?,
        subject: attribute("ce-subject"),
        time: attribute("ce-time"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOINED_DATA: &str = r#"{"participantSession":{"name":"conferenceRecords/aB3xQ9mZwL2pK7vR1tYcN5uE8oH0jGfD4sMiVbCQ/participants/108274650391827364512/participantSessions/Cg0xMDgyNzQ2NTAzOTEQAQ"}}"#;
    const SOURCE: &str = "//workspaceevents.googleapis.com/subscriptions/meet-spaces-3f9c2a7e41b8";

    fn wrapped(message_id: &str, data: &str) -> String {
        serde_json::json!({
            "message": {
                "attributes": {
                    "ce-datacontenttype": "application/json",
                    "ce-id": "evt-0002-91af",
                    "ce-source": SOURCE,
                    "ce-specversion": "1.0",
                    "ce-subject": "//meet.googleapis.com/spaces/kT9pQx2LmW4r",
                    "ce-time": "2026-03-10T14:00:12.902117Z",
                    "ce-type": "google.workspace.meet.participant.v2.joined"
                },
                "data": data,
                "messageId": message_id,
                "message_id": message_id,
                "publishTime": "2026-03-10T14:00:13.644Z"
            },
            "subscription": "projects/stmarys-safeguard/subscriptions/meet-events-push"
        })
        .to_string()
    }

    #[test]
    fn a_wrapped_push_gives_its_cloud_event_and_data() {
        let body = wrapped("14211803377202", &STANDARD.encode(JOINED_DATA));
        let push = read(&HeaderMap::new(), body.as_bytes()).unwrap();
        assert_eq!(
            push.event.event_type,
            "google.workspace.meet.participant.v2.joined"
        );
        assert_eq!(push.event.source, SOURCE);
        assert_eq!(push.message_id.as_deref(), Some("14211803377202"));
        assert_eq!(push.data, JOINED_DATA.as_bytes());
    }

    #[test]
    fn a_redelivery_with_a_new_message_id_has_the_same_key() {
        let data = STANDARD.encode(JOINED_DATA);
        let first = read(&HeaderMap::new(), wrapped("1", &data).as_bytes()).unwrap();
        let again = read(&HeaderMap::new(), wrapped("2", &data).as_bytes()).unwrap();
        assert_eq!(first.dedup_key(), again.dedup_key());
        let mut other = first.clone();
        other.event.id = "evt-0003".into();
        assert_ne!(first.dedup_key(), other.dedup_key());
    }

    #[test]
    fn an_unwrapped_push_reads_its_attributes_from_headers() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("ce-id", "evt-0002-91af"),
            ("ce-source", SOURCE),
            ("ce-type", "google.workspace.meet.participant.v2.joined"),
            ("x-goog-pubsub-message-id", "14211803377202"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        let push = read(&headers, JOINED_DATA.as_bytes()).unwrap();
        assert_eq!(push.data, JOINED_DATA.as_bytes());
        assert_eq!(push.message_id.as_deref(), Some("14211803377202"));
        let wrapped_body = wrapped("9", &STANDARD.encode(JOINED_DATA));
        let wrapped_push = read(&HeaderMap::new(), wrapped_body.as_bytes()).unwrap();
        assert_eq!(push.dedup_key(), wrapped_push.dedup_key());
    }

    #[test]
    fn what_is_not_a_push_is_refused_with_the_reason() {
        let none = HeaderMap::new();
        assert!(matches!(
            read(&none, b"{\"nope\":1}"),
            Err(PushMessageError::NotAPush(_))
        ));
        assert_eq!(
            read(&none, wrapped("1", "%%%not base64").as_bytes()),
            Err(PushMessageError::Data)
        );
        let without_type = wrapped("1", "").replace("ce-type", "ce-kind");
        assert_eq!(
            read(&none, without_type.as_bytes()),
            Err(PushMessageError::MissingAttribute("ce-type"))
        );
    }
}
