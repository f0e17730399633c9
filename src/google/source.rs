//! Google Meet as a source for the receive pipeline: a Pub/Sub push is verified by its OIDC
//! token against the connection's push audience and service account, then read into the
//! event the inbox keeps ([`super::event::StoredEvent`]). An authentic push that cannot be
//! read is kept set aside and acknowledged, so that Pub/Sub does not deliver it for a week.

use std::future::Future;
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::event::{self, Kind, StoredEvent};
use super::push_message;
use super::push_token::{GoogleKeys, PushTokenVerifier};
use super::store::subscription_name;
use crate::config::GoogleSettings as GoogleEndpoints;
use crate::http::webhooks::source::{Arrival, Envelope, Expected, Malformed, Source, Unverified};
use crate::meeting::{instance_ref, Platform};

pub struct GoogleSource {
    keys: GoogleKeys,
    leeway: Duration,
}

impl GoogleSource {
    pub fn new(keys: GoogleKeys, endpoints: &GoogleEndpoints) -> Self {
        GoogleSource {
            keys,
            leeway: endpoints.push_token_leeway,
        }
    }
}

impl Source for GoogleSource {
    fn platform(&self) -> Platform {
        Platform::GoogleMeet
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        _body: &[u8],
        expected: Expected<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unverified>> + Send {
        let authorization = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let verifier = expected.google.map(|settings| {
            PushTokenVerifier::with_keys(
                self.keys.clone(),
                &settings.push_audience,
                &settings.push_service_account,
                self.leeway,
            )
        });
        async move {
            let Some(verifier) = verifier else {
                return Err(Unverified {
                    reason: "connection_incomplete",
                    message: "the connection has no push settings".into(),
                    transient: false,
                });
            };
            verifier
                .verify(authorization.as_deref(), now)
                .await
                .map_err(|error| Unverified {
                    reason: error.reason(),
                    message: error.to_string(),
                    transient: error.is_transient(),
                })
        }
    }

    fn envelope(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _expected: Expected<'_>,
    ) -> Result<Envelope, Malformed> {
        let received_at = Utc::now();
        let push = match push_message::read(headers, body) {
            Ok(push) => push,
            Err(error) => return Ok(unreadable(body_key(body), body, error.to_string())),
        };
        let Some(kind) = Kind::of(&push.event.event_type) else {
            return Ok(Envelope::Ignored {
                event_type: push.event.event_type,
            });
        };
        let stored = match event::read(&push, kind, received_at) {
            Ok(stored) => stored,
            Err(error) => return Ok(unreadable(push.dedup_key(), body, error.to_string())),
        };
        Ok(Envelope::Event(Arrival {
            account_id: None,
            dedup_key: push.dedup_key(),
            event_type: kind.type_name().to_string(),
            occurred_at: stored.time,
            meeting_ref: stored.conference().map(instance_ref),
            feed: subscription_name(&stored.source).map(str::to_string),
            stored_body: serde_json::to_string(&stored)
                .map_err(|error| Malformed(error.to_string()))?,
        }))
    }
}

/// An authentic push kept aside: its body as received (Meet pushes carry resource names,
/// never people's words), for an operator to read.
fn unreadable(dedup_key: String, body: &[u8], reason: String) -> Envelope {
    Envelope::Unreadable {
        arrival: Arrival {
            account_id: None,
            dedup_key,
            event_type: "unreadable".into(),
            occurred_at: Utc::now(),
            meeting_ref: None,
            feed: None,
            stored_body: serde_json::json!({
                "reason": reason,
                "body": String::from_utf8_lossy(body),
            })
            .to_string(),
        },
        reason,
    }
}

/// The inbox key of a push too broken to name its event: the same bytes are the same push.
fn body_key(body: &[u8]) -> String {
    format!("google-unreadable:{}", hex::encode(Sha256::digest(body)))
}

/// Reads a stored event back; an event stored by this module is always readable.
pub fn stored(body: &str) -> Result<StoredEvent, serde_json::Error> {
    serde_json::from_str(body)
}
