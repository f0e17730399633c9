//! Platform deliveries, for every platform and connection through one pipeline:
//! size limit → the platform's `verify` → its `envelope` → the connection's school →
//! durable inbox commit → answer. Nothing is stored before the commit, and nothing is
//! answered 2xx before it.
//!
//! `POST /webhooks/{platform}/{endpoint_id}` is a connection's own endpoint, verified with
//! that connection's secrets only (`/webhooks/google/…` is the same as `/webhooks/google_meet/…`). `POST /webhooks/zoom` is the shared endpoint of earlier
//! installations: verified with the deployment-wide Secret Token and routed by account id.

pub mod source;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use chrono::Utc;
use serde_json::json;
use tokio::sync::Semaphore;

use self::source::{Arrival, Envelope, Expected, Source};
use crate::connections::google::GoogleSettings;
use crate::connections::{ConnectionError, Freshness, WebhookSecrets};
use crate::error::ApiError;
use crate::google::source::GoogleSource;
use crate::inbox::writer::WriteError;
use crate::inbox::InsertOutcome;
use crate::meeting::{AcceptedEvent, Platform};
use crate::state::AppState;
use crate::telemetry::metrics::WebhookOutcome;
use crate::zoom::source::ZoomSource;

/// The webhook routes, reading at most `budget_bytes` of bodies at once.
pub fn router(budget_bytes: usize, max_body_bytes: usize) -> Router<AppState> {
    let budget = BodyBudget {
        kib: Arc::new(Semaphore::new((budget_bytes / 1024).max(1))),
        max_body_kib: max_body_bytes.div_ceil(1024).max(1),
    };
    Router::new()
        .route("/webhooks/zoom", post(shared_zoom_endpoint))
        .route(
            "/webhooks/{platform}/{endpoint_id}",
            post(connection_endpoint),
        )
        .route_layer(axum::middleware::from_fn(move |request, next| {
            within_budget(budget.clone(), request, next)
        }))
}

/// What may be read at once, in KiB.
#[derive(Clone)]
struct BodyBudget {
    kib: Arc<Semaphore>,
    /// What a body without a `Content-Length` is counted as.
    max_body_kib: usize,
}

/// Lets a delivery's body be read only within the budget: anyone may post to a webhook
/// endpoint, and each body may be up to `max_body_bytes`, so the bytes held at once are
/// bounded. One that would go over is answered 503 with `Retry-After` (platforms retry) before
/// its body is read, and nothing is stored.
async fn within_budget(
    budget: BodyBudget,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared_kib = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok())
        .map(|bytes| bytes.div_ceil(1024).max(1));
    let kib = declared_kib
        .unwrap_or(budget.max_body_kib)
        .min(budget.max_body_kib);
    let kib = u32::try_from(kib).unwrap_or(u32::MAX);
    match budget.kib.try_acquire_many_owned(kib) {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            tracing::warn!("webhook deliveries over the concurrent limit: answered 503");
            ApiError::Unavailable("too many deliveries at once; try again shortly".into())
                .into_response()
        }
    }
}

/// Which endpoint a delivery came to, and so how it is verified and attributed.
enum Route {
    /// A connection's own endpoint.
    Connection(String),
    /// The deployment-wide endpoint of one platform.
    Shared,
}

