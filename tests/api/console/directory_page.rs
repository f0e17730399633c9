//! The console's directory page: people by kind and role, and the MIS export uploaded,
//! previewed (nothing stored), applied (stored and audited) or refused with every problem.

use std::process::Command;

use serde_json::{json, Value};
use sqlx::Row;

use super::{field_value, school_id, signed_in, Browser, Page};
use crate::helpers::{fresh_database_url, spawn_app, TestApp, SECRETS_KEY};

const HEADER: &str = "ref,kind,role,forename,surname,email,other_emails,zoom_user_id,children\n";

/// One new pupil (PUPIL-1003), Ravi Patel made a DSL (an update) and Jamie Smith as they are.
fn changes_csv() -> String {
    format!(
        "{HEADER}\
         STAFF-0002,staff,dsl,Ravi,Patel,r.patel@greenfield.sch.example,,Hs8dK2lPQw6vB1nZ0yXc3E,\n\
         PUPIL-1001,pupil,,Jamie,Smith,jamie.smith@pupils.greenfield.sch.example,,,\n\
         PUPIL-1003,pupil,,Robin,Hill,robin.hill@pupils.greenfield.sch.example,,,\n"
    )
}

/// Problems on rows 3 (a kind the directory does not know) and 4 (an address that is
/// already Ravi Patel's), around a row that is fine.
fn bad_csv() -> String {
    format!(
        "{HEADER}\
         PUPIL-1003,pupil,,Robin,Hill,robin.hill@pupils.greenfield.sch.example,,,\n\
         PUPIL-1004,teacher,,Kit,Moss,kit.moss@pupils.greenfield.sch.example,,,\n\
         PUPIL-1005,pupil,,Lou,Reed,r.patel@greenfield.sch.example,,,\n"
    )
}

/// The text of the element with `id` (up to its first tag inside).
fn text_of(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker)?;
    let open_end = start + html[start..].find('>')? + 1;
    let end = open_end + html[open_end..].find('<')?;
    Some(html[open_end..end].trim().to_string())
}

fn count_in(page: &Page, id: &str) -> String {
    text_of(&page.body, id).unwrap_or_else(|| panic!("no #{id} in {}", page.body))
}

async fn count_rows(app: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

async fn staff_role(app: &TestApp, reference: &str) -> Option<String> {
    sqlx::query("SELECT staff_role FROM people WHERE external_ref = $1")
        .bind(reference)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("staff_role")
        .unwrap()
}

async fn directory_audit(app: &TestApp) -> Vec<(Option<i64>, String, Value)> {
    sqlx::query(
        "SELECT school_id, subject_kind, after_state FROM audit_log \
         WHERE action = 'directory.imported' ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        let after: String = row.try_get("after_state").unwrap();
        (
            row.try_get("school_id").unwrap(),
            row.try_get("subject_kind").unwrap(),
            serde_json::from_str(&after).unwrap(),
        )
    })
    .collect()
}

/// The id of the newest upload waiting to be applied.
async fn newest_upload(app: &TestApp) -> i64 {
    count_rows(app, "SELECT MAX(id) FROM directory_uploads").await
}

async fn upload(browser: &mut Browser<'_>, school: i64, csv: &str) -> Page {
    browser
        .upload(
            &format!("/admin/directory/preview?school={school}"),
            "file",
            "mis-export.csv",
            csv.as_bytes().to_vec(),
            &[],
        )
        .await
}

const HILLSIDE: &str =
    "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n\
                        [[school.people]]\nref = \"H-1\"\nkind = \"pupil\"\nname = \"Hal Hill\"\n";

