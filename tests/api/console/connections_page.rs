//! The connections pages: a Zoom connection added from the browser shows the endpoint URL to
//! paste into Zoom, and that endpoint verifies with the token given there at once, as after
//! a rotation; the page says what is known of each connection's health and never a secret;
//! Google Workspace connections pass the import's checks; and the refusals change nothing.

use std::time::Duration;

use chaperone::config::Secret;
use chaperone::zoom::signature;
use serde_json::{json, Value};
use sqlx::Row;

use super::{school_id, signed_in, Browser, Page};
use crate::helpers::{now_secs, spawn_app, TestApp, SCHOOL_ACCOUNT};
use crate::zoom_events;

/// A Zoom account the example school does not have yet.
const NEW_ACCOUNT: &str = "Nw3pLq9ZRwUeT4xK8vBn1C";
const TOKEN: &str = "Kq3vB8nX1yTc0AzPLw2vB7";
const NEXT_TOKEN: &str = "Rt5mW2qZ8xLc4VbN7kJh1G";
const CLIENT_ID: &str = "Xy12AbCdEfGhIjKlMnOp";
const CLIENT_SECRET: &str = "client-secret-never-shown-0123456789";

async fn trust_admin(app: &TestApp) -> Browser<'_> {
    signed_in(
        app,
        "trust-admin@school.test",
        json!([{"role": "trust_admin"}]),
    )
    .await
}

