//! The SQLite and PostgreSQL migrations build the same schema: the same tables, the same
//! columns with the same kind of value and the same nullability, and the same named indexes,
//! as read back from both databases after migrating. Runs where PostgreSQL is given
//! (CHAPERONE_TEST_POSTGRES_URL, as `.ci/run` does).

use std::collections::BTreeMap;

use chaperone::db::Db;
use sqlx::Row;

use crate::helpers::{fresh_database_url, test_settings, POSTGRES_URL_VARIABLE};

/// Per table, its columns as (kind of value, not null); and the named indexes by table.
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    columns: BTreeMap<String, BTreeMap<String, (&'static str, bool)>>,
    indexes: BTreeMap<String, Vec<String>>,
}

/// The kind of value a declared type holds, in words both backends share.
fn kind_of(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int" | "int8" | "smallint" | "int4" => "integer",
        "text" | "character varying" | "varchar" => "text",
        "blob" | "bytea" => "bytes",
        "real" | "double precision" | "float8" => "real",
        "boolean" | "bool" => "boolean",
        _ => "other",
    }
}

async fn migrated(url: &str) -> Db {
    let settings = test_settings(url, &[]);
    let db = Db::connect(&settings.database).await.expect("connect");
    db.migrate().await.expect("migrate");
    db
}

async fn sqlite_schema(db: &Db) -> Schema {
    let mut schema = Schema {
        columns: BTreeMap::new(),
        indexes: BTreeMap::new(),
    };
    let rows = sqlx::query(
        "SELECT m.name AS table_name, p.name AS column_name, p.type AS declared, \
         p.\"notnull\" AS not_null, p.pk AS primary_key \
         FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx_%'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("read SQLite columns");
    for row in rows {
        let declared: String = row.get("declared");
        // A primary key column is never null, whatever SQLite's flag says.
        let not_null = row.get::<i64, _>("not_null") == 1 || row.get::<i64, _>("primary_key") > 0;
        schema
            .columns
            .entry(row.get("table_name"))
            .or_default()
            .insert(row.get("column_name"), (kind_of(&declared), not_null));
    }
    let rows = sqlx::query(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await
    .expect("read SQLite indexes");
    for row in rows {
        schema
            .indexes
            .entry(row.get("tbl_name"))
            .or_default()
            .push(row.get("name"));
    }
    schema
}

async fn postgres_schema(db: &Db) -> Schema {
    let mut schema = Schema {
        columns: BTreeMap::new(),
        indexes: BTreeMap::new(),
    };
    let rows = sqlx::query(
        "SELECT table_name::TEXT AS table_name, column_name::TEXT AS column_name, \
         data_type::TEXT AS declared, is_nullable::TEXT AS nullable \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx\\_%'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("read PostgreSQL columns");
    for row in rows {
        let declared: String = row.get("declared");
        let not_null = row.get::<String, _>("nullable") == "NO";
        schema
            .columns
            .entry(row.get("table_name"))
            .or_default()
            .insert(row.get("column_name"), (kind_of(&declared), not_null));
    }
    // Indexes made by CREATE INDEX, not those backing a key or unique constraint.
    let rows = sqlx::query(
        "SELECT i.indexname::TEXT AS name, i.tablename::TEXT AS tbl_name FROM pg_indexes i \
         WHERE i.schemaname = 'public' \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
         ORDER BY i.indexname",
    )
    .fetch_all(&db.pool)
    .await
    .expect("read PostgreSQL indexes");
    for row in rows {
        schema
            .indexes
            .entry(row.get("tbl_name"))
            .or_default()
            .push(row.get("name"));
    }
    schema
}

#[tokio::test]
async fn sqlite_and_postgres_migrate_to_the_same_schema() {
    if std::env::var(POSTGRES_URL_VARIABLE)
        .unwrap_or_default()
        .is_empty()
    {
        eprintln!("{POSTGRES_URL_VARIABLE} is not set: the schemas are compared in .ci/run");
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let sqlite = migrated(&format!("sqlite://{}/schema.db", folder.path().display())).await;
    let postgres = migrated(&fresh_database_url(folder.path()).await).await;
    let (sqlite, postgres) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );

    assert!(sqlite.columns.len() > 10, "the schema was read: {sqlite:?}");
    for (table, columns) in &sqlite.columns {
        let other = postgres.columns.get(table);
        assert_eq!(
            Some(columns),
            other,
            "table {table}: SQLite, then PostgreSQL"
        );
        assert!(
            columns.values().all(|(kind, _)| *kind != "other"),
            "table {table} has a column of a kind this test does not know: {columns:?}"
        );
    }
    assert_eq!(
        sqlite.columns.keys().collect::<Vec<_>>(),
        postgres.columns.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    assert_eq!(sqlite.indexes, postgres.indexes, "the same named indexes");
}
