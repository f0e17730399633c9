//! The DSL follows the alert email's link to the finding, signs in on the way, and acknowledges
//! and resolves it on its page in their own name.

use chrono::Duration;

use crate::alerting::{
    now_to_the_second, AlertingSchool, Meeting, DSL_EMAIL, DSL_NAME, DSL_PASSWORD, HOST, PUPIL,
};
use crate::harness::Browser;
use crate::webdriver::keys;

const ACKNOWLEDGEMENT: &str = "Phoned Ravi: the second adult was delayed";
const RESOLUTION: &str = "A second member of staff now joins every 1:1 session";

/// The history table's rows as (change, by, note).
async fn history(browser: &Browser) -> Vec<(String, String, String)> {
    browser
        .table_rows("[aria-labelledby=history-heading] table")
        .await
        .into_iter()
        .map(|row| match row.as_slice() {
            [_when, change, by, note] => (change.clone(), by.clone(), note.clone()),
            other => panic!("a history row has when, change, by and note: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn the_alert_emails_link_leads_the_dsl_through_sign_in_to_the_finding_they_acknowledge_and_resolve(
) {
    let school = AlertingSchool::start("finding").await;
    let browser = &school.scene.browser;
    // A pupil has been alone with one member of staff for four minutes, past the two-minute
    // grace the policy allows.
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

    let link = school.finding_link_in_alert().await;
    let path = link
        .strip_prefix(&school.scene.server.address)
        .unwrap_or_else(|| panic!("the link is to this installation: {link}"))
        .to_string();
    let id = path
        .strip_prefix("/findings/")
        .filter(|id| id.parse::<i64>().is_ok())
        .unwrap_or_else(|| panic!("the link is to a finding: {link}"));

    // Not signed in: the sign-in page, which then goes on to the finding.
    browser.visit(&link).await;
    browser.wait_for_path("/sign-in").await;
    assert_eq!(
        browser.location().await,
        format!("/sign-in?return_to=%2Ffindings%2F{id}")
    );
    browser.capture("sign-in").await;
    browser.sign_in_with_password(DSL_EMAIL, DSL_PASSWORD).await;
    browser.wait_for_path(&path).await;
    assert_eq!(browser.location().await, path, "the finding's own page");
    assert_eq!(browser.heading().await, "Pupil without two staff");
    assert_eq!(browser.text_of("header .who").await, DSL_NAME);
    assert_eq!(browser.text_of("#finding-status").await, "open");
    assert_eq!(browser.text_of("#unacknowledged-count").await, "1");
    browser.wait_for_text("Jamie Smith").await;
    browser.capture("finding-open").await;

    // Acknowledged with a note, by clicking.
    browser
        .fill_labelled("Note (optional)", ACKNOWLEDGEMENT)
        .await;
    browser.click_named("Acknowledge").await;
    assert_eq!(
        browser.notice().await,
        "Finding acknowledged: escalation has stopped."
    );
    assert_eq!(browser.location().await, path);
    assert_eq!(browser.text_of("#finding-status").await, "acknowledged");
    assert_eq!(browser.text_of("#unacknowledged-count").await, "0");
    browser.capture("finding-acknowledged").await;

    // Resolved from the keyboard: type what was done, Tab to the button, Enter.
    browser.fill_labelled("What was done", RESOLUTION).await;
    let session = browser.session();
    session.press(keys::TAB).await;
    let focused = session.active_element().await;
    assert_eq!(
        session.text(&focused).await.trim(),
        "Resolve",
        "Tab leads from the note to its button"
    );
    session.press(keys::ENTER).await;
    assert_eq!(browser.notice().await, "Finding resolved.");
    assert_eq!(browser.text_of("#finding-status").await, "resolved");
    assert!(
        session.find("main form").await.is_none(),
        "a resolved finding offers no more forms"
    );

    let history = history(browser).await;
    let entry = |change: &str| {
        history
            .iter()
            .find(|(made, _, _)| made == change)
            .unwrap_or_else(|| panic!("no {change} entry in the history: {history:?}"))
    };
    assert_eq!(
        entry("acknowledged"),
        &(
            "acknowledged".to_string(),
            DSL_NAME.to_string(),
            ACKNOWLEDGEMENT.to_string()
        )
    );
    assert_eq!(
        entry("resolved"),
        &(
            "resolved".to_string(),
            DSL_NAME.to_string(),
            RESOLUTION.to_string()
        )
    );
    browser.capture("finding-resolved").await;

    // The rest of what the DSL sees: the inbox (any status, to list this one) and the overview.
    browser.visit("/findings?status=all").await;
    browser.wait_for(&format!("tr#finding-{id}")).await;
    browser.capture("findings-inbox").await;
    browser.visit("/").await;
    assert_eq!(browser.heading().await, "Overview");
    browser.capture("overview").await;

    school.scene.finish().await;
}
