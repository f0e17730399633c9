//! Inputs the fuzz targets (`fuzz/`) found mishandled, minimised and fed through the same
//! public functions, so that each stays fixed. See fuzz/README.md.

use std::time::Duration;

use axum::http::header::CACHE_CONTROL;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chaperone::google::push_token::{PushTokenError, PushTokenSettings, PushTokenVerifier};
use chrono::{TimeZone, Utc};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::json;

const AUDIENCE: &str = "https://chaperone.example.org/webhooks/google_meet/abc";
const PUSH_ACCOUNT: &str = "push@school-meet.iam.gserviceaccount.com";
const KEY_ID: &str = "push-key-1";

/// A verifier whose key set, served locally, holds `key`'s public half.
async fn verifier_for(key: &RsaPrivateKey) -> PushTokenVerifier {
    let jwk = json!({
        "kid": KEY_ID, "kty": "RSA", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    });
    let keys = Router::new().route(
        "/certs",
        get(move || {
            let jwk = jwk.clone();
            async move {
                (
                    [(CACHE_CONTROL, "max-age=3600")],
                    Json(json!({"keys": [jwk]})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, keys).await });
    PushTokenVerifier::new(
        reqwest::Client::new(),
        PushTokenSettings {
            keys_url: format!("http://{address}/certs"),
            audience: AUDIENCE.into(),
            service_account_email: PUSH_ACCOUNT.into(),
            leeway: Duration::from_secs(60),
            min_refresh_interval: Duration::from_secs(30),
        },
    )
}

/// `Bearer` + a JWT of exactly these header and claims bytes, signed with `key`.
fn bearer(key: &RsaPrivateKey, header: &[u8], claims: &[u8]) -> String {
    let der = key.to_pkcs8_der().unwrap();
    let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).unwrap();
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("Bearer {signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// google_push_token: a claim the verifier does not read (`sub`) held a byte that is not
/// UTF-8, and the token was accepted, as `serde_json` skips unread values without checking
/// them. Claims are UTF-8 JSON (RFC 7519); such a token is malformed whoever signed it.
#[tokio::test]
async fn a_push_token_whose_claims_are_not_utf8_is_refused_as_malformed() {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let verifier = verifier_for(&key).await;
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 14, 0, 0).unwrap();
    let header = br#"{"alg":"RS256","kid":"push-key-1","typ":"JWT"}"#;
    let claims = |sub: &[u8]| {
        let mut claims = format!(
            r#"{{"iss":"https://accounts.google.com","aud":"{AUDIENCE}","email":"{PUSH_ACCOUNT}","email_verified":true,"iat":1773150990,"exp":1773154590,"sub":""#
        )
        .into_bytes();
        claims.extend_from_slice(sub);
        claims.extend_from_slice(br#""}"#);
        claims
    };

    let text = bearer(&key, header, &claims(b"1234567890"));
    assert_eq!(verifier.verify(Some(&text), now).await, Ok(()));
    let not_text = bearer(&key, header, &claims(b"1234567\x8c890"));
    assert_eq!(
        verifier.verify(Some(&not_text), now).await,
        Err(PushTokenError::Malformed("a part is not UTF-8"))
    );
}
