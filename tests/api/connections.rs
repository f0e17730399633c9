//! Connections: each school's Zoom account has an endpoint and a Secret Token of its own.
//! A delivery verifies only with its connection's secret; secrets are stored sealed and
//! never shown.

use chaperone::config::Secret;
use chaperone::zoom::signature;
use serde_json::Value;
use sqlx::Row;

use crate::helpers::{now_secs, spawn_app_with, TestApp, SCHOOL_ACCOUNT};

/// Connections are cached this long; a removed secret stops verifying after it.
const CACHE_MS: u64 = 200;

async fn spawn_app() -> TestApp {
    spawn_app_with(&[("CHAPERONE__SERVER__CONNECTION_CACHE_MS", "200")]).await
}
use crate::zoom_events;

const OTHER_ACCOUNT: &str = "hS2pLq9ZRwUeT4xK8vBn1C";

/// Sets a variable only this test reads and returns its name.
fn secret_variable(name: &str, value: &str) -> String {
    let variable = format!("CONNECTIONS_TEST_{name}_{}", std::process::id());
    std::env::set_var(&variable, value);
    variable
}

struct Schools {
    greenfield_secret: String,
    hillside_secret: String,
}

/// Greenfield (the example school) and Hillside, each with its own Zoom connection.
async fn two_schools(app: &TestApp, tag: &str) -> Schools {
    let greenfield_secret = format!("greenfield-{tag}-secret");
    let hillside_secret = format!("hillside-{tag}-secret");
    let greenfield_variable = secret_variable(&format!("{tag}_GREENFIELD"), &greenfield_secret);
    let hillside_variable = secret_variable(&format!("{tag}_HILLSIDE"), &hillside_secret);
    app.import_toml(&format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [[school.connections]]\nplatform = \"zoom\"\naccount_id = \"{SCHOOL_ACCOUNT}\"\nwebhook_secret_env = \"{greenfield_variable}\"\n\
         [[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n\
         [[school.connections]]\nplatform = \"zoom\"\naccount_id = \"{OTHER_ACCOUNT}\"\nlabel = \"Hillside staff\"\nwebhook_secret_env = \"{hillside_variable}\"\n"
    ))
    .await;
    Schools {
        greenfield_secret,
        hillside_secret,
    }
}

async fn connections(app: &TestApp) -> Vec<Value> {
    let listed = app.get_json("/api/v1/connections").await;
    listed.as_array().expect("a list").clone()
}

async fn endpoint_of(app: &TestApp, school: &str) -> String {
    connections(app)
        .await
        .into_iter()
        .find(|connection| connection["school"] == school)
        .and_then(|connection| connection["endpoint"].as_str().map(str::to_string))
        .expect("the school has a connection")
}