/// Adds a Zoom connection for `NEW_ACCOUNT` at the example school through the add form;
/// the connection's id.
async fn add_zoom(browser: &mut Browser<'_>, token: &str) -> i64 {
    let school = school_id(browser.app, "greenfield").await.to_string();
    let form = browser.get("/admin/connections/new/zoom").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let added = browser
        .submit(
            "/admin/connections",
            &[
                ("platform", "zoom"),
                ("school_id", &school),
                ("account_id", NEW_ACCOUNT),
                ("label", "Pastoral team"),
                ("secret_token", token),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let location = added.location.expect("to the connection's page");
    location
        .strip_prefix("/admin/connections/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a connection's page: {location}"))
}

/// The text of the element `id="{id}"` on `page`.
fn element_text(page: &Page, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let start = page.body.find(&marker)?;
    let open_end = start + page.body[start..].find('>')? + 1;
    let close = open_end + page.body[open_end..].find('<')?;
    Some(unescape(&page.body[open_end..close]))
}

/// Text as a browser reads it from the escaped HTML.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The endpoint a connection's page shows, as the path this test server serves.
fn endpoint_path(app: &TestApp, url: &str) -> String {
    let public_url = app.state.settings.server.public_url.trim_end_matches('/');
    url.strip_prefix(public_url)
        .unwrap_or_else(|| panic!("{url} is not behind {public_url}"))
        .to_string()
}

async fn post_signed(app: &TestApp, path: &str, token: &str, body: &str) -> reqwest::Response {
    let timestamp = now_secs();
    app.client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", timestamp.to_string())
        .header(
            "x-zm-signature",
            signature::sign(&Secret::new(token), timestamp, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

fn for_new_account(body: &str) -> String {
    body.replace(SCHOOL_ACCOUNT, NEW_ACCOUNT)
}

fn url_validation(plain_token: &str) -> String {
    json!({"payload": {"plainToken": plain_token}, "event_ts": now_secs() * 1000, "event": "endpoint.url_validation"})
        .to_string()
}

async fn endpoint_of(app: &TestApp, browser: &mut Browser<'_>, id: i64) -> String {
    let page = browser.get(&format!("/admin/connections/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let url = element_text(&page, &format!("endpoint-url-{id}")).expect("the endpoint URL");
    endpoint_path(app, &url)
}

async fn events_of(app: &TestApp, connection_id: i64) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM inbox WHERE connection_id = $1")
        .bind(connection_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n")
}

/// The sealed secret columns of a connection, to see they did not change.
async fn sealed(app: &TestApp, connection_id: i64) -> Vec<Option<String>> {
    let row = sqlx::query(
        "SELECT webhook_secret_sealed, previous_webhook_secret_sealed, client_id, client_secret_sealed \
         FROM platform_accounts WHERE id = $1",
    )
    .bind(connection_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    (0..4).map(|column| row.get(column)).collect()
}

async fn connection_count(app: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM platform_accounts")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n")
}

/// The audit entries with `action`, as (school, subject, before, after).
async fn audited(app: &TestApp, action: &str) -> Vec<(Option<i64>, String, Value, Value)> {
    sqlx::query(
        "SELECT school_id, subject_id, before_state, after_state FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        let state = |column: &str| -> Value {
            row.get::<Option<String>, _>(column)
                .map(|text| serde_json::from_str(&text).unwrap())
                .unwrap_or(Value::Null)
        };
        (
            row.get("school_id"),
            row.get("subject_id"),
            state("before_state"),
            state("after_state"),
        )
    })
    .collect()
}

async fn audit_text(app: &TestApp) -> String {
    sqlx::query(
        "SELECT action, before_state, after_state FROM audit_log WHERE action LIKE 'connection.%' ORDER BY id",
    )
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            format!(
                "{} {} {}\n",
                row.get::<String, _>("action"),
                row.get::<Option<String>, _>("before_state")
                    .unwrap_or_default(),
                row.get::<Option<String>, _>("after_state")
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_zoom_connection_added_on_the_page_shows_its_endpoint_url_which_verifies_with_its_token()
{
    let app = spawn_app().await;
    let mut browser = trust_admin(&app).await;

    let id = add_zoom(&mut browser, TOKEN).await;

    let page = browser.get(&format!("/admin/connections/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Paste its endpoint URL"),
        "{}",
        page.body
    );
    let url = element_text(&page, &format!("endpoint-url-{id}")).expect("the endpoint URL");
    let endpoint_id: String =
        sqlx::query("SELECT endpoint_id FROM platform_accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .get("endpoint_id");
    let public_url = app.state.settings.server.public_url.trim_end_matches('/');
    assert_eq!(url, format!("{public_url}/webhooks/zoom/{endpoint_id}"));
    let path = endpoint_path(&app, &url);

    // Zoom's Validate button, then an event, signed with the token given on the page.
    let validation = post_signed(&app, &path, TOKEN, &url_validation("pl41nT0ken")).await;
    assert_eq!(validation.status(), 200);
    let answer: Value = validation.json().await.unwrap();
    assert_eq!(answer["plainToken"], "pl41nT0ken");
    assert_eq!(
        answer["encryptedToken"],
        signature::url_validation_token(&Secret::new(TOKEN), "pl41nT0ken")
    );
    let started = for_new_account(&zoom_events::started());
    let accepted = post_signed(&app, &path, TOKEN, &started).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        accepted.json::<Value>().await.unwrap()["status"],
        "accepted"
    );
    assert_eq!(events_of(&app, id).await, 1);

    // Another token, and the example school's own, are refused there.
    let joined = for_new_account(&zoom_events::joined(
        &zoom_events::HOST,
        "2025-03-11T14:31:10Z",
    ));
    let refused = post_signed(&app, &path, NEXT_TOKEN, &joined).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(events_of(&app, id).await, 1);

    // Stored sealed, as an import stores it.
    let stored = sealed(&app, id).await;
    let sealed_token = stored[0].clone().expect("the token is stored");
    assert!(!sealed_token.contains(TOKEN));
    let connections = app.get_json("/api/v1/connections").await;
    let listed = connections
        .as_array()
        .unwrap()
        .iter()
        .find(|connection| connection["id"] == id)
        .expect("listed by the API")
        .clone();
    assert_eq!(listed["webhook_secret_set"], true);
    assert_eq!(listed["label"], "Pastoral team");
    assert_eq!(listed["endpoint"], path);

    let created = audited(&app, "connection.created").await;
    assert_eq!(created.len(), 1);
    let greenfield = school_id(&app, "greenfield").await;
    let (school, subject, before, after) = &created[0];
    assert_eq!(*school, Some(greenfield));
    assert_eq!(subject, &id.to_string());
    assert_eq!(*before, Value::Null);
    assert_eq!(after["account_id"], NEW_ACCOUNT);
    assert_eq!(after["webhook_secret_set"], true);
    assert_eq!(after["endpoint"], path);
    assert!(!audit_text(&app).await.contains(TOKEN));
}

#[tokio::test]
async fn a_rotated_secret_token_verifies_at_once_and_the_one_before_until_the_rotation_ends() {
    let app = spawn_app().await;
    let mut browser = trust_admin(&app).await;
    let id = add_zoom(&mut browser, TOKEN).await;
    let path = endpoint_of(&app, &mut browser, id).await;
    // Delivered once, so the connection is in the cache with the first token.
    let started = for_new_account(&zoom_events::started());
    assert_eq!(
        post_signed(&app, &path, TOKEN, &started).await.status(),
        200
    );

    let rotated = browser
        .submit(
            &format!("/admin/connections/{id}/secret-token"),
            &[("secret_token", NEXT_TOKEN)],
        )
        .await;
    assert_eq!(rotated.status, 303, "{}", rotated.body);
    assert_eq!(
        rotated.location.as_deref(),
        Some(format!("/admin/connections/{id}").as_str())
    );

    let joined = for_new_account(&zoom_events::joined(
        &zoom_events::HOST,
        "2025-03-11T14:31:10Z",
    ));
    let with_new = post_signed(&app, &path, NEXT_TOKEN, &joined).await;
    assert_eq!(with_new.status(), 200);
    assert_eq!(
        with_new.json::<Value>().await.unwrap()["status"],
        "accepted"
    );
    let validation = post_signed(&app, &path, NEXT_TOKEN, &url_validation("aFt3r")).await;
    assert_eq!(validation.status(), 200);
    assert_eq!(
        validation.json::<Value>().await.unwrap()["encryptedToken"],
        signature::url_validation_token(&Secret::new(NEXT_TOKEN), "aFt3r")
    );
    // A retry Zoom signed before the change still verifies.
    let pupil = for_new_account(&zoom_events::joined(
        &zoom_events::PUPIL,
        "2025-03-11T14:32:00Z",
    ));
    assert_eq!(post_signed(&app, &path, TOKEN, &pupil).await.status(), 200);
    let page = browser.get(&format!("/admin/connections/{id}")).await;
    assert!(
        page.body.contains("previous one still accepted"),
        "{}",
        page.body
    );

    let ended = browser
        .submit(&format!("/admin/connections/{id}/end-rotation"), &[])
        .await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    let dsl = for_new_account(&zoom_events::joined(
        &zoom_events::DSL,
        "2025-03-11T14:33:00Z",
    ));
    assert_eq!(post_signed(&app, &path, TOKEN, &dsl).await.status(), 401);
    assert_eq!(
        post_signed(&app, &path, NEXT_TOKEN, &dsl).await.status(),
        200
    );
    assert_eq!(events_of(&app, id).await, 4);

    let rotations = audited(&app, "connection.secret_rotated").await;
    assert_eq!(rotations.len(), 1);
    let (_, subject, before, after) = &rotations[0];
    assert_eq!(subject, &id.to_string());
    assert_eq!(
        *before,
        json!({"webhook_secret_set": true, "previous_webhook_secret_set": false})
    );
    assert_eq!(
        *after,
        json!({"webhook_secret_set": true, "previous_webhook_secret_set": true})
    );
    assert_eq!(audited(&app, "connection.rotation_ended").await.len(), 1);
    let audit = audit_text(&app).await;
    assert!(
        !audit.contains(TOKEN) && !audit.contains(NEXT_TOKEN),
        "{audit}"
    );
}

#[tokio::test]
async fn the_page_says_when_the_last_event_came_and_that_zoom_validated_the_endpoint() {
    let app = spawn_app().await;
    let mut browser = trust_admin(&app).await;
    let id = add_zoom(&mut browser, TOKEN).await;
    let path = endpoint_of(&app, &mut browser, id).await;
    let before = browser.get("/admin/connections").await;
    assert_eq!(before.status, 200, "{}", before.body);
    let facts = section_of(&before, id);
    assert!(facts.contains("not seen yet"), "{facts}");
    assert!(facts.contains("none yet"), "{facts}");
    assert!(facts.contains("no credentials"), "{facts}");

    let validation = post_signed(&app, &path, TOKEN, &url_validation("v4l1d")).await;
    assert_eq!(validation.status(), 200);
    let started = for_new_account(&zoom_events::started());
    assert_eq!(
        post_signed(&app, &path, TOKEN, &started).await.status(),
        200
    );

    // The validation is noted beside the answer, not before it: polled for.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let (seen, last) = loop {
        let page = browser.get("/admin/connections").await;
        let facts = section_of(&page, id);
        let seen = facts.contains("seen</span> last on <time") && !facts.contains("none yet");
        if seen || tokio::time::Instant::now() >= deadline {
            break (seen, facts);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(seen, "{last}");
    assert!(
        last.contains("Last event received</dt>\n  <dd><time datetime=\""),
        "{last}"
    );

    // Credentials set but not yet used: said as such, not assumed to work.
    let set = browser
        .submit(
            &format!("/admin/connections/{id}/api-credentials"),
            &[
                ("api_client_id", CLIENT_ID),
                ("api_client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    let page = browser.get(&format!("/admin/connections/{id}")).await;
    assert!(page.body.contains("not yet checked"), "{}", page.body);
    let credentials = audited(&app, "connection.credentials_set").await;
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].2, json!({"api_credentials_set": false}));
    assert_eq!(credentials[0].3, json!({"api_credentials_set": true}));
    let (client_id, secret) =
        sqlx::query("SELECT client_id, client_secret_sealed FROM platform_accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .map(|row| {
                (
                    row.get::<Option<String>, _>("client_id"),
                    row.get::<Option<String>, _>("client_secret_sealed"),
                )
            })
            .unwrap();
    assert_eq!(client_id.as_deref(), Some(CLIENT_ID));
    assert!(!secret.expect("sealed").contains(CLIENT_SECRET));
}

/// The overview's part about connection `id`.
fn section_of(page: &Page, id: i64) -> String {
    let start = page
        .body
        .find(&format!("id=\"connection-{id}\""))
        .unwrap_or_else(|| panic!("connection {id} is listed: {}", page.body));
    let rest = &page.body[start..];
    let end = rest.find("</article>").unwrap_or(rest.len());
    rest[..end].to_string()
}

#[tokio::test]
async fn no_page_shows_a_secret() {
    let app = spawn_app().await;
    let mut browser = trust_admin(&app).await;
    let school = school_id(&app, "greenfield").await.to_string();
    browser.get("/admin/connections/new/zoom").await;
    let added = browser
        .submit(
            "/admin/connections",
            &[
                ("platform", "zoom"),
                ("school_id", &school),
                ("account_id", NEW_ACCOUNT),
                ("secret_token", TOKEN),
                ("api_client_id", CLIENT_ID),
                ("api_client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let id = added
        .location
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    for path in [
        "/admin/connections".to_string(),
        format!("/admin/connections?school={school}"),
        format!("/admin/connections/{id}"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains(TOKEN), "{path}");
        assert!(!page.body.contains(CLIENT_SECRET), "{path}");
        assert!(page.body.contains("badge ok\">set"), "{path}");
    }
    // A refused form is shown again without the secrets it carried.
    let refused = browser
        .submit(
            "/admin/connections",
            &[
                ("platform", "zoom"),
                ("school_id", &school),
                ("account_id", "has a space"),
                ("secret_token", NEXT_TOKEN),
                ("api_client_id", CLIENT_ID),
                ("api_client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(!refused.body.contains(NEXT_TOKEN));
    assert!(!refused.body.contains(CLIENT_SECRET));
    assert_eq!(
        super::field_value(&refused.body, "account_id").as_deref(),
        Some("has a space")
    );
    let audit = audit_text(&app).await;
    assert!(
        !audit.contains(TOKEN) && !audit.contains(CLIENT_SECRET),
        "{audit}"
    );
    assert!(!audit.contains(CLIENT_ID), "{audit}");
}

/// A second school, Hillside, with a Zoom connection of its own; its id and the connection's.
async fn hillside(app: &TestApp) -> (i64, i64) {
    app.import_toml(
        "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n\
         [[school.connections]]\nplatform = \"zoom\"\naccount_id = \"hS2pLq9ZRwUeT4xK8vBn1C\"\n",
    )
    .await;
    let school = school_id(app, "hillside").await;
    let connection: i64 = sqlx::query("SELECT id FROM platform_accounts WHERE school_id = $1")
        .bind(school)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");
    (school, connection)
}

#[tokio::test]
async fn another_schools_admin_finds_no_such_connection_and_changes_nothing() {
    let app = spawn_app().await;
    let (hillside, theirs) = hillside(&app).await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(
        &app,
        "hillside-admin@school.test",
        json!([{"role": "school_admin", "school_id": hillside}]),
    )
    .await;
    let ours: i64 = sqlx::query("SELECT id FROM platform_accounts WHERE school_id = $1")
        .bind(greenfield)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");
    let before = sealed(&app, ours).await;

    let overview = browser.get("/admin/connections").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview
        .body
        .contains(&format!("id=\"connection-{theirs}\"")));
    assert!(!overview.body.contains(&format!("id=\"connection-{ours}\"")));
    assert!(!overview.body.contains(SCHOOL_ACCOUNT));
    assert_eq!(
        browser
            .get(&format!("/admin/connections?school={greenfield}"))
            .await
            .status,
        404
    );
    assert_eq!(
        browser
            .get(&format!("/admin/connections/{ours}"))
            .await
            .status,
        404
    );
    for (action, fields) in [
        ("secret-token", vec![("secret_token", NEXT_TOKEN)]),
        (
            "api-credentials",
            vec![
                ("api_client_id", CLIENT_ID),
                ("api_client_secret", CLIENT_SECRET),
            ],
        ),
        ("end-rotation", vec![]),
    ] {
        let refused = browser
            .submit(&format!("/admin/connections/{ours}/{action}"), &fields)
            .await;
        assert_eq!(refused.status, 404, "{action}: {}", refused.body);
    }
    let greenfield_id = greenfield.to_string();
    let added = browser
        .submit(
            "/admin/connections",
            &[
                ("platform", "zoom"),
                ("school_id", &greenfield_id),
                ("account_id", NEW_ACCOUNT),
                ("secret_token", TOKEN),
            ],
        )
        .await;
    assert_eq!(added.status, 403, "{}", added.body);

    assert_eq!(sealed(&app, ours).await, before);
    assert_eq!(connection_count(&app).await, 2);
    assert!(audited(&app, "connection.secret_rotated").await.is_empty());
    assert!(audited(&app, "connection.credentials_set").await.is_empty());
    assert!(audited(&app, "connection.created").await.is_empty());

    // Their own school's connection is theirs to manage.
    let own = browser.get(&format!("/admin/connections/{theirs}")).await;
    assert_eq!(own.status, 200, "{}", own.body);
    let set = browser
        .submit(
            &format!("/admin/connections/{theirs}/secret-token"),
            &[("secret_token", TOKEN)],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    let rotations = audited(&app, "connection.secret_rotated").await;
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].0, Some(hillside));
}

#[tokio::test]
async fn a_dsl_may_not_open_the_connections_pages() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(
        &app,
        "dsl@school.test",
        json!([{"role": "dsl", "school_id": greenfield}]),
    )
    .await;
    let ours: i64 = sqlx::query("SELECT id FROM platform_accounts WHERE school_id = $1")
        .bind(greenfield)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");
    let before = sealed(&app, ours).await;
    for path in [
        "/admin/connections".to_string(),
        "/admin/connections/new/zoom".to_string(),
        format!("/admin/connections/{ours}"),
    ] {
        assert_eq!(browser.get(&path).await.status, 403, "{path}");
    }
    browser.get("/").await;
    let refused = browser
        .submit(
            &format!("/admin/connections/{ours}/secret-token"),
            &[("secret_token", NEXT_TOKEN)],
        )
        .await;
    assert_eq!(refused.status, 403);
    let greenfield_id = greenfield.to_string();
    let refused = browser
        .submit(
            "/admin/connections",
            &[
                ("platform", "zoom"),
                ("school_id", &greenfield_id),
                ("account_id", NEW_ACCOUNT),
                ("secret_token", TOKEN),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(sealed(&app, ours).await, before);
    assert_eq!(connection_count(&app).await, 1);
}

#[tokio::test]
async fn invalid_input_is_shown_again_with_the_reason_and_nothing_is_stored() {
    let app = spawn_app().await;
    let mut browser = trust_admin(&app).await;
    let greenfield = school_id(&app, "greenfield").await.to_string();
    browser.get("/admin/connections/new/zoom").await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("account_id", NEW_ACCOUNT), ("secret_token", "  ")],
            "Paste the app&#x27;s Secret Token",
        ),
        (
            &[("account_id", NEW_ACCOUNT), ("secret_token", "two words")],
            "The Secret Token has a space",
        ),
        (
            &[("account_id", SCHOOL_ACCOUNT), ("secret_token", TOKEN)],
            "already connected to the school",
        ),
        (
            &[
                ("account_id", NEW_ACCOUNT),
                ("secret_token", TOKEN),
                ("api_client_id", CLIENT_ID),
            ],
            "Give both the client id and the client secret",
        ),
        (
            &[("account_id", ""), ("secret_token", TOKEN)],
            "Give the Zoom account id",
        ),
    ];
    for (fields, reason) in cases {
        let mut all = vec![("platform", "zoom"), ("school_id", greenfield.as_str())];
        all.extend_from_slice(fields);
        let refused = browser.submit("/admin/connections", &all).await;
        assert_eq!(refused.status, 422, "{reason}: {}", refused.body);
        assert!(refused.body.contains(reason), "{reason}: {}", refused.body);
        assert!(refused.body.contains("role=\"alert\""));
    }
    let unknown = browser
        .submit(
            "/admin/connections",
            &[
                ("platform", "zoom"),
                ("school_id", "987654"),
                ("account_id", NEW_ACCOUNT),
                ("secret_token", TOKEN),
            ],
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(unknown.body.contains("There is no such school"));
    assert_eq!(connection_count(&app).await, 1);
    assert!(audited(&app, "connection.created").await.is_empty());

    let ours: i64 = sqlx::query("SELECT id FROM platform_accounts")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");
    let before = sealed(&app, ours).await;
    let empty = browser
        .submit(
            &format!("/admin/connections/{ours}/secret-token"),
            &[("secret_token", "")],
        )
        .await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert!(
        empty.body.contains("The Secret Token is empty"),
        "{}",
        empty.body
    );
    let half = browser
        .submit(
            &format!("/admin/connections/{ours}/api-credentials"),
            &[("api_client_id", CLIENT_ID)],
        )
        .await;
    assert_eq!(half.status, 422, "{}", half.body);
    assert_eq!(sealed(&app, ours).await, before);
    assert!(audited(&app, "connection.secret_rotated").await.is_empty());
    assert!(audited(&app, "connection.credentials_set").await.is_empty());
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let mut browser = trust_admin(&app).await;
    let greenfield = school_id(&app, "greenfield").await.to_string();
    let ours: i64 = sqlx::query("SELECT id FROM platform_accounts")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");
    let before = sealed(&app, ours).await;
    let added = browser
        .post_raw(
            "/admin/connections",
            &[
                ("platform", "zoom"),
                ("school_id", &greenfield),
                ("account_id", NEW_ACCOUNT),
                ("secret_token", TOKEN),
            ],
        )
        .await;
    assert_eq!(added.status, 403);
    let rotated = browser
        .post_raw(
            &format!("/admin/connections/{ours}/secret-token"),
            &[("secret_token", NEXT_TOKEN), ("csrf", "forged")],
        )
        .await;
    assert_eq!(rotated.status, 403);
    assert_eq!(connection_count(&app).await, 1);
    assert_eq!(sealed(&app, ours).await, before);
    assert!(audit_text(&app).await.is_empty());
}

fn service_account_key() -> String {
    json!({
        "type": "service_account",
        "client_email": "chaperone@greenfield-meet.iam.gserviceaccount.com",
        "private_key": "-----BEGIN PRIVATE KEY-----\ntest-key-material\n-----END PRIVATE KEY-----\n",
    })
    .to_string()
}

#[tokio::test]
async fn a_google_workspace_connection_passes_the_imports_checks_and_its_key_is_sealed() {
    let app = spawn_app().await;
    let mut browser = trust_admin(&app).await;
    let greenfield = school_id(&app, "greenfield").await.to_string();
    let form = browser.get("/admin/connections/new/google").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let key = service_account_key();
    let fields = |monitored: &'static str| {
        vec![
            ("platform", "google_meet"),
            ("school_id", greenfield.as_str()),
            ("account_id", "C0greenfield"),
            ("domains", "Greenfield.sch.uk\n"),
            ("admin_user", "IT-Admin@greenfield.sch.uk"),
            (
                "pubsub_topic",
                "projects/greenfield-meet/topics/meet-events",
            ),
            (
                "push_audience",
                "https://chaperone.greenfield.sch.uk/webhooks/google_meet",
            ),
            (
                "push_service_account",
                "push@greenfield-meet.iam.gserviceaccount.com",
            ),
            ("groups", monitored),
            ("service_account_key", key.as_str()),
        ]
    };

    let refused = browser.submit("/admin/connections", &fields("")).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("Say who is monitored"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("test-key-material"));
    let mut not_a_key = fields("pastoral@greenfield.sch.uk");
    not_a_key.retain(|(name, _)| *name != "service_account_key");
    not_a_key.push(("service_account_key", "{\"type\":\"authorized_user\"}"));
    let refused = browser.submit("/admin/connections", &not_a_key).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("not a service account key"),
        "{}",
        refused.body
    );
    assert_eq!(connection_count(&app).await, 1);

    let added = browser
        .submit(
            "/admin/connections",
            &fields("Pastoral@greenfield.sch.uk\ntutors@greenfield.sch.uk"),
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let id: i64 = added
        .location
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let page = browser.get(&format!("/admin/connections/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("test-key-material"));
    assert!(
        page.body.contains("it-admin@greenfield.sch.uk"),
        "{}",
        page.body
    );
    let url = element_text(&page, &format!("endpoint-url-{id}")).unwrap();
    assert!(url.contains("/webhooks/google_meet/"), "{url}");

    let listed = app.get_json("/api/v1/connections").await;
    let google = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|connection| connection["id"] == id)
        .expect("listed")["google"]
        .clone();
    assert_eq!(google["domains"], json!(["greenfield.sch.uk"]));
    assert_eq!(
        google["monitored"]["groups"],
        json!(["pastoral@greenfield.sch.uk", "tutors@greenfield.sch.uk"])
    );
    assert_eq!(google["service_account_key_set"], true);
    let stored: String =
        sqlx::query("SELECT service_account_key_sealed FROM platform_accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert!(!stored.contains("test-key-material"));
    let created = audited(&app, "connection.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].3["google"]["admin_user"],
        "it-admin@greenfield.sch.uk"
    );
    assert_eq!(created[0].3["service_account_key_set"], true);
    assert!(!audit_text(&app).await.contains("test-key-material"));
}
