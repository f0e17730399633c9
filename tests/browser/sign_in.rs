//! Signing in with a local password and through the school's identity provider, and out.

use crate::harness::{Scene, ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, STAFF_NAME};

#[tokio::test]
async fn the_first_admin_signs_in_with_a_password_lands_on_the_overview_and_signs_out() {
    let scene = Scene::start("password", |_| {}).await;
    let browser = &scene.browser;

    browser.visit("/").await;
    browser.wait_for_path("/sign-in").await;
    assert_eq!(browser.location().await, "/sign-in?return_to=%2F");
    assert_eq!(browser.heading().await, "Sign in");
    assert!(
        browser
            .session()
            .find("a[href^='/sign-in/oidc']")
            .await
            .is_none(),
        "without a provider configured the page offers none"
    );
    browser.capture("sign-in").await;

    // The labels name their fields.
    browser.fill_labelled("Email address", ADMIN_EMAIL).await;
    browser
        .fill_labelled("Password", "not the password at all")
        .await;
    browser.click_named("Sign in").await;
    let refusal = browser.text_of("[role=alert]").await;
    assert!(!refusal.trim().is_empty(), "a refusal says why");
    assert_eq!(browser.location().await.split('?').next(), Some("/sign-in"));
    browser.capture("sign-in-refused").await;

    browser
        .sign_in_with_password(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    browser.wait_for_path("/").await;
    assert_eq!(browser.heading().await, "Overview");
    assert_eq!(browser.text_of("header .who").await, ADMIN_NAME);
    browser.wait_for_text("Greenfield Academy").await;
    browser.capture("overview").await;

    browser.sign_out().await;
    assert_eq!(browser.location().await, "/sign-in?signed_out=1");
    browser.visit("/").await;
    browser.wait_for_path("/sign-in").await;
    assert_eq!(browser.location().await, "/sign-in?return_to=%2F");
    assert!(
        browser.session().find("form.sign-out").await.is_none(),
        "signed out, no page of the console is shown"
    );

    scene.finish().await;
}

#[tokio::test]
async fn a_school_admin_signs_in_through_the_schools_identity_provider() {
    let (scene, provider) = Scene::with_identity_provider("oidc").await;
    let browser = &scene.browser;

    browser.visit("/").await;
    browser.wait_for_path("/sign-in").await;
    browser.capture("sign-in").await;
    browser
        .click_named("Sign in with your school account")
        .await;
    browser.wait_for_path("/").await;
    assert_eq!(browser.heading().await, "Overview");
    assert_eq!(browser.text_of("header .who").await, STAFF_NAME);
    browser.wait_for_text("Greenfield Academy").await;
    browser.capture("overview").await;

    let authorization = provider.seen(|seen| seen.authorizations.clone());
    assert_eq!(authorization.len(), 1, "one trip to the provider");
    let asked = |name: &str| authorization[0].get(name).cloned().unwrap_or_default();
    assert_eq!(asked("client_id"), crate::provider::CLIENT_ID);
    assert_eq!(asked("response_type"), "code");
    assert_eq!(asked("code_challenge_method"), "S256");
    assert!(asked("nonce").len() >= 16, "a nonce: {:?}", asked("nonce"));
    assert!(asked("state").len() >= 16, "a state: {:?}", asked("state"));
    assert_eq!(
        asked("redirect_uri"),
        format!("{}/sign-in/oidc/callback", scene.server.address)
    );
    assert_eq!(
        provider.seen(|seen| seen.token_requests.clone()),
        vec![true],
        "the code was redeemed once, with the PKCE verifier and the client's secret"
    );

    browser.sign_out().await;
    browser.visit("/").await;
    browser.wait_for_path("/sign-in").await;

    scene.finish().await;
}