async fn post_signed(app: &TestApp, endpoint: &str, secret: &str, body: &str) -> reqwest::Response {
    let timestamp = now_secs();
    app.client
        .post(format!("{}{endpoint}", app.address))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", timestamp.to_string())
        .header(
            "x-zm-signature",
            signature::sign(&Secret::new(secret), timestamp, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

/// The same event in a Hillside call (another account, another meeting).
fn from_hillside(body: &str) -> String {
    body.replace(SCHOOL_ACCOUNT, OTHER_ACCOUNT)
        .replace(zoom_events::MEETING_UUID, "aGlsbHNpZGVNZWV0aW5nMDE=")
}

async fn stored_schools(app: &TestApp) -> Vec<String> {
    sqlx::query("SELECT s.slug FROM inbox i JOIN schools s ON s.id = i.school_id ORDER BY i.id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("slug"))
        .collect()
}

#[tokio::test]
async fn each_connection_verifies_with_its_own_secret_and_its_events_belong_to_its_school() {
    let app = spawn_app().await;
    let schools = two_schools(&app, "own").await;
    let greenfield = endpoint_of(&app, "greenfield").await;
    let hillside = endpoint_of(&app, "hillside").await;
    assert_ne!(greenfield, hillside);
    assert!(greenfield.starts_with("/webhooks/zoom/"), "{greenfield}");

    let response = post_signed(
        &app,
        &greenfield,
        &schools.greenfield_secret,
        &zoom_events::started(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = from_hillside(&zoom_events::started());
    let response = post_signed(&app, &hillside, &schools.hillside_secret, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(stored_schools(&app).await, ["greenfield", "hillside"]);

    app.drain().await;
    let meetings = app.get_json("/api/v1/meetings").await;
    assert_eq!(meetings.as_array().map(Vec::len), Some(2), "{meetings}");
}

#[tokio::test]
async fn a_delivery_signed_with_one_schools_secret_is_refused_at_the_other_schools_endpoint() {
    let app = spawn_app().await;
    let schools = two_schools(&app, "cross").await;
    let hillside = endpoint_of(&app, "hillside").await;
    let before = app.snapshot().await;

    // Signed with Greenfield's secret, about Hillside's account, sent to Hillside's endpoint.
    let body = from_hillside(&zoom_events::started());
    let response = post_signed(&app, &hillside, &schools.greenfield_secret, &body).await;
    assert_eq!(response.status(), 401);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "invalid_signature", "{answer}");
    // Nor does the shared endpoint's token open a connection's endpoint.
    let response = post_signed(&app, &hillside, crate::helpers::ZOOM_SECRET, &body).await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.snapshot().await, before);
    assert!(app
        .metrics_text()
        .await
        .contains("reason=\"signature_mismatch\""));
}

#[tokio::test]
async fn an_unknown_connection_is_not_found_and_changes_nothing() {
    let app = spawn_app().await;
    let schools = two_schools(&app, "unknown").await;
    let before = app.snapshot().await;
    let response = post_signed(
        &app,
        "/webhooks/zoom/0123456789abcdef0123456789abcdef",
        &schools.greenfield_secret,
        &zoom_events::started(),
    )
    .await;
    assert_eq!(response.status(), 404);
    let response = post_signed(
        &app,
        "/webhooks/teams/0123456789abcdef0123456789abcdef",
        &schools.greenfield_secret,
        &zoom_events::started(),
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn an_event_about_another_account_signed_by_a_connection_is_acknowledged_and_not_kept() {
    let app = spawn_app().await;
    let schools = two_schools(&app, "mismatch").await;
    let greenfield = endpoint_of(&app, "greenfield").await;
    let body = from_hillside(&zoom_events::started());
    let response = post_signed(&app, &greenfield, &schools.greenfield_secret, &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "not_monitored");
    assert_eq!(app.inbox_count().await, 0);
}

#[tokio::test]
async fn a_rotation_is_per_connection_and_ends_when_the_previous_secret_is_removed() {
    let app = spawn_app().await;
    let schools = two_schools(&app, "rotate").await;
    let greenfield = endpoint_of(&app, "greenfield").await;
    let hillside = endpoint_of(&app, "hillside").await;
    // Prime the cache with the old secret, so the rotation must be seen through it.
    let first = zoom_events::started();
    assert_eq!(
        post_signed(&app, &greenfield, &schools.greenfield_secret, &first)
            .await
            .status(),
        200
    );

    let new_variable = secret_variable("ROTATE_NEW", "greenfield-rotated-secret");
    let old_variable = secret_variable("ROTATE_OLD", &schools.greenfield_secret);
    let rotating = |previous: &str| {
        format!(
            "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
             [[school.connections]]\nplatform = \"zoom\"\naccount_id = \"{SCHOOL_ACCOUNT}\"\nwebhook_secret_env = \"{new_variable}\"\n{previous}"
        )
    };
    let report = app
        .import_toml(&rotating(&format!(
            "previous_webhook_secret_env = \"{old_variable}\"\n"
        )))
        .await;
    assert_eq!(report.settings_updated, 1, "{report:?}");

    let during = zoom_events::ended("2025-03-11T15:00:00Z");
    assert_eq!(
        post_signed(&app, &greenfield, "greenfield-rotated-secret", &during)
            .await
            .status(),
        200
    );
    let joined = zoom_events::joined(&zoom_events::HOST, "2025-03-11T14:31:30Z");
    assert_eq!(
        post_signed(&app, &greenfield, &schools.greenfield_secret, &joined)
            .await
            .status(),
        200,
        "the previous secret is accepted during the rotation"
    );
    // Hillside's connection did not change.
    let body = from_hillside(&zoom_events::started());
    assert_eq!(
        post_signed(&app, &hillside, "greenfield-rotated-secret", &body)
            .await
            .status(),
        401
    );
    assert_eq!(
        post_signed(&app, &hillside, &schools.hillside_secret, &body)
            .await
            .status(),
        200
    );

    app.import_toml(&rotating("")).await;
    tokio::time::sleep(std::time::Duration::from_millis(CACHE_MS + 100)).await;
    let left = zoom_events::left(&zoom_events::HOST, "2025-03-11T14:59:00Z");
    assert_eq!(
        post_signed(&app, &greenfield, &schools.greenfield_secret, &left)
            .await
            .status(),
        401,
        "the previous secret is refused once the rotation has ended"
    );
    assert_eq!(
        post_signed(&app, &greenfield, "greenfield-rotated-secret", &left)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn secrets_are_stored_sealed_and_never_shown() {
    let app = spawn_app().await;
    let schools = two_schools(&app, "sealed").await;
    let rows = sqlx::query(
        "SELECT webhook_secret_sealed, previous_webhook_secret_sealed FROM platform_accounts ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let stored: Vec<Option<String>> = rows
        .iter()
        .map(|row| row.get::<Option<String>, _>("webhook_secret_sealed"))
        .collect();
    assert_eq!(stored.len(), 2);
    for sealed in stored.iter().flatten() {
        assert!(sealed.starts_with("v1."), "{sealed}");
        assert!(!sealed.contains(&schools.greenfield_secret));
        assert!(!sealed.contains(&schools.hillside_secret));
    }

    let listed = serde_json::to_string(&connections(&app).await).unwrap();
    assert!(!listed.contains(&schools.greenfield_secret), "{listed}");
    assert!(!listed.contains("v1."), "{listed}");
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert!(listed
        .iter()
        .all(|connection| connection["webhook_secret_set"] == true));

    let found = app
        .state
        .connections
        .read(
            chaperone::meeting::Platform::Zoom,
            endpoint_of(&app, "hillside")
                .await
                .rsplit('/')
                .next()
                .unwrap(),
        )
        .await
        .unwrap()
        .expect("the connection");
    let shown = format!("{found:?}");
    assert!(!shown.contains(&schools.hillside_secret), "{shown}");
}

#[tokio::test]
async fn zoom_validates_a_connections_endpoint_with_that_connections_secret() {
    let app = spawn_app().await;
    let schools = two_schools(&app, "validate").await;
    let hillside = endpoint_of(&app, "hillside").await;
    let body = r#"{"event":"endpoint.url_validation","event_ts":1741703467120,"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
    let response = post_signed(&app, &hillside, &schools.hillside_secret, body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["encryptedToken"],
        signature::url_validation_token(
            &Secret::new(schools.hillside_secret.as_str()),
            "qgg8vlvZRS6UYooatFL8Aw"
        )
    );
}

#[tokio::test]
async fn the_deprecated_zoom_accounts_section_still_imports_with_a_notice() {
    let app = spawn_app().await;
    let report = app
        .import_toml(&format!(
            "[[school]]\nslug = \"oldstyle\"\nname = \"Old Style\"\ntimezone = \"Europe/London\"\n\
             [[school.zoom_accounts]]\naccount_id = \"{OTHER_ACCOUNT}\"\n"
        ))
        .await;
    assert_eq!(report.accounts_added, 1);
    assert!(
        report
            .notices
            .iter()
            .any(|notice| notice.contains("deprecated")),
        "{report:?}"
    );
    // Its events reach the shared endpoint as before.
    let response = app.post_zoom(&from_hillside(&zoom_events::started())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(stored_schools(&app).await, ["oldstyle"]);
}

#[tokio::test]
async fn after_a_key_rotation_reseal_leaves_nothing_that_needs_the_old_key() {
    use chaperone::config::SecretsSettings;
    use chaperone::connections::store::{reseal, unknown_key_ids};
    use chaperone::secrets::load_keys;

    let app = spawn_app().await;
    two_schools(&app, "reseal").await;
    let keys = |key: &str, previous: &str| {
        load_keys(
            &SecretsSettings {
                key: Secret::new(key),
                key_file: String::new(),
                previous_keys: Secret::new(previous),
            },
            "postgres://unused",
        )
        .unwrap()
        .0
    };
    let old = crate::helpers::SECRETS_KEY;
    let new = "bmV3LWtleS1hZnRlci10aGUtcm90YXRpb24tMzJieXQ=";
    let only_new = keys(new, "");
    assert!(
        !unknown_key_ids(&app.db, &only_new)
            .await
            .unwrap()
            .is_empty(),
        "before resealing, the new key alone cannot open what is stored"
    );
    let rotating = keys(new, old);
    assert_eq!(reseal(&app.db, &rotating).await.unwrap(), 2);
    assert_eq!(reseal(&app.db, &rotating).await.unwrap(), 0, "nothing left");
    assert!(unknown_key_ids(&app.db, &only_new)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        unknown_key_ids(&app.db, &keys(old, "")).await.unwrap(),
        [only_new.current_key_id().to_string()]
    );
}
