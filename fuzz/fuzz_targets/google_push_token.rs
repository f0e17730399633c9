//! The OIDC token of a Pub/Sub push (`Authorization: Bearer …`), checked against a fixed key
//! set that a local server hands out the way Google does. The first byte picks the form:
//! even, the rest is the header value as sent (garbage, mostly, refused without panicking);
//! odd, the rest is a JWT header and claims (JSON, one line each) that are signed here with
//! the key set's key, so the claims checks are reached. A token accepted must say exactly
//! what the push subscription's token says.

#![no_main]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chaperone::google::push_token::{PushTokenError, PushTokenSettings, PushTokenVerifier};
use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::Value;

const AUDIENCE: &str = "https://chaperone.example.org/webhooks/google_meet/abc";
const PUSH_ACCOUNT: &str = "push@school-meet.iam.gserviceaccount.com";
const KEY_ID: &str = "fuzz-key";
/// A key pair made for fuzzing only (`keys/`); it signs nothing else.
const PRIVATE_KEY: &[u8] = include_bytes!("../keys/push_token_key.pk8");
const MODULUS: &str = include_str!("../keys/push_token_key.n");

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: PushTokenVerifier,
    key: RsaKeyPair,
    now: DateTime<Utc>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let fixture = FIXTURE.get_or_init(fixture);
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let signed_here = form % 2 == 1;
    let authorization = if signed_here {
        signed(&fixture.key, rest)
    } else {
        String::from_utf8_lossy(rest).into_owned()
    };
    let verified = fixture
        .runtime
        .block_on(fixture.verifier.verify(Some(&authorization), fixture.now));
    match verified {
        Err(PushTokenError::KeysUnavailable(error)) => {
            panic!("the local key set could not be read: {error}")
        }
        Err(PushTokenError::Signature) if signed_here && names_our_key(rest) => {
            panic!("a token signed with the published key was refused as forged")
        }
        Ok(()) => {
            assert!(signed_here, "a token not signed with the key was accepted");
            let claims = part(rest, 1).expect("accepted claims are JSON");
            assert!(
                claims_are_the_push_accounts(&claims, fixture.now),
                "accepted claims: {claims}"
            );
        }
        Err(_) => {}
    }
});

/// Header and claims as given, base64url-encoded and signed with RS256.
fn signed(key: &RsaKeyPair, rest: &[u8]) -> String {
    let (header, claims) = match rest.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .expect("signing");
    format!("Bearer {message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Line `index` of the signed form's input, as JSON.
fn part(rest: &[u8], index: usize) -> Option<Value> {
    let line = rest.splitn(2, |byte| *byte == b'\n').nth(index)?;
    serde_json::from_slice(line).ok()
}

fn names_our_key(rest: &[u8]) -> bool {
    part(rest, 0).is_some_and(|header| {
        header.get("alg") == Some(&Value::from("RS256"))
            && header.get("kid") == Some(&Value::from(KEY_ID))
    })
}

/// What the push subscription's token says, checked here apart from the verifier's own code.
fn claims_are_the_push_accounts(claims: &Value, now: DateTime<Utc>) -> bool {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let now = now.timestamp();
    let leeway = 60;
    matches!(
        text("iss"),
        Some("accounts.google.com" | "https://accounts.google.com")
    ) && text("aud") == Some(AUDIENCE)
        && text("email").is_some_and(|email| email.eq_ignore_ascii_case(PUSH_ACCOUNT))
        && claims.get("email_verified") == Some(&Value::Bool(true))
        && claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat <= now + leeway)
        && claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp >= now - leeway)
}

fn fixture() -> Fixture {
    let keys_url = serve_key_set();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let verifier = PushTokenVerifier::new(
        http,
        PushTokenSettings {
            keys_url,
            audience: AUDIENCE.into(),
            service_account_email: PUSH_ACCOUNT.into(),
            leeway: Duration::from_secs(60),
            // Unknown key ids must not send the fuzzer to the key server on every input.
            min_refresh_interval: Duration::from_secs(24 * 3600),
        },
    );
    Fixture {
        runtime,
        verifier,
        key: RsaKeyPair::from_pkcs8(PRIVATE_KEY).expect("the fuzzing key"),
        now: Utc.with_ymd_and_hms(2026, 3, 10, 14, 0, 0).unwrap(),
    }
}

/// Serves the key set, cacheable for a day, at a local address; returns its URL.
fn serve_key_set() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let address = listener.local_addr().expect("its address");
    let body = serde_json::json!({"keys": [
        {"kid": KEY_ID, "kty": "RSA", "alg": "RS256", "use": "sig", "n": MODULUS.trim(), "e": "AQAB"},
        {"kid": "too-short", "kty": "RSA", "alg": "RS256", "use": "sig", "n": "AQAB", "e": "AQAB"},
        {"kid": "not-rsa", "kty": "EC", "n": "", "e": ""},
    ]})
    .to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 cache-control: public, max-age=86400\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}/certs")
}
