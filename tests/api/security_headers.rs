//! Every answer carries the security headers (a strict CSP, no framing, no sniffing, no
//! Referer, HSTS behind HTTPS, no caching of the API or of acknowledgement pages); the links in
//! alerts are signed with the installation's own key, kept sealed in the database, which the
//! admin token does not touch.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chaperone::alerts::links::{self, AcknowledgeGrant, LinkSigner};
use chaperone::secrets::SecretKeys;
use chrono::Utc;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use sqlx::Row;

use crate::alerts::{findings, pupil_alone_with_one_adult, scenario, Scenario};
use crate::helpers::{spawn_app, spawn_app_on, spawn_app_with, TestApp, SECRETS_KEY};
use crate::zoom_events::started;

const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";
const ANOTHER_ADMIN_TOKEN: &str = "another-admin-token-fedcba9876543210fedc";

fn assert_security_headers(what: &str, response: &reqwest::Response) {
    let headers = response.headers();
    let header = |name| headers.get(name).map(|value| value.to_str().unwrap());
    assert_eq!(
        header(CONTENT_SECURITY_POLICY),
        Some(CONTENT_SECURITY_POLICY_VALUE),
        "{what}"
    );
    assert_eq!(header(X_FRAME_OPTIONS), Some("DENY"), "{what}");
    assert_eq!(header(X_CONTENT_TYPE_OPTIONS), Some("nosniff"), "{what}");
    assert_eq!(header(REFERRER_POLICY), Some("no-referrer"), "{what}");
}

fn cache_control(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get(CACHE_CONTROL)
        .map(|value| value.to_str().unwrap())
}

/// An app with one open finding, alerted by email; the path of the acknowledge link the
/// mail carries.
async fn alerted() -> (Scenario, String) {
    let scenario = scenario(&["two_adults"], 0).await;
    scenario.app.deliver(&pupil_alone_with_one_adult()).await;
    scenario.app.settle_at(Utc::now()).await;
    let mail = scenario.smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    let text = mail[0].text();
    let start = text
        .find("/acknowledge/")
        .unwrap_or_else(|| panic!("no acknowledge link in {text}"));
    let path = text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .unwrap()
        .to_string();
    (scenario, path)
}

async fn open_link(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("request sent")
}

/// Stops `app` and starts another instance on its database with `overrides`.
async fn restart(mut app: TestApp, overrides: &[(&str, &str)]) -> TestApp {
    let database_url = app.state.settings.database.url.expose().to_string();
    // The folder holds the SQLite file: it outlives the first instance.
    let folder = std::mem::replace(&mut app.folder, tempfile::tempdir().expect("temp dir"));
    drop(app);
    spawn_app_on(folder, &database_url, overrides).await
}

/// A second instance on `app`'s database, beside it.
async fn another_instance(app: &TestApp) -> TestApp {
    let database_url = app.state.settings.database.url.expose().to_string();
    spawn_app_on(tempfile::tempdir().expect("temp dir"), &database_url, &[]).await
}

#[tokio::test]
async fn every_kind_of_answer_carries_the_security_headers() {
    let (Scenario { app, .. }, acknowledge_path) = alerted().await;

    let api_ok = app.get_api("/api/v1/findings").await;
    let api_refused = app
        .client
        .get(format!("{}/api/v1/findings", app.address))
        .send()
        .await
        .unwrap();
    let webhook = app.post_zoom(&started()).await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let page = open_link(&app, &acknowledge_path).await;
    let acknowledged = app
        .client
        .post(format!("{}{acknowledge_path}", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(api_ok.status(), 200);
    assert_eq!(api_refused.status(), 401);
    assert_eq!(webhook.status(), 200);
    assert_eq!(health.status(), 200);
    assert_eq!(page.status(), 200);
    assert_eq!(acknowledged.status(), 200);
    for (what, response) in [
        ("API 200", &api_ok),
        ("API 401", &api_refused),
        ("webhook", &webhook),
        ("/healthz", &health),
        ("acknowledge page", &page),
        ("acknowledged page", &acknowledged),
    ] {
        assert_security_headers(what, response);
        assert!(
            !response.headers().contains_key(STRICT_TRANSPORT_SECURITY),
            "{what}: no HSTS behind an http:// public URL"
        );
    }
    for (what, response) in [
        ("API 200", &api_ok),
        ("API 401", &api_refused),
        ("acknowledge page", &page),
        ("acknowledged page", &acknowledged),
    ] {
        assert_eq!(cache_control(response), Some("no-store"), "{what}");
    }
    assert_eq!(cache_control(&health), None);
    // The page renders as meant under the policy: no script, no inline style.
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\">"), "{html}");
    for inline in ["<script", "<style", "style=", "javascript:"] {
        assert!(!html.contains(inline), "{inline} in {html}");
    }
}

#[tokio::test]
async fn strict_transport_security_is_sent_only_behind_an_https_public_url() {
    let behind_https = spawn_app_with(&[(
        "CHAPERONE__SERVER__PUBLIC_URL",
        "https://chaperone.greenfield.example",
    )])
    .await;
    let plain = spawn_app().await;

    let mut answers = Vec::new();
    for app in [&behind_https, &plain] {
        for path in ["/healthz", "/api/v1/findings"] {
            let response = app
                .client
                .get(format!("{}{path}", app.address))
                .send()
                .await
                .unwrap();
            answers.push(
                response
                    .headers()
                    .get(STRICT_TRANSPORT_SECURITY)
                    .map(|value| value.to_str().unwrap().to_string()),
            );
        }
    }

    let hsts = Some("max-age=31536000".to_string());
    assert_eq!(answers, vec![hsts.clone(), hsts, None, None]);
}

