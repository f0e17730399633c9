//! Sign-in with the school's identity provider, against a local OpenID Connect provider started
//! here: it serves a discovery document and a key set with an RSA key made here, records what
//! its authorization endpoint is sent, and its token endpoint checks the code, the PKCE
//! verifier against the challenge (S256), the client and the redirect address before answering
//! with an ID token signed for real. A browser is played by a client that follows no
//! redirects. Every refusal leaves no session behind.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{StatusCode, Url};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const CLIENT_ID: &str = "chaperone-test-client";
const CLIENT_SECRET: &str = "test-client-secret";
/// As registered with the provider: chaperone's public address, not the test's port.
const REDIRECT_URL: &str = "http://chaperone.test/sign-in/oidc/callback";
const DOMAIN: &str = "greenfield.sch.uk";
const EMAIL: &str = "dana.lee@greenfield.sch.uk";
const PROVIDER_KEY_ID: &str = "provider-key-1";
const ROTATED_KEY_ID: &str = "provider-key-2";

struct SigningKey {
    pair: RsaKeyPair,
    /// The public half as a JSON Web Key, with `kid`.
    jwk: Value,
}

fn signing_key(kid: &str) -> SigningKey {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
    let der = private.to_pkcs8_der().expect("PKCS#8");
    let public = private.to_public_key();
    SigningKey {
        pair: RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring reads the key"),
        jwk: json!({
            "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    }
}

/// The provider's key, the key it rotates to, and a key it never published; made once.
static KEYS: LazyLock<[SigningKey; 3]> = LazyLock::new(|| {
    [
        signing_key(PROVIDER_KEY_ID),
        signing_key(ROTATED_KEY_ID),
        signing_key("impostor"),
    ]
});

fn provider_key() -> &'static SigningKey {
    &KEYS[0]
}

fn rotated_key() -> &'static SigningKey {
    &KEYS[1]
}

fn impostor_key() -> &'static SigningKey {
    &KEYS[2]
}

