//! What a school's staff and systems do over HTTP: Zoom deliveries signed with a given
//! secret, sign-in through the API and the console's form, and reads of the register.

use serde_json::{json, Value};

use chaperone::config::Secret;
use chaperone::zoom::signature;

use crate::helpers::{now_secs, ADMIN_TOKEN};

use super::{ACCOUNT, UNKNOWN_EMAIL, USER_EMAIL, USER_PASSWORD, WRONG_PASSWORD};

pub(super) async fn get(client: &reqwest::Client, base: &str, path: &str, token: &str) -> Value {
    let response = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The id of the school's Zoom connection and the endpoint of its own.
pub(super) async fn connection(client: &reqwest::Client, base: &str) -> (i64, String) {
    let connections = get(client, base, "/api/v1/connections", ADMIN_TOKEN).await;
    let connection = connections
        .as_array()
        .unwrap()
        .iter()
        .find(|connection| connection["account_id"] == ACCOUNT)
        .unwrap_or_else(|| panic!("the school's connection is listed: {connections:#}"));
    (
        connection["id"].as_i64().expect("an id"),
        connection["endpoint"]
            .as_str()
            .expect("an endpoint")
            .to_string(),
    )
}

/// The register, its exports, the findings with their history, and the rest of the API.
pub(super) async fn read_everything(client: &reqwest::Client, base: &str, token: &str) {
    read_the_register(client, base, token).await;
    for path in [
        "/api/v1/register",
        "/api/v1/register.csv",
        "/api/v1/schools",
        "/api/v1/audit",
        "/api/v1/inbox/set-aside",
    ] {
        get(client, base, path, token).await;
    }
}

/// Every call in the register and every finding, one by one.
pub(super) async fn read_the_register(client: &reqwest::Client, base: &str, token: &str) {
    let meetings = get(client, base, "/api/v1/meetings", token).await;
    for meeting in meetings.as_array().unwrap() {
        get(
            client,
            base,
            &format!("/api/v1/meetings/{}", meeting["id"]),
            token,
        )
        .await;
    }
    let findings = get(client, base, "/api/v1/findings", token).await;
    assert!(
        findings.as_array().is_some_and(|list| !list.is_empty()),
        "the call raised findings: {findings:#}"
    );
    for finding in findings.as_array().unwrap() {
        get(
            client,
            base,
            &format!("/api/v1/findings/{}", finding["id"]),
            token,
        )
        .await;
    }
}

/// Signs in with the wrong password and as nobody, then as the user, and makes an API token
/// with the session; returns the session secret and the token.
pub(super) async fn sign_in_through_the_api(client: &reqwest::Client, base: &str) -> Vec<String> {
    let sign_in = |email: &'static str, password: &'static str| {
        client
            .post(format!("{base}/api/v1/sign-in"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for (email, password) in [(USER_EMAIL, WRONG_PASSWORD), (UNKNOWN_EMAIL, USER_PASSWORD)] {
        assert_eq!(sign_in(email, password).await.unwrap().status(), 401);
    }
    let response = sign_in(USER_EMAIL, USER_PASSWORD).await.unwrap();
    assert_eq!(response.status(), 201);
    let session = response.json::<Value>().await.unwrap()["session"]
        .as_str()
        .unwrap()
        .to_string();
    let schools = get(client, base, "/api/v1/schools", ADMIN_TOKEN).await;
    let school_id = schools
        .as_array()
        .unwrap()
        .iter()
        .find(|school| school["slug"] == "hollowmere")
        .map(|school| school["id"].clone())
        .expect("the school");
    let response = client
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(&session)
        .json(&json!({"name": "log scan", "role": "dsl", "school_id": school_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .expect("the new token")
        .to_string();
    read_the_register(client, base, &token).await;
    vec![session, token]
}

/// Signs in on the console's form and opens its home page; returns the session cookie.
pub(super) async fn sign_in_through_the_console(client: &reqwest::Client, base: &str) -> String {
    let form = client.get(format!("{base}/sign-in")).send().await.unwrap();
    let binding = cookie(&form, "chaperone_sign_in").expect("the sign-in binding cookie");
    let page = form.text().await.unwrap();
    let csrf = crate::console::field_value(&page, "csrf").expect("the form's token");
    let signed_in = client
        .post(format!("{base}/sign-in"))
        .header("cookie", format!("chaperone_sign_in={binding}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", USER_EMAIL),
            ("password", USER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = cookie(&signed_in, "chaperone_session").expect("a session cookie");
    let home = client
        .get(format!("{base}/"))
        .header("cookie", format!("chaperone_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    session
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next()?.split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.to_string())
}

pub(super) async fn post_zoom(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &str,
    secret: &str,
) -> u16 {
    let timestamp = now_secs();
    let signed = signature::sign(&Secret::new(secret), timestamp, body.as_bytes());
    client
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", timestamp.to_string())
        .header("x-zm-signature", signed)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
