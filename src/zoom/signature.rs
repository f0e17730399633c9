//! Zoom's webhook signature (`x-zm-signature: v0=<hex HMAC-SHA256>` over
//! `v0:{x-zm-request-timestamp}:{raw body}`) and its URL validation answer.
//! See shared/platforms/zoom.md §1.2–1.3.

use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "x-zm-signature";
pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";
const SIGNATURE_PREFIX: &str = "v0=";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature timestamp is too far in the future")]
    FromTheFuture,
    #[error("the signature timestamp is too old")]
    Stale,
}

impl SignatureError {
    /// A stable label for the refusal metric.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader(_) => "signature_missing",
            SignatureError::MalformedHeader(_) => "signature_malformed",
            SignatureError::Mismatch => "signature_mismatch",
            SignatureError::FromTheFuture => "signature_future",
            SignatureError::Stale => "signature_stale",
        }
    }
}

/// How far from now a signature timestamp may be.
#[derive(Debug, Clone, Copy)]
pub struct TimestampWindow {
    pub max_clock_skew: Duration,
    pub max_age: Duration,
}

/// Checks the signature over the exact bytes received, with any of `secrets`
/// (the current token and, during a rotation, the previous one).
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&Secret],
    window: TimestampWindow,
    now_unix_secs: i64,
) -> Result<(), SignatureError> {
    let timestamp = header(headers, TIMESTAMP_HEADER)?;
    let signature = header(headers, SIGNATURE_HEADER)?;
    let timestamp_secs: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::MalformedHeader(TIMESTAMP_HEADER))?;
    let expected = signature
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(SignatureError::MalformedHeader(SIGNATURE_HEADER))?;

    let matches = secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .any(|secret| {
            let mut mac = keyed(secret);
            mac.update(b"v0:");
            mac.update(timestamp.as_bytes());
            mac.update(b":");
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    // Checked after the MAC, so an attacker learns nothing about the window from a forgery.
    if timestamp_secs > now_unix_secs.saturating_add(window.max_clock_skew.as_secs() as i64) {
        return Err(SignatureError::FromTheFuture);
    }
    if timestamp_secs < now_unix_secs.saturating_sub(window.max_age.as_secs() as i64) {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The `encryptedToken` for an `endpoint.url_validation` request: hex HMAC of the plain token.
pub fn url_validation_token(secret: &Secret, plain_token: &str) -> String {
    let mut mac = keyed(secret);
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs a body the way Zoom does; used by tests, benchmarks and tools that replay events.
pub fn sign(secret: &Secret, timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(format!("v0:{timestamp_secs}:").as_bytes());
    mac.update(body);
    format!(
        "{SIGNATURE_PREFIX}{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn keyed(secret: &Secret) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes a key of any length")
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, SignatureError> {
    headers
        .get(name)
        .ok_or(SignatureError::MissingHeader(name))?
        .to_str()
        .map_err(|_| SignatureError::MalformedHeader(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    // A real Zoom delivery (shared/platforms/zoom.md §1.2, test vector 1).
    const VECTOR_SECRET: &str = "4fv1RkqGQUq5sWbEz6hA5A";
    const VECTOR_TIMESTAMP: i64 = 1720705455;
    const VECTOR_BODY: &str = r#"{"payload":{"plainToken":"xys8n8PGS7mAU0m5-YJjRA"},"event_ts":1720705455858,"event":"endpoint.url_validation"}"#;
    const VECTOR_SIGNATURE: &str =
        "v0=93a1a675965ceb9c5a50c5dfb31f20e50f763be37a54ef74cd2d16a1a8e5c0d6";
    const WINDOW: TimestampWindow = TimestampWindow {
        max_clock_skew: Duration::from_secs(300),
        max_age: Duration::from_secs(7200),
    };

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        headers
    }

    fn secret() -> Secret {
        Secret::new(VECTOR_SECRET)
    }

    #[test]
    fn zooms_published_vector_verifies() {
        let headers = headers(&VECTOR_TIMESTAMP.to_string(), VECTOR_SIGNATURE);
        assert_eq!(
            verify(
                &headers,
                VECTOR_BODY.as_bytes(),
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Ok(())
        );
        assert_eq!(
            sign(&secret(), VECTOR_TIMESTAMP, VECTOR_BODY.as_bytes()),
            VECTOR_SIGNATURE
        );
    }

    #[test]
    fn zooms_published_url_validation_token_matches() {
        assert_eq!(
            url_validation_token(&secret(), "xys8n8PGS7mAU0m5-YJjRA"),
            "2fffc6a967dde4f68024025a5bd991c5ae1e5313b4e6365be4883e3e81d479b3"
        );
    }

    #[test]
    fn a_body_changed_by_one_byte_is_a_mismatch() {
        let headers = headers(&VECTOR_TIMESTAMP.to_string(), VECTOR_SIGNATURE);
        let tampered = VECTOR_BODY.replace("xys8", "xys9");
        assert_eq!(
            verify(
                &headers,
                tampered.as_bytes(),
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_truncated_signature_is_a_mismatch() {
        let truncated = &VECTOR_SIGNATURE[..VECTOR_SIGNATURE.len() - 2];
        let headers = headers(&VECTOR_TIMESTAMP.to_string(), truncated);
        assert_eq!(
            verify(
                &headers,
                VECTOR_BODY.as_bytes(),
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_without_the_version_prefix_is_malformed() {
        let headers = headers(&VECTOR_TIMESTAMP.to_string(), &VECTOR_SIGNATURE[3..]);
        assert_eq!(
            verify(
                &headers,
                VECTOR_BODY.as_bytes(),
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Err(SignatureError::MalformedHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        let mut only_signature = HeaderMap::new();
        only_signature.insert(SIGNATURE_HEADER, HeaderValue::from_static(VECTOR_SIGNATURE));
        assert_eq!(
            verify(
                &only_signature,
                b"{}",
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Err(SignatureError::MissingHeader(TIMESTAMP_HEADER))
        );
        let mut only_timestamp = HeaderMap::new();
        only_timestamp.insert(TIMESTAMP_HEADER, HeaderValue::from_static("1720705455"));
        assert_eq!(
            verify(
                &only_timestamp,
                b"{}",
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn the_wrong_secret_is_a_mismatch_and_the_previous_secret_still_verifies() {
        let headers = headers(&VECTOR_TIMESTAMP.to_string(), VECTOR_SIGNATURE);
        let wrong = Secret::new("not-the-secret");
        assert_eq!(
            verify(
                &headers,
                VECTOR_BODY.as_bytes(),
                &[&wrong],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &headers,
                VECTOR_BODY.as_bytes(),
                &[&wrong, &secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Ok(())
        );
    }

    #[test]
    fn the_timestamp_window_holds_to_the_second_both_ways() {
        let ts = VECTOR_TIMESTAMP;
        let signed = |at: i64| {
            let body = VECTOR_BODY.as_bytes();
            (headers(&at.to_string(), &sign(&secret(), at, body)), body)
        };
        let (h, b) = signed(ts + 300);
        assert_eq!(verify(&h, b, &[&secret()], WINDOW, ts), Ok(()));
        let (h, b) = signed(ts + 301);
        assert_eq!(
            verify(&h, b, &[&secret()], WINDOW, ts),
            Err(SignatureError::FromTheFuture)
        );
        let (h, b) = signed(ts - 7200);
        assert_eq!(verify(&h, b, &[&secret()], WINDOW, ts), Ok(()));
        let (h, b) = signed(ts - 7201);
        assert_eq!(
            verify(&h, b, &[&secret()], WINDOW, ts),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn non_ascii_bodies_verify_over_their_exact_bytes() {
        // Raw UTF-8 emoji beside an escaped surrogate pair, as Zoom sends them.
        let body = "{\"event\":\"meeting.started\",\"payload\":{\"object\":{\"topic\":\"Café 🎉 \\ud83d\\ude00 – Ωmega\"}}}";
        let signature = sign(&secret(), VECTOR_TIMESTAMP, body.as_bytes());
        let headers = headers(&VECTOR_TIMESTAMP.to_string(), &signature);
        assert_eq!(
            verify(
                &headers,
                body.as_bytes(),
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Ok(())
        );
    }

    #[test]
    fn a_non_numeric_timestamp_is_malformed() {
        let headers = headers("yesterday", VECTOR_SIGNATURE);
        assert_eq!(
            verify(
                &headers,
                VECTOR_BODY.as_bytes(),
                &[&secret()],
                WINDOW,
                VECTOR_TIMESTAMP
            ),
            Err(SignatureError::MalformedHeader(TIMESTAMP_HEADER))
        );
    }
}
