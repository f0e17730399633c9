//! The console's contacts page: the school's alert contacts in escalation order, reordered,
//! added, edited and removed with the import's own checks, and a test alert sent down one
//! channel through the outbox to a real SMTP server, its delivery shown on the page.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chaperone::alerts::channels::verify_standard_webhook;
use chaperone::config::Secret;
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::Row;

use super::{school_id, signed_in};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::smtp_sink::SmtpSink;

/// A second school with one member of staff as its only contact.
const RIVERSIDE: &str = r#"
[[school]]
slug = "riverside"
name = "Riverside School"
timezone = "Europe/London"
[[school.people]]
ref = "R-STAFF-1"
kind = "staff"
role = "dsl"
name = "Rita Rivers"
emails = ["rita@riverside.sch.example"]
[school.alerts]
[[school.alerts.contacts]]
person = "R-STAFF-1"
"#;

/// The school's contacts as stored: (id, name) in escalation order.
async fn stored_order(app: &TestApp, school: i64) -> Vec<(i64, String)> {
    sqlx::query("SELECT id, name FROM alert_contacts WHERE school_id = $1 ORDER BY position")
        .bind(school)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get("id"), row.get("name")))
        .collect()
}

fn names(order: &[(i64, String)]) -> Vec<&str> {
    order.iter().map(|(_, name)| name.as_str()).collect()
}

/// The audit entries with `action`, oldest first, as (subject id, before, after).
async fn audited(app: &TestApp, action: &str) -> Vec<(String, Option<Value>, Option<Value>)> {
    sqlx::query(
        "SELECT subject_id, before_state, after_state FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        let state = |column: &str| {
            row.get::<Option<String>, _>(column)
                .map(|text| serde_json::from_str(&text).unwrap())
        };
        (
            row.get("subject_id"),
            state("before_state"),
            state("after_state"),
        )
    })
    .collect()
}

/// The page's text as a reader sees it: the escapes of the template engine undone.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Where `needle` first appears in `haystack`.
fn at(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in the page"))
}

#[tokio::test]
async fn the_contacts_are_shown_in_escalation_order_with_their_channels() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;

    let page = browser.get("/admin/contacts").await;

    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Alert contacts: Greenfield Academy"),
        "{}",
        page.body
    );
    let (dana, morgan, priya) = (
        at(&page.body, "Dana Lee"),
        at(&page.body, "Morgan Shaw"),
        at(&page.body, "Priya Khan"),
    );
    assert!(dana < morgan && morgan < priya, "{}", page.body);
    assert!(page.body.contains("dsl@greenfield.sch.example"));
    assert!(page.body.contains("medium and above"));
}

#[tokio::test]
async fn with_several_schools_the_page_asks_which_one() {
    let app = spawn_app().await;
    app.import_toml(RIVERSIDE).await;
    let riverside = school_id(&app, "riverside").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;

    let picker = browser.get("/admin/contacts").await;
    assert_eq!(picker.status, 200);
    assert!(picker
        .body
        .contains(&format!("/admin/contacts?school={riverside}")));
    assert!(!picker.body.contains("Dana Lee"));

    let page = browser
        .get(&format!("/admin/contacts?school={riverside}"))
        .await;
    assert!(page.body.contains("Rita Rivers"));
    assert!(!page.body.contains("Dana Lee"));
}

