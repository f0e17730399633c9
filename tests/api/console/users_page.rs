//! The console's users page: users added with a role (who can then sign in), roles changed,
//! users disabled, all within the admin's reach as the API rules it; and the signed-in
//! person's own API tokens, each shown once and working until revoked.

use serde_json::{json, Value};
use sqlx::Row;

use super::{school_id, signed_in, Browser, PASSWORD};
use crate::helpers::{spawn_app, TestApp};

const RIVERSIDE: &str = r#"
[[school]]
slug = "riverside"
name = "Riverside School"
timezone = "Europe/London"
"#;

async fn user_id(app: &TestApp, email: &str) -> Option<i64> {
    sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
        .map(|row| row.get("id"))
}

/// The roles of `user` as (role, school id).
async fn roles_of(app: &TestApp, user: i64) -> Vec<(String, Option<i64>)> {
    sqlx::query("SELECT role, school_id FROM role_grants WHERE user_id = $1 ORDER BY id")
        .bind(user)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get("role"), row.get("school_id")))
        .collect()
}

async fn audited(app: &TestApp, action: &str) -> Vec<(String, Option<i64>, Option<Value>)> {
    sqlx::query(
        "SELECT subject_id, school_id, after_state FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.get("subject_id"),
            row.get("school_id"),
            row.get::<Option<String>, _>("after_state")
                .map(|text| serde_json::from_str(&text).unwrap()),
        )
    })
    .collect()
}

/// Adds a user through the API (as the bootstrap admin).
async fn api_user(app: &TestApp, email: &str, roles: Value) -> i64 {
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": email, "name": "Other User", "password": PASSWORD, "roles": roles}),
        )
        .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn an_admin_adds_a_user_with_a_role_who_can_then_sign_in() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut admin = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    admin.get("/admin/users").await;

    let added = admin
        .submit(
            "/admin/users",
            &[
                ("email", " New.DSL@Greenfield.test "),
                ("name", "Nia Okafor"),
                ("role", "dsl"),
                ("school", &school.to_string()),
                ("password", "another long passphrase"),
            ],
        )
        .await;

    assert_eq!(added.status, 303, "{}", added.body);
    let id = user_id(&app, "new.dsl@greenfield.test")
        .await
        .expect("stored");
    assert_eq!(
        roles_of(&app, id).await,
        [("dsl".to_string(), Some(school))]
    );
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("User added."));
    assert!(page.body.contains("Nia Okafor"));
    assert!(
        page.body.contains("dsl at Greenfield Academy"),
        "{}",
        page.body
    );
    let granted = audited(&app, "user.role_granted").await;
    let last = granted.last().unwrap();
    assert_eq!(last.0, id.to_string());
    assert_eq!(last.1, Some(school));
    assert_eq!(last.2.as_ref().unwrap()["role"], "dsl");

    let mut nia = Browser::new(&app);
    let home = nia
        .sign_in("new.dsl@greenfield.test", "another long passphrase")
        .await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Nia Okafor"));
    let after = admin.get("/admin/users").await;
    let row = row_of(&after.body, &format!("id=\"user-{id}\""));
    assert!(!row.contains(">never<"), "{row}");
    assert!(row.contains(" UTC"), "{row}");
}

/// The table row that starts with `marker`.
fn row_of<'a>(html: &'a str, marker: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the page"));
    let end = html[start..].find("</tr>").unwrap() + start;
    &html[start..end]
}

#[tokio::test]
async fn a_user_without_a_password_signs_in_through_the_identity_provider_only() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut admin = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    admin.get("/admin/users").await;

    let added = admin
        .submit(
            "/admin/users",
            &[
                ("email", "sso@greenfield.test"),
                ("name", "Sam Single"),
                ("role", "staff"),
                ("school", &school.to_string()),
                ("password", ""),
            ],
        )
        .await;

    assert_eq!(added.status, 303, "{}", added.body);
    let hash: Option<String> =
        sqlx::query("SELECT password_hash FROM users WHERE email = 'sso@greenfield.test'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .get("password_hash");
    assert_eq!(hash, None);
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("the identity provider"));
}

