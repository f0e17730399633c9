//! `chaperone import`: the example school, idempotence, and refusals.

use chaperone::import::import_path;

use crate::helpers::{example_school_file, spawn_app};

#[tokio::test]
async fn importing_the_example_school_again_changes_nothing() {
    // spawn_app has imported it once already.
    let app = spawn_app().await;
    let before = app.snapshot().await;
    let report = import_path(&app.db, &app.state.secrets, &example_school_file(), None)
        .await
        .unwrap();
    assert!(!report.changed_anything(), "{report:?}");
    assert_eq!(report.people_unchanged, 8);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_changed_csv_updates_only_the_people_who_changed() {
    let app = spawn_app().await;
    let csv = app.folder.path().join("people.csv");
    std::fs::write(
        &csv,
        "ref,kind,role,forename,surname,email,other_emails,zoom_user_id,children\n\
         STAFF-0002,staff,dsl,Ravi,Patel,r.patel@greenfield.sch.example,,Hs8dK2lPQw6vB1nZ0yXc3E,\n\
         PUPIL-1003,pupil,,Robin,Hill,robin.hill@pupils.greenfield.sch.example,,,\n",
    )
    .unwrap();
    let report = import_path(&app.db, &app.state.secrets, &csv, Some("greenfield"))
        .await
        .unwrap();
    assert_eq!(report.people_updated, 1, "{report:?}");
    assert_eq!(report.people_created, 1, "{report:?}");
    let again = import_path(&app.db, &app.state.secrets, &csv, Some("greenfield"))
        .await
        .unwrap();
    assert!(!again.changed_anything(), "{again:?}");
}

#[tokio::test]
async fn a_bad_file_is_refused_whole_and_names_the_person_not_their_details() {
    let app = spawn_app().await;
    let before = app.snapshot().await;
    let path = app.folder.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[[school]]
slug = "hillside"
name = "Hillside Primary"
timezone = "Europe/London"
[[school.people]]
ref = "P-1"
kind = "pupil"
name = "Ada Hill"
emails = ["ada@hillside.example"]
[[school.people]]
ref = "P-2"
kind = "pupil"
name = "Bo Hill"
emails = ["ADA@hillside.example"]
"#,
    )
    .unwrap();
    let error = import_path(&app.db, &app.state.secrets, &path, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("P-2"), "{error}");
    assert!(
        !error.contains("ada@"),
        "an error must not echo an email: {error}"
    );
    assert!(
        !error.contains("Bo Hill"),
        "an error must not echo a name: {error}"
    );
    assert_eq!(app.snapshot().await, before);

    std::fs::write(
        &path,
        "[[school]]\nslug = \"x\"\nname = \"X\"\ntimezone = \"Mars/Olympus\"\n",
    )
    .unwrap();
    let error = import_path(&app.db, &app.state.secrets, &path, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("Mars/Olympus"), "{error}");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_zoom_account_cannot_belong_to_two_schools() {
    let app = spawn_app().await;
    let path = app.folder.path().join("other.toml");
    std::fs::write(
        &path,
        "[[school]]\nslug = \"other\"\nname = \"Other\"\ntimezone = \"Europe/London\"\n\
         [[school.zoom_accounts]]\naccount_id = \"gA7kQ2xYTvOeW3mN9pLr4A\"\n",
    )
    .unwrap();
    let error = import_path(&app.db, &app.state.secrets, &path, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("already monitored"), "{error}");
}
