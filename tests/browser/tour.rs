//! Every section of the console, opened from the header as the trust admin sees it, renders
//! as a console page at phone and desktop width (the screenshots are for review).

use crate::harness::Scene;

/// A file-name-safe version of a section's path: `/admin/audit` → `admin-audit`.
fn slug(path: &str) -> String {
    match path.trim_matches('/') {
        "" => "overview".to_string(),
        rest => rest.replace('/', "-"),
    }
}

#[tokio::test]
async fn every_section_in_the_header_opens_as_a_console_page_on_a_phone_and_a_desktop() {
    let scene = Scene::signed_in_admin("tour").await;
    let browser = &scene.browser;
    let session = browser.session();

    let mut sections = Vec::new();
    for link in session.find_all("header nav a").await {
        let href = session.attribute(&link, "href").await.unwrap_or_default();
        let label = session.text(&link).await;
        sections.push((href, label.trim().to_string()));
    }
    let labels: Vec<&str> = sections.iter().map(|(_, label)| label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Overview",
            "Schools",
            "Connections",
            "Directory",
            "Policy",
            "Alert contacts",
            "Users and tokens",
            "Audit log",
        ],
        "a trust admin is offered every section"
    );

    for (href, label) in &sections {
        browser.visit(href).await;
        if session.find("form.sign-out").await.is_none() || session.find("h1").await.is_none() {
            browser
                .fail(&format!(
                    "the {label} section ({href}) is not a console page"
                ))
                .await;
        }
        let current = browser.text_of("header nav a[aria-current=page]").await;
        assert_eq!(current.trim(), label, "the header marks the section shown");
        browser.capture(&slug(href)).await;
    }

    scene.finish().await;
}