#[tokio::test]
async fn the_directory_shows_people_by_kind_and_role_and_filters_by_kind() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(
        &app,
        "admin@school.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;

    // One school: no picker, its directory.
    let page = browser.get("/admin/directory").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Directory of Greenfield Academy"));
    assert!(!page.body.contains("id=\"school-picker\""));
    let staff_row = page.body.split("id=\"count-staff\"").nth(1).unwrap();
    assert!(
        staff_row.contains("<td class=\"count\">4</td>"),
        "{staff_row}"
    );
    assert_eq!(count_in(&page, "count-role-dsl"), "DSL: 1");
    assert_eq!(count_in(&page, "count-role-deputy_dsl"), "Deputy DSL: 1");
    let pupil_row = page.body.split("id=\"count-pupil\"").nth(1).unwrap();
    assert!(
        pupil_row.contains("<td class=\"count\">2</td>"),
        "{pupil_row}"
    );
    let total_row = page.body.split("id=\"count-total\"").nth(1).unwrap();
    assert!(
        total_row.contains("<td class=\"count\">8</td>"),
        "{total_row}"
    );
    assert_eq!(page.body.matches("class=\"person\"").count(), 8);
    assert!(page.body.contains("dsl@greenfield.sch.example"));
    assert!(page.body.contains(&format!(
        "action=\"/admin/directory/preview?school={greenfield}&amp;csrf={}\"",
        browser.csrf.clone().unwrap()
    )));

    let pupils = browser
        .get(&format!("/admin/directory?school={greenfield}&kind=pupil"))
        .await;
    assert_eq!(pupils.status, 200);
    assert_eq!(pupils.body.matches("class=\"person\"").count(), 2);
    assert!(pupils.body.contains("data-ref=\"PUPIL-1001\""));
    assert!(!pupils.body.contains("data-ref=\"STAFF-0002\""));

    // A trust admin with two schools chooses one.
    app.import_toml(HILLSIDE).await;
    let mut trust = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let picker = trust.get("/admin/directory").await;
    assert_eq!(picker.status, 200);
    assert!(picker.body.contains("id=\"school-picker\""));
    assert!(picker
        .body
        .contains(&format!("href=\"/admin/directory?school={greenfield}\"")));
    assert!(picker.body.contains("Hillside Primary"));
}

#[tokio::test]
async fn an_upload_is_previewed_row_by_row_then_applied_and_audited() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(
        &app,
        "admin@school.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;
    browser
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let before = app.snapshot().await;

    let preview = upload(&mut browser, greenfield, &changes_csv()).await;

    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(count_in(&preview, "preview-created"), "1");
    assert_eq!(count_in(&preview, "preview-updated"), "1");
    assert_eq!(count_in(&preview, "preview-unchanged"), "1");
    assert_eq!(count_in(&preview, "preview-problems"), "0");
    assert_eq!(count_in(&preview, "preview-not-in-file"), "6");
    let created = preview
        .body
        .split("data-ref=\"PUPIL-1003\"")
        .nth(1)
        .unwrap();
    assert!(created.contains("to create"), "{created}");
    assert!(preview
        .body
        .contains("class=\"preview-row updated\" data-ref=\"STAFF-0002\""));
    assert!(
        preview.body.contains("role staff → dsl"),
        "{}",
        preview.body
    );
    assert!(preview
        .body
        .contains("class=\"preview-row unchanged\" data-ref=\"PUPIL-1001\""));
    assert!(!preview.body.contains("role=\"alert\""));
    assert!(preview.body.contains("id=\"apply\""));
    // Nothing stored yet.
    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        staff_role(&app, "STAFF-0002").await.as_deref(),
        Some("staff")
    );
    assert!(directory_audit(&app).await.is_empty());

    let upload_id = field_value(&preview.body, "upload").expect("the apply form");
    let applied = browser
        .submit(
            &format!("/admin/directory/apply?school={greenfield}"),
            &[("upload", &upload_id)],
        )
        .await;

    assert_eq!(applied.status, 303, "{}", applied.body);
    let location = applied.location.unwrap();
    assert_eq!(location, format!("/admin/directory?school={greenfield}"));
    let after = browser.get(&location).await;
    assert!(
        after.body.contains("1 created, 1 updated, 1 unchanged"),
        "{}",
        after.body
    );
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM people").await,
        before[2].1 + 1
    );
    assert_eq!(
        count_rows(
            &app,
            "SELECT COUNT(*) FROM people WHERE external_ref = 'PUPIL-1003'"
        )
        .await,
        1
    );
    assert_eq!(staff_role(&app, "STAFF-0002").await.as_deref(), Some("dsl"));
    let audit = directory_audit(&app).await;
    assert_eq!(
        audit,
        [(
            Some(greenfield),
            "school".to_string(),
            json!({"created": 1, "updated": 1, "unchanged": 1})
        )]
    );
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM directory_uploads").await,
        0
    );

    // The same preview cannot be applied twice.
    let again = browser
        .submit(
            &format!("/admin/directory/apply?school={greenfield}"),
            &[("upload", &upload_id)],
        )
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(directory_audit(&app).await.len(), 1);
}