async fn connection_endpoint(
    State(state): State<AppState>,
    Path((platform, endpoint_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // `google` is the name the design gives Meet's endpoint; `google_meet` is the platform's.
    let platform = match platform.as_str() {
        "google" => Some(Platform::GoogleMeet),
        name => Platform::parse(name),
    };
    match platform {
        Some(Platform::Zoom) => {
            let source = ZoomSource::new(&state.settings.zoom);
            receive(
                &state,
                &source,
                Route::Connection(endpoint_id),
                &headers,
                body,
            )
            .await
        }
        Some(Platform::GoogleMeet) => {
            let source = GoogleSource::new(state.google_keys.clone(), &state.settings.google);
            receive(
                &state,
                &source,
                Route::Connection(endpoint_id),
                &headers,
                body,
            )
            .await
        }
        None => ApiError::NotFound("no such platform").into_response(),
    }
}

async fn shared_zoom_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !state.settings.zoom.shared_endpoint {
        return ApiError::NotFound("the shared Zoom endpoint is turned off").into_response();
    }
    let source = ZoomSource::new(&state.settings.zoom);
    receive(&state, &source, Route::Shared, &headers, body).await
}

/// A request that was not accepted, with the label it is counted under.
struct Refusal {
    outcome: WebhookOutcome,
    error: ApiError,
}

impl Refusal {
    fn new(reason: &'static str, error: ApiError) -> Self {
        Refusal {
            outcome: WebhookOutcome::Refused(reason),
            error,
        }
    }

    fn store_failed(error: ApiError) -> Self {
        Refusal {
            outcome: WebhookOutcome::StoreFailed,
            error,
        }
    }
}

impl From<ConnectionError> for Refusal {
    fn from(error: ConnectionError) -> Self {
        match error {
            ConnectionError::Database(error) => Refusal::store_failed(ApiError::from(error)),
            // A secret this instance cannot open: the platform retries once the key is fixed.
            ConnectionError::Sealed { .. } => {
                Refusal::store_failed(ApiError::Internal(anyhow::Error::new(error)))
            }
        }
    }
}

async fn receive<S: Source>(
    state: &AppState,
    source: &S,
    route: Route,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let platform = source.platform();
    let (outcome, response) = match pipeline(state, source, route, headers, body).await {
        Ok((outcome, response)) => (outcome, response),
        Err(refusal) => {
            if let WebhookOutcome::Refused(reason) = refusal.outcome {
                tracing::warn!(platform = platform.as_str(), reason, "webhook refused");
            }
            (refusal.outcome, refusal.error.into_response())
        }
    };
    state
        .metrics
        .record_webhook(platform.as_str(), outcome, started.elapsed());
    response
}

/// Who a delivery is attributed to once its sender is known.
enum Sender {
    Connection {
        id: i64,
        school_id: i64,
        account_id: String,
        endpoint_id: String,
        feeds: Option<std::collections::HashSet<String>>,
    },
    /// The shared endpoint: the school follows from the event's account.
    Shared,
}

async fn pipeline<S: Source>(
    state: &AppState,
    source: &S,
    route: Route,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(WebhookOutcome, Response), Refusal> {
    let body = within_limit(state, body)?;
    let (verified, sender) = verified_sender(state, source, route, headers, &body).await?;
    let envelope = source
        .envelope(headers, &body, verified.expected())
        .map_err(|malformed| {
            Refusal::new(
                "malformed_body",
                ApiError::bad_request("malformed_event", malformed.0),
            )
        })?;
    let arrival = match envelope {
        Envelope::Challenge(answer) => {
            if let Sender::Connection { id, .. } = &sender {
                state.connections.note_url_validation(*id);
            }
            return Ok((
                WebhookOutcome::UrlValidation,
                (StatusCode::OK, Json(answer)).into_response(),
            ));
        }
        Envelope::Ignored { event_type } => {
            tracing::debug!(event = %event_type, "event type not used; acknowledged");
            return Ok((WebhookOutcome::Ignored, acknowledged("ignored")));
        }
        Envelope::Event(arrival) => (arrival, None),
        Envelope::Unreadable { arrival, reason } => (arrival, Some(reason)),
    };
    let (arrival, set_aside) = arrival;
    let Some((connection_id, school_id, account_id)) =
        attribute(state, source, sender, &arrival).await?
    else {
        // We keep nothing about people no school has asked us to watch.
        return Ok((WebhookOutcome::Unmonitored, acknowledged("not_monitored")));
    };
    let event_type = arrival.event_type.clone();
    let mut accepted = AcceptedEvent::new(
        source.platform(),
        school_id,
        connection_id,
        account_id,
        arrival,
    );
    let unreadable = set_aside.is_some();
    accepted.set_aside = set_aside;
    match state.inbox.submit(accepted).await {
        Ok(InsertOutcome::Stored) if unreadable => {
            tracing::warn!(
                school_id,
                connection_id,
                "authentic delivery that cannot be read: stored set aside"
            );
            Ok((WebhookOutcome::SetAside, acknowledged("set_aside")))
        }
        Ok(InsertOutcome::Stored) => {
            tracing::debug!(event = %event_type, school_id, connection_id, "event stored");
            Ok((WebhookOutcome::Accepted, acknowledged("accepted")))
        }
        Ok(InsertOutcome::Duplicate) => Ok((WebhookOutcome::Duplicate, acknowledged("duplicate"))),
        Err(error) => Err(Refusal::store_failed(match error {
            // Nothing was stored, and the writer has logged why: the platform should try again.
            WriteError::Timeout | WriteError::Stopped | WriteError::Database(_) => {
                ApiError::Unavailable(error.to_string())
            }
        })),
    }
}

fn within_limit(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::new(
                "body_too_large",
                ApiError::PayloadTooLarge {
                    limit_bytes: state.settings.server.max_body_bytes,
                },
            )
        } else {
            Refusal::new(
                "body_unreadable",
                ApiError::bad_request("unreadable_body", rejection.body_text()),
            )
        }
    })
}

