//! Zoom as a source for the receive pipeline: deliveries are verified with the connection's
//! Secret Token (`x-zm-signature`), and what is stored is Zoom's own body less what must
//! never be kept. The processor translates the stored body with [`translate`].

use std::future::Future;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::payload::{self, PayloadError, ZoomDelivery};
use super::signature::{self, TimestampWindow};
use crate::config::ZoomSettings;
use crate::http::webhooks::source::{Arrival, Envelope, Expected, Malformed, Source, Unverified};
use crate::meeting::{MeetingEvent, Platform};

pub struct ZoomSource {
    pub window: TimestampWindow,
}

impl ZoomSource {
    pub fn new(settings: &ZoomSettings) -> Self {
        ZoomSource {
            window: TimestampWindow {
                max_clock_skew: settings.max_clock_skew,
                max_age: settings.max_signature_age,
            },
        }
    }
}

impl Source for ZoomSource {
    fn platform(&self) -> Platform {
        Platform::Zoom
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        expected: Expected<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unverified>> + Send {
        let verified = signature::verify(
            headers,
            body,
            &expected.secrets.all(),
            self.window,
            now.timestamp(),
        )
        .map_err(|error| Unverified {
            reason: error.reason(),
            message: error.to_string(),
            transient: false,
        });
        std::future::ready(verified)
    }

    fn envelope(
        &self,
        _headers: &HeaderMap,
        body: &[u8],
        expected: Expected<'_>,
    ) -> Result<Envelope, Malformed> {
        // A lone surrogate or a NUL in a name is replaced, not a reason to refuse the event.
        let repaired = std::str::from_utf8(body).map(crate::json_text::repaired);
        let body = match &repaired {
            Ok(text) => text.as_bytes(),
            Err(_) => body,
        };
        let delivery = payload::parse(body).map_err(|error| Malformed(error.to_string()))?;
        Ok(match delivery {
            ZoomDelivery::UrlValidation { plain_token } => {
                let encrypted_token =
                    signature::url_validation_token(&expected.secrets.current, &plain_token);
                Envelope::Challenge(
                    json!({"plainToken": plain_token, "encryptedToken": encrypted_token}),
                )
            }
            ZoomDelivery::Ignored { event_name } => Envelope::Ignored {
                event_type: event_name,
            },
            ZoomDelivery::Event {
                account_id,
                dedup_key,
                event,
                ..
            } => Envelope::Event(Arrival {
                account_id: Some(account_id),
                dedup_key,
                event_type: event.type_name().to_string(),
                occurred_at: event.occurred_at(),
                meeting_ref: Some(event.meeting_ref()),
                feed: None,
                stored_body: stored_form(body)
                    .map_err(|error| Malformed(format!("not a JSON object: {error}")))?,
            }),
        })
    }
}

/// Translates a stored Zoom body into neutral events (one, for every event Zoom sends).
pub fn translate(stored_body: &str) -> Result<Vec<MeetingEvent>, PayloadError> {
    match payload::parse(stored_body.as_bytes())? {
        ZoomDelivery::Event { event, .. } => Ok(vec![*event]),
        // Only events are stored; an event type that a later release stops using is dropped.
        ZoomDelivery::Ignored { .. } | ZoomDelivery::UrlValidation { .. } => Ok(Vec::new()),
    }
}

/// Fields that carry what chaperone never keeps, wherever they appear: chat text and the
/// names on a message, and the passwords and links that let anyone join or start a meeting.
const NEVER_STORED: [&str; 16] = [
    "message_content",
    "sender_name",
    "sender_email",
    "recipient_name",
    "recipient_email",
    "file_name",
    "password",
    "h323_password",
    "pstn_password",
    "encrypted_password",
    "start_url",
    "join_url",
    "download_token",
    "download_url",
    "play_url",
    "recording_play_passcode",
];

/// A chat message's id, kept only as the digest the register keeps.
const DIGESTED_FIELD: &str = "message_id";
const DIGESTED_POINTER: &str = "/payload/object/chat_message/message_id";

/// The body as stored: Zoom's JSON with the fields in [`NEVER_STORED`] removed, and a chat
/// message's id replaced by the digest the register keeps.
fn stored_form(body: &[u8]) -> Result<String, serde_json::Error> {
    // Most events carry none of these fields: keep their bytes as they are, unparsed. A name
    // that does not occur as text is not there, unless it is written with escapes: a body
    // with any `\u` escape takes the full path.
    if let Ok(text) = std::str::from_utf8(body) {
        let may_carry_any = text.contains("\\u")
            || NEVER_STORED
                .iter()
                .chain(&[DIGESTED_FIELD])
                .any(|name| text.contains(name));
        if !may_carry_any {
            return Ok(text.to_owned());
        }
    }
    let mut value: Value = serde_json::from_slice(body)?;
    remove_never_stored(&mut value);
    if let Some(Value::String(message_id)) = value.pointer_mut(DIGESTED_POINTER) {
        *message_id = payload::chat_message_ref(message_id);
    }
    serde_json::to_string(&value)
}

fn remove_never_stored(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|name, _| !NEVER_STORED.contains(&name.as_str()));
            fields.values_mut().for_each(remove_never_stored);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_never_stored),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(body: &str) -> Arrival {
        let source = ZoomSource {
            window: TimestampWindow {
                max_clock_skew: std::time::Duration::from_secs(300),
                max_age: std::time::Duration::from_secs(300),
            },
        };
        let secrets = crate::connections::WebhookSecrets::default();
        let expected = Expected {
            secrets: &secrets,
            google: None,
        };
        match source
            .envelope(&HeaderMap::new(), body.as_bytes(), expected)
            .unwrap()
        {
            Envelope::Event(arrival) => arrival,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn chat_text_and_sender_names_are_not_stored_and_the_stored_body_translates_the_same() {
        let body = r#"{"event":"meeting.chat_message_sent","event_ts":1741703900123,"payload":{"account_id":"A","object":{"id":84712345678,"uuid":"u==","chat_message":{"date_time":"2025-03-11T14:38:20Z","sender_session_id":"16778240","sender_name":"Ravi Patel","sender_type":"host","recipient_type":"guest","recipient_name":"Dara","message_id":"MS17","message_content":"Can you see my screen?"}}}}"#;
        let arrival = arrival(body);
        for kept_out in ["Can you see my screen?", "Ravi Patel", "Dara", "MS17"] {
            assert!(
                !arrival.stored_body.contains(kept_out),
                "{}",
                arrival.stored_body
            );
        }
        let ZoomDelivery::Event { event, .. } = payload::parse(body.as_bytes()).unwrap() else {
            panic!("an event");
        };
        assert_eq!(translate(&arrival.stored_body).unwrap(), vec![*event]);
        assert_eq!(arrival.event_type, "signal");
    }

    #[test]
    fn a_body_with_nothing_to_remove_is_stored_byte_for_byte() {
        let body = r#"{"event":"meeting.participant_joined","event_ts":1741703530010,"payload":{"account_id":"A","object":{"uuid":"u==","id":"84712345678","participant":{"user_id":"1","user_name":"J S","join_time":"2025-03-11T14:32:10Z","email":""}}}}"#;
        assert_eq!(stored_form(body.as_bytes()).unwrap(), body);
    }

    #[test]
    fn a_field_name_written_with_escapes_is_still_removed() {
        let body = r#"{"event":"meeting.created","event_ts":1741703900123,"payload":{"account_id":"A","object":{"id":1,"uuid":"u==","pass\u0077ord":"s3cret","start_\u0075rl":"https://zoom.us/s/1?zak=TOKEN"}}}"#;
        let stored = stored_form(body.as_bytes()).unwrap();
        assert!(!stored.contains("s3cret"), "{stored}");
        assert!(!stored.contains("TOKEN"), "{stored}");
    }

    #[test]
    fn meeting_passwords_and_start_links_are_not_stored() {
        let body = r#"{"event":"meeting.created","event_ts":1741703900123,"payload":{"account_id":"A","operator":"x@example.org","object":{"id":84712345678,"uuid":"u==","host_id":"H","topic":"Tutoring","type":2,"start_time":"2025-03-11T14:30:00Z","duration":30,"timezone":"Europe/London","password":"s3cret","start_url":"https://zoom.us/s/1?zak=TOKEN","join_url":"https://zoom.us/j/1?pwd=abc"}}}"#;
        let arrival = arrival(body);
        for kept_out in ["s3cret", "zak=TOKEN", "pwd=abc"] {
            assert!(
                !arrival.stored_body.contains(kept_out),
                "{}",
                arrival.stored_body
            );
        }
        assert!(!translate(&arrival.stored_body).unwrap().is_empty());
    }
}
