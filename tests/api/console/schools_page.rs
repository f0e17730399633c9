//! The schools pages: a trust admin adds schools; an admin edits a school's name, timezone
//! and calendar, checked as the import file is, stored where the import stores it and
//! audited; everyone else, another school's admin and a form without its token are refused
//! with nothing changed.

use chaperone::policy::calendar::CalendarSpec;
use serde_json::{json, Value};
use sqlx::Row;

use super::{school_id, signed_in, Page};
use crate::helpers::{spawn_app, TestApp};

const HILLSIDE: &str = r#"
[[school]]
slug = "hillside"
name = "Hillside Primary"
timezone = "Europe/London"
"#;

/// What a school's pages may change: its row and its settings row, as stored.
async fn stored(app: &TestApp, id: i64) -> (String, String, Option<String>) {
    let school = sqlx::query("SELECT name, timezone FROM schools WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let calendar: Option<String> =
        sqlx::query_scalar("SELECT calendar FROM school_settings WHERE school_id = $1")
            .bind(id)
            .fetch_optional(&app.db.pool)
            .await
            .unwrap();
    (
        school.try_get("name").unwrap(),
        school.try_get("timezone").unwrap(),
        calendar,
    )
}

async fn calendar_of(app: &TestApp, id: i64) -> CalendarSpec {
    let mut connection = app.db.pool.acquire().await.unwrap();
    chaperone::directory::settings::load(&mut connection, id)
        .await
        .unwrap()
        .calendar
}

async fn school_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM schools")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// The audit log's entries with `action`, newest first, as the API gives them.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/audit?action={action}"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// Text as a page's HTML writes it back, for the few characters the tests meet.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn assert_refused(page: &Page, status: u16) {
    assert_eq!(page.status, status, "{}", page.body);
}

