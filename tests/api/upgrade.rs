//! A database made by an earlier release is migrated without losing a row: on SQLite the
//! directory's table is rebuilt to accept external adults, which must keep every reference.

use std::borrow::Cow;

use chaperone::config::DatabaseSettings;
use chaperone::db::{Backend, Db};
use sqlx::migrate::Migrator;
use sqlx::Row;

use crate::helpers::{fresh_database_url, test_settings};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// The last schema before guests and listed adults.
const EARLIER_RELEASE: i64 = 20261122000003;

fn database_settings(url: &str) -> DatabaseSettings {
    test_settings(url, &[]).database
}

#[tokio::test]
async fn an_earlier_database_keeps_its_people_and_their_references_and_accepts_external_adults() {
    let folder = tempfile::tempdir().unwrap();
    let url = fresh_database_url(folder.path()).await;
    let db = Db::connect(&database_settings(&url)).await.unwrap();
    migrator_up_to(db.backend, EARLIER_RELEASE)
        .run(&db.pool)
        .await
        .unwrap();
    for statement in [
        "INSERT INTO schools (id, slug, name, timezone, created_at) VALUES (1, 'greenfield', 'Greenfield', 'Europe/London', 0)",
        "INSERT INTO people (id, school_id, external_ref, kind, staff_role, display_name) VALUES (7, 1, 'PUPIL-1', 'pupil', NULL, 'Dára Finch')",
        "INSERT INTO person_emails (school_id, email, person_id) VALUES (1, 'dara@home.example', 7)",
        "INSERT INTO meeting_instances (id, school_id, platform, instance_key, first_seen_at) VALUES (3, 1, 'zoom', 'u==', 0)",
        "INSERT INTO participant_sessions (instance_id, session_key, person_id) VALUES (3, '1677', 7)",
    ] {
        sqlx::query(statement).execute(&db.pool).await.unwrap();
    }

    db.migrate().await.unwrap();
    chaperone::directory::fill_missing_name_keys(&db)
        .await
        .unwrap();

    let row = sqlx::query(
        "SELECT p.display_name, p.name_key, e.email, s.session_key FROM people p \
         JOIN person_emails e ON e.person_id = p.id JOIN participant_sessions s ON s.person_id = p.id \
         WHERE p.id = 7",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("display_name"), "Dára Finch");
    assert_eq!(row.get::<String, _>("name_key"), "darafinch");
    assert_eq!(row.get::<String, _>("email"), "dara@home.example");
    assert_eq!(row.get::<String, _>("session_key"), "1677");

    sqlx::query(
        "INSERT INTO people (school_id, external_ref, kind, display_name) VALUES (1, 'EXT-1', 'external_adult', 'Alex Morgan')",
    )
    .execute(&db.pool)
    .await
    .expect("external adults are accepted");
    let refused = sqlx::query(
        "INSERT INTO participant_sessions (instance_id, session_key, person_id) VALUES (3, '1678', 999)",
    )
    .execute(&db.pool)
    .await;
    assert!(refused.is_err(), "references are still enforced");
    let refused = sqlx::query(
        "INSERT INTO people (school_id, external_ref, kind, display_name) VALUES (1, 'X-1', 'robot', 'R')",
    )
    .execute(&db.pool)
    .await;
    assert!(refused.is_err(), "kinds are still checked");
}

/// The last schema before connections had endpoints and secrets of their own.
const BEFORE_CONNECTIONS: i64 = 20261201000003;

/// An installation from before connections: one Zoom account with API credentials in plain
/// text, a pending event in the inbox in the translated form that release stored, and the
/// deployment-wide Secret Token. After the upgrade it receives as before, its pending event is
/// applied, and its client secret is sealed.
#[tokio::test]
async fn an_installation_from_before_connections_keeps_receiving_without_any_change() {
    use crate::helpers::{spawn_app_on, SCHOOL_ACCOUNT};
    use crate::zoom_events;

    let folder = tempfile::tempdir().unwrap();
    let url = fresh_database_url(folder.path()).await;
    {
        let db = Db::connect(&database_settings(&url)).await.unwrap();
        migrator_up_to(db.backend, BEFORE_CONNECTIONS)
            .run(&db.pool)
            .await
            .unwrap();
        let pending =
            match chaperone::zoom::payload::parse(zoom_events::started().as_bytes()).unwrap() {
                chaperone::zoom::payload::ZoomDelivery::Event { event, .. } => {
                    serde_json::to_string(&event).unwrap()
                }
                other => panic!("an event: {other:?}"),
            };
        for (statement, binds) in [
            ("INSERT INTO schools (id, slug, name, timezone, created_at) VALUES (1, 'greenfield', 'Greenfield', 'Europe/London', 0)", vec![]),
            ("INSERT INTO platform_accounts (id, school_id, platform, account_id, label, client_id, client_secret) VALUES (5, 1, 'zoom', $1, 'Staff', 'client-1', 'plain-client-secret')", vec![SCHOOL_ACCOUNT.to_string()]),
            ("INSERT INTO inbox (platform, school_id, dedup_key, event_type, occurred_at, received_at, body, account_id, meeting_ref) \
              VALUES ('zoom', 1, 'zoom:earlier', 'instance_started', 0, 0, $1, $2, 'instance:c2Vzc2lvbk9uZUFCQ0RFRg==')", vec![pending, SCHOOL_ACCOUNT.to_string()]),
        ] {
            let mut query = sqlx::query(statement);
            for bind in binds {
                query = query.bind(bind);
            }
            query.execute(&db.pool).await.unwrap();
        }
    }

    let app = spawn_app_on(folder, &url, &[]).await;
    let response = app
        .post_zoom(&zoom_events::joined(
            &zoom_events::HOST,
            "2025-03-11T14:31:30Z",
        ))
        .await;
    assert_eq!(response.status(), 200, "the shared endpoint still receives");
    app.drain().await;
    let processed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM inbox WHERE processed_at IS NOT NULL AND failed_at IS NULL",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(processed, 2, "the earlier pending event and the new one");
    let meeting = app.only_meeting().await;
    assert_eq!(
        meeting["participants"].as_array().map(Vec::len),
        Some(1),
        "{meeting}"
    );
    let formats: Vec<String> = sqlx::query_scalar("SELECT body_format FROM inbox ORDER BY id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(formats, ["neutral", "platform"]);

    let row = sqlx::query(
        "SELECT endpoint_id, client_secret, client_secret_sealed FROM platform_accounts WHERE id = 5",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let endpoint_id: String = row.get("endpoint_id");
    assert_eq!(
        endpoint_id.len(),
        32,
        "an endpoint of its own: {endpoint_id}"
    );
    assert_eq!(row.get::<Option<String>, _>("client_secret"), None);
    let sealed: String = row.get("client_secret_sealed");
    assert!(!sealed.contains("plain-client-secret"));
    let mut connection = app.db.pool.acquire().await.unwrap();
    let (client_id, secret) = chaperone::connections::store::client_credentials(
        &mut connection,
        &app.state.secrets,
        chaperone::meeting::Platform::Zoom,
        SCHOOL_ACCOUNT,
    )
    .await
    .unwrap()
    .expect("credentials");
    assert_eq!(client_id, "client-1");
    assert_eq!(secret.expose(), "plain-client-secret");
}

/// The migrations of `backend` up to and including version `last`: the schema of a release.
pub(crate) fn migrator_up_to(backend: Backend, last: i64) -> Migrator {
    let all = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    Migrator {
        migrations: Cow::Owned(
            all.migrations
                .iter()
                .filter(|m| m.version <= last)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}
