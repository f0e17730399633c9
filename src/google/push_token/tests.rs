//! Tokens signed for real with RSA keys made here, against a local key-set server.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex as StdMutex;

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use super::*;

const AUDIENCE: &str = "https://chaperone.example.org/webhooks/google_meet/abc";
const PUSH_ACCOUNT: &str = "push@school-meet.iam.gserviceaccount.com";

struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
    jwk: Value,
}

fn signing_key(kid: &str) -> SigningKey {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
    let der = private.to_pkcs8_der().expect("PKCS#8");
    let public = private.to_public_key();
    SigningKey {
        kid: kid.to_string(),
        pair: RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring reads the key"),
        jwk: json!({
            "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    }
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn sign(key: &SigningKey, header: Value, claims: Value) -> String {
    let signed = format!("{}.{}", encode(&header), encode(&claims));
    let mut signature = vec![0; key.pair.public().modulus_len()];
    key.pair
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn good_claims(now: i64) -> Value {
    json!({
        "iss": "https://accounts.google.com", "aud": AUDIENCE, "email": PUSH_ACCOUNT,
        "email_verified": true, "iat": now - 10, "exp": now + 3590, "sub": "1234567890",
    })
}

fn token(key: &SigningKey, claims: Value) -> String {
    sign(
        key,
        json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"}),
        claims,
    )
}

struct KeyServer {
    keys: StdMutex<Vec<Value>>,
    fetches: AtomicU32,
    cache_control: &'static str,
}

async fn serve_keys(State(server): State<Arc<KeyServer>>) -> impl IntoResponse {
    server.fetches.fetch_add(1, Ordering::SeqCst);
    let keys = server.keys.lock().unwrap().clone();
    (
        [(CACHE_CONTROL, server.cache_control)],
        Json(json!({ "keys": keys })),
    )
}

async fn key_server(keys: Vec<Value>, cache_control: &'static str) -> (Arc<KeyServer>, String) {
    let server = Arc::new(KeyServer {
        keys: StdMutex::new(keys),
        fetches: AtomicU32::new(0),
        cache_control,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/oauth2/v3/certs", get(serve_keys))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (server, url)
}

fn verifier(keys_url: String) -> PushTokenVerifier {
    PushTokenVerifier::new(
        reqwest::Client::new(),
        PushTokenSettings {
            keys_url,
            audience: AUDIENCE.into(),
            service_account_email: PUSH_ACCOUNT.into(),
            leeway: Duration::from_secs(60),
            min_refresh_interval: Duration::from_secs(30),
        },
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_token_google_signed_for_this_endpoint_is_accepted_and_every_other_refused() {
    let key = signing_key("key-1");
    let stranger = signing_key("key-1");
    let (_, url) = key_server(vec![key.jwk.clone()], "public, max-age=3600").await;
    let verifier = verifier(url);
    let now = Utc::now();
    let at = now.timestamp();
    assert_eq!(
        verifier
            .verify(Some(&bearer(&token(&key, good_claims(at)))), now)
            .await,
        Ok(())
    );

    let with = |field: &str, value: Value| {
        let mut claims = good_claims(at);
        claims[field] = value;
        token(&key, claims)
    };
    let without = |field: &str| {
        let mut claims = good_claims(at);
        claims.as_object_mut().unwrap().remove(field);
        token(&key, claims)
    };
    let good = token(&key, good_claims(at));
    let truncated = good[..good.len() - 10].to_string();
    let public_key_bytes = key.jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let hs256 = {
        use hmac::{Hmac, Mac};
        let signed = format!(
            "{}.{}",
            encode(&json!({"alg": "HS256", "kid": "key-1"})),
            encode(&good_claims(at))
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&public_key_bytes).unwrap();
        mac.update(signed.as_bytes());
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let unsigned = format!(
        "{}.{}.",
        encode(&json!({"alg": "none", "kid": "key-1"})),
        encode(&good_claims(at))
    );
    let cases: Vec<(String, PushTokenError)> = vec![
        (
            with("aud", json!("https://elsewhere.example.org/push")),
            PushTokenError::Audience,
        ),
        (
            with("aud", json!([AUDIENCE, "https://elsewhere.example.org"])),
            PushTokenError::Audience,
        ),
        (
            with("iss", json!("https://evil.example.org")),
            PushTokenError::Issuer,
        ),
        (
            with(
                "email",
                json!("someone@other-project.iam.gserviceaccount.com"),
            ),
            PushTokenError::Account,
        ),
        (
            with("email_verified", json!(false)),
            PushTokenError::EmailUnverified,
        ),
        (without("email_verified"), PushTokenError::EmailUnverified),
        (with("exp", json!(at - 3600)), PushTokenError::Expired),
        (with("iat", json!(at + 600)), PushTokenError::NotYetValid),
        (
            without("iat"),
            PushTokenError::Malformed("it lacks iat or exp"),
        ),
        (token(&stranger, good_claims(at)), PushTokenError::Signature),
        (unsigned, PushTokenError::Algorithm("none".into())),
        (hs256, PushTokenError::Algorithm("HS256".into())),
        (truncated, PushTokenError::Signature),
        (
            "not-a-token".into(),
            PushTokenError::Malformed("it does not have three parts"),
        ),
    ];
    for (token, expected) in cases {
        assert_eq!(
            verifier.verify(Some(&bearer(&token)), now).await,
            Err(expected.clone()),
            "{expected}"
        );
        assert!(!expected.is_transient());
    }
    assert_eq!(
        verifier.verify(None, now).await,
        Err(PushTokenError::Missing)
    );
    assert_eq!(
        verifier.verify(Some("Basic dXNlcjpwYXNz"), now).await,
        Err(PushTokenError::Missing)
    );
    // Within the leeway either side is still current.
    assert_eq!(
        verifier
            .verify(Some(&bearer(&with("exp", json!(at - 30)))), now)
            .await,
        Ok(())
    );
}

#[tokio::test]
async fn keys_are_kept_for_their_max_age_and_a_rotation_is_picked_up_once() {
    let old = signing_key("old");
    let new = signing_key("new");
    let (server, url) = key_server(vec![old.jwk.clone()], "public, max-age=3600").await;
    let verifier = verifier(url);
    let now = Utc::now();
    let at = now.timestamp();
    for _ in 0..3 {
        verifier
            .verify(Some(&bearer(&token(&old, good_claims(at)))), now)
            .await
            .unwrap();
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "cached for max-age"
    );

    // Google starts signing with a new key: the first token naming it fetches the set again.
    server.keys.lock().unwrap().push(new.jwk.clone());
    verifier
        .verify(Some(&bearer(&token(&new, good_claims(at)))), now)
        .await
        .unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);

    // Forged key ids do not make it fetch again and again: not within the refresh interval.
    let forged = signing_key("forged");
    for _ in 0..5 {
        assert_eq!(
            verifier
                .verify(Some(&bearer(&token(&forged, good_claims(at)))), now)
                .await,
            Err(PushTokenError::UnknownKey)
        );
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "refused without fetching"
    );
}

#[tokio::test]
async fn an_unreachable_key_set_is_a_transient_failure() {
    let key = signing_key("key-1");
    let verifier = verifier("http://127.0.0.1:9/oauth2/v3/certs".into());
    let now = Utc::now();
    let refused = verifier
        .verify(
            Some(&bearer(&token(&key, good_claims(now.timestamp())))),
            now,
        )
        .await
        .unwrap_err();
    assert!(refused.is_transient(), "{refused}");
}

#[test]
fn max_age_is_read_from_cache_control() {
    assert_eq!(
        max_age("public, max-age=19845, must-revalidate, no-transform"),
        Some(Duration::from_secs(19845))
    );
    assert_eq!(max_age("no-store"), None);
}