#[tokio::test]
async fn a_file_with_problems_lists_each_by_row_and_ref_and_can_never_be_applied() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    browser
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let before = app.snapshot().await;

    let preview = upload(&mut browser, greenfield, &bad_csv()).await;

    assert_eq!(preview.status, 422, "{}", preview.body);
    assert_eq!(count_in(&preview, "preview-problems"), "2");
    let errors = preview
        .body
        .split("id=\"preview-errors\"")
        .nth(1)
        .expect("the problems");
    assert!(preview
        .body
        .contains("class=\"errors\" role=\"alert\" id=\"preview-errors\""));
    assert!(
        errors.contains(
            "<td class=\"row\">3</td>\n        <td class=\"ref mono\">PUPIL-1004</td>\n        \
         <td class=\"problem\">the kind is not staff, pupil, parent or external_adult</td>"
        ),
        "{errors}"
    );
    assert!(
        errors.contains(
            "<td class=\"row\">4</td>\n        <td class=\"ref mono\">PUPIL-1005</td>\n        \
         <td class=\"problem\">an email address already belongs to ref STAFF-0002</td>"
        ),
        "{errors}"
    );
    assert!(!preview.body.contains("id=\"apply\""));
    assert!(field_value(&preview.body, "upload").is_none());
    assert_eq!(app.snapshot().await, before);

    // Forced: the stored upload's id posted as the apply form would.
    let forced = browser
        .submit(
            &format!("/admin/directory/apply?school={greenfield}"),
            &[("upload", &newest_upload(&app).await.to_string())],
        )
        .await;
    assert_eq!(forced.status, 422, "{}", forced.body);
    assert!(forced.body.contains("Nothing was applied"));
    assert!(forced.body.contains("PUPIL-1004"));
    assert_eq!(app.snapshot().await, before);
    assert!(directory_audit(&app).await.is_empty());
}

#[tokio::test]
async fn an_apply_after_the_directory_changed_shows_the_new_preview_first() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    browser
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let preview = upload(&mut browser, greenfield, &changes_csv()).await;
    let upload_id = field_value(&preview.body, "upload").unwrap();
    // Meanwhile another import makes Ravi Patel a DSL already.
    sqlx::query("UPDATE people SET staff_role = 'dsl' WHERE external_ref = 'STAFF-0002'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let apply = format!("/admin/directory/apply?school={greenfield}");

    let stale = browser.submit(&apply, &[("upload", &upload_id)]).await;

    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale
        .body
        .contains("the directory changed since the preview"));
    assert_eq!(count_in(&stale, "preview-updated"), "0");
    assert_eq!(count_in(&stale, "preview-unchanged"), "2");
    assert_eq!(
        count_rows(
            &app,
            "SELECT COUNT(*) FROM people WHERE external_ref = 'PUPIL-1003'"
        )
        .await,
        0
    );
    assert!(directory_audit(&app).await.is_empty());

    let applied = browser.submit(&apply, &[("upload", &upload_id)]).await;
    assert_eq!(applied.status, 303, "{}", applied.body);
    assert_eq!(
        directory_audit(&app).await[0].2,
        json!({"created": 1, "updated": 0, "unchanged": 2})
    );
}

#[tokio::test]
async fn another_schools_directory_and_a_dsl_are_refused() {
    let app = spawn_app().await;
    app.import_toml(HILLSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let hillside = school_id(&app, "hillside").await;
    let mut admin = signed_in(
        &app,
        "admin@school.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;
    let before = app.snapshot().await;

    let page = admin
        .get(&format!("/admin/directory?school={hillside}"))
        .await;
    assert_eq!(page.status, 403);
    assert!(!page.body.contains("Hal Hill"));
    let preview = upload(&mut admin, hillside, &changes_csv()).await;
    assert_eq!(preview.status, 403);
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM directory_uploads").await,
        0
    );
    // Its own upload, applied at the other school: no such preview there.
    admin
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let own = upload(&mut admin, greenfield, &changes_csv()).await;
    let upload_id = field_value(&own.body, "upload").unwrap();
    let elsewhere = admin
        .submit(
            &format!("/admin/directory/apply?school={hillside}"),
            &[("upload", &upload_id)],
        )
        .await;
    assert_eq!(elsewhere.status, 403);
    assert_eq!(
        admin.get("/admin/directory?school=999999").await.status,
        403
    );

    // Another admin of the same school cannot apply someone else's upload.
    let mut colleague = signed_in(
        &app,
        "colleague@school.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;
    colleague
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let theirs = colleague
        .submit(
            &format!("/admin/directory/apply?school={greenfield}"),
            &[("upload", &upload_id)],
        )
        .await;
    assert_eq!(theirs.status, 404);

    let mut dsl = signed_in(
        &app,
        "dsl@school.test",
        json!([{"role": "dsl", "school_id": greenfield}]),
    )
    .await;
    assert_eq!(dsl.get("/admin/directory").await.status, 403);
    assert_eq!(
        dsl.get(&format!("/admin/directory?school={greenfield}"))
            .await
            .status,
        403
    );
    dsl.get("/").await;
    assert_eq!(
        upload(&mut dsl, greenfield, &changes_csv()).await.status,
        403
    );
    let forced = dsl
        .submit(
            &format!("/admin/directory/apply?school={greenfield}"),
            &[("upload", &upload_id)],
        )
        .await;
    assert_eq!(forced.status, 403);
    assert_eq!(app.snapshot().await, before);
    assert!(directory_audit(&app).await.is_empty());
}

#[tokio::test]
async fn an_upload_or_apply_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    browser
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let cookies = browser
        .cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(changes_csv().into_bytes()).file_name("mis.csv"),
    );
    let refused = browser
        .client_for_test()
        .post(format!(
            "{}/admin/directory/preview?school={greenfield}",
            app.address
        ))
        .header(reqwest::header::COOKIE, &cookies)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM directory_uploads").await,
        0
    );

    let preview = upload(&mut browser, greenfield, &changes_csv()).await;
    let upload_id = field_value(&preview.body, "upload").unwrap();
    let before = app.snapshot().await;
    let apply = browser
        .post_raw(
            &format!("/admin/directory/apply?school={greenfield}"),
            &[("upload", &upload_id)],
        )
        .await;
    assert_eq!(apply.status, 403);
    assert_eq!(app.snapshot().await, before);
    assert!(directory_audit(&app).await.is_empty());
}