#[tokio::test]
async fn a_trust_admin_adds_a_school_and_edits_its_calendar() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;

    let list = browser.get("/admin/schools").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("Greenfield Academy"), "{}", list.body);
    assert!(list.body.contains("Add a school"));

    let added = browser
        .submit(
            "/admin/schools",
            &[
                ("slug", "hillside"),
                ("name", "Hillside Primary"),
                ("timezone", "Europe/London"),
                ("nation", "scotland"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let id = school_id(&app, "hillside").await;
    assert_eq!(added.location, Some(format!("/admin/schools/{id}")));
    let (name, timezone, _) = stored(&app, id).await;
    assert_eq!(
        (name.as_str(), timezone.as_str()),
        ("Hillside Primary", "Europe/London")
    );
    assert_eq!(calendar_of(&app, id).await.nation.key(), "scotland");

    let page = browser.get(&format!("/admin/schools/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("School added."), "{}", page.body);
    assert!(page.body.contains(r#"<option value="scotland" selected>"#));

    let saved = browser
        .submit(
            &format!("/admin/schools/{id}"),
            &[
                ("name", "Hillside Primary School"),
                ("timezone", "Europe/London"),
                ("nation", "scotland"),
                ("days", ""),
                ("days", "mon"),
                ("days", "tue"),
                ("days", "wed"),
                ("days", "thu"),
                ("opens", "09:00"),
                ("closes", "15:30"),
                (
                    "terms",
                    "2025-08-13 to 2025-10-10 Autumn 1\r\n\r\n2025-10-20 to 2025-12-19\r\n",
                ),
                ("closures", "2025-11-17\r\n2025-11-18"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    let expected: CalendarSpec = toml::from_str(
        r#"
        nation = "scotland"
        days = ["mon", "tue", "wed", "thu"]
        opens = "09:00"
        closes = "15:30"
        terms = [
            { name = "Autumn 1", starts = 2025-08-13, ends = 2025-10-10 },
            { starts = 2025-10-20, ends = 2025-12-19 },
        ]
        closures = [2025-11-17, 2025-11-18]
        "#,
    )
    .unwrap();
    assert_eq!(calendar_of(&app, id).await, expected);
    assert_eq!(stored(&app, id).await.0, "Hillside Primary School");

    let shown = browser.get(&format!("/admin/schools/{id}")).await;
    assert!(shown.body.contains("School saved."));
    assert!(
        shown.body.contains(r#"value="thu" checked"#),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains(r#"value="fri" checked"#));
    assert!(unescaped(&shown.body)
        .contains("2025-08-13 to 2025-10-10 Autumn 1\n2025-10-20 to 2025-12-19</textarea>"));
    assert_eq!(
        super::field_value(&shown.body, "opens").as_deref(),
        Some("09:00")
    );

    let created = audited(&app, "school.created").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["school_id"], id);
    assert_eq!(created[0]["after"]["slug"], "hillside");
    let updated = audited(&app, "school.updated").await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    let entry = &updated[0];
    assert_eq!(entry["actor"]["kind"], "person");
    assert_eq!(entry["subject_id"], id.to_string());
    assert_eq!(entry["before"]["name"], "Hillside Primary");
    assert_eq!(entry["before"]["calendar"]["opens"], "08:30");
    assert_eq!(entry["after"]["name"], "Hillside Primary School");
    assert_eq!(entry["after"]["calendar"]["closes"], "15:30");
    assert_eq!(
        entry["after"]["calendar"]["closures"],
        json!(["2025-11-17", "2025-11-18"])
    );

    // Sending the form again as it stands changes nothing, and records nothing.
    let again = browser
        .submit(
            &format!("/admin/schools/{id}"),
            &[("name", "Hillside Primary School")],
        )
        .await;
    assert_eq!(again.status, 303);
    assert_eq!(audited(&app, "school.updated").await.len(), 1);
}

#[tokio::test]
async fn a_school_admin_edits_their_school_but_not_another_and_adds_none() {
    let app = spawn_app().await;
    app.import_toml(HILLSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let hillside = school_id(&app, "hillside").await;
    let mut browser = signed_in(
        &app,
        "admin@greenfield.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;

    let list = browser.get("/admin/schools").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("Greenfield Academy"));
    assert!(!list.body.contains("Hillside Primary"), "{}", list.body);
    assert!(!list.body.contains("Add a school"));

    let page = browser.get(&format!("/admin/schools/{greenfield}")).await;
    assert_eq!(page.status, 200);
    let saved = browser
        .submit(
            &format!("/admin/schools/{greenfield}"),
            &[
                ("name", "Greenfield Academy Trust School"),
                ("opens", "08:45"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        stored(&app, greenfield).await.0,
        "Greenfield Academy Trust School"
    );
    assert_eq!(
        calendar_of(&app, greenfield).await.opens.to_string(),
        "08:45:00"
    );

    let before = stored(&app, hillside).await;
    assert_refused(
        &browser.get(&format!("/admin/schools/{hillside}")).await,
        403,
    );
    let refused = browser
        .submit(
            &format!("/admin/schools/{hillside}"),
            &[("name", "Taken over")],
        )
        .await;
    assert_refused(&refused, 403);
    assert_refused(&browser.get("/admin/schools/999999").await, 403);
    assert_eq!(stored(&app, hillside).await, before);

    let schools = school_count(&app).await;
    let added = browser
        .submit(
            "/admin/schools",
            &[
                ("slug", "newschool"),
                ("name", "New School"),
                ("timezone", "Europe/London"),
            ],
        )
        .await;
    assert_refused(&added, 403);
    assert_eq!(school_count(&app).await, schools);
    assert!(audited(&app, "school.created").await.is_empty());
}

#[tokio::test]
async fn a_dsl_or_a_member_of_staff_may_not_open_the_schools_pages() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    for (email, role) in [
        ("dsl@greenfield.test", "dsl"),
        ("staff@greenfield.test", "staff"),
    ] {
        let mut browser = signed_in(
            &app,
            email,
            json!([{"role": role, "school_id": greenfield}]),
        )
        .await;
        let before = stored(&app, greenfield).await;
        assert_refused(&browser.get("/admin/schools").await, 403);
        assert_refused(
            &browser.get(&format!("/admin/schools/{greenfield}")).await,
            403,
        );
        // The sign-out form of the page they landed on carries their token.
        let posted = browser
            .submit(
                &format!("/admin/schools/{greenfield}"),
                &[("name", "Renamed")],
            )
            .await;
        assert_refused(&posted, 403);
        let added = browser
            .submit(
                "/admin/schools",
                &[("slug", "x"), ("name", "X"), ("timezone", "Europe/London")],
            )
            .await;
        assert_refused(&added, 403);
        assert_eq!(stored(&app, greenfield).await, before, "{role}");
    }
    assert_eq!(school_count(&app).await, 1);
}

#[tokio::test]
async fn an_invalid_timezone_or_calendar_is_shown_again_with_its_reason_and_nothing_changes() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    browser.get(&format!("/admin/schools/{greenfield}")).await;
    let before = stored(&app, greenfield).await;

    #[rustfmt::skip]
    let cases: [(&[(&str, &str)], &str); 8] = [
        (&[("timezone", "Mars/Olympus")], "timezone \"Mars/Olympus\" is not an IANA timezone"),
        (&[("opens", "16:00"), ("closes", "08:00")], "closes 08:00 is not after opens 16:00"),
        (&[("days", "")], "days is empty"),
        (&[("nation", "wales")], "unknown variant `wales`"),
        (&[("closures", "2025-02-30")], "\"2025-02-30\" is not a date"),
        (&[("terms", "Autumn from September")], "Terms, line 1"),
        (
            &[("terms", "2025-09-03 to 2025-10-24 Autumn 1\n2025-10-20 to 2025-12-19 Autumn 2")],
            "overlaps term",
        ),
        (&[("name", "  ")], "write the school's name"),
    ];
    for (fields, reason) in cases {
        let page = browser
            .submit(&format!("/admin/schools/{greenfield}"), fields)
            .await;
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        let text = unescaped(&page.body);
        assert!(
            text.contains(reason),
            "{fields:?}: expected {reason:?} in {text}"
        );
        assert!(text.contains("role=\"alert\""));
        assert_eq!(stored(&app, greenfield).await, before, "{fields:?}");
    }
    // The form comes back with what was sent, to be corrected.
    let page = browser
        .submit(
            &format!("/admin/schools/{greenfield}"),
            &[("timezone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(
        super::field_value(&page.body, "timezone").map(|value| unescaped(&value)),
        Some("Mars/Olympus".to_string())
    );

    let schools = school_count(&app).await;
    #[rustfmt::skip]
    let additions: [(&[(&str, &str)], &str); 3] = [
        (&[("slug", "hillside"), ("name", "Hillside"), ("timezone", "London")], "timezone \"London\""),
        (&[("slug", "Hill Side"), ("name", "Hillside"), ("timezone", "Europe/London")], "is not a short name"),
        (&[("slug", "greenfield"), ("name", "Another"), ("timezone", "Europe/London")], "already has the short name"),
    ];
    for (fields, reason) in additions {
        let page = browser.submit("/admin/schools", fields).await;
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        assert!(
            unescaped(&page.body).contains(reason),
            "{fields:?}: {}",
            page.body
        );
    }
    assert_eq!(school_count(&app).await, schools);
    assert!(audited(&app, "school.updated").await.is_empty());
    assert!(audited(&app, "school.created").await.is_empty());
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    browser.get(&format!("/admin/schools/{greenfield}")).await;
    let before = stored(&app, greenfield).await;

    let edited = browser
        .post_raw(
            &format!("/admin/schools/{greenfield}"),
            &[("name", "Renamed")],
        )
        .await;
    assert_refused(&edited, 403);
    let forged = browser
        .post_raw(
            &format!("/admin/schools/{greenfield}"),
            &[("csrf", "not-the-token"), ("name", "Renamed")],
        )
        .await;
    assert_refused(&forged, 403);
    let added = browser
        .post_raw(
            "/admin/schools",
            &[
                ("slug", "hillside"),
                ("name", "Hillside"),
                ("timezone", "Europe/London"),
            ],
        )
        .await;
    assert_refused(&added, 403);

    assert_eq!(stored(&app, greenfield).await, before);
    assert_eq!(school_count(&app).await, 1);
    assert!(audited(&app, "school.updated").await.is_empty());
}