#[tokio::test]
async fn moving_a_contact_up_and_down_changes_the_escalation_order_and_is_audited() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let before = stored_order(&app, school).await;
    assert_eq!(names(&before), ["Dana Lee", "Morgan Shaw", "Priya Khan"]);
    let morgan = before[1].0;
    browser.get("/admin/contacts").await;

    let moved = browser
        .submit(
            &format!("/admin/contacts/{morgan}/move"),
            &[("direction", "up")],
        )
        .await;

    assert_eq!(moved.status, 303, "{}", moved.body);
    assert_eq!(
        moved.location.as_deref(),
        Some(format!("/admin/contacts?school={school}").as_str())
    );
    let after = stored_order(&app, school).await;
    assert_eq!(names(&after), ["Morgan Shaw", "Dana Lee", "Priya Khan"]);
    // Each contact keeps its row as it moves.
    assert_eq!(after[0].0, morgan);
    let page = browser.get("/admin/contacts").await;
    assert!(page.body.contains("Escalation order changed."));
    assert!(at(&page.body, "Morgan Shaw") < at(&page.body, "Dana Lee"));

    browser
        .submit(
            &format!("/admin/contacts/{morgan}/move"),
            &[("direction", "down")],
        )
        .await;
    browser
        .submit(
            &format!("/admin/contacts/{morgan}/move"),
            &[("direction", "down")],
        )
        .await;
    assert_eq!(
        names(&stored_order(&app, school).await),
        ["Dana Lee", "Priya Khan", "Morgan Shaw"]
    );

    // Already last: nothing moves, nothing is recorded.
    browser
        .submit(
            &format!("/admin/contacts/{morgan}/move"),
            &[("direction", "down")],
        )
        .await;
    let ids = |order: &[(i64, String)]| order.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    let entries = audited(&app, "contact.moved").await;
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].0, morgan.to_string());
    assert_eq!(entries[0].1, Some(json!({ "order": ids(&before) })));
    assert_eq!(entries[0].2, Some(json!({ "order": ids(&after) })));
}

