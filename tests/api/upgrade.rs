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
    let all = match db.backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let earlier = Migrator {
        migrations: Cow::Owned(
            all.migrations
                .iter()
                .filter(|m| m.version <= EARLIER_RELEASE)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    earlier.run(&db.pool).await.unwrap();
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
