//! An admin adds a Zoom connection, is shown the endpoint to paste into Zoom, and sees Zoom's
//! validation of that endpoint arrive.

use chaperone::config::Secret;
use chaperone::zoom::signature;
use serde_json::json;

use crate::harness::Scene;

const ACCOUNT_ID: &str = "bRowserTestAcct0000001";
const SECRET_TOKEN: &str = "browser-test-zoom-secret-token";

#[tokio::test]
async fn an_admin_adds_a_zoom_connection_and_sees_its_endpoint_validated() {
    let scene = Scene::signed_in_admin("zoom-connection").await;
    let browser = &scene.browser;

    browser.visit("/admin/connections").await;
    browser.click_named("Add a Zoom connection").await;
    browser.wait_for("input[name=account_id]").await;
    assert_eq!(browser.heading().await, "Add a Zoom connection");
    browser
        .choose("select[name=school_id]", "Greenfield Academy")
        .await;
    browser.fill_labelled("Zoom account id", ACCOUNT_ID).await;
    browser
        .fill_labelled("Label (optional)", "Sixth form")
        .await;
    browser.fill_labelled("Secret Token", SECRET_TOKEN).await;
    browser.capture("new").await;
    browser.click_named("Add the connection").await;

    browser.wait_for_text(ACCOUNT_ID).await;
    assert!(
        !browser.notice().await.is_empty(),
        "the addition is confirmed"
    );
    let endpoint = browser.text_of("code[id^='endpoint-url-']").await;
    let prefix = format!("{}/webhooks/zoom/", scene.server.address);
    assert!(
        endpoint.starts_with(&prefix) && endpoint.len() > prefix.len(),
        "the endpoint to paste into Zoom: {endpoint:?}"
    );
    assert!(
        !browser.text().await.contains(SECRET_TOKEN),
        "the Secret Token is never shown"
    );
    let page = browser.location().await;
    browser.capture("added").await;

    // Zoom validates the endpoint with a challenge signed with the Secret Token.
    let body = json!({
        "event": "endpoint.url_validation",
        "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
        "event_ts": chrono::Utc::now().timestamp_millis(),
    })
    .to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let answer = reqwest::Client::new()
        .post(&endpoint)
        .header("x-zm-request-timestamp", timestamp.to_string())
        .header(
            "x-zm-signature",
            signature::sign(&Secret::new(SECRET_TOKEN), timestamp, body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the endpoint answers");
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.text().await.unwrap_or_default()
    );
    let answer: serde_json::Value = answer.json().await.expect("a JSON challenge answer");
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");

    browser.revisit_until(&page, "last on").await;
    browser.capture("validated").await;

    scene.finish().await;
}
