//! `POST /webhooks/zoom`: verify the signature over the raw bytes, parse, find the school
//! that monitors the account, commit to the inbox, and only then answer.

use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;

use super::payload::{self, ZoomDelivery};
use super::signature::{self, TimestampWindow};
use crate::error::ApiError;
use crate::inbox::writer::WriteError;
use crate::inbox::InsertOutcome;
use crate::meeting::{AcceptedEvent, Platform};
use crate::state::AppState;
use crate::telemetry::metrics::WebhookOutcome;

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
}

pub async fn receive_zoom_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (outcome, response) = match handle(&state, &headers, body).await {
        Ok((outcome, response)) => (outcome, response),
        Err(refusal) => {
            if let WebhookOutcome::Refused(reason) = refusal.outcome {
                tracing::warn!(reason, "zoom webhook refused");
            }
            (refusal.outcome, refusal.error.into_response())
        }
    };
    state
        .metrics
        .record_webhook(Platform::Zoom.as_str(), outcome, started.elapsed());
    response
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(WebhookOutcome, Response), Refusal> {
    let body = body.map_err(|rejection| {
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
    })?;

    let zoom = &state.settings.zoom;
    signature::verify(
        headers,
        &body,
        &[
            &zoom.webhook_secret_token,
            &zoom.previous_webhook_secret_token,
        ],
        TimestampWindow {
            max_clock_skew: zoom.max_clock_skew,
            max_age: zoom.max_signature_age,
        },
        chrono::Utc::now().timestamp(),
    )
    .map_err(|error| {
        Refusal::new(
            error.reason(),
            ApiError::InvalidSignature(error.to_string()),
        )
    })?;

    let delivery = payload::parse(&body).map_err(|error| {
        Refusal::new(
            "malformed_body",
            ApiError::bad_request("malformed_event", error.to_string()),
        )
    })?;

    match delivery {
        ZoomDelivery::UrlValidation { plain_token } => {
            let encrypted_token =
                signature::url_validation_token(&zoom.webhook_secret_token, &plain_token);
            let body = Json(json!({"plainToken": plain_token, "encryptedToken": encrypted_token}));
            Ok((
                WebhookOutcome::UrlValidation,
                (StatusCode::OK, body).into_response(),
            ))
        }
        ZoomDelivery::Ignored { event_name } => {
            tracing::debug!(event = %event_name, "zoom event type not used; acknowledged");
            Ok((WebhookOutcome::Ignored, acknowledged("ignored")))
        }
        ZoomDelivery::Event {
            event_name,
            account_id,
            dedup_key,
            event,
        } => {
            let school_id = state
                .accounts
                .school_for(Platform::Zoom, &account_id)
                .await
                .map_err(|error| Refusal {
                    outcome: WebhookOutcome::StoreFailed,
                    error: ApiError::from(error),
                })?;
            let Some(school_id) = school_id else {
                // We keep nothing about people no school has asked us to watch.
                return Ok((WebhookOutcome::Unmonitored, acknowledged("not_monitored")));
            };
            let accepted = AcceptedEvent {
                platform: Platform::Zoom,
                school_id,
                account_id,
                dedup_key,
                event: *event,
            };
            match state.inbox.submit(accepted).await {
                Ok(InsertOutcome::Stored) => {
                    tracing::debug!(event = %event_name, school_id, "zoom event stored");
                    Ok((WebhookOutcome::Accepted, acknowledged("accepted")))
                }
                Ok(InsertOutcome::Duplicate) => {
                    Ok((WebhookOutcome::Duplicate, acknowledged("duplicate")))
                }
                Err(error) => Err(Refusal {
                    outcome: WebhookOutcome::StoreFailed,
                    error: match error {
                        WriteError::Timeout | WriteError::Stopped => {
                            ApiError::Unavailable(error.to_string())
                        }
                        WriteError::Database(_) => ApiError::Internal(anyhow::Error::new(error)),
                    },
                }),
            }
        }
    }
}

fn acknowledged(status: &'static str) -> Response {
    (StatusCode::OK, Json(json!({ "status": status }))).into_response()
}
