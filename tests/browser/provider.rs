//! A local OpenID Connect provider for the browser to sign in at: a discovery document, a key
//! set with an RSA key made here, an authorization endpoint that sends the browser straight
//! back with a code (as if the person were already signed in at the provider), and a token
//! endpoint that redeems the code once, for the right client and PKCE verifier, with an ID
//! token signed for real (RS256) carrying the nonce it was sent.
//!
//! It answers at `localhost` while chaperone answers at `127.0.0.1`, so the browser crosses
//! sites as it would between a school's provider and chaperone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Url;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "chaperone-browser-test";
pub const CLIENT_SECRET: &str = "browser-test-client-secret";
const KEY_ID: &str = "browser-test-key";

/// What the provider saw, for the test to check.
#[derive(Default)]
pub struct Seen {
    /// The query of each authorization request.
    pub authorizations: Vec<HashMap<String, String>>,
    /// Each token request, and whether it was answered with an ID token.
    pub token_requests: Vec<bool>,
}

struct ProviderState {
    issuer: String,
    key: RsaKeyPair,
    jwk: Value,
    /// The address of the person signed in at the provider.
    email: String,
    /// Codes issued and not yet redeemed, with the authorization each answers.
    codes: HashMap<String, HashMap<String, String>>,
    seen: Seen,
}

type Shared = Arc<Mutex<ProviderState>>;

pub struct Provider {
    pub issuer: String,
    state: Shared,
}

impl Provider {
    /// Starts the provider with `email` signed in at it.
    pub async fn start(email: &str) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the provider");
        let port = listener.local_addr().expect("its address").port();
        let issuer = format!("http://localhost:{port}");
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
        let public = private.to_public_key();
        let der = private.to_pkcs8_der().expect("PKCS#8");
        let state: Shared = Arc::new(Mutex::new(ProviderState {
            issuer: issuer.clone(),
            key: RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring reads the key"),
            jwk: json!({
                "kid": KEY_ID, "kty": "RSA", "alg": "RS256", "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
            email: email.to_string(),
            codes: HashMap::new(),
            seen: Seen::default(),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/keys", get(keys))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider { issuer, state }
    }

    /// Reads what the provider saw so far.
    pub fn seen<T>(&self, read: impl FnOnce(&Seen) -> T) -> T {
        read(&self.state.lock().expect("the provider's state").seen)
    }
}

async fn discovery(State(state): State<Shared>) -> Json<Value> {
    let issuer = state.lock().expect("the provider's state").issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }))
}

/// Sends the browser back to the client's redirect address with a code and the state.
async fn authorize(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().expect("the provider's state");
    state.seen.authorizations.push(query.clone());
    let (Some(redirect_uri), Some(client_state)) = (query.get("redirect_uri"), query.get("state"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and state are required",
        )
            .into_response();
    };
    let Ok(mut back) = Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not an address").into_response();
    };
    let code = format!("code-{}", state.seen.authorizations.len());
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", client_state);
    state.codes.insert(code, query);
    (StatusCode::FOUND, [(LOCATION, back.to_string())]).into_response()
}

/// Redeems a code once, for the client it was issued to, with the verifier of its challenge.
async fn token(State(state): State<Shared>, body: String) -> Response {
    let form: HashMap<String, String> = Url::parse(&format!("http://form.invalid/?{body}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let field = |name: &str| form.get(name).map(String::as_str);
    let mut state = state.lock().expect("the provider's state");
    let authorization = state.codes.remove(field("code").unwrap_or_default());
    let redeemable = authorization.as_ref().is_some_and(|authorization| {
        let asked = |name: &str| authorization.get(name).map(String::as_str);
        field("grant_type") == Some("authorization_code")
            && field("client_id") == Some(CLIENT_ID)
            && field("client_secret") == Some(CLIENT_SECRET)
            && field("redirect_uri") == asked("redirect_uri")
            && asked("code_challenge_method") == Some("S256")
            && field("code_verifier").map(s256).as_deref() == asked("code_challenge")
    });
    state.seen.token_requests.push(redeemable);
    let Some(authorization) = authorization.filter(|_| redeemable) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": state.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": "browser-test-subject-1",
        "email": state.email, "email_verified": true,
        "nonce": authorization.get("nonce"), "iat": now - 2, "exp": now + 3598,
    });
    let id_token = sign(&state.key, &claims);
    Json(json!({
        "access_token": "not-used", "token_type": "Bearer", "expires_in": 3599,
        "scope": "openid email profile", "id_token": id_token,
    }))
    .into_response()
}

async fn keys(State(state): State<Shared>) -> Json<Value> {
    let jwk = state.lock().expect("the provider's state").jwk.clone();
    Json(json!({"keys": [jwk]}))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A compact JWS over `claims`, RS256 with the provider's key.
fn sign(key: &RsaKeyPair, claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let header = json!({"alg": "RS256", "kid": KEY_ID, "typ": "JWT"});
    let signed = format!("{}.{}", encode(&header), encode(claims));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .expect("RS256 signs");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}
