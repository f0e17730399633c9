//! What the Meet endpoint takes and refuses: a push whose token is not Google's, for this
//! endpoint, from the connection's push account and current is refused 401 with nothing
//! stored; an authentic push that cannot be read is kept aside and acknowledged; a push
//! delivered again, even under a new message id, changes nothing; and when Google's keys
//! cannot be read the push is answered 5xx, so Pub/Sub delivers it again.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};

use crate::alerts::ago;
use crate::google_meet::{joined, meet_school, meet_school_with, MeetSchool, AUDIENCE};

fn a_join(school: &MeetSchool) -> Value {
    let session = "conferenceRecords/c1/participants/p1/participantSessions/s1";
    school.body(&joined(session, &ago(30)), "evt-refusals-1")
}

#[tokio::test]
async fn a_push_whose_token_is_not_google_s_for_this_endpoint_is_refused_and_nothing_is_stored() {
    let school = meet_school(&["two_adults"]).await;
    let body = a_join(&school);
    let before = school.app.snapshot().await;
    let google = &school.google;
    let claims = google.push_claims(AUDIENCE);
    let with = |field: &str, value: Value| {
        let mut claims = claims.clone();
        claims[field] = value;
        google.push_token_with(&claims)
    };
    let now = Utc::now().timestamp();
    let good = google.push_token(AUDIENCE);
    let (header, rest) = good.split_once('.').unwrap();
    let unsigned_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        rest.split_once('.').unwrap().0
    );
    let refused = [
        (
            "another audience",
            with("aud", json!("https://elsewhere.example/push")),
        ),
        (
            "an audience array",
            with("aud", json!([AUDIENCE, "https://elsewhere.example"])),
        ),
        ("another issuer", with("iss", json!("https://evil.example"))),
        (
            "another account",
            with("email", json!("someone@evil.example")),
        ),
        ("an unverified email", with("email_verified", json!(false))),
        ("expired", with("exp", json!(now - 600))),
        ("not yet valid", with("iat", json!(now + 600))),
        ("alg none", unsigned_none),
        ("truncated", good[..good.len() - 10].to_string()),
        ("header only", header.to_string()),
    ];
    for (what, token) in refused {
        let response = school.post(&body, Some(&token)).await;
        assert_eq!(response.status(), 401, "{what}");
    }
    assert_eq!(school.post(&body, None).await.status(), 401, "no token");
    assert_eq!(school.app.snapshot().await, before);
    let metrics = school.app.metrics_text().await;
    assert!(metrics.contains("token_audience"), "{metrics}");

    // The same body with a good token is taken.
    assert_eq!(school.post(&body, Some(&good)).await.status(), 200);
    assert_eq!(school.app.inbox_count().await, 1);
}

#[tokio::test]
async fn a_redelivery_under_a_new_message_id_is_a_duplicate() {
    let school = meet_school(&["two_adults"]).await;
    let body = a_join(&school);
    let token = school.google.push_token(AUDIENCE);
    let first = school.post(&body, Some(&token)).await;
    assert_eq!(first.status(), 200);
    let mut again = body.clone();
    again["message"]["messageId"] = json!("99999999999999");
    again["message"]["message_id"] = json!("99999999999999");
    let second = school.post(&again, Some(&token)).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<Value>().await.unwrap()["status"], "duplicate");
    assert_eq!(school.app.inbox_count().await, 1);
}

#[tokio::test]
async fn an_authentic_push_that_cannot_be_read_is_kept_aside_and_acknowledged() {
    let school = meet_school(&["two_adults"]).await;
    let token = school.google.push_token(AUDIENCE);
    let mut no_data = a_join(&school);
    no_data["message"].as_object_mut().unwrap().remove("data");
    let response = school.post(&no_data, Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "set_aside"
    );
    let not_a_push = json!({"hello": "world"});
    assert_eq!(school.post(&not_a_push, Some(&token)).await.status(), 200);
    // Delivered again: the same event, not a second one.
    assert_eq!(school.post(&no_data, Some(&token)).await.status(), 200);

    let set_aside = school.app.get_json("/api/v1/inbox/set-aside").await;
    let set_aside = set_aside.as_array().unwrap();
    assert_eq!(set_aside.len(), 2, "{set_aside:#?}");
    assert!(set_aside
        .iter()
        .all(|event| event["platform"] == "google_meet" && event["reason"].is_string()));
    assert!(set_aside
        .iter()
        .any(|event| event["reason"] == "the event has no data"));
    let metrics = school.app.metrics_text().await;
    assert!(metrics.contains("chaperone_inbox_failed 2"), "{metrics}");
    assert!(metrics.contains("set_aside_unreadable"), "{metrics}");

    // Nothing set aside is applied or retried.
    assert_eq!(school.app.drain().await, 0);
    assert!(school
        .app
        .get_json("/api/v1/meetings")
        .await
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_push_is_answered_5xx_while_google_s_keys_cannot_be_read() {
    let school = meet_school_with(
        &["two_adults"],
        &[(
            "CHAPERONE__GOOGLE__KEYS_URL",
            "http://127.0.0.1:9/oauth2/v3/certs",
        )],
    )
    .await;
    let body = a_join(&school);
    let before = school.app.snapshot().await;
    let response = school
        .post(&body, Some(&school.google.push_token(AUDIENCE)))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(school.app.snapshot().await, before);
}

#[tokio::test]
async fn a_push_to_another_platform_s_or_an_unknown_endpoint_is_not_found_and_google_is_meet() {
    let school = meet_school(&["two_adults"]).await;
    let body = a_join(&school);
    let token = school.google.push_token(AUDIENCE);
    let unknown = school
        .app
        .client
        .post(format!(
            "{}/webhooks/google_meet/00000000000000000000000000000000",
            school.app.address
        ))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let as_zoom = school
        .app
        .client
        .post(format!(
            "{}{}",
            school.app.address,
            school.endpoint.replace("google_meet", "zoom")
        ))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(as_zoom.status(), 404);
    assert_eq!(school.app.inbox_count().await, 0);

    // `/webhooks/google/…` is the same endpoint.
    let short = school
        .app
        .client
        .post(format!(
            "{}{}",
            school.app.address,
            school.endpoint.replace("google_meet", "google")
        ))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 200);
    assert_eq!(school.app.inbox_count().await, 1);
}