/// How the provider signs the ID tokens it issues.
#[derive(Clone, Copy)]
enum Signer {
    /// With `key`, naming `kid` in the header.
    Key {
        key: &'static SigningKey,
        kid: &'static str,
    },
    /// With the header `{"alg": alg}` and an empty signature.
    Unsigned { alg: &'static str },
}

impl Signer {
    fn provider() -> Signer {
        Signer::Key {
            key: provider_key(),
            kid: PROVIDER_KEY_ID,
        }
    }
}

struct ProviderState {
    issuer: String,
    signer: Signer,
    /// Claims over the good ones in the next ID tokens (`null` removes one).
    claim_changes: Value,
    /// The person who signs in at the provider.
    email: String,
    /// The key set served.
    published: Vec<Value>,
    /// The query of each authorization request.
    authorizations: Vec<HashMap<String, String>>,
    /// Codes issued and not yet redeemed, with the authorization they answer.
    codes: HashMap<String, HashMap<String, String>>,
    /// The form of each token request, and whether it was answered with a token.
    token_requests: Vec<(HashMap<String, String>, bool)>,
    discovery_fetches: u32,
    key_fetches: u32,
}

type Shared = Arc<Mutex<ProviderState>>;

struct FakeProvider {
    issuer: String,
    state: Shared,
}

impl FakeProvider {
    async fn start() -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state: Shared = Arc::new(Mutex::new(ProviderState {
            issuer: issuer.clone(),
            signer: Signer::provider(),
            claim_changes: json!({}),
            email: EMAIL.to_string(),
            published: vec![provider_key().jwk.clone()],
            authorizations: Vec::new(),
            codes: HashMap::new(),
            token_requests: Vec::new(),
            discovery_fetches: 0,
            key_fetches: 0,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/keys", get(keys))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeProvider { issuer, state }
    }

    fn with<T>(&self, change: impl FnOnce(&mut ProviderState) -> T) -> T {
        change(&mut self.state.lock().unwrap())
    }

    /// The next ID tokens say these claims instead (`null` removes one).
    fn change_claims(&self, changes: Value) {
        self.with(|state| state.claim_changes = changes);
    }
}

async fn discovery(State(state): State<Shared>) -> Json<Value> {
    let mut state = state.lock().unwrap();
    state.discovery_fetches += 1;
    let issuer = &state.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

/// Records the request and, as if the person had signed in, sends the browser back with a
/// code.
async fn authorize(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    state.authorizations.push(query.clone());
    let code = format!("code-{}", state.authorizations.len());
    let mut back = Url::parse(&query["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &query["state"]);
    state.codes.insert(code, query);
    (AxumStatus::FOUND, [(LOCATION, back.to_string())]).into_response()
}

/// Redeems a code once, for the client it was issued to, with the verifier of its challenge.
async fn token(State(state): State<Shared>, body: String) -> Response {
    let form = form_fields(&body);
    let mut state = state.lock().unwrap();
    let authorization = state
        .codes
        .remove(form.get("code").map_or("", String::as_str));
    let field = |name: &str| form.get(name).map(String::as_str);
    let redeemable = authorization.as_ref().is_some_and(|authorization| {
        field("grant_type") == Some("authorization_code")
            && field("client_id") == Some(CLIENT_ID)
            && field("client_secret") == Some(CLIENT_SECRET)
            && field("redirect_uri") == Some(authorization["redirect_uri"].as_str())
            && authorization["code_challenge_method"] == "S256"
            && field("code_verifier")
                .is_some_and(|verifier| s256(verifier) == authorization["code_challenge"])
    });
    state.token_requests.push((form.clone(), redeemable));
    let Some(authorization) = authorization.filter(|_| redeemable) else {
        return (
            AxumStatus::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Bad Request"})),
        )
            .into_response();
    };
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": state.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": "109876543210987654321",
        "email": state.email, "email_verified": true, "hd": DOMAIN,
        "nonce": authorization["nonce"], "iat": now - 2, "exp": now + 3598,
    });
    for (name, value) in state.claim_changes.as_object().unwrap() {
        match value {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(name);
            }
            value => claims[name] = value.clone(),
        }
    }
    let id_token = sign(state.signer, &claims);
    Json(json!({
        "access_token": "ya29.not-used", "token_type": "Bearer", "expires_in": 3599,
        "scope": "openid email profile", "id_token": id_token,
    }))
    .into_response()
}

async fn keys(State(state): State<Shared>) -> Response {
    let mut state = state.lock().unwrap();
    state.key_fetches += 1;
    (
        [(CACHE_CONTROL, "public, max-age=3600")],
        Json(json!({"keys": state.published})),
    )
        .into_response()
}

/// The fields of an `application/x-www-form-urlencoded` body.
fn form_fields(body: &str) -> HashMap<String, String> {
    let url = Url::parse(&format!("http://form.invalid/?{body}")).unwrap();
    url.query_pairs().into_owned().collect()
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn sign(signer: Signer, claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    match signer {
        Signer::Unsigned { alg } => {
            format!(
                "{}.{}.",
                encode(&json!({"alg": alg, "typ": "JWT"})),
                encode(claims)
            )
        }
        Signer::Key { key, kid } => {
            let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
            let signed = format!("{}.{}", encode(&header), encode(claims));
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
    }
}

/// chaperone with sign-in at the fake provider, a browser, and Dana Lee (a DSL at the example
/// school) as a user.
struct Harness {
    app: TestApp,
    provider: FakeProvider,
    browser: reqwest::Client,
    redirect_url: String,
}

/// A sign-in started: where the browser was sent, and its binding cookie.
struct Started {
    authorization_url: Url,
    /// As the browser sends it back (`name=value`).
    binding_cookie: String,
    /// As it was set.
    binding_set_cookie: String,
}

impl Started {
    fn param(&self, name: &str) -> String {
        param(&self.authorization_url, name).unwrap_or_else(|| panic!("no {name}"))
    }
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn harness() -> Harness {
    harness_with(REDIRECT_URL).await
}

async fn harness_with(redirect_url: &str) -> Harness {
    let provider = FakeProvider::start().await;
    let app = spawn_app_with(&[
        ("CHAPERONE__OIDC__ISSUER", &provider.issuer),
        ("CHAPERONE__OIDC__CLIENT_ID", CLIENT_ID),
        ("CHAPERONE__OIDC__CLIENT_SECRET", CLIENT_SECRET),
        ("CHAPERONE__OIDC__REDIRECT_URL", redirect_url),
        (
            "CHAPERONE__OIDC__ALLOWED_DOMAINS",
            "greenfield.sch.uk, greenfield.example",
        ),
    ])
    .await;
    let harness = Harness {
        app,
        provider,
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        redirect_url: redirect_url.to_string(),
    };
    harness.add_user(EMAIL, "Dana Lee").await;
    harness
}

impl Harness {
    /// An admin adds a DSL of the example school.
    async fn add_user(&self, email: &str, name: &str) {
        let created = self
            .app
            .post_json(
                "/api/v1/users",
                json!({"email": email, "name": name, "roles": [{"role": "dsl", "school_id": 1}]}),
            )
            .await;
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    }

    /// The browser opens the sign-in page and is sent to the provider.
    async fn start(&self, return_to: Option<&str>) -> Started {
        let mut request = self
            .browser
            .get(format!("{}/sign-in/oidc", self.app.address));
        if let Some(return_to) = return_to {
            request = request.query(&[("return_to", return_to)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let binding = set_cookie(&response, "chaperone_oidc_state").expect("a binding cookie");
        Started {
            authorization_url: Url::parse(location(&response)).unwrap(),
            binding_cookie: binding.split(';').next().unwrap().to_string(),
            binding_set_cookie: binding,
        }
    }

    /// The person signs in at the provider, which sends the browser back: the callback's
    /// query.
    async fn authorize(&self, started: &Started) -> String {
        let response = self
            .browser
            .get(started.authorization_url.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let back = Url::parse(location(&response)).unwrap();
        assert!(back.as_str().starts_with(&self.redirect_url), "{back}");
        back.query().unwrap().to_string()
    }

    /// The browser comes back to chaperone with `query`, carrying `cookie`.
    async fn callback(&self, query: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.browser.get(format!(
            "{}/sign-in/oidc/callback?{query}",
            self.app.address
        ));
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// The whole sign-in, from the page to the callback's answer.
    async fn sign_in(&self, return_to: Option<&str>) -> reqwest::Response {
        let started = self.start(return_to).await;
        let query = self.authorize(&started).await;
        self.callback(&query, Some(&started.binding_cookie)).await
    }

    async fn sessions(&self) -> i64 {
        count(&self.app, "SELECT COUNT(*) AS n FROM sessions").await
    }

    /// The callback was refused with `status`, saying `words`, and no session exists.
    async fn assert_refused(&self, response: reqwest::Response, status: StatusCode, words: &str) {
        assert_eq!(response.status(), status);
        assert!(set_cookie(&response, "chaperone_session").is_none());
        assert!(response.headers().get(LOCATION.as_str()).is_none());
        let body = response.text().await.unwrap();
        assert!(body.contains(words), "{body:?} does not say {words:?}");
        assert_eq!(
            self.sessions().await,
            0,
            "a refused sign-in stored a session"
        );
    }
}

async fn count(app: &TestApp, query: &str) -> i64 {
    sqlx::query(query)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get(LOCATION.as_str())
        .expect("a Location")
        .to_str()
        .unwrap()
}

/// The `Set-Cookie` header setting `name`, whole.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .find(|cookie| cookie.starts_with(&format!("{name}=")))
}

/// The value a `Set-Cookie` header sets.
fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_string()
}

#[tokio::test]
async fn a_good_sign_in_sets_a_session_cookie_that_works_as_a_bearer_token() {
    let harness = harness().await;

    let started = harness.start(Some("/findings?school_id=1")).await;
    let query = harness.authorize(&started).await;
    let response = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/findings?school_id=1");
    let cookie = set_cookie(&response, "chaperone_session").expect("a session cookie");
    for attribute in [
        "; HttpOnly",
        "; SameSite=Lax",
        "; Path=/;",
        "; Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Secure"),
        "{cookie}: the test is plain http"
    );
    let cleared = set_cookie(&response, "chaperone_oidc_state").expect("the binding cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let session = cookie_value(&cookie);
    assert!(session.starts_with("chs_"), "{session}");
    let schools = harness
        .app
        .client
        .get(format!("{}/api/v1/schools", harness.app.address))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(schools.status(), 200);
    assert_eq!(harness.sessions().await, 1);
}

#[tokio::test]
async fn the_provider_is_asked_for_a_code_with_pkce_state_and_nonce() {
    let harness = harness().await;

    let started = harness.start(None).await;

    let url = &started.authorization_url;
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/authorize", harness.provider.issuer)
    );
    assert_eq!(started.param("response_type"), "code");
    assert_eq!(started.param("client_id"), CLIENT_ID);
    assert_eq!(started.param("redirect_uri"), REDIRECT_URL);
    assert_eq!(started.param("scope"), "openid email profile");
    assert_eq!(started.param("code_challenge_method"), "S256");
    let state = started.param("state");
    assert!(state.len() >= 43, "{state}");
    assert_ne!(started.param("nonce"), state);
    assert_eq!(
        started.binding_cookie,
        format!("chaperone_oidc_state={state}")
    );
    // The state is kept only as its digest.
    let stored = sqlx::query("SELECT state_hash, nonce FROM oidc_attempts")
        .fetch_one(&harness.app.db.pool)
        .await
        .unwrap();
    let state_hash: String = stored.get("state_hash");
    assert_eq!(state_hash, hex::encode(Sha256::digest(state.as_bytes())));
    assert_eq!(stored.get::<String, _>("nonce"), started.param("nonce"));

    let query = harness.authorize(&started).await;
    let response = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let (form, redeemed) = harness.provider.with(|p| p.token_requests[0].clone());
    assert!(redeemed, "the provider refused {form:?}");
    let verifier = &form["code_verifier"];
    assert!((43..=128).contains(&verifier.len()), "{verifier}");
    assert_eq!(s256(verifier), started.param("code_challenge"));
}

#[tokio::test]
async fn every_sign_in_opens_a_new_session() {
    let harness = harness().await;

    let first = harness.sign_in(None).await;
    let second = harness.sign_in(None).await;

    let first = cookie_value(&set_cookie(&first, "chaperone_session").unwrap());
    let second = cookie_value(&set_cookie(&second, "chaperone_session").unwrap());
    assert_ne!(first, second);
    assert_eq!(harness.sessions().await, 2);
    // The provider's documents are cached.
    assert_eq!(
        harness
            .provider
            .with(|p| (p.discovery_fetches, p.key_fetches)),
        (2, 1),
        "the start and the callback routes each read the discovery document once"
    );
}

#[tokio::test]
async fn behind_https_the_cookies_are_secure() {
    let harness = harness_with("https://chaperone.test/sign-in/oidc/callback").await;

    let started = harness.start(None).await;
    let query = harness.authorize(&started).await;
    let response = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;

    let binding = &started.binding_set_cookie;
    assert!(binding.ends_with("; Secure"), "{binding}");
    assert!(binding.contains("; Path=/sign-in/oidc;"), "{binding}");
    assert!(binding.contains("; HttpOnly; SameSite=Lax"), "{binding}");
    let session = set_cookie(&response, "chaperone_session").expect("signed in");
    assert!(session.ends_with("; Secure"), "{session}");
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    let harness = harness().await;
    harness
        .provider
        .change_claims(json!({"aud": "another-client", "azp": "another-client"}));

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "another application")
        .await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let harness = harness().await;
    harness
        .provider
        .change_claims(json!({"nonce": "the-nonce-of-another-sign-in"}));

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "not for this sign-in")
        .await;
}

#[tokio::test]
async fn an_id_token_signed_with_a_key_the_provider_does_not_publish_is_refused() {
    let harness = harness().await;
    harness.provider.with(|p| {
        p.signer = Signer::Key {
            key: impostor_key(),
            kid: "impostor",
        }
    });

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "does not publish")
        .await;
    // An unknown key id fetches the key set again, at most once in a while.
    let fetches = || harness.provider.with(|p| p.key_fetches);
    assert_eq!(fetches(), 1);
    let again = harness.sign_in(None).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fetches(), 2);
    let and_again = harness.sign_in(None).await;
    assert_eq!(and_again.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fetches(), 2);
}

#[tokio::test]
async fn an_id_token_signed_with_another_key_under_the_provider_s_key_id_is_refused() {
    let harness = harness().await;
    harness.provider.with(|p| {
        p.signer = Signer::Key {
            key: impostor_key(),
            kid: PROVIDER_KEY_ID,
        }
    });

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(
            response,
            StatusCode::UNAUTHORIZED,
            "signature does not verify",
        )
        .await;
}

#[tokio::test]
async fn an_unsigned_or_symmetrically_signed_id_token_is_refused() {
    let harness = harness().await;
    for alg in ["none", "HS256"] {
        harness
            .provider
            .with(|p| p.signer = Signer::Unsigned { alg });

        let response = harness.sign_in(None).await;

        harness
            .assert_refused(response, StatusCode::UNAUTHORIZED, "not RS256")
            .await;
    }
}

#[tokio::test]
async fn a_key_the_provider_rotated_to_is_fetched_and_trusted() {
    let harness = harness().await;
    let first = harness.sign_in(None).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    harness.provider.with(|p| {
        p.published.push(rotated_key().jwk.clone());
        p.signer = Signer::Key {
            key: rotated_key(),
            kid: ROTATED_KEY_ID,
        };
    });

    let second = harness.sign_in(None).await;

    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert_eq!(harness.provider.with(|p| p.key_fetches), 2);
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let harness = harness().await;
    let now = chrono::Utc::now().timestamp();
    harness
        .provider
        .change_claims(json!({"iat": now - 7200, "exp": now - 3600}));

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "expired")
        .await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    let harness = harness().await;
    harness
        .provider
        .change_claims(json!({"iss": "https://accounts.google.com"}));

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "not from the school")
        .await;
}

#[tokio::test]
async fn an_address_the_provider_has_not_verified_is_refused() {
    let harness = harness().await;
    // A provider other than Entra ID must say the address is verified.
    for verified in [json!(false), Value::Null] {
        harness
            .provider
            .change_claims(json!({"email_verified": verified}));

        let response = harness.sign_in(None).await;

        harness
            .assert_refused(response, StatusCode::UNAUTHORIZED, "not verified")
            .await;
    }
}

#[tokio::test]
async fn an_address_outside_the_allowed_domains_is_refused_even_with_an_account() {
    let harness = harness().await;
    harness
        .add_user("dana.lee@hillside.example", "Dana Lee (Hillside)")
        .await;
    harness
        .provider
        .with(|p| p.email = "dana.lee@hillside.example".into());

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "not one of the school")
        .await;
}

#[tokio::test]
async fn a_person_without_an_account_or_with_a_disabled_one_is_refused() {
    let harness = harness().await;
    harness
        .provider
        .with(|p| p.email = "nobody@greenfield.sch.uk".into());

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "no chaperone account")
        .await;
    assert_eq!(
        count(&harness.app, "SELECT COUNT(*) AS n FROM users").await,
        1,
        "signing in never creates a user"
    );
    harness.provider.with(|p| p.email = EMAIL.into());
    sqlx::query("UPDATE users SET disabled = 1")
        .execute(&harness.app.db.pool)
        .await
        .unwrap();
    let response = harness.sign_in(None).await;
    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "no chaperone account")
        .await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let harness = harness().await;
    let started = harness.start(None).await;
    let query = harness.authorize(&started).await;
    let first = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);

    let replay = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;

    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&replay, "chaperone_session").is_none());
    assert!(replay.text().await.unwrap().contains("used already"));
    assert_eq!(harness.sessions().await, 1);
}

