//! The console from the keyboard alone: Tab from the top of a page reaches what a person
//! expects first, in order, and signing in needs no mouse.

use crate::harness::{Browser, Scene, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::webdriver::keys;

/// Presses Tab and describes the element that then has the focus: `tag#id`, `tag[name]`,
/// or `tag "text"`.
async fn tab(browser: &Browser) -> String {
    let session = browser.session();
    session.press(keys::TAB).await;
    let focused = session.active_element().await;
    let tag = session.tag_name(&focused).await.to_lowercase();
    if let Some(name) = session.attribute(&focused, "name").await {
        return format!("{tag}[{name}]");
    }
    let text = session.text(&focused).await;
    format!("{tag} {:?}", text.trim())
}

#[tokio::test]
async fn tab_reaches_the_sign_in_fields_in_order_then_the_skip_link_first_on_a_page() {
    let (scene, _provider) = Scene::with_identity_provider("keyboard").await;
    let browser = &scene.browser;

    browser.visit("/sign-in").await;
    browser.wait_for("input[name=email]").await;
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(tab(browser).await);
    }
    assert_eq!(
        order,
        [
            "a \"Sign in with your school account\"",
            "input[email]",
            "input[password]",
            "button \"Sign in\"",
        ],
        "the order Tab moves through the sign-in page"
    );

    // Signed in without the mouse: type, Tab, type, Enter.
    browser.visit("/sign-in").await;
    browser.wait_for("input[name=email]").await;
    tab(browser).await;
    assert_eq!(tab(browser).await, "input[email]");
    let session = browser.session();
    let email = session.active_element().await;
    session.send_keys(&email, ADMIN_EMAIL).await;
    tab(browser).await;
    let password = session.active_element().await;
    session.send_keys(&password, ADMIN_PASSWORD).await;
    session.press(keys::ENTER).await;
    browser.wait_for_path("/").await;

    browser.visit("/").await;
    browser.wait_for("main#content").await;
    assert_eq!(
        tab(browser).await,
        "a \"Skip to content\"",
        "the skip link comes first"
    );
    browser.capture("skip-link-focused").await;
    session.press(keys::ENTER).await;
    let focused = session.active_element().await;
    assert_eq!(
        session.attribute(&focused, "id").await.as_deref(),
        Some("content"),
        "the skip link moves the focus to the page's content"
    );

    scene.finish().await;
}
