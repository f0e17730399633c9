//! The client against a local stand-in for Google (tokens signed and verified for real with RSA
//! keys made here): tokens, budgets, errors, pagination and operations.

mod local_google;
mod parsing;

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;

use self::local_google::{test_key, verified_claims, LocalGoogle, CLIENT_EMAIL, TEACHER};
use super::meet::ParticipantKind;
use super::token::TokenCache;
use super::*;

const RECORD: &str = "conferenceRecords/known";

#[test]
fn an_assertion_verifies_with_the_public_key_and_carries_the_claims_google_asks_for() {
    let key = test_key("0a1b2c3d");
    let parsed = ServiceAccountKey::from_json(&key.json).unwrap();
    let now = Utc::now();
    let audience = "https://oauth2.googleapis.com/token";
    let scopes = [MEET_READONLY_SCOPE, CALENDAR_READONLY_SCOPE];

    let assertion = parsed.assertion(TEACHER, &scopes, audience, now).unwrap();

    let (header, claims) =
        verified_claims(assertion.expose(), &key.n, &key.e).expect("the signature verifies");
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "0a1b2c3d"})
    );
    assert_eq!(claims["iss"], CLIENT_EMAIL);
    assert_eq!(claims["sub"], TEACHER);
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["scope"], scopes.join(" "));
    assert_eq!(claims["iat"], now.timestamp());
    assert_eq!(claims["exp"], now.timestamp() + 3600);
    let other = test_key("0a1b2c3d");
    assert!(verified_claims(assertion.expose(), &other.n, &other.e).is_none());
}

#[test]
fn a_key_is_never_shown_by_debug_and_bad_key_files_say_what_is_wrong() {
    let key = test_key("k1");
    let parsed = ServiceAccountKey::from_json(&key.json).unwrap();
    let shown = format!("{parsed:?}");
    assert!(shown.contains(CLIENT_EMAIL) && shown.contains("<redacted>"));
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");

    let mut file: serde_json::Value = serde_json::from_str(&key.json).unwrap();
    file["type"] = json!("authorized_user");
    assert_eq!(
        ServiceAccountKey::from_json(&file.to_string()).unwrap_err(),
        ServiceAccountKeyError::NotServiceAccount("authorized_user".into())
    );
    file["type"] = json!("service_account");
    file.as_object_mut().unwrap().remove("client_email");
    assert_eq!(
        ServiceAccountKey::from_json(&file.to_string()).unwrap_err(),
        ServiceAccountKeyError::Missing("client_email")
    );
    file["client_email"] = json!(CLIENT_EMAIL);
    file["private_key"] =
        json!("-----BEGIN PRIVATE KEY-----\nMIIEtest\n-----END PRIVATE KEY-----\n");
    let refused = ServiceAccountKey::from_json(&file.to_string()).unwrap_err();
    assert!(matches!(refused, ServiceAccountKeyError::PrivateKey(_)));
    assert!(!refused.to_string().contains("MIIEtest"));
    assert!(matches!(
        ServiceAccountKey::from_json("{not json").unwrap_err(),
        ServiceAccountKeyError::NotJson { .. }
    ));

    // A key pasted with its newlines still escaped reads as well.
    let mut escaped: serde_json::Value = serde_json::from_str(&key.json).unwrap();
    let pem = escaped["private_key"]
        .as_str()
        .unwrap()
        .replace('\n', "\\n");
    escaped["private_key"] = json!(pem);
    assert!(ServiceAccountKey::from_json(&escaped.to_string()).is_ok());
}

#[tokio::test]
async fn a_token_is_reused_until_five_minutes_before_it_expires_and_then_renewed() {
    let google = LocalGoogle::start().await;
    let cache = TokenCache::new(reqwest::Client::new(), google.settings.token_url.clone());
    let scopes = [MEET_READONLY_SCOPE];
    let now = Utc::now();

    let first = cache
        .token(&google.credentials, &scopes, now)
        .await
        .unwrap();
    let later = now + chrono::Duration::seconds(3600 - 301);
    let again = cache
        .token(&google.credentials, &scopes, later)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(google.with(|s| s.exchanges), 1);

    let near_expiry = now + chrono::Duration::seconds(3600 - 299);
    let renewed = cache
        .token(&google.credentials, &scopes, near_expiry)
        .await
        .unwrap();
    assert_ne!(first, renewed);
    assert_eq!(google.with(|s| s.exchanges), 2);

    // Another user, or another scope set, is another token.
    let admin = google.credentials.impersonating("it-admin@school.example");
    cache.token(&admin, &scopes, now).await.unwrap();
    cache
        .token(&google.credentials, &[DIRECTORY_USER_READONLY_SCOPE], now)
        .await
        .unwrap();
    let asked: Vec<(String, String)> = google.with(|s| {
        s.assertions
            .iter()
            .map(|c| {
                (
                    c["sub"].as_str().unwrap().into(),
                    c["scope"].as_str().unwrap().into(),
                )
            })
            .collect()
    });
    assert_eq!(
        asked[2..],
        [
            ("it-admin@school.example".into(), MEET_READONLY_SCOPE.into()),
            (TEACHER.into(), DIRECTORY_USER_READONLY_SCOPE.into()),
        ]
    );
}

