//! What a platform supplies to the receive pipeline: how its deliveries are verified and
//! what a verified delivery is. Everything else (size limit, connection lookup, the inbox,
//! the answer, metrics) is the pipeline's, written once in `webhooks::receive`.

use std::future::Future;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use crate::connections::WebhookSecrets;
use crate::meeting::Platform;

/// A delivery that failed verification: `reason` is the metric label and log field,
/// `message` is said to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub reason: &'static str,
    pub message: String,
}

/// A verified body that is not what the platform sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// What a verified delivery turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// The platform checking the endpoint (Zoom's `endpoint.url_validation`): answered with
    /// this body at once; nothing is stored.
    Challenge(serde_json::Value),
    /// An event type chaperone does not use: acknowledged and dropped.
    Ignored { event_type: String },
    /// An event to keep.
    Event(Arrival),
}

/// An event to commit to the inbox, as the platform sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// The platform account it came from (Zoom's `account_id`).
    pub account_id: String,
    /// Derived from the event's content or the platform's message id: a redelivery has the
    /// same key.
    pub dedup_key: String,
    /// A neutral name for what happened, for operators and metrics.
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The meeting the event is about, when the envelope says (see `MeetingEvent::meeting_ref`).
    pub meeting_ref: Option<String>,
    /// The verified body less what is never stored (chat text, names of senders, meeting
    /// passwords and start links): translated later by the processor.
    pub stored_body: String,
}

pub trait Source: Send + Sync {
    fn platform(&self) -> Platform;

    /// Checks that the delivery was sent by the platform for this connection.
    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        secrets: &WebhookSecrets,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unverified>> + Send;

    /// Reads what the pipeline needs from a verified delivery, without any network call. The
    /// headers are given because some platforms put the event's attributes there (an
    /// unwrapped Pub/Sub push carries its CloudEvent attributes as `ce-*` headers).
    fn envelope(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        secrets: &WebhookSecrets,
    ) -> Result<Envelope, Malformed>;
}
