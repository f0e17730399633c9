//! A verified Zoom webhook body, read the way the receive pipeline reads it
//! (`ZoomSource::envelope`: surrogates repaired, parsed, secrets stripped for storage), and the
//! stored body read back the way the processor reads it. Besides not panicking, what is
//! stored must translate to the event that was received: the register is built from it.

#![no_main]

use chaperone::config::Secret;
use chaperone::connections::WebhookSecrets;
use chaperone::http::webhooks::source::{Envelope, Expected, Source};
use chaperone::meeting::MeetingEvent;
use chaperone::zoom::payload::{self, ZoomDelivery};
use chaperone::zoom::signature::TimestampWindow;
use chaperone::zoom::source::{translate, ZoomSource};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|body: &[u8]| {
    let source = ZoomSource {
        window: TimestampWindow {
            max_clock_skew: Duration::from_secs(300),
            max_age: Duration::from_secs(300),
        },
    };
    let secrets = WebhookSecrets {
        current: Secret::new("fuzz-secret-token"),
        previous: Secret::default(),
    };
    let expected = Expected {
        secrets: &secrets,
        google: None,
    };
    let Ok(Envelope::Event(arrival)) = source.envelope(&http::HeaderMap::new(), body, expected)
    else {
        return;
    };
    let repaired = std::str::from_utf8(body).map(chaperone::json_text::repaired);
    let received = match &repaired {
        Ok(text) => payload::parse(text.as_bytes()),
        Err(_) => payload::parse(body),
    };
    let Ok(ZoomDelivery::Event { event, .. }) = received else {
        panic!("the envelope took an event the payload reader refuses: {received:?}");
    };
    let stored = translate(&arrival.stored_body).expect("a stored Zoom body reads back");
    assert_eq!(
        without_join_url(stored),
        without_join_url(vec![*event]),
        "the stored body translates to another event"
    );
});

/// The join link is one of the fields never stored (it may carry the meeting's passcode).
fn without_join_url(events: Vec<MeetingEvent>) -> Vec<MeetingEvent> {
    events
        .into_iter()
        .map(|mut event| {
            if let MeetingEvent::ScheduleChanged { change, .. } = &mut event {
                change.join_url = None;
            }
            event
        })
        .collect()
}
