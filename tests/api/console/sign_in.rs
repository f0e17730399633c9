//! Signing in to the console and out of it, and the attacks on both: a page without a
//! session goes to sign-in and comes back; a form without its session's CSRF token, or from
//! another site, changes nothing; a forged, expired or ended session cookie is no session;
//! a guessed password locks the account.

use serde_json::json;

use super::{signed_in, Browser, PASSWORD};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_page_without_a_session_goes_to_sign_in_and_comes_back_after_it() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": "admin@school.test", "name": "Admin", "password": PASSWORD, "roles": [{"role": "trust_admin"}]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let mut browser = Browser::new(&app);

    let page = browser.get("/?school=1").await;
    assert_eq!(page.status, 303);
    let location = page.location.unwrap();
    assert_eq!(location, "/sign-in?return_to=%2F%3Fschool%3D1");

    let form = browser.get(&location).await;
    assert_eq!(form.status, 200);
    let kept = super::field_value(&form.body, "return_to").unwrap();
    assert!(kept.contains("school=1"), "{kept}");
    let landed = browser
        .submit(
            "/sign-in",
            &[
                ("email", "admin@school.test"),
                ("password", PASSWORD),
                ("return_to", "/?school=1"),
            ],
        )
        .await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(landed.location.as_deref(), Some("/?school=1"));
    let cookie = browser
        .cookies
        .get("chaperone_session")
        .expect("a session cookie");
    assert!(cookie.starts_with("chs_"));

    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Sign out"));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_renewed_at_each_sign_in() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, "dsl@school.test", json!([{"role": "trust_admin"}])).await;
    let first = browser.cookies["chaperone_session"].clone();

    let form = reqwest::get(format!("{}/sign-in", app.address))
        .await
        .unwrap();
    let set_cookie = form.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );

    // A browser holding a session id it was handed (fixation) and signing in: a new session,
    // and the one it held is over.
    let mut fixed = Browser::new(&app);
    fixed.get("/sign-in").await;
    fixed
        .cookies
        .insert("chaperone_session".into(), first.clone());
    let landed = fixed
        .submit(
            "/sign-in",
            &[("email", "dsl@school.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(landed.status, 303);
    let second = fixed.cookies["chaperone_session"].clone();
    assert_ne!(first, second);
    assert_eq!(
        browser.get("/").await.status,
        303,
        "the earlier session ended"
    );
    assert_eq!(fixed.get("/").await.status, 200);
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_the_same_words_as_an_unknown_address() {
    let app = spawn_app().await;
    let _admin = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;

    let mut browser = Browser::new(&app);
    let wrong = browser
        .sign_in("admin@school.test", "not the password")
        .await;
    let unknown = browser
        .sign_in("nobody@school.test", "not the password")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert!(wrong.body.contains("the address or the password is wrong"));
    assert!(unknown
        .body
        .contains("the address or the password is wrong"));
    assert!(!browser.cookies.contains_key("chaperone_session"));
}

#[tokio::test]
async fn a_password_guessed_twenty_times_locks_the_account_even_for_the_right_one() {
    let app = spawn_app().await;
    let _admin = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    let mut browser = Browser::new(&app);
    let mut statuses = Vec::new();
    for guess in 0..20 {
        statuses.push(
            browser
                .sign_in("admin@school.test", &format!("guess {guess}"))
                .await
                .status,
        );
    }
    assert!(
        statuses[..4].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[4..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    let right = browser.sign_in("admin@school.test", PASSWORD).await;
    assert_eq!(right.status, 429);
    assert!(!browser.cookies.contains_key("chaperone_session"));
}

#[tokio::test]
async fn a_sign_in_form_without_its_binding_cookie_is_refused() {
    let app = spawn_app().await;
    let _admin = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    // Another site's page posting the form: it has a token of its own, but not this browser's
    // binding cookie.
    let mut attacker = Browser::new(&app);
    attacker.get("/sign-in").await;
    let token = attacker.csrf.clone().unwrap();
    let mut victim = Browser::new(&app);
    let page = victim
        .post_raw(
            "/sign-in",
            &[
                ("csrf", &token),
                ("email", "admin@school.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(!victim.cookies.contains_key("chaperone_session"));
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_or_from_another_site_change_nothing() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    let mut other = signed_in(&app, "other@school.test", json!([{"role": "trust_admin"}])).await;
    other.get("/").await;
    let others_token = other.csrf.clone().unwrap();

    // Sign-out is a form like any other: refused, the session lives on.
    let without = browser.post_raw("/sign-out", &[]).await;
    assert_eq!(without.status, 403);
    assert!(without.body.contains("nothing was changed"));
    let wrong = browser
        .post_raw("/sign-out", &[("csrf", "not-a-token")])
        .await;
    assert_eq!(wrong.status, 403);
    let another_sessions = browser
        .post_raw("/sign-out", &[("csrf", &others_token)])
        .await;
    assert_eq!(another_sessions.status, 403);
    browser.get("/").await;
    let token = browser.csrf.clone().unwrap();
    let cross_site = browser
        .client_for_test()
        .post(format!("{}/sign-out", app.address))
        .header(
            reqwest::header::COOKIE,
            format!("chaperone_session={}", browser.cookies["chaperone_session"]),
        )
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(browser.get("/").await.status, 200, "still signed in");

    let out = browser.submit("/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert!(!browser.cookies.contains_key("chaperone_session"));
}

#[tokio::test]
async fn a_forged_ended_or_expired_session_cookie_is_no_session() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    let live = browser.cookies["chaperone_session"].clone();

    for forged in ["chs_forged", "chp_not_a_session", "", &format!("{live}x")] {
        let mut forger = Browser::new(&app);
        forger
            .cookies
            .insert("chaperone_session".into(), forged.to_string());
        let page = forger.get("/").await;
        assert_eq!(page.status, 303, "{forged:?}");
        assert!(page.location.unwrap().starts_with("/sign-in"));
    }

    // Past the absolute timeout, as the clock in the database says.
    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let expired = browser.get("/").await;
    assert_eq!(expired.status, 303);
    assert!(
        !browser.cookies.contains_key("chaperone_session"),
        "the stale cookie is removed"
    );
}
