//! A Google Workspace connection is imported from the school's file like a Zoom one: its
//! settings are stored and shown to the admin, its service account key is sealed and never
//! shown, and a connection that is not complete is refused with the reason.

use serde_json::Value;
use sqlx::Row;

use crate::helpers::{spawn_app_with, TestApp};

const KEY_MATERIAL: &str =
    "-----BEGIN PRIVATE KEY-----\\nMIIEtest-key-material\\n-----END PRIVATE KEY-----\\n";

fn key_variable(tag: &str, key: &str) -> String {
    let variable = format!("GOOGLE_CONNECTION_TEST_{tag}_{}", std::process::id());
    std::env::set_var(&variable, key);
    variable
}

fn service_account_key() -> String {
    format!(
        "{{\"type\":\"service_account\",\"client_email\":\"chaperone@greenfield-meet.iam.gserviceaccount.com\",\
         \"private_key_id\":\"k1\",\"private_key\":\"{KEY_MATERIAL}\",\"token_uri\":\"https://oauth2.googleapis.com/token\"}}"
    )
}

fn school_file(connection: &str) -> String {
    format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [[school.connections]]\n{connection}"
    )
}

fn google_connection(key_variable: &str, monitored: &str) -> String {
    format!(
        "platform = \"google_meet\"\naccount_id = \"C0greenfield\"\nlabel = \"Greenfield Workspace\"\n\
         [school.connections.google]\ndomains = [\"Greenfield.sch.uk\"]\nadmin_user = \"it-admin@greenfield.sch.uk\"\n\
         pubsub_topic = \"projects/greenfield-meet/topics/meet-events\"\n\
         push_audience = \"https://chaperone.greenfield.sch.uk/webhooks/google_meet\"\n\
         push_service_account = \"push@greenfield-meet.iam.gserviceaccount.com\"\n\
         service_account_key_env = \"{key_variable}\"\n{monitored}"
    )
}

const MONITORED: &str = "[school.connections.google.monitored]\norg_units = [\"/Staff\"]\ngroups = [\"Pastoral@greenfield.sch.uk\"]\n";

async fn import(app: &TestApp, text: &str) -> Result<chaperone::import::ImportReport, String> {
    let path = app.folder.path().join("google-school.toml");
    std::fs::write(&path, text).unwrap();
    chaperone::import::import_path(&app.db, &app.state.secrets, &path, None)
        .await
        .map_err(|error| error.to_string())
}

#[tokio::test]
async fn a_google_connection_is_stored_with_its_settings_and_a_sealed_key() {
    let app = spawn_app_with(&[]).await;
    let variable = key_variable("GOOD", &service_account_key());
    let text = school_file(&google_connection(&variable, MONITORED));
    import(&app, &text).await.unwrap();

    let listed = app.get_json("/api/v1/connections").await;
    let google = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|connection| connection["platform"] == "google_meet")
        .cloned()
        .expect("the Google connection is listed");
    assert_eq!(google["account_id"], "C0greenfield");
    let endpoint = google["endpoint"].as_str().unwrap();
    assert!(endpoint.starts_with("/webhooks/google_meet/"), "{endpoint}");
    let settings = &google["google"];
    assert_eq!(
        settings["domains"],
        serde_json::json!(["greenfield.sch.uk"])
    );
    assert_eq!(
        settings["push_service_account"],
        "push@greenfield-meet.iam.gserviceaccount.com"
    );
    assert_eq!(
        settings["monitored"]["groups"],
        serde_json::json!(["pastoral@greenfield.sch.uk"])
    );
    assert_eq!(settings["service_account_key_set"], Value::Bool(true));
    let answer = listed.to_string();
    assert!(
        !answer.contains("test-key-material") && !answer.contains("private_key"),
        "{answer}"
    );

    let stored: String = sqlx::query(
        "SELECT service_account_key_sealed FROM platform_accounts WHERE platform = 'google_meet'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .get(0);
    assert!(!stored.contains("test-key-material"), "sealed, not plain");

    // The same file again changes nothing.
    let again = import(&app, &text).await.unwrap();
    assert_eq!(again.settings_updated, 0);
    assert_eq!(again.accounts_added, 0);
}

#[tokio::test]
async fn an_incomplete_google_connection_is_refused_with_the_reason_and_nothing_stored() {
    let app = spawn_app_with(&[]).await;
    let good = key_variable("REFUSED", &service_account_key());
    let not_a_key = key_variable("NOT_A_KEY", "{\"type\":\"authorized_user\"}");
    let cases = [
        (google_connection(&good, ""), "say who is monitored"),
        (
            google_connection("GOOGLE_CONNECTION_TEST_UNSET_VARIABLE", MONITORED),
            "GOOGLE_CONNECTION_TEST_UNSET_VARIABLE is not set",
        ),
        (
            google_connection(&not_a_key, MONITORED),
            "not a service account key",
        ),
        (
            "platform = \"google_meet\"\naccount_id = \"C0greenfield\"\n".to_string(),
            "needs its [google] settings",
        ),
        (
            google_connection(&good, MONITORED).replace("google_meet", "zoom"),
            "are for google_meet connections",
        ),
    ];
    for (connection, reason) in cases {
        let refused = import(&app, &school_file(&connection)).await.unwrap_err();
        assert!(refused.contains(reason), "{reason}: {refused}");
        assert!(!refused.contains("test-key-material"), "{refused}");
    }
    let stored: i64 =
        sqlx::query("SELECT COUNT(*) FROM platform_accounts WHERE account_id = 'C0greenfield'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert_eq!(stored, 0);
}