#[tokio::test]
async fn concurrent_calls_for_the_same_user_wait_for_one_token_exchange() {
    let google = LocalGoogle::start().await;
    google.with(|s| s.exchange_delay = Duration::from_millis(200));

    let calls = (0..8).map(|_| google.api.conference_record(&google.credentials, RECORD));
    let answers = futures_util::future::join_all(calls).await;

    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(google.with(|s| s.exchanges), 1);
}

#[tokio::test]
async fn refusals_at_the_token_endpoint_are_credential_errors_and_failures_are_transient() {
    let google = LocalGoogle::start().await;
    for (status, error, description) in [
        (StatusCode::BAD_REQUEST, "invalid_grant", "Invalid email or User ID"),
        (StatusCode::UNAUTHORIZED, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."),
    ] {
        let answer = json!({"error": error, "error_description": description});
        google.with(|s| s.token_answer = Some((status, answer)));
        let refused = google
            .api
            .check_credentials(&google.credentials, &[MEET_READONLY_SCOPE])
            .await
            .unwrap_err();
        assert_eq!(refused, GoogleApiError::Credentials(format!("{error}: {description}")));
        assert!(!refused.is_transient());
    }
    google.with(|s| s.token_answer = Some((StatusCode::SERVICE_UNAVAILABLE, json!({}))));
    let failed = google
        .api
        .conference_record(&google.credentials, RECORD)
        .await
        .unwrap_err();
    assert!(matches!(failed, GoogleApiError::Unavailable(_)), "{failed}");

    // An assertion signed by a key Google does not have is refused as credentials.
    google.with(|s| s.token_answer = None);
    let stranger = GoogleCredentials {
        key: ServiceAccountKey::from_json(&test_key("key-1").json).unwrap(),
        ..google.credentials.clone()
    };
    let refused = google
        .api
        .conference_record(&stranger, RECORD)
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        GoogleApiError::Credentials("invalid_grant: Invalid JWT Signature.".into())
    );
    assert_eq!(
        google.with(|s| s.requests.len()),
        0,
        "no API call without a token"
    );
}

#[tokio::test]
async fn participants_are_read_across_every_page_with_their_kinds() {
    let google = LocalGoogle::start().await;
    let participant = |id: &str, user: serde_json::Value| {
        let mut row = json!({
            "name": format!("{RECORD}/participants/{id}"),
            "earliestStartTime": "2026-03-10T14:00:12Z", "latestEndTime": "2026-03-10T14:41:57.330981Z",
        });
        row.as_object_mut()
            .unwrap()
            .extend(user.as_object().unwrap().clone());
        row
    };
    google.with(|s| {
        s.participants = vec![
            participant(
                "1",
                json!({"signedinUser": {"user": "users/1", "displayName": "Alex Teacher"}}),
            ),
            participant(
                "2",
                json!({"signedinUser": {"user": "users/2", "displayName": "Sam Pupil"}}),
            ),
            participant("3", json!({"anonymousUser": {"displayName": "Guest"}})),
            participant(
                "4",
                json!({"phoneUser": {"displayName": "+44 20 **** *321"}}),
            ),
            participant("5", json!({"signedinUser": {"user": "users/5"}})),
        ]
    });

    let read = google
        .api
        .participants(&google.credentials, RECORD)
        .await
        .unwrap();

    assert_eq!(read.len(), 5);
    assert_eq!(
        read[2].kind,
        ParticipantKind::Anonymous {
            display_name: "Guest".into()
        }
    );
    assert!(matches!(read[3].kind, ParticipantKind::Phone { .. }));
    assert_eq!(
        read[4].kind,
        ParticipantKind::SignedIn {
            user: "users/5".into(),
            display_name: String::new()
        }
    );
    let calls: Vec<String> = google.with(|s| s.requests.iter().map(|(_, c)| c.clone()).collect());
    assert_eq!(
        calls,
        [
            "participants known ",
            "participants known 2",
            "participants known 4"
        ]
    );
}

