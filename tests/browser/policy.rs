//! An admin changes a policy parameter and finds the change in the audit log.

use crate::harness::{Scene, ADMIN_NAME};

const GRACE_FIELD: &str = "#rule-two_adults-grace_secs";

#[tokio::test]
async fn an_admin_changes_a_policy_parameter_and_sees_it_in_the_audit_log() {
    let scene = Scene::signed_in_admin("policy").await;
    let browser = &scene.browser;

    browser.visit("/admin/policy").await;
    let field = browser.wait_for(GRACE_FIELD).await;
    let before = browser
        .session()
        .attribute(&field, "value")
        .await
        .unwrap_or_default();
    let after = if before == "240" { "300" } else { "240" };
    browser.fill(GRACE_FIELD, after).await;
    browser.click_named("Save rules").await;

    assert!(
        !browser.notice().await.is_empty(),
        "the change is confirmed"
    );
    let field = browser.wait_for(GRACE_FIELD).await;
    assert_eq!(
        browser
            .session()
            .attribute(&field, "value")
            .await
            .as_deref(),
        Some(after)
    );
    browser.capture("saved").await;

    browser.visit("/admin/audit?action=policy.updated").await;
    let rows = browser.table_rows("table").await;
    assert_eq!(rows.len(), 1, "one change recorded: {rows:?}");
    let entry = rows[0].join(" | ");
    assert!(entry.contains("policy.updated"), "{entry}");
    assert!(entry.contains(ADMIN_NAME), "who changed it: {entry}");
    assert!(entry.contains("grace_secs"), "what changed: {entry}");
    assert!(entry.contains(after), "the new value: {entry}");
    browser.capture("audit-log").await;

    scene.finish().await;
}