#[tokio::test]
async fn a_form_that_cannot_make_a_user_is_shown_again_with_the_reason() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await.to_string();
    let mut admin = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    admin.get("/admin/users").await;

    for (fields, reason) in [
        (
            vec![
                ("email", "short@school.test"),
                ("name", "Short"),
                ("role", "staff"),
                ("school", school.as_str()),
                ("password", "short"),
            ],
            "at least 12 characters",
        ),
        (
            vec![
                ("email", "no-at-sign"),
                ("name", "Nobody"),
                ("role", "staff"),
                ("school", school.as_str()),
            ],
            "email address",
        ),
        (
            vec![
                ("email", "trust@school.test"),
                ("name", "Again"),
                ("role", "staff"),
                ("school", school.as_str()),
            ],
            "exists already",
        ),
        (
            vec![
                ("email", "ta@school.test"),
                ("name", "Ta"),
                ("role", "trust_admin"),
                ("school", school.as_str()),
            ],
            "every school",
        ),
    ] {
        let page = admin.submit("/admin/users", &fields).await;
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        assert!(page.body.contains(reason), "{reason}: {}", page.body);
        assert!(page.body.contains("role=\"alert\""));
    }
    for email in ["short@school.test", "no-at-sign", "ta@school.test"] {
        assert_eq!(user_id(&app, email).await, None, "{email}");
    }
}