#[tokio::test]
async fn a_429_is_rate_limited_and_the_next_call_waits_out_retry_after() {
    let google = LocalGoogle::start().await;
    google.with(|s| {
        s.rate_limit_next = 1;
        s.retry_after = "1".into();
    });

    let limited = google
        .api
        .conference_record(&google.credentials, RECORD)
        .await;
    assert_eq!(
        limited.unwrap_err(),
        GoogleApiError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(google.api.rate_limited_until(1, Utc::now()).is_some());
    assert!(
        google.api.rate_limited_until(2, Utc::now()).is_none(),
        "per connection"
    );

    google
        .api
        .conference_record(&google.credentials, RECORD)
        .await
        .unwrap();
    let arrivals: Vec<_> = google.with(|s| s.requests.iter().map(|(at, _)| *at).collect());
    assert!(arrivals[1] - arrivals[0] >= Duration::from_millis(990));
}

#[tokio::test]
async fn during_a_long_hold_calls_are_refused_without_reaching_google() {
    let google = LocalGoogle::start().await;
    google.with(|s| {
        s.rate_limit_next = 1;
        s.retry_after = "120".into();
    });
    let _ = google
        .api
        .conference_record(&google.credentials, RECORD)
        .await;

    let refused = google
        .api
        .conference_record(&google.credentials, RECORD)
        .await
        .unwrap_err();

    let GoogleApiError::RateLimited {
        retry_after: Some(left),
    } = refused
    else {
        panic!("{refused:?}");
    };
    assert!(left > Duration::from_secs(100));
    assert_eq!(google.with(|s| s.requests.len()), 1);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_the_call_tried_again() {
    let google = LocalGoogle::start().await;
    google
        .api
        .conference_record(&google.credentials, RECORD)
        .await
        .unwrap();
    google.with(|s| s.revoke_next = 1);

    let record = google
        .api
        .conference_record(&google.credentials, RECORD)
        .await
        .unwrap();

    assert_eq!(record.space, "spaces/kT9pQx2LmW4r");
    assert_eq!(google.with(|s| s.exchanges), 2);
    google.with(|s| s.revoke_next = 5);
    let refused = google
        .api
        .conference_record(&google.credentials, RECORD)
        .await;
    assert!(
        matches!(refused, Err(GoogleApiError::Credentials(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_unknown_record_and_users_not_of_the_domain_are_not_found() {
    let google = LocalGoogle::start().await;
    let api = &google.api;
    let admin = google.credentials.impersonating("it-admin@school.example");

    let missing = api
        .conference_record(&google.credentials, "conferenceRecords/gone")
        .await;
    assert_eq!(missing.unwrap_err(), GoogleApiError::NotFound);
    let pupil = api
        .user(&admin, "users/117430958261037482956")
        .await
        .unwrap();
    assert_eq!(pupil.primary_email, "pupil@school.example");
    assert_eq!(pupil.org_unit_path, "/Pupils/Year 9");
    assert_eq!(
        api.user(&admin, "nobody@school.example").await.unwrap_err(),
        GoogleApiError::NotFound
    );
    assert_eq!(
        api.user(&admin, "someone@elsewhere.example")
            .await
            .unwrap_err(),
        GoogleApiError::NotFound
    );
}

#[tokio::test]
async fn a_subscription_answered_with_an_unfinished_operation_is_polled_until_done() {
    let google = LocalGoogle::start().await;
    google.with(|s| s.polls_before_done = 2);

    let subscription = google
        .api
        .create_subscription(
            &google.credentials,
            "users/108274650391827364512",
            &["google.workspace.meet.conference.v2.started"],
            "projects/school-meet/topics/meet-events",
        )
        .await
        .unwrap();

    assert_eq!(subscription.name, "subscriptions/meet-user-1");
    assert_eq!(subscription.state, events::SubscriptionState::Active);
    let calls: Vec<String> = google.with(|s| s.requests.iter().map(|(_, c)| c.clone()).collect());
    assert_eq!(calls.len(), 3, "{calls:?}");
    let created: serde_json::Value =
        serde_json::from_str(calls[0].strip_prefix("create ").unwrap()).unwrap();
    assert_eq!(
        created,
        json!({
            "targetResource": "//cloudidentity.googleapis.com/users/108274650391827364512",
            "eventTypes": ["google.workspace.meet.conference.v2.started"],
            "notificationEndpoint": {"pubsubTopic": "projects/school-meet/topics/meet-events"},
            "payloadOptions": {"includeResource": false},
        })
    );

    // One that never finishes is given up on as unavailable.
    google.with(|s| {
        s.polls = 0;
        s.polls_before_done = 100;
    });
    let pending = google
        .api
        .create_subscription(&google.credentials, "108274650391827364512", &[], "t")
        .await
        .unwrap_err();
    assert!(pending.is_transient(), "{pending}");
}
