//! Every section of the console a DSL is offered, and the pages within them, open as console
//! pages at phone and desktop width with no serious accessibility violation (each capture runs
//! axe-core), after a call has given them something to show. The screenshots are for review.

use chrono::Duration;

use crate::alerting::{
    now_to_the_second, AlertingSchool, Meeting, DSL_EMAIL, DSL_PASSWORD, HOST, PUPIL,
};

/// A file-name-safe version of a path: `/timetable/consents` → `timetable-consents`.
fn slug(path: &str) -> String {
    match path.trim_matches('/') {
        "" => "overview".to_string(),
        rest => rest.replace(['/', '?', '=', '&'], "-"),
    }
}

#[tokio::test]
async fn every_section_a_dsl_is_offered_opens_as_an_accessible_console_page() {
    let school = AlertingSchool::start("dsl-tour").await;
    let browser = &school.scene.browser;
    let now = now_to_the_second();
    let meeting = Meeting {
        started: now - Duration::seconds(300),
    };
    school
        .deliver(&[
            meeting.start_event(),
            meeting.joined_event(&HOST, meeting.started),
            meeting.joined_event(&PUPIL, now - Duration::seconds(240)),
        ])
        .await;
    school.finding_link_in_alert().await;

    browser.visit("/sign-in").await;
    browser.sign_in_with_password(DSL_EMAIL, DSL_PASSWORD).await;
    browser.wait_for_path("/").await;
    let session = browser.session();
    let mut sections = Vec::new();
    for link in session.find_all("header nav a").await {
        let href = session.attribute(&link, "href").await.unwrap_or_default();
        let label = session.text(&link).await.trim().to_string();
        sections.push((href, label));
    }
    let labels: Vec<&str> = sections.iter().map(|(_, label)| label.as_str()).collect();
    for expected in [
        "Findings",
        "Register",
        "Timetable",
        "My calendar",
        "Reports",
        "Audit log",
    ] {
        assert!(
            labels.contains(&expected),
            "a DSL is offered {expected}: {labels:?}"
        );
    }
    for admin_only in ["Schools", "Connections", "Directory", "Policy"] {
        assert!(
            !labels.contains(&admin_only),
            "a DSL is not offered {admin_only}: {labels:?}"
        );
    }

    // The sections, then the pages within them.
    let mut pages: Vec<String> = sections.iter().map(|(href, _)| href.clone()).collect();
    pages.extend(
        [
            "/timetable/new",
            "/timetable/consents",
            "/timetable/outcomes",
            "/reports?period=year&year=2026",
        ]
        .map(str::to_string),
    );
    for path in &pages {
        browser.visit(path).await;
        if session.find("form.sign-out").await.is_none() || session.find("h1").await.is_none() {
            browser.fail(&format!("{path} is not a console page")).await;
        }
        browser.capture(&slug(path)).await;
    }

    school.scene.finish().await;
}
