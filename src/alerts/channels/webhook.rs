//! The generic JSON webhook, signed the Standard Webhooks way
//! (<https://www.standardwebhooks.com>, `spec/standard-webhooks.md`): `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
//! Signing for delivery, and verifying for the receivers our tests (and integrators) run.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

use super::{http, DeliveryError};
use crate::alerts::message::AlertMessage;
use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a signature's timestamp may be from the receiver's clock, either way.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;
const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";
/// Secrets are read with or without their `=` padding, as the Standard Webhooks libraries read them.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The webhook secret cannot be used as a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWebhookSecret {
    #[error("the webhook secret is empty")]
    Empty,
    #[error("the webhook secret is not base64 (with or without \"whsec_\" before it), as Standard Webhooks secrets are")]
    NotBase64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookVerifyError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    #[error(transparent)]
    InvalidSecret(#[from] InvalidWebhookSecret),
    #[error("no signature matches the body")]
    Mismatch,
    #[error("the signature timestamp is too far in the future")]
    FromTheFuture,
    #[error("the signature timestamp is too old")]
    Stale,
}

/// The `webhook-signature` value for one message: `v1,<base64(HMAC-SHA256(key,
/// "{msg_id}.{timestamp}.{body}"))>`.
pub fn standard_webhook_signature(
    secret: &Secret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, InvalidWebhookSecret> {
    let mac = signed(&key(secret)?, msg_id, timestamp, body);
    Ok(format!(
        "{SIGNATURE_VERSION},{}",
        BASE64.encode(mac.finalize().into_bytes())
    ))
}

/// Checks a delivery over the exact bytes received: any one of the space-separated `v1`
/// signatures must match (in constant time), and the timestamp must be within
/// [`SIGNATURE_TOLERANCE_SECS`] of `now_unix_secs`.
pub fn verify_standard_webhook(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<(), WebhookVerifyError> {
    let msg_id = header(headers, WEBHOOK_ID_HEADER)?;
    let timestamp = header(headers, WEBHOOK_TIMESTAMP_HEADER)?;
    let signatures = header(headers, WEBHOOK_SIGNATURE_HEADER)?;
    let timestamp: i64 = timestamp
        .parse()
        .map_err(|_| WebhookVerifyError::MalformedHeader(WEBHOOK_TIMESTAMP_HEADER))?;
    let key = key(secret)?;

    let matches = signatures
        .split(' ')
        .filter_map(|signature| signature.split_once(','))
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .filter_map(|(_, encoded)| BASE64.decode(encoded).ok())
        .any(|expected| {
            signed(&key, msg_id, timestamp, body)
                .verify_slice(&expected)
                .is_ok()
        });
    if !matches {
        return Err(WebhookVerifyError::Mismatch);
    }
    // Checked after the MAC, so a forgery learns nothing about the window.
    if timestamp > now_unix_secs.saturating_add(SIGNATURE_TOLERANCE_SECS) {
        return Err(WebhookVerifyError::FromTheFuture);
    }
    if timestamp < now_unix_secs.saturating_sub(SIGNATURE_TOLERANCE_SECS) {
        return Err(WebhookVerifyError::Stale);
    }
    Ok(())
}

/// Posts the alert, signed with a fresh timestamp; `webhook-id` stays the message id across
/// retries so the receiver can de-duplicate.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &Secret,
    message: &AlertMessage,
) -> Result<(), DeliveryError> {
    let body = payload(message);
    let timestamp = chrono::Utc::now().timestamp();
    let signature = standard_webhook_signature(secret, &message.message_id, timestamp, &body)
        .map_err(|error| DeliveryError::permanent(error.to_string()))?;
    let header_value = |value: &str| {
        HeaderValue::from_str(value)
            .map_err(|_| DeliveryError::permanent("the message id cannot be sent as a header"))
    };
    let headers = [
        (
            HeaderName::from_static(WEBHOOK_ID_HEADER),
            header_value(&message.message_id)?,
        ),
        (
            HeaderName::from_static(WEBHOOK_TIMESTAMP_HEADER),
            HeaderValue::from(timestamp),
        ),
        (
            HeaderName::from_static(WEBHOOK_SIGNATURE_HEADER),
            header_value(&signature)?,
        ),
    ];
    http::post_json(client, url, &body, &headers).await
}

/// The alert as JSON, with a `type` such as `finding.alert` or `finding.escalation`.
pub(crate) fn payload(message: &AlertMessage) -> Vec<u8> {
    let mut value = serde_json::to_value(message).expect("an alert serializes to JSON");
    if let serde_json::Value::Object(fields) = &mut value {
        fields.insert(
            "type".into(),
            serde_json::Value::String(format!("finding.{}", message.kind)),
        );
    }
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// The key a secret stands for, read as the Standard Webhooks libraries read it: base64,
/// after a `whsec_` prefix if there is one. (Its raw bytes would sign what no receiver using
/// those libraries can verify.)
fn key(secret: &Secret) -> Result<Vec<u8>, InvalidWebhookSecret> {
    let text = secret.expose();
    if text.is_empty() {
        return Err(InvalidWebhookSecret::Empty);
    }
    let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
    match SECRET_BASE64.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(InvalidWebhookSecret::NotBase64),
    }
}

/// Checks that `secret` can sign deliveries, for the import and the console to refuse one
/// that cannot, with the reason, before any alert depends on it.
pub fn check_secret(secret: &Secret) -> Result<(), InvalidWebhookSecret> {
    key(secret).map(|_| ())
}

fn signed(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(msg_id.as_bytes());
    mac.update(format!(".{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, WebhookVerifyError> {
    headers
        .get(name)
        .ok_or(WebhookVerifyError::MissingHeader(name))?
        .to_str()
        .map_err(|_| WebhookVerifyError::MalformedHeader(name))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;
    use crate::alerts::channels::test_support::{alert, SUMMARY};
    use crate::alerts::channels::{ChannelTarget, Channels};

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> Secret {
        Secret::new(SPEC_SECRET)
    }

    fn signed_headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(WEBHOOK_ID_HEADER, HeaderValue::from_str(id).unwrap());
        headers.insert(WEBHOOK_TIMESTAMP_HEADER, HeaderValue::from(timestamp));
        headers.insert(
            WEBHOOK_SIGNATURE_HEADER,
            HeaderValue::from_str(signature).unwrap(),
        );
        headers
    }

    fn spec_headers() -> HeaderMap {
        signed_headers(SPEC_ID, SPEC_TIMESTAMP, SPEC_SIGNATURE)
    }

    #[test]
    fn signatures_match_the_published_standard_webhooks_test_vector() {
        // From the specification's reference libraries (svix-webhooks, standard-webhooks):
        // matching it is what says a consumer's own library will accept what we send.
        let signature =
            standard_webhook_signature(&secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(signature, SPEC_SIGNATURE);
    }

    #[test]
    fn signatures_match_the_reference_rust_library_test_vector() {
        let signature = standard_webhook_signature(
            &Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn a_secret_without_the_prefix_is_read_as_base64_as_the_libraries_read_it() {
        let bare = standard_webhook_signature(&Secret::new("YWJj"), "id", 1, b"{}").unwrap();
        let prefixed = standard_webhook_signature(&Secret::new("whsec_YWJj"), "id", 1, b"{}");
        assert_eq!(Ok(bare), prefixed);
        let padded = standard_webhook_signature(&Secret::new("whsec_YWI="), "id", 1, b"{}");
        let unpadded = standard_webhook_signature(&Secret::new("whsec_YWI"), "id", 1, b"{}");
        assert_eq!(padded, unpadded);
        assert_eq!(
            check_secret(&Secret::new("a raw passphrase")),
            Err(InvalidWebhookSecret::NotBase64)
        );
    }

    #[test]
    fn an_empty_or_undecodable_secret_is_refused() {
        for (secret, expected) in [
            ("", InvalidWebhookSecret::Empty),
            ("whsec_", InvalidWebhookSecret::NotBase64),
            ("whsec_not base64!", InvalidWebhookSecret::NotBase64),
        ] {
            let result = standard_webhook_signature(&Secret::new(secret), "id", 1, b"{}");
            assert_eq!(result, Err(expected), "{secret:?}");
        }
    }

    #[test]
    fn the_published_vector_verifies() {
        verify_standard_webhook(&secret(), &spec_headers(), SPEC_BODY, SPEC_TIMESTAMP).unwrap();
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let several = format!("v1,bm9wZQ== v2,{} {SPEC_SIGNATURE}", &SPEC_SIGNATURE[3..]);
        let headers = signed_headers(SPEC_ID, SPEC_TIMESTAMP, &several);
        verify_standard_webhook(&secret(), &headers, SPEC_BODY, SPEC_TIMESTAMP).unwrap();
    }

    #[test]
    fn a_changed_body_a_truncated_signature_or_another_secret_is_a_mismatch() {
        let now = SPEC_TIMESTAMP;
        let changed = br#"{"test": 2432232315}"#;
        let truncated = signed_headers(SPEC_ID, now, &SPEC_SIGNATURE[..20]);
        let other = Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let cases = [
            verify_standard_webhook(&secret(), &spec_headers(), changed, now),
            verify_standard_webhook(&secret(), &truncated, SPEC_BODY, now),
            verify_standard_webhook(&other, &spec_headers(), SPEC_BODY, now),
        ];
        for result in cases {
            assert_eq!(result, Err(WebhookVerifyError::Mismatch));
        }
    }

    #[test]
    fn each_missing_header_is_named() {
        for name in [
            WEBHOOK_ID_HEADER,
            WEBHOOK_TIMESTAMP_HEADER,
            WEBHOOK_SIGNATURE_HEADER,
        ] {
            let mut headers = spec_headers();
            headers.remove(name);
            let result = verify_standard_webhook(&secret(), &headers, SPEC_BODY, SPEC_TIMESTAMP);
            assert_eq!(result, Err(WebhookVerifyError::MissingHeader(name)));
        }
    }

    #[test]
    fn a_timestamp_one_second_past_the_tolerance_either_way_is_refused() {
        let verify = |now| verify_standard_webhook(&secret(), &spec_headers(), SPEC_BODY, now);
        let edge = SIGNATURE_TOLERANCE_SECS;
        assert_eq!(verify(SPEC_TIMESTAMP + edge), Ok(()));
        assert_eq!(verify(SPEC_TIMESTAMP - edge), Ok(()));
        assert_eq!(
            verify(SPEC_TIMESTAMP + edge + 1),
            Err(WebhookVerifyError::Stale)
        );
        assert_eq!(
            verify(SPEC_TIMESTAMP - edge - 1),
            Err(WebhookVerifyError::FromTheFuture)
        );
    }

    #[test]
    fn a_non_ascii_body_signs_and_verifies() {
        let body = "{\"summary\":\"Zoë — Łukasz\"}".as_bytes();
        let signature = standard_webhook_signature(&secret(), "msg_1", 100, body).unwrap();
        let headers = signed_headers("msg_1", 100, &signature);
        verify_standard_webhook(&secret(), &headers, body, 100).unwrap();
    }

    #[test]
    fn the_payload_is_the_alert_with_a_type() {
        let json: serde_json::Value = serde_json::from_slice(&payload(&alert())).unwrap();
        assert_eq!(json["type"], "finding.alert");
        assert_eq!(json["message_id"], "msg_42_0");
        assert_eq!(json["summary"], SUMMARY);
        assert_eq!(json["severity"], "high");
    }

    #[tokio::test]
    async fn a_webhook_delivered_to_a_local_receiver_verifies() {
        // Arrange: a receiver that verifies over the raw bytes, as the spec asks.
        let received: Arc<Mutex<Vec<Result<Bytes, WebhookVerifyError>>>> = Arc::default();
        let app = axum::Router::new().route(
            "/hook",
            post({
                let received = Arc::clone(&received);
                move |headers: HeaderMap, body: Bytes| async move {
                    let now = chrono::Utc::now().timestamp();
                    let verified = verify_standard_webhook(&secret(), &headers, &body, now);
                    let status = match verified {
                        Ok(()) => StatusCode::NO_CONTENT,
                        Err(_) => StatusCode::UNAUTHORIZED,
                    };
                    received.lock().unwrap().push(verified.map(|()| body));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let channels = Channels::new(reqwest::Client::new(), None).unwrap();

        // Act
        let target = ChannelTarget::Webhook {
            url: url.clone(),
            secret: secret(),
        };
        let delivered = channels.deliver(&target, &alert()).await;
        let wrong_secret = ChannelTarget::Webhook {
            url,
            secret: Secret::new("whsec_YW5vdGhlci1zZWNyZXQ="),
        };
        let refused = channels.deliver(&wrong_secret, &alert()).await;
        server.abort();

        // Assert
        delivered.unwrap();
        let received = received.lock().unwrap();
        let body = received[0].as_ref().expect("the first delivery verifies");
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["acknowledge_url"], alert().acknowledge_url);
        assert_eq!(received[1], Err(WebhookVerifyError::Mismatch));
        let refused = refused.unwrap_err();
        assert!(!refused.is_retryable(), "a 401 is permanent: {refused}");
    }
}