#[tokio::test]
async fn an_unknown_state_is_refused() {
    let harness = harness().await;

    let response = harness
        .callback(
            "code=code-1&state=a-state-nobody-made",
            Some("chaperone_oidc_state=a-state-nobody-made"),
        )
        .await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "unknown")
        .await;
    let incomplete = harness.callback("code=code-1", None).await;
    harness
        .assert_refused(incomplete, StatusCode::BAD_REQUEST, "state")
        .await;
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused_and_spends_the_sign_in() {
    let harness = harness().await;
    let started = harness.start(None).await;
    let query = harness.authorize(&started).await;

    // Someone sends their own callback address to another person's browser.
    let elsewhere = harness
        .callback(&query, Some("chaperone_oidc_state=another-browser-s"))
        .await;
    harness
        .assert_refused(elsewhere, StatusCode::UNAUTHORIZED, "another browser")
        .await;
    let without = harness.callback(&query, None).await;
    harness
        .assert_refused(without, StatusCode::UNAUTHORIZED, "used already")
        .await;
    let then_here = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;
    harness
        .assert_refused(then_here, StatusCode::UNAUTHORIZED, "used already")
        .await;
}

#[tokio::test]
async fn a_code_verifier_the_provider_rejects_is_refused() {
    let harness = harness().await;
    let started = harness.start(None).await;
    let query = harness.authorize(&started).await;
    sqlx::query("UPDATE oidc_attempts SET pkce_verifier = $1")
        .bind("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        .execute(&harness.app.db.pool)
        .await
        .unwrap();

    let response = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "refused the sign-in")
        .await;
    let (_, redeemed) = harness.provider.with(|p| p.token_requests[0].clone());
    assert!(!redeemed);
}

