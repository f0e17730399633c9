//! An admin uploads the MIS export, sees what it would change before anything changes, and
//! applies it.

use crate::harness::Scene;

/// The example school's people as the MIS exports them a term later: Ravi Patel's address
/// changed, a new pupil joined, the others are as they were.
const MIS_EXPORT: &str = "\
ref,kind,role,forename,surname,email,other_emails,zoom_user_id,children
STAFF-0002,staff,staff,Ravi,Patel,ravi.patel@greenfield.sch.example,,Hs8dK2lPQw6vB1nZ0yXc3E,
STAFF-0003,staff,deputy_dsl,Morgan,Shaw,m.shaw@greenfield.sch.example,,,
PUPIL-1001,pupil,,Jamie,Smith,jamie.smith@pupils.greenfield.sch.example,,,
PUPIL-1003,pupil,,Robin,Achebe,robin.achebe@pupils.greenfield.sch.example,,,
";

#[tokio::test]
async fn an_admin_uploads_the_mis_export_sees_the_preview_and_applies_it() {
    let scene = Scene::signed_in_admin("directory").await;
    let browser = &scene.browser;
    let folder = tempfile::tempdir().expect("a folder for the export");
    let export = folder.path().join("mis-export.csv");
    std::fs::write(&export, MIS_EXPORT).expect("the export is written");

    browser.visit("/admin/directory").await;
    browser.wait_for("#upload-form").await;
    assert!(
        !browser.text().await.contains("Robin"),
        "the new pupil is not in the directory yet"
    );
    browser.attach("input[type=file][name=file]", &export).await;
    browser.click_named("Preview the changes").await;

    browser.wait_for("#preview-counts").await;
    assert_eq!(browser.text_of("#preview-created").await, "1");
    assert_eq!(browser.text_of("#preview-updated").await, "1");
    assert_eq!(browser.text_of("#preview-unchanged").await, "2");
    assert_eq!(browser.text_of("#preview-problems").await, "0");
    let rows = browser.table_rows("#preview-changes").await;
    let refs: Vec<&str> = rows.iter().map(|row| row[1].as_str()).collect();
    assert_eq!(refs, ["STAFF-0002", "PUPIL-1003"], "{rows:?}");
    browser.capture("preview").await;

    // The preview changed nothing; the file is previewed again, then applied.
    browser.visit("/admin/directory").await;
    browser.wait_for("#upload-form").await;
    assert!(!browser.text().await.contains("Robin"));
    browser.attach("input[type=file][name=file]", &export).await;
    browser.click_named("Preview the changes").await;
    assert_eq!(browser.text_of("#preview-created").await, "1");

    browser.click_named("Apply these changes").await;
    browser.wait_for_path("/admin/directory").await;
    assert!(
        !browser.notice().await.is_empty(),
        "the change is confirmed"
    );
    browser.wait_for_text("Robin").await;
    browser.capture("applied").await;

    scene.finish().await;
}