#[tokio::test]
async fn a_school_admin_cannot_grant_trust_admin_nor_manage_another_school_s_users() {
    let app = spawn_app().await;
    app.import_toml(RIVERSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let riverside = school_id(&app, "riverside").await;
    let elsewhere = api_user(
        &app,
        "staff@riverside.test",
        json!([{"role": "staff", "school_id": riverside}]),
    )
    .await;
    let mut admin = signed_in(
        &app,
        "admin@greenfield.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;

    let page = admin.get("/admin/users").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("staff@riverside.test"), "{}", page.body);
    assert!(!page.body.contains("value=\"trust_admin\""));

    for (fields, what) in [
        (vec![("role", "trust_admin"), ("school", "")], "trust admin"),
        (vec![("role", "dsl"), ("school", "")], "every school"),
        (
            vec![("role", "dsl"), ("school", &riverside.to_string() as &str)],
            "another school",
        ),
    ] {
        let mut all = vec![("email", "climber@school.test"), ("name", "Climber")];
        all.extend(fields);
        let refused = admin.submit("/admin/users", &all).await;
        assert_eq!(refused.status, 403, "{what}: {}", refused.body);
    }
    assert_eq!(user_id(&app, "climber@school.test").await, None);

    let greenfield_text = greenfield.to_string();
    for (path, fields) in [
        (
            format!("/admin/users/{elsewhere}/roles"),
            vec![
                ("action", "add"),
                ("role", "staff"),
                ("school", greenfield_text.as_str()),
            ],
        ),
        (
            format!("/admin/users/{elsewhere}/disable"),
            vec![("disabled", "true")],
        ),
    ] {
        let refused = admin.submit(&path, &fields).await;
        assert_eq!(refused.status, 403, "{path}");
    }
    assert_eq!(
        roles_of(&app, elsewhere).await,
        [("staff".to_string(), Some(riverside))]
    );
    let disabled: i64 = sqlx::query("SELECT disabled FROM users WHERE id = $1")
        .bind(elsewhere)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("disabled");
    assert_eq!(disabled, 0);

    // Within their own school they do give roles.
    let added = admin
        .submit(
            "/admin/users",
            &[
                ("email", "teacher@greenfield.test"),
                ("name", "Tess Teacher"),
                ("role", "staff"),
                ("school", &greenfield_text),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
}

#[tokio::test]
async fn roles_are_changed_and_a_disabled_user_can_no_longer_sign_in() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let other = api_user(
        &app,
        "other@greenfield.test",
        json!([{"role": "staff", "school_id": school}]),
    )
    .await;
    let mut admin = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    admin.get("/admin/users").await;

    let given = admin
        .submit(
            &format!("/admin/users/{other}/roles"),
            &[
                ("action", "add"),
                ("role", "deputy_dsl"),
                ("school", &school.to_string()),
            ],
        )
        .await;
    assert_eq!(given.status, 303, "{}", given.body);
    let staff_grant: i64 =
        sqlx::query("SELECT id FROM role_grants WHERE user_id = $1 AND role = 'staff'")
            .bind(other)
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .get("id");
    let taken = admin
        .submit(
            &format!("/admin/users/{other}/roles"),
            &[("action", "remove"), ("grant", &staff_grant.to_string())],
        )
        .await;
    assert_eq!(taken.status, 303, "{}", taken.body);
    assert_eq!(
        roles_of(&app, other).await,
        [("deputy_dsl".to_string(), Some(school))]
    );
    assert_eq!(
        audited(&app, "user.role_revoked").await[0].0,
        other.to_string()
    );
    let refused = admin
        .submit(
            &format!("/admin/users/{other}/roles"),
            &[
                ("action", "add"),
                ("role", "trust_admin"),
                ("school", &school.to_string()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("No role was added"),
        "{}",
        refused.body
    );
    assert_eq!(
        roles_of(&app, other).await,
        [("deputy_dsl".to_string(), Some(school))]
    );

    let mut signed_in_before = Browser::new(&app);
    let home = signed_in_before
        .sign_in("other@greenfield.test", PASSWORD)
        .await;
    assert_eq!(home.status, 200);
    let disabled = admin
        .submit(
            &format!("/admin/users/{other}/disable"),
            &[("disabled", "true")],
        )
        .await;
    assert_eq!(disabled.status, 303);
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("badge bad\">disabled"), "{}", page.body);
    let entries = audited(&app, "user.disabled").await;
    assert_eq!(entries[0].0, other.to_string());
    assert_eq!(entries[0].1, Some(school));
    assert_eq!(signed_in_before.get("/").await.status, 303);
    let mut them = Browser::new(&app);
    let refused = them.sign_in("other@greenfield.test", PASSWORD).await;
    assert_eq!(refused.status, 401);
    assert!(!them.cookies.contains_key("chaperone_session"));

    // Nobody changes their own account here.
    let me = user_id(&app, "trust@school.test").await.unwrap();
    let own = admin
        .submit(
            &format!("/admin/users/{me}/disable"),
            &[("disabled", "true")],
        )
        .await;
    assert_eq!(own.status, 403);
}

#[tokio::test]
async fn a_token_is_shown_once_works_as_a_bearer_and_fails_once_revoked() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut admin = signed_in(
        &app,
        "admin@greenfield.test",
        json!([{"role": "school_admin", "school_id": school}]),
    )
    .await;
    admin.get("/admin/users").await;

    let made = admin
        .submit(
            "/admin/tokens",
            &[
                ("name", "MIS sync"),
                ("role", "school_admin"),
                ("school", &school.to_string()),
                ("expires", ""),
            ],
        )
        .await;

    assert_eq!(made.status, 200, "{}", made.body);
    let start = made.body.find("chp_").expect("the token is shown");
    let token: String = made.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(token.len() > 20, "{token}");
    assert!(!admin.cookies.contains_key("chaperone_notice"));
    let listed = admin.get("/admin/users").await;
    assert!(listed.body.contains("MIS sync"));
    assert!(!listed.body.contains(&token), "shown again");
    let bearer = |token: &str| {
        reqwest::Client::new()
            .get(format!("{}/api/v1/schools", app.address))
            .bearer_auth(token.to_string())
            .send()
    };
    let schools = bearer(&token).await.unwrap();
    assert_eq!(schools.status(), 200);
    let created = audited(&app, "token.created").await;
    assert_eq!(created[0].2.as_ref().unwrap()["name"], "MIS sync");

    let id = created[0].0.clone();
    let revoked = admin
        .submit(&format!("/admin/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, 303);
    assert_eq!(bearer(&token).await.unwrap().status(), 401);
    assert_eq!(audited(&app, "token.revoked").await[0].0, id);
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("badge bad\">revoked"), "{}", page.body);
}

#[tokio::test]
async fn a_token_carries_only_a_role_its_maker_holds() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut admin = signed_in(
        &app,
        "admin@greenfield.test",
        json!([{"role": "school_admin", "school_id": school}]),
    )
    .await;
    admin.get("/admin/users").await;

    let more = admin
        .submit(
            "/admin/tokens",
            &[("name", "Climb"), ("role", "trust_admin"), ("school", "")],
        )
        .await;
    let unnamed = admin
        .submit(
            "/admin/tokens",
            &[
                ("name", " "),
                ("role", "school_admin"),
                ("school", &school.to_string()),
                ("expires", "2000-01-01"),
            ],
        )
        .await;

    assert_eq!(more.status, 403, "{}", more.body);
    assert_eq!(unnamed.status, 422, "{}", unnamed.body);
    assert!(unnamed.body.contains("Give the token a name"));
    assert!(unnamed.body.contains("expiry date has passed"));
    let tokens: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(tokens, 0);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await.to_string();
    let mut admin = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;

    let refused = admin
        .post_raw(
            "/admin/users",
            &[
                ("email", "csrf@school.test"),
                ("name", "No Token"),
                ("role", "staff"),
                ("school", &school),
            ],
        )
        .await;
    let token = admin
        .post_raw(
            "/admin/tokens",
            &[("name", "x"), ("role", "trust_admin"), ("school", "")],
        )
        .await;

    assert_eq!(refused.status, 403);
    assert_eq!(token.status, 403);
    assert_eq!(user_id(&app, "csrf@school.test").await, None);
    let tokens: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(tokens, 0);
}
