//! Google Meet ingestion benchmark: starts the real service in-process (SQLite in a temporary
//! folder, the workers running beside the HTTP server) and sends its Google connection's
//! endpoint distinct Pub/Sub pushes over loopback, each with an OIDC token signed RS256 by a
//! key of the key set a local server stands in for Google with.
//!
//! The phases, settings and checks are those of `benches/ingest.rs` (Zoom), in
//! `common::run_phases`: phase A, a closed loop of `BENCH_CONCURRENCY` connections for
//! `BENCH_SECONDS` after `BENCH_WARMUP_SECONDS`; up to `BENCH_DRAIN_SECONDS` for the workers
//! alone; phase B, an open loop offering `BENCH_RATE` pushes/s for `BENCH_SECONDS`. Every
//! acknowledged push must be in the inbox, and every answer must be 200 "accepted".
//! Run with `cargo bench --bench google_ingest` (see BENCHMARKS.md).

mod common;

use common::{answer_of, random_hex, runtime, Answer, BenchSettings, Sender, Service};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chaperone::config::Secret;
use chaperone::google::push_token::{GoogleKeys, PushTokenVerifier};
use chaperone::zoom::signature::{self, TimestampWindow, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use chrono::{SecondsFormat, Utc};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

const ACCOUNT_ID: &str = "C0benchschool";
const AUDIENCE: &str = "https://chaperone.bench.example/webhooks/google_meet";
const PUSH_SERVICE_ACCOUNT: &str = "meet-push@bench-meet.iam.gserviceaccount.com";
const PUSH_KEY_ID: &str = "bench-push-key-1";
const PUSH_SUBSCRIPTION: &str = "projects/bench-meet/subscriptions/meet-events-push";
/// The Workspace Events subscription every push comes from; the connection must hold it,
/// or its events are acknowledged "not_monitored" and not kept.
const SUBSCRIPTION: &str = "subscriptions/bench-1";
const STAFF_EMAIL: &str = "host@bench.example";
const STAFF_USER_ID: &str = "108000000000000000001";
/// The variable the school file names for the connection's service account key.
const KEY_VARIABLE: &str = "BENCH_GOOGLE_SERVICE_ACCOUNT_KEY";
const JOINED: &str = "google.workspace.meet.participant.v2.joined";
/// Joins are spread over this many calls (conference records), in turn.
const CALLS: u64 = 3_000;
/// Pub/Sub reuses a push token for a while; a fresh one is signed this often.
const TOKEN_REFRESH: Duration = Duration::from_secs(60);
const TOKEN_LIFETIME_SECS: i64 = 3_600;
/// Verifications timed in-process for the per-request cost line.
const VERIFY_SAMPLES: u32 = 2_000;

/// A local stand-in for Google: the push key set at `/oauth2/v3/certs`, and 503 for
/// anything else (token, Meet, Directory, Events, Calendar), counted, so nothing leaves the
/// machine and any call the benchmark causes is seen.
struct FakeGoogle {
    base_url: String,
    api_calls: Arc<AtomicU64>,
}

impl FakeGoogle {
    fn start(load: &Runtime, jwk: Value) -> FakeGoogle {
        let api_calls = Arc::new(AtomicU64::new(0));
        let counter = api_calls.clone();
        let keys = Json(json!({ "keys": [jwk] }));
        let app = Router::new()
            .route(
                "/oauth2/v3/certs",
                get(move || async move { ([(CACHE_CONTROL, "public, max-age=3600")], keys) }),
            )
            .fallback(move || async move {
                counter.fetch_add(1, Ordering::Relaxed);
                StatusCode::SERVICE_UNAVAILABLE
            });
        let listener = load
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("the fake Google binds");
        let base_url = format!("http://{}", listener.local_addr().expect("an address"));
        load.spawn(async move { axum::serve(listener, app).await });
        FakeGoogle {
            base_url,
            api_calls,
        }
    }

    /// Every Google endpoint of the service, pointed here (and no shared Zoom endpoint,
    /// which would need a deployment-wide Zoom secret).
    fn settings(&self) -> Vec<(String, String)> {
        let base = &self.base_url;
        let zoom = (
            "CHAPERONE__ZOOM__SHARED_ENDPOINT".to_string(),
            "false".to_string(),
        );
        [
            ("KEYS_URL", format!("{base}/oauth2/v3/certs")),
            ("TOKEN_URL", format!("{base}/token")),
            ("MEET_API_BASE_URL", format!("{base}/v2")),
            (
                "DIRECTORY_API_BASE_URL",
                format!("{base}/admin/directory/v1"),
            ),
            ("EVENTS_API_BASE_URL", format!("{base}/v1")),
            ("CALENDAR_API_BASE_URL", format!("{base}/calendar/v3")),
        ]
        .into_iter()
        .map(|(name, value)| (format!("CHAPERONE__GOOGLE__{name}"), value))
        .chain([zoom])
        .collect()
    }
}

/// The RSA key push tokens are signed with, as ring signs with it, as a JSON Web Key, and
/// as PEM (the connection's service account key file reuses it).
struct PushKey {
    pair: RsaKeyPair,
    jwk: Value,
    pem: String,
}

impl PushKey {
    fn generate() -> PushKey {
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
        let der = private.to_pkcs8_der().expect("PKCS#8");
        let pem = private.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        let public = private.to_public_key();
        PushKey {
            pair: RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring reads the key"),
            jwk: json!({
                "kid": PUSH_KEY_ID, "kty": "RSA", "alg": "RS256", "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
            pem: pem.to_string(),
        }
    }

    /// A push token as Pub/Sub sends it, issued now (google-meet.md §2.3).
    fn token(&self) -> String {
        let now = Utc::now().timestamp();
        let header = json!({"alg": "RS256", "kid": PUSH_KEY_ID, "typ": "JWT"});
        let claims = json!({
            "iss": "https://accounts.google.com", "aud": AUDIENCE,
            "azp": "104856273910284756301", "sub": "104856273910284756301",
            "email": PUSH_SERVICE_ACCOUNT, "email_verified": true,
            "iat": now - 5, "exp": now + TOKEN_LIFETIME_SECS - 5,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .expect("the token is signed");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The load generator's side: what every push needs.
struct Pusher {
    client: reqwest::Client,
    url: String,
    key: PushKey,
    /// `Bearer <token>`, signed again every [`TOKEN_REFRESH`] by a thread of its own, so
    /// that no request waits for a signature.
    authorization: RwLock<Arc<str>>,
    run_id: String,
    next_sequence: AtomicU64,
}

impl Pusher {
    fn start(client: reqwest::Client, url: String, key: PushKey) -> Arc<Pusher> {
        let pusher = Arc::new(Pusher {
            client,
            url,
            authorization: RwLock::new(format!("Bearer {}", key.token()).into()),
            key,
            run_id: random_hex(12),
            next_sequence: AtomicU64::new(0),
        });
        let weak: Weak<Pusher> = Arc::downgrade(&pusher);
        std::thread::spawn(move || loop {
            std::thread::sleep(TOKEN_REFRESH);
            let Some(pusher) = weak.upgrade() else { return };
            let fresh: Arc<str> = format!("Bearer {}", pusher.key.token()).into();
            *pusher.authorization.write().expect("token lock") = fresh;
        });
        pusher
    }

    fn authorization(&self) -> Arc<str> {
        self.authorization.read().expect("token lock").clone()
    }
}

impl Sender for Pusher {
    async fn send_next(&self) -> Answer {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let body = participant_joined(&self.run_id, sequence);
        let sent = self
            .client
            .post(&self.url)
            .header("authorization", &*self.authorization())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        answer_of(sent).await
    }
}

/// A wrapped Pub/Sub push (google-meet.md §2.1) of a Meet `participant.v2.joined`, shaped
/// like the fake Google's of the API tests. Each sequence number is a new CloudEvent id and
/// participant session, so no push is a duplicate; the calls are taken in turn.
fn participant_joined(run_id: &str, sequence: u64) -> String {
    let call = sequence % CALLS;
    let session = format!(
        "conferenceRecords/{run_id}c{call:05}/participants/{}/participantSessions/s{sequence}",
        110_000_000_000_000_000_000u128 + u128::from(sequence)
    );
    let data = STANDARD.encode(format!(
        r#"{{"participantSession":{{"name":"{session}"}}}}"#
    ));
    let now = Utc::now();
    let time = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let published = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let message_id = 14_211_803_377_200 + sequence;
    format!(
        r#"{{"message":{{"attributes":{{"ce-datacontenttype":"application/json","ce-id":"{run_id}-{sequence}","ce-source":"//workspaceevents.googleapis.com/{SUBSCRIPTION}","ce-specversion":"1.0","ce-subject":"//meet.googleapis.com/spaces/bench{call:05}","ce-time":"{time}","ce-type":"{JOINED}"}},"data":"{data}","messageId":"{message_id}","message_id":"{message_id}","publishTime":"{published}","publish_time":"{published}"}},"subscription":"{PUSH_SUBSCRIPTION}"}}"#
    )
}

fn school_file() -> String {
    format!(
        r#"[[school]]
slug = "bench"
name = "Benchmark School"
timezone = "Europe/London"

[[school.connections]]
platform = "google_meet"
account_id = "{ACCOUNT_ID}"
label = "benchmark Workspace"
[school.connections.google]
domains = ["bench.example"]
admin_user = "it-admin@bench.example"
pubsub_topic = "projects/bench-meet/topics/meet-events"
push_audience = "{AUDIENCE}"
push_service_account = "{PUSH_SERVICE_ACCOUNT}"
service_account_key_env = "{KEY_VARIABLE}"
[school.connections.google.monitored]
users = ["{STAFF_EMAIL}"]

[[school.people]]
ref = "BENCH-STAFF-1"
kind = "staff"
role = "staff"
name = "Bench Host"
emails = ["{STAFF_EMAIL}"]
"#
    )
}

/// Makes the connection hold [`SUBSCRIPTION`]. The subscription upkeep would make it by
/// asking Google (the Directory, then Workspace Events); a row written here stands in for
/// that, which is enough for a benchmark of ingestion.
fn hold_subscription(service: &Service) {
    service.block_on(async {
        sqlx::query(
            "INSERT INTO google_subscriptions (connection_id, user_id, user_email, name, state, \
             updated_at) SELECT id, $1, $2, $3, 'active', $4 FROM platform_accounts \
             WHERE platform = 'google_meet' AND account_id = $5",
        )
        .bind(STAFF_USER_ID)
        .bind(STAFF_EMAIL)
        .bind(SUBSCRIPTION)
        .bind(Utc::now().timestamp_millis())
        .bind(ACCOUNT_ID)
        .execute(&service.db().pool)
        .await
        .expect("the subscription is stored");
    });
}

/// Forgets the connection's service account key, which the import requires. With a key,
/// the processor queues a participant job (and a call job) for every join, and the enricher
/// works them against Google, here answering 503 with retries on a schedule: work of the
/// enricher, not of ingestion, and absent from the Zoom benchmark, whose account has no API
/// credentials. Without one, no job is queued and subscription upkeep skips the connection.
/// `BENCH_GOOGLE_JOBS=1` keeps the key, to see what those jobs cost.
fn forget_api_key(service: &Service) {
    service.block_on(async {
        sqlx::query(
            "UPDATE platform_accounts SET service_account_key_sealed = NULL \
             WHERE platform = 'google_meet' AND account_id = $1",
        )
        .bind(ACCOUNT_ID)
        .execute(&service.db().pool)
        .await
        .expect("the key is forgotten");
    });
}

/// What checking one request's origin costs in-process, median of [`VERIFY_SAMPLES`]: a push
/// token (RS256, key set cached) and, for comparison, Zoom's HMAC over the same body.
fn verify_costs(load: &Runtime, keys_url: &str, pusher: &Pusher) -> (Duration, Duration) {
    let verifier = PushTokenVerifier::with_keys(
        GoogleKeys::new(
            reqwest::Client::new(),
            keys_url.to_string(),
            Duration::from_secs(30),
        ),
        AUDIENCE,
        PUSH_SERVICE_ACCOUNT,
        Duration::from_secs(60),
    );
    let authorization = pusher.authorization();
    let token_costs = load.block_on(async {
        let mut costs = Vec::new();
        for _ in 0..=VERIFY_SAMPLES {
            let started = Instant::now();
            verifier
                .verify(Some(&authorization), Utc::now())
                .await
                .expect("the push token verifies");
            costs.push(started.elapsed());
        }
        costs.remove(0); // the first one fetched the key set
        costs
    });
    let secret = Secret::new(random_hex(32));
    let body = participant_joined("cost", 0);
    let timestamp_secs = Utc::now().timestamp();
    let mut headers = HeaderMap::new();
    let sign = signature::sign(&secret, timestamp_secs, body.as_bytes());
    headers.insert(SIGNATURE_HEADER, sign.parse().expect("a header value"));
    headers.insert(TIMESTAMP_HEADER, timestamp_secs.into());
    let window = TimestampWindow {
        max_clock_skew: Duration::from_secs(300),
        max_age: Duration::from_secs(300),
    };
    let hmac_costs = (0..VERIFY_SAMPLES)
        .map(|_| {
            let started = Instant::now();
            signature::verify(
                &headers,
                body.as_bytes(),
                &[&secret],
                window,
                timestamp_secs,
            )
            .expect("the signature verifies");
            started.elapsed()
        })
        .collect();
    let median = |mut costs: Vec<Duration>| {
        costs.sort_unstable();
        costs[costs.len() / 2]
    };
    (median(token_costs), median(hmac_costs))
}

fn main() {
    let bench = BenchSettings::from_env();
    let with_jobs = std::env::var("BENCH_GOOGLE_JOBS").is_ok_and(|value| value == "1");
    let load = runtime("load", Some(bench.client_threads));
    let key = PushKey::generate();
    let google = FakeGoogle::start(&load, key.jwk.clone());
    // The connection's service account key file, as a school's would be named in its file.
    let key_file = json!({
        "type": "service_account", "project_id": "bench-meet",
        "private_key_id": "bench-service-account-key-1", "private_key": key.pem,
        "client_email": "chaperone@bench-meet.iam.gserviceaccount.com",
        "client_id": "104856273910284756301",
        "token_uri": format!("{}/token", google.base_url),
    });
    std::env::set_var(KEY_VARIABLE, key_file.to_string());
    let (service, overrides) = Service::start(google.settings(), &school_file());
    hold_subscription(&service);
    if !with_jobs {
        forget_api_key(&service);
    }
    let url = format!("http://127.0.0.1:{}{}", service.port, service.endpoint());
    let pusher = Pusher::start(bench.client(), url, key);

    println!(
        "chaperone Google Meet ingest benchmark: SQLite, processor {}, inbox max_batch {}, {} \
         cores, load generator on {} threads",
        if service.worker_enabled { "on" } else { "OFF" },
        service.state.settings.inbox.max_batch,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.client_threads
    );
    println!(
        "  the connection's own /webhooks/google_meet/{{endpoint id}}; API jobs: {}",
        if with_jobs {
            "queued (key kept; Google answers 503)"
        } else {
            "none (no service account key)"
        }
    );
    common::print_overrides(&overrides);
    let (token_cost, hmac_cost) = verify_costs(
        &load,
        &format!("{}/oauth2/v3/certs", google.base_url),
        &pusher,
    );
    println!(
        "per-request origin check, in-process (median of {VERIFY_SAMPLES}): push token \
         (RS256) {:.1} µs; Zoom HMAC-SHA256 over the same body {:.1} µs",
        token_cost.as_secs_f64() * 1e6,
        hmac_cost.as_secs_f64() * 1e6,
    );

    common::run_phases(service, &load, pusher, &bench, "google_meet", "pushes");
    println!(
        "calls to Google other than its key set: {}",
        google.api_calls.load(Ordering::Relaxed)
    );
}
