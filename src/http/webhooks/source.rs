//! What a platform supplies to the receive pipeline: how its deliveries are verified and
//! what a verified delivery is. Everything else (size limit, connection lookup, the inbox,
//! the answer, metrics) is the pipeline's, written once in `webhooks::receive`.

use std::future::Future;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use crate::connections::google::GoogleSettings;
use crate::connections::WebhookSecrets;
use crate::meeting::Platform;

/// What a delivery is checked against: the endpoint's webhook secrets and, for a Google
/// connection, what its push tokens must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub secrets: &'a WebhookSecrets,
    pub google: Option<&'a GoogleSettings>,
}

/// A delivery that failed verification: `reason` is the metric label and log field,
/// `message` is said to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub reason: &'static str,
    pub message: String,
    /// The check could not be made (the platform's keys could not be read): answered 5xx so
    /// that the platform delivers again, never 401.
    pub transient: bool,
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
    /// An authentic delivery that cannot be read: committed already set aside, with the
    /// reason, for an operator to see, and acknowledged so that the platform does not
    /// deliver it again and again.
    Unreadable { arrival: Arrival, reason: String },
}

/// An event to commit to the inbox, as the platform sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// The platform account it came from, when the delivery says (Zoom's `account_id`);
    /// `None`: the account of the connection it was delivered to (a Pub/Sub push names none).
    pub account_id: Option<String>,
    /// Derived from the event's content or the platform's message id: a redelivery has the
    /// same key.
    pub dedup_key: String,
    /// A neutral name for what happened, for operators and metrics.
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The meeting the event is about, when the envelope says (see `MeetingEvent::meeting_ref`).
    pub meeting_ref: Option<String>,
    /// What delivered it, where the platform names it (a Google subscription): an event
    /// from a feed the connection does not hold is about someone nobody asked to watch.
    pub feed: Option<String>,
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
        expected: Expected<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unverified>> + Send;

    /// Reads what the pipeline needs from a verified delivery, without any network call. The
    /// headers are given because some platforms put the event's attributes there (an
    /// unwrapped Pub/Sub push carries its CloudEvent attributes as `ce-*` headers).
    fn envelope(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        expected: Expected<'_>,
    ) -> Result<Envelope, Malformed>;
}