#[tokio::test]
async fn an_upload_without_a_file_is_shown_again_with_the_reason() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "admin@school.test", json!([{"role": "trust_admin"}])).await;
    browser
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let page = browser
        .upload(
            &format!("/admin/directory/preview?school={greenfield}"),
            "file",
            "",
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"upload-error\""));
    assert!(page.body.contains("Choose the MIS export"));
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM directory_uploads").await,
        0
    );
}

#[tokio::test]
async fn the_cli_import_of_a_bad_csv_lists_every_problem_and_changes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let url = fresh_database_url(folder.path()).await;
    let chaperone = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_chaperone"))
            .args(args)
            .env("CHAPERONE__DATABASE__URL", &url)
            .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
            .env(
                "CHAPERONE__SERVER__PUBLIC_URL",
                "https://chaperone.school.example",
            )
            .env("CHAPERONE__LOG__LEVEL", "warn")
            .output()
            .expect("the binary runs")
    };
    let school = crate::helpers::example_school_file();
    let imported = chaperone(&["import", school.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let csv = folder.path().join("bad.csv");
    std::fs::write(&csv, bad_csv()).unwrap();

    let refused = chaperone(&["import", csv.to_str().unwrap(), "--school", "greenfield"]);

    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(said.contains("nothing was changed"), "{said}");
    assert!(
        said.contains("school greenfield: 2 problems with its people"),
        "{said}"
    );
    assert!(
        said.contains(
            "row 3, ref PUPIL-1004: the kind is not staff, pupil, parent or external_adult"
        ),
        "{said}"
    );
    assert!(
        said.contains("row 4, ref PUPIL-1005: an email address already belongs to ref STAFF-0002"),
        "{said}"
    );
    for personal in ["Kit", "Moss", "Reed", "r.patel@", "kit.moss@"] {
        assert!(!said.contains(personal), "{personal} in {said}");
    }
    let settings = crate::helpers::test_settings(&url, &[]);
    let db = chaperone::db::Db::connect(&settings.database)
        .await
        .unwrap();
    let people: i64 = sqlx::query("SELECT COUNT(*) AS n FROM people")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(people, 8, "the good row was not imported either");
}

/// An upload nobody applies holds personal data: the processor's timer deletes it once past
/// its expiry, whether or not anyone uploads again, and keeps one still in time.
#[tokio::test]
async fn an_upload_never_applied_is_deleted_once_past_its_expiry() {
    use chaperone::timers::Timer;
    use chaperone::worker::Worker;

    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(
        &app,
        "admin@school.test",
        json!([{"role": "school_admin", "school_id": greenfield}]),
    )
    .await;
    browser
        .get(&format!("/admin/directory?school={greenfield}"))
        .await;
    let preview = upload(&mut browser, greenfield, &changes_csv()).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM directory_uploads").await,
        1
    );

    let now = chrono::Utc::now();
    app.processor
        .run_timer(Timer::UploadExpiry, now)
        .await
        .unwrap();
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM directory_uploads").await,
        1,
        "still in time"
    );

    app.processor
        .run_timer(Timer::UploadExpiry, now + chrono::Duration::minutes(31))
        .await
        .unwrap();
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM directory_uploads").await,
        0
    );
}