#[tokio::test]
async fn a_link_sent_before_the_admin_token_changed_still_opens_its_page() {
    let (Scenario { app, .. }, acknowledge_path) = alerted().await;
    assert_eq!(open_link(&app, &acknowledge_path).await.status(), 200);

    let app = restart(app, &[("CHAPERONE__API__ADMIN_TOKEN", ANOTHER_ADMIN_TOKEN)]).await;

    let old_token = app.get_api("/api/v1/findings").await;
    assert_eq!(old_token.status(), 401, "the admin token did change");
    let page = open_link(&app, &acknowledge_path).await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\">"));
    let acknowledged = app
        .client
        .post(format!("{}{acknowledge_path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(acknowledged.status(), 200);
    let finding = app
        .client
        .get(format!("{}/api/v1/findings", app.address))
        .bearer_auth(ANOTHER_ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()[0]
        .clone();
    assert_eq!(finding["status"], "acknowledged", "{finding}");
}

#[tokio::test]
async fn a_link_signed_by_another_installation_does_not_open() {
    let (Scenario { app, .. }, _) = alerted().await;
    let finding_id = findings(&app).await[0]["id"].as_i64().unwrap();
    let elsewhere = spawn_app().await;
    let token = elsewhere.state.links.acknowledge_token(
        AcknowledgeGrant {
            finding_id,
            contact_id: 0,
        },
        Utc::now(),
    );
    let path = format!("/acknowledge/{token}");

    let page = open_link(&app, &path).await;
    let acknowledged = app
        .client
        .post(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 403);
    assert_security_headers("refused link", &page);
    assert_eq!(cache_control(&page), Some("no-store"));
    assert!(page.text().await.unwrap().contains("not valid"));
    assert_eq!(acknowledged.status(), 403);
    assert_eq!(findings(&app).await[0]["status"], "open");
}

#[tokio::test]
async fn the_link_key_is_stored_sealed_survives_a_restart_and_is_shared_by_instances_on_one_database(
) {
    let app = spawn_app().await;
    let grant = AcknowledgeGrant {
        finding_id: 424242,
        contact_id: 7,
    };
    let now = Utc::now();
    let first_token = app.state.links.acknowledge_token(grant, now);
    let row = sqlx::query("SELECT key_sealed FROM link_signing_key")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(row.len(), 1);
    let sealed: String = row[0].get("key_sealed");
    assert!(
        sealed.starts_with(&format!("v1.{}.", app.state.secrets.current_key_id())),
        "sealed with the secrets key"
    );

    let beside = another_instance(&app).await;
    assert_eq!(
        beside.state.links.acknowledge_token(grant, now),
        first_token
    );
    // Verified, so on to the finding, which does not exist (an unverified link is a 403).
    let opened_beside = open_link(&beside, &format!("/acknowledge/{first_token}")).await;
    assert_eq!(opened_beside.status(), 404);
    drop(beside);

    let app = restart(app, &[]).await;
    assert_eq!(app.state.links.acknowledge_token(grant, now), first_token);
    let opened_after_restart = open_link(&app, &format!("/acknowledge/{first_token}")).await;
    assert_eq!(opened_after_restart.status(), 404);
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM link_signing_key")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn instances_making_the_first_key_together_end_up_with_the_same_one() {
    let app = spawn_app().await;
    sqlx::query("DELETE FROM link_signing_key")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let keys = &app.state.secrets;

    let (one, two) = tokio::join!(
        LinkSigner::load_or_create(&app.db, keys),
        LinkSigner::load_or_create(&app.db, keys)
    );

    let grant = AcknowledgeGrant {
        finding_id: 1,
        contact_id: 1,
    };
    let now = Utc::now();
    assert_eq!(
        one.unwrap().acknowledge_token(grant, now),
        two.unwrap().acknowledge_token(grant, now)
    );
}

#[tokio::test]
async fn after_a_secrets_key_rotation_the_link_key_is_sealed_again_and_stays_the_same() {
    let app = spawn_app().await;
    let old_key: [u8; 32] = STANDARD.decode(SECRETS_KEY).unwrap().try_into().unwrap();
    let rotated = SecretKeys::new(&[42; 32], &[old_key]);
    let grant = AcknowledgeGrant {
        finding_id: 1,
        contact_id: 1,
    };
    let now = Utc::now();

    assert_eq!(links::reseal_key(&app.db, &rotated).await.unwrap(), 1);
    assert_eq!(links::reseal_key(&app.db, &rotated).await.unwrap(), 0);

    let only_new_key = SecretKeys::new(&[42; 32], &[]);
    let signer = LinkSigner::load_or_create(&app.db, &only_new_key)
        .await
        .expect("opens with the new key alone");
    assert_eq!(
        signer.acknowledge_token(grant, now),
        app.state.links.acknowledge_token(grant, now)
    );
    assert!(
        LinkSigner::load_or_create(&app.db, &app.state.secrets)
            .await
            .is_err(),
        "the old key alone no longer opens it"
    );
}