/// What a verified delivery was checked against, kept to read its envelope with.
struct Verified {
    secrets: WebhookSecrets,
    google: Option<GoogleSettings>,
}

impl Verified {
    fn expected(&self) -> Expected<'_> {
        Expected {
            secrets: &self.secrets,
            google: self.google.as_ref(),
        }
    }
}

/// Finds what the delivery must be signed with and checks it. A connection read from the
/// cache that does not verify is read again once: its secret may have been rotated since.
async fn verified_sender<S: Source>(
    state: &AppState,
    source: &S,
    route: Route,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Verified, Sender), Refusal> {
    let now = Utc::now();
    let unverified = |unverified: source::Unverified| {
        let error = if unverified.transient {
            ApiError::Unavailable(unverified.message)
        } else {
            ApiError::InvalidSignature(unverified.message)
        };
        Refusal::new(unverified.reason, error)
    };
    let endpoint_id = match route {
        Route::Shared => {
            let zoom = &state.settings.zoom;
            let verified = Verified {
                secrets: WebhookSecrets {
                    current: zoom.webhook_secret_token.clone(),
                    previous: zoom.previous_webhook_secret_token.clone(),
                },
                google: None,
            };
            source
                .verify(headers, body, verified.expected(), now)
                .await
                .map_err(unverified)?;
            return Ok((verified, Sender::Shared));
        }
        Route::Connection(endpoint_id) => endpoint_id,
    };
    let platform = source.platform();
    let unknown = || {
        Refusal::new(
            "unknown_connection",
            ApiError::NotFound("no such connection"),
        )
    };
    let (mut connection, freshness) = state
        .connections
        .find(platform, &endpoint_id)
        .await?
        .ok_or_else(unknown)?;
    if let Err(error) = source
        .verify(headers, body, connection.expected(), now)
        .await
    {
        if freshness == Freshness::Read {
            return Err(unverified(error));
        }
        connection = state
            .connections
            .read(platform, &endpoint_id)
            .await?
            .ok_or_else(unknown)?;
        source
            .verify(headers, body, connection.expected(), now)
            .await
            .map_err(unverified)?;
    }
    let sender = Sender::Connection {
        id: connection.id,
        school_id: connection.school_id,
        account_id: connection.account_id,
        endpoint_id,
        feeds: connection.feeds,
    };
    let verified = Verified {
        secrets: connection.webhook_secrets,
        google: connection.google,
    };
    Ok((verified, sender))
}

/// The connection, school and account a verified event belongs to, or `None` when no
/// school monitors its account.
async fn attribute<S: Source>(
    state: &AppState,
    source: &S,
    sender: Sender,
    arrival: &Arrival,
) -> Result<Option<(i64, i64, String)>, Refusal> {
    match sender {
        Sender::Connection {
            id,
            school_id,
            account_id,
            endpoint_id,
            feeds,
        } => {
            if arrival
                .account_id
                .as_ref()
                .is_some_and(|said| *said != account_id)
            {
                // Signed with this connection's secret, yet about another account: the app
                // is shared with an account that is not connected. Keep nothing.
                tracing::warn!(
                    connection_id = id,
                    "event about an account the connection is not for; not kept"
                );
                return Ok(None);
            }
            if let (Some(feed), Some(feeds)) = (&arrival.feed, &feeds) {
                // A feed made a moment ago may not be in the cached connection yet.
                let held = feeds.contains(feed)
                    || state
                        .connections
                        .read(source.platform(), &endpoint_id)
                        .await?
                        .and_then(|connection| connection.feeds)
                        .is_some_and(|feeds| feeds.contains(feed));
                if !held {
                    tracing::info!(
                        connection_id = id,
                        "event from a feed the connection does not hold; not kept"
                    );
                    return Ok(None);
                }
            }
            Ok(Some((id, school_id, account_id)))
        }
        Sender::Shared => {
            // The shared endpoint routes by the account the event names; one that names
            // none cannot be attributed.
            let Some(account_id) = &arrival.account_id else {
                return Ok(None);
            };
            Ok(state
                .accounts
                .account_for(source.platform(), account_id)
                .await
                .map_err(|error| Refusal::store_failed(ApiError::from(error)))?
                .map(|account| (account.connection_id, account.school_id, account_id.clone())))
        }
    }
}

fn acknowledged(status: &'static str) -> Response {
    (StatusCode::OK, Json(json!({ "status": status }))).into_response()
}