#[tokio::test]
async fn a_sign_in_older_than_ten_minutes_is_refused() {
    let harness = harness().await;
    let started = harness.start(None).await;
    let query = harness.authorize(&started).await;
    sqlx::query("UPDATE oidc_attempts SET created_at = created_at - 601000")
        .execute(&harness.app.db.pool)
        .await
        .unwrap();

    let response = harness
        .callback(&query, Some(&started.binding_cookie))
        .await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "ten minutes")
        .await;
    assert!(harness.provider.with(|p| p.token_requests.is_empty()));
}

#[tokio::test]
async fn the_provider_not_signing_the_person_in_is_refused() {
    let harness = harness().await;
    let started = harness.start(None).await;

    let response = harness
        .callback(
            &format!("error=access_denied&state={}", started.param("state")),
            Some(&started.binding_cookie),
        )
        .await;

    harness
        .assert_refused(response, StatusCode::UNAUTHORIZED, "did not sign you in")
        .await;
}

#[tokio::test]
async fn a_return_address_off_the_site_is_not_followed() {
    let harness = harness().await;
    for return_to in ["//evil.example", "https://evil.example", "/\\evil.example"] {
        let response = harness.sign_in(Some(return_to)).await;

        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/", "{return_to}");
    }
}

#[tokio::test]
async fn failed_callbacks_are_throttled() {
    let harness = harness().await;
    let mut refused = 0;
    loop {
        let response = harness
            .callback(&format!("code=c&state=forged-{refused}"), None)
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        refused += 1;
        assert!(refused <= 25, "never throttled");
    }
    assert!(refused >= 20, "throttled after {refused}");

    let response = harness.sign_in(None).await;

    harness
        .assert_refused(response, StatusCode::TOO_MANY_REQUESTS, "too many")
        .await;
}

#[tokio::test]
async fn without_a_provider_there_is_no_sign_in_with_one() {
    let app = spawn_app().await;

    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/sign-in/oidc", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
