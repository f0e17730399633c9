//! A Pub/Sub push, wrapped (JSON body) or unwrapped (`ce-*` headers; `delivery.rs` says how
//! the input is split), read the way the receive pipeline reads an authenticated push
//! (`GoogleSource::envelope`), and what is stored read back the way the processor reads it.
//! Besides not panicking: every event stored must read back, since the processor cannot ask
//! Google for it again.

#![no_main]

#[path = "delivery.rs"]
mod delivery;

use std::sync::OnceLock;
use std::time::Duration;

use chaperone::config::GoogleSettings;
use chaperone::connections::WebhookSecrets;
use chaperone::google::push_token::GoogleKeys;
use chaperone::google::source::{stored, GoogleSource};
use chaperone::google::translate::{notice, translate};
use chaperone::http::webhooks::source::{Envelope, Expected, Source};
use libfuzzer_sys::fuzz_target;

static SOURCE: OnceLock<GoogleSource> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (headers, body) = delivery::split(data);
    let source = SOURCE.get_or_init(source);
    let secrets = WebhookSecrets::default();
    let expected = Expected {
        secrets: &secrets,
        google: None,
    };
    let envelope = source
        .envelope(&headers, body, expected)
        .expect("a push is always either read or set aside");
    match envelope {
        Envelope::Event(arrival) => {
            let event = stored(&arrival.stored_body).expect("a stored Meet event reads back");
            assert_eq!(
                event.kind().map(|kind| kind.type_name()),
                Some(arrival.event_type.as_str())
            );
            let _ = translate(&event);
            let _ = notice(&event);
        }
        Envelope::Unreadable { arrival, .. } => {
            serde_json::from_str::<serde_json::Value>(&arrival.stored_body)
                .expect("a push set aside is stored as JSON");
        }
        Envelope::Ignored { .. } | Envelope::Challenge(_) => {}
    }
});

/// Reading a push makes no network call: the keys are only for the token, checked before.
fn source() -> GoogleSource {
    let settings = GoogleSettings {
        keys_url: "http://127.0.0.1:9/certs".into(),
        token_url: String::new(),
        meet_api_base_url: "http://127.0.0.1:9".into(),
        calendar_api_base_url: "http://127.0.0.1:9".into(),
        directory_api_base_url: "http://127.0.0.1:9".into(),
        events_api_base_url: "http://127.0.0.1:9".into(),
        push_token_leeway: Duration::from_secs(60),
        keys_min_refresh: Duration::from_secs(30),
    };
    let keys = GoogleKeys::new(
        reqwest::Client::new(),
        settings.keys_url.clone(),
        settings.keys_min_refresh,
    );
    GoogleSource::new(keys, &settings)
}