#[tokio::test]
async fn a_contact_is_added_edited_and_removed_with_the_import_s_checks() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    browser.get("/admin/contacts").await;
    let slack = "https://hooks.slack.com/services/T000/B000/secretpathXYZ9";

    let added = browser
        .submit(
            &format!("/admin/contacts?school={school}"),
            &[
                ("person", "STAFF-0002"),
                ("min_severity", "high"),
                ("email", "on"),
                ("teams_url", ""),
                ("slack_url", slack),
            ],
        )
        .await;

    assert_eq!(added.status, 303, "{}", added.body);
    let order = stored_order(&app, school).await;
    assert_eq!(names(&order).last(), Some(&"Ravi Patel"));
    let ravi = order.last().unwrap().0;
    let row =
        sqlx::query("SELECT min_severity, email, slack_url FROM alert_contacts WHERE id = $1")
            .bind(ravi)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(row.get::<String, _>("min_severity"), "high");
    assert_eq!(
        row.get::<Option<String>, _>("email").as_deref(),
        Some("r.patel@greenfield.sch.example")
    );
    assert_eq!(
        row.get::<Option<String>, _>("slack_url").as_deref(),
        Some(slack)
    );
    let page = browser.get("/admin/contacts").await;
    assert!(
        unescaped(&page.body).contains("https://hooks.slack.com/…XYZ9"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("secretpath"),
        "the URL is shown in full"
    );
    let created = audited(&app, "contact.created").await;
    assert_eq!(created.len(), 1);
    let after = created[0].2.clone().unwrap();
    assert_eq!(after["slack_url_set"], true);
    assert_eq!(after["min_severity"], "high");
    assert!(!after.to_string().contains("secretpath"), "{after}");

    // Edited: told of everything, the Slack webhook kept while its field is left empty.
    let edit = browser.get(&format!("/admin/contacts/{ravi}/edit")).await;
    assert_eq!(edit.status, 200);
    assert_eq!(
        super::field_value(&edit.body, "person").as_deref(),
        Some("STAFF-0002")
    );
    let saved = browser
        .submit(
            &format!("/admin/contacts/{ravi}"),
            &[
                ("person", "STAFF-0002"),
                ("min_severity", "low"),
                ("slack_url", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let row =
        sqlx::query("SELECT min_severity, email, slack_url FROM alert_contacts WHERE id = $1")
            .bind(ravi)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(row.get::<String, _>("min_severity"), "low");
    assert_eq!(row.get::<Option<String>, _>("email"), None);
    assert_eq!(
        row.get::<Option<String>, _>("slack_url").as_deref(),
        Some(slack)
    );
    let updated = audited(&app, "contact.updated").await;
    assert_eq!(updated[0].1.as_ref().unwrap()["min_severity"], "high");
    assert_eq!(updated[0].2.as_ref().unwrap()["min_severity"], "low");

    let removed = browser
        .submit(&format!("/admin/contacts/{ravi}/remove"), &[])
        .await;
    assert_eq!(removed.status, 303);
    assert!(!names(&stored_order(&app, school).await).contains(&"Ravi Patel"));
    let removals = audited(&app, "contact.removed").await;
    assert_eq!(removals[0].0, ravi.to_string());
    assert_eq!(removals[0].2, None);
}

#[tokio::test]
async fn a_contact_the_import_would_refuse_is_shown_again_with_the_reason_and_nothing_stored() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let before = stored_order(&app, school).await;
    browser.get("/admin/contacts").await;

    for (fields, reason) in [
        (
            vec![
                ("person", "STAFF-9999"),
                ("min_severity", "low"),
                ("email", "on"),
            ],
            "no person with ref",
        ),
        (
            vec![
                ("person", "PUPIL-1001"),
                ("min_severity", "low"),
                ("email", "on"),
            ],
            "is not a staff",
        ),
        (
            vec![
                ("person", "STAFF-0002"),
                ("min_severity", "low"),
                ("slack_url", "hooks.slack.com/x"),
            ],
            "must be an http:// or https:// address",
        ),
        (
            vec![("person", "STAFF-0002"), ("min_severity", "low")],
            "would be told by no channel",
        ),
        (
            vec![
                ("person", "STAFF-0002"),
                ("min_severity", "severe"),
                ("email", "on"),
            ],
            "lowest severity",
        ),
    ] {
        let page = browser
            .submit(&format!("/admin/contacts?school={school}"), &fields)
            .await;
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        assert!(page.body.contains("role=\"alert\""));
        assert!(
            unescaped(&page.body).contains(reason),
            "{reason}: {}",
            page.body
        );
    }
    assert_eq!(stored_order(&app, school).await, before);
    assert!(audited(&app, "contact.created").await.is_empty());
}

#[tokio::test]
async fn a_test_alert_to_an_email_contact_arrives_by_smtp_and_its_delivery_is_shown() {
    let smtp = SmtpSink::start().await;
    let port = smtp.port().to_string();
    let app = spawn_app_with(&[
        ("CHAPERONE__SMTP__HOST", "127.0.0.1"),
        ("CHAPERONE__SMTP__PORT", &port),
        ("CHAPERONE__SMTP__SECURITY", "none"),
    ])
    .await;
    let school = school_id(&app, "greenfield").await;
    let dana = stored_order(&app, school).await[0].0;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    browser.get("/admin/contacts").await;

    let sent = browser
        .submit(
            &format!("/admin/contacts/{dana}/test"),
            &[("channel", "email")],
        )
        .await;

    assert_eq!(sent.status, 303, "{}", sent.body);
    let queued = browser.get("/admin/contacts").await;
    assert!(
        queued.body.contains("data-test-status=\"pending\""),
        "{}",
        queued.body
    );
    app.dispatcher
        .drain(Utc::now())
        .await
        .expect("dispatcher drains");
    let mail = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert_eq!(
        mail[0].recipients,
        vec!["dsl@greenfield.sch.example".to_string()]
    );
    let subject = mail[0].subject().unwrap();
    assert!(subject.contains("TEST ALERT, not a finding"), "{subject}");
    assert!(mail[0].text().contains("nothing to act on"));

    let delivery = sqlx::query(
        "SELECT kind, finding_id, contact_id, channel, status, attempts, sent_at FROM alert_deliveries",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(delivery.get::<String, _>("kind"), "test");
    assert_eq!(delivery.get::<Option<i64>, _>("finding_id"), None);
    assert_eq!(delivery.get::<Option<i64>, _>("contact_id"), Some(dana));
    assert_eq!(delivery.get::<String, _>("status"), "sent");
    assert_eq!(delivery.get::<i64, _>("attempts"), 1);
    assert!(delivery.get::<Option<i64>, _>("sent_at").is_some());
    let page = browser.get("/admin/contacts").await;
    assert!(
        page.body.contains("data-test-status=\"sent\""),
        "{}",
        page.body
    );
    // A test is no finding.
    assert_eq!(
        app.get_json("/api/v1/findings")
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let entries = audited(&app, "contact.test_sent").await;
    assert_eq!(entries[0].0, dana.to_string());
    assert_eq!(entries[0].2.as_ref().unwrap()["channel"], "email");
}

#[tokio::test]
async fn a_school_admin_cannot_see_or_change_another_school_s_contacts() {
    let app = spawn_app().await;
    app.import_toml(RIVERSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let riverside = school_id(&app, "riverside").await;
    let rita = stored_order(&app, riverside).await[0].0;
    let mut browser = signed_in(
        &app,
        "admin@greenfield.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;

    // The only school they configure is shown at once.
    let own = browser.get("/admin/contacts").await;
    assert!(own.body.contains("Dana Lee") && !own.body.contains("Rita Rivers"));
    let other = browser
        .get(&format!("/admin/contacts?school={riverside}"))
        .await;
    assert_eq!(other.status, 403);
    for (path, fields) in [
        (
            format!("/admin/contacts/{rita}/move"),
            vec![("direction", "down")],
        ),
        (format!("/admin/contacts/{rita}/remove"), vec![]),
        (
            format!("/admin/contacts/{rita}/test"),
            vec![("channel", "email")],
        ),
        (
            format!("/admin/contacts?school={riverside}"),
            vec![
                ("person", "R-STAFF-1"),
                ("min_severity", "low"),
                ("email", "on"),
            ],
        ),
    ] {
        let refused = browser.submit(&path, &fields).await;
        assert_eq!(refused.status, 403, "{path}");
    }
    assert_eq!(names(&stored_order(&app, riverside).await), ["Rita Rivers"]);
    let deliveries: i64 = sqlx::query("SELECT COUNT(*) AS n FROM alert_deliveries")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(deliveries, 0);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let before = stored_order(&app, school).await;
    let morgan = before[1].0;

    let refused = browser
        .post_raw(
            &format!("/admin/contacts/{morgan}/move"),
            &[("direction", "up")],
        )
        .await;
    let forged = browser
        .post_raw(
            &format!("/admin/contacts/{morgan}/remove"),
            &[("csrf", "not-the-token")],
        )
        .await;

    assert_eq!(refused.status, 403);
    assert_eq!(forged.status, 403);
    assert_eq!(stored_order(&app, school).await, before);
    assert!(audited(&app, "contact.moved").await.is_empty());
}

/// A case-management system that keeps the body of every delivery whose Standard Webhooks
/// signature verifies.
async fn start_case_system(secret: &'static str) -> (Arc<Mutex<Vec<Value>>>, String) {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = received.clone();
    let app = Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let verified = verify_standard_webhook(
                    &Secret::new(secret),
                    &headers,
                    &body,
                    Utc::now().timestamp(),
                );
                if verified.is_err() {
                    return StatusCode::UNAUTHORIZED;
                }
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, url)
}

#[tokio::test]
async fn a_test_alert_reaches_a_signed_webhook_marked_as_a_test() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let app = spawn_app().await;
    let (received, url) = start_case_system(SECRET).await;
    let variable = format!(
        "CHAPERONE_TEST_CONSOLE_WEBHOOK_{}",
        app.folder
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(['.', '-'], "_")
    );
    std::env::set_var(&variable, SECRET);
    app.import_toml(&format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [school.alerts]\n[[school.alerts.contacts]]\nperson = \"STAFF-0001\"\n\
         [[school.alerts.webhooks]]\nurl = \"{url}\"\nsecret_env = \"{variable}\"\n"
    ))
    .await;
    let webhook: i64 = sqlx::query("SELECT id FROM alert_webhooks")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let page = browser.get("/admin/contacts").await;
    assert!(unescaped(&page.body).contains("/…"), "{}", page.body);

    let sent = browser
        .submit(&format!("/admin/contacts/webhooks/{webhook}/test"), &[])
        .await;

    assert_eq!(sent.status, 303, "{}", sent.body);
    app.dispatcher
        .drain(Utc::now())
        .await
        .expect("dispatcher drains");
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["kind"], "test");
    assert!(bodies[0]["title"].as_str().unwrap().contains("TEST"));
    let page = browser.get("/admin/contacts").await;
    assert!(
        page.body.contains("data-test-status=\"sent\""),
        "{}",
        page.body
    );
    let entries = audited(&app, "contact.test_sent").await;
    assert_eq!(entries[0].0, webhook.to_string());
    assert_eq!(entries[0].2.as_ref().unwrap()["channel"], "webhook");
}
