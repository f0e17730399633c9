//! The console's audit page: newest first, filtered by school, action, actor and days, a page
//! at a time; a change made in the console shows there; a school admin sees only their
//! school's entries; and an entry altered in the database shows the chain broken at it.

use chaperone::audit::{self, Actor, Entry};
use chaperone::db::Backend;
use chrono::{Duration, Utc};
use serde_json::json;
use sqlx::Row;

use super::{school_id, signed_in};
use crate::helpers::{spawn_app, TestApp};

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
[[school.alerts.contacts]]
person = "R-STAFF-1"
min_severity = "high"
"#;

async fn first_contact(app: &TestApp, school: i64) -> i64 {
    sqlx::query("SELECT id FROM alert_contacts WHERE school_id = $1 ORDER BY position LIMIT 1")
        .bind(school)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id")
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

/// The ids of the entries the page lists, in its order.
fn listed(html: &str) -> Vec<i64> {
    html.match_indices("<tr id=\"entry-")
        .map(|(at, marker)| {
            html[at + marker.len()..]
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

async fn ids_with_action(app: &TestApp, action: &str) -> Vec<i64> {
    sqlx::query("SELECT id FROM audit_log WHERE action = $1 ORDER BY id DESC")
        .bind(action)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("id"))
        .collect()
}

#[tokio::test]
async fn a_change_made_in_the_console_appears_and_the_filters_narrow_the_log() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let contact = first_contact(&app, school).await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    browser.get("/admin/contacts").await;
    let moved = browser
        .submit(
            &format!("/admin/contacts/{contact}/move"),
            &[("direction", "down")],
        )
        .await;
    assert_eq!(moved.status, 303);
    let me: i64 = sqlx::query("SELECT id FROM users WHERE email = 'trust@school.test'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");

    let page = browser.get("/admin/audit").await;

    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("The audit chain verifies"),
        "{}",
        page.body
    );
    let all = listed(&page.body);
    let moves = ids_with_action(&app, "contact.moved").await;
    assert_eq!(moves.len(), 1);
    assert_eq!(all[0], moves[0], "newest first");
    assert!(all.windows(2).all(|pair| pair[0] > pair[1]));
    assert!(page.body.contains("contact.moved"));
    assert!(page.body.contains(&format!("alert_contact {contact}")));
    // Before and after as readable JSON.
    assert!(
        unescaped(&page.body).contains("\"order\": ["),
        "{}",
        page.body
    );

    let by_action = browser.get("/admin/audit?action=contact.moved").await;
    assert_eq!(listed(&by_action.body), moves);
    let by_actor = browser
        .get(&format!("/admin/audit?actor=person%3A{me}"))
        .await;
    assert_eq!(listed(&by_actor.body), moves);
    let by_system = browser.get("/admin/audit?actor=system").await;
    assert!(!listed(&by_system.body).contains(&moves[0]));
    let today = Utc::now().date_naive();
    let yesterday = today - Duration::days(1);
    let until_yesterday = browser.get(&format!("/admin/audit?to={yesterday}")).await;
    assert!(listed(&until_yesterday.body).is_empty());
    let from_today = browser
        .get(&format!(
            "/admin/audit?from={today}&to={today}&school={school}"
        ))
        .await;
    assert!(listed(&from_today.body).contains(&moves[0]));

    let bad = browser
        .get("/admin/audit?from=yesterday&actor=nobody")
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("YYYY-MM-DD"));
    assert!(bad.body.contains("role=\"alert\""));
}

#[tokio::test]
async fn the_log_is_read_a_page_at_a_time() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut tx = app.db.pool.begin().await.unwrap();
    for n in 0..55 {
        audit::record(
            &mut tx,
            app.db.backend,
            &Entry {
                actor: &Actor::System,
                school_id: Some(school),
                action: "test.entry",
                subject_kind: "thing",
                subject_id: &n.to_string(),
                before: None,
                after: Some(&json!({ "n": n })),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;

    let first = browser.get("/admin/audit?action=test.entry").await;
    let ids = listed(&first.body);
    assert_eq!(ids.len(), 50);
    let older = format!("/admin/audit?action=test.entry&before={}", ids[49]);
    assert!(unescaped(&first.body).contains(&older), "{}", first.body);
    let second = browser
        .get(&format!(
            "/admin/audit?action=test.entry&before={}",
            ids[49]
        ))
        .await;
    let rest = listed(&second.body);
    assert_eq!(rest.len(), 5);
    assert!(rest[0] < ids[49]);
    assert!(!second.body.contains("before="), "no page after the last");
}

#[tokio::test]
async fn a_school_admin_sees_only_their_school_s_entries() {
    let app = spawn_app().await;
    app.import_toml(RIVERSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let riverside = school_id(&app, "riverside").await;
    let mut trust = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    trust
        .get(&format!("/admin/contacts?school={riverside}"))
        .await;
    let theirs = first_contact(&app, riverside).await;
    let ours = first_contact(&app, greenfield).await;
    for contact in [theirs, ours] {
        let moved = trust
            .submit(
                &format!("/admin/contacts/{contact}/move"),
                &[("direction", "down")],
            )
            .await;
        assert_eq!(moved.status, 303);
    }
    let moves = ids_with_action(&app, "contact.moved").await;
    let (ours_entry, theirs_entry) = (moves[0], moves[1]);
    let mut admin = signed_in(
        &app,
        "admin@greenfield.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;

    let page = admin.get("/admin/audit").await;

    assert_eq!(page.status, 200);
    let ids = listed(&page.body);
    assert!(ids.contains(&ours_entry));
    assert!(!ids.contains(&theirs_entry), "{}", page.body);
    assert!(!page.body.contains("Riverside School"));
    // The trust-wide user made by the bootstrap token is no school's entry.
    assert!(!page.body.contains("trust@school.test"));
    let other = admin.get(&format!("/admin/audit?school={riverside}")).await;
    assert_eq!(other.status, 403);
    let mut staff = signed_in(
        &app,
        "staff@greenfield.test",
        json!([{"role": "staff", "school_id": greenfield}]),
    )
    .await;
    assert_eq!(staff.get("/admin/audit").await.status, 403);
}

#[tokio::test]
async fn an_entry_altered_in_the_database_shows_the_chain_broken_at_it() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let contact = first_contact(&app, school).await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    browser.get("/admin/contacts").await;
    browser
        .submit(
            &format!("/admin/contacts/{contact}/move"),
            &[("direction", "down")],
        )
        .await;
    let altered = ids_with_action(&app, "contact.moved").await[0];
    // What an administrator of the database could do: take away the append-only guard.
    let statements: &[&str] = match app.db.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_refuses_update",
            "DROP TRIGGER audit_log_refuses_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER audit_log_append_only ON audit_log"],
    };
    for statement in statements {
        sqlx::query(statement).execute(&app.db.pool).await.unwrap();
    }
    sqlx::query("UPDATE audit_log SET after_state = '{\"order\": []}' WHERE id = $1")
        .bind(altered)
        .execute(&app.db.pool)
        .await
        .unwrap();

    let page = browser.get("/admin/audit").await;

    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!("it breaks at entry {altered}.")),
        "{}",
        page.body
    );
    assert!(page.body.contains("its hash does not match its contents"));
    assert!(!page.body.contains("The audit chain verifies"));
    let row_start = page
        .body
        .find(&format!("<tr id=\"entry-{altered}\""))
        .unwrap();
    let row = &page.body[row_start..row_start + page.body[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("does not verify"), "{row}");
}
