//! Stored platform events become neutral events here, when they are applied, so that a
//! corrected mapping can be applied again to the events already stored (`reprocess`).

use crate::inbox::{BodyFormat, PendingEvent};
use crate::meeting::{DeliveryNotice, MeetingEvent, Platform};
use crate::{google, zoom};

/// A stored event that cannot be translated; it names the row and is retried, then set aside.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranslateError {
    #[error("inbox row {id}: unknown platform {value:?}")]
    UnknownPlatform { id: i64, value: String },
    #[error("inbox row {id}: unknown body format {value:?}")]
    UnknownFormat { id: i64, value: String },
    #[error("inbox row {id}: the stored event cannot be read: {reason}")]
    Unreadable { id: i64, reason: String },
}

/// A stored event, translated.
#[derive(Debug)]
pub struct Translated {
    pub platform: Platform,
    /// The neutral events it stands for.
    pub events: Vec<MeetingEvent>,
    /// What it says about the platform's delivery of events.
    pub notices: Vec<DeliveryNotice>,
}

/// The platform a stored event came from, the neutral events it stands for and what it says
/// about delivery.
pub fn translate(pending: &PendingEvent) -> Result<Translated, TranslateError> {
    let id = pending.id;
    let platform =
        Platform::parse(&pending.platform).ok_or_else(|| TranslateError::UnknownPlatform {
            id,
            value: pending.platform.clone(),
        })?;
    let format =
        BodyFormat::parse(&pending.body_format).ok_or_else(|| TranslateError::UnknownFormat {
            id,
            value: pending.body_format.clone(),
        })?;
    let unreadable = |reason: String| TranslateError::Unreadable { id, reason };
    // Also for what was stored before the repair existed, so that reprocessing reads it.
    let body = crate::json_text::repaired(&pending.body);
    let mut notices = Vec::new();
    let events = match (format, platform) {
        (BodyFormat::Neutral, _) => {
            vec![serde_json::from_str(&body).map_err(|error| unreadable(error.to_string()))?]
        }
        (BodyFormat::Platform, Platform::Zoom) => {
            zoom::source::translate(&body).map_err(|error| unreadable(error.to_string()))?
        }
        (BodyFormat::Platform, Platform::GoogleMeet) => {
            let stored =
                google::source::stored(&body).map_err(|error| unreadable(error.to_string()))?;
            notices.extend(google::translate::notice(&stored));
            google::translate::translate(&stored)
        }
    };
    Ok(Translated {
        platform,
        events,
        notices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(platform: &str, format: &str, body: &str) -> PendingEvent {
        PendingEvent {
            id: 41,
            platform: platform.into(),
            school_id: 1,
            account_id: None,
            received_at: chrono::Utc::now(),
            attempts: 0,
            body_format: format.into(),
            body: body.into(),
        }
    }

    #[test]
    fn an_unknown_platform_is_an_error_naming_the_row_not_zoom() {
        let error = translate(&pending("teams", "platform", "{}")).unwrap_err();
        assert_eq!(
            error,
            TranslateError::UnknownPlatform {
                id: 41,
                value: "teams".into()
            }
        );
        assert!(error.to_string().contains("inbox row 41"), "{error}");
    }

    #[test]
    fn an_unknown_format_is_an_error_naming_the_row() {
        let error = translate(&pending("zoom", "xml", "{}")).unwrap_err();
        assert!(matches!(
            error,
            TranslateError::UnknownFormat { id: 41, .. }
        ));
    }

    #[test]
    fn a_stored_zoom_body_is_translated_when_applied() {
        let body = r#"{"event":"meeting.started","event_ts":1741703400000,"payload":{"account_id":"A","object":{"id":84712345678,"uuid":"u==","host_id":"H","topic":"Tutoring","start_time":"2025-03-11T14:30:00Z"}}}"#;
        let translated = translate(&pending("zoom", "platform", body)).unwrap();
        assert_eq!(translated.platform, Platform::Zoom);
        assert_eq!(translated.events.len(), 1);
        assert_eq!(translated.events[0].type_name(), "instance_started");
    }
}
