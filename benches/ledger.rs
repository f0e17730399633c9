//! Ledger benchmark, two figures (see BENCHMARKS.md):
//!
//! 1. What the ledger costs per event. The same `BENCH_EVENTS` distinct Zoom
//!    `participant_joined` events (default 20,000; two sessions per call) are put in the inbox
//!    of two fresh SQLite databases, one with the ledger and one with its triggers dropped;
//!    each is then processed and chained to the end (processor, then ledger keeper), and the
//!    events per second of each, and the difference per event, are printed.
//! 2. `verify` over `BENCH_LEDGER_ENTRIES` chained entries (default 1,000,000), appended with
//!    the real appender, then walked and hashed by `ledger::verify_school`.
//!
//! Run with `cargo bench --bench ledger`.

mod common;

use std::time::{Duration, Instant};

use chaperone::config::Settings;
use chaperone::db::Db;
use chaperone::inbox;
use chaperone::ledger::{self, Appender, Change, NewEntry};
use chaperone::meeting::{AcceptedEvent, Platform};
use chaperone::startup::Application;
use chrono::Utc;
use common::{env_or, random_hex, runtime};
use sqlx::Row;

const ACCOUNT_ID: &str = "BenchLedgerAccount0001";
const HOST_ZOOM_ID: &str = "BenchHostZoomUserId00A";
const EVENTS_PER_INSERT: usize = 1000;
const ENTRIES_PER_TRANSACTION: usize = 10_000;

const SCHOOL_FILE: &str = r#"
[[school]]
slug = "bench"
name = "Bench Academy"
timezone = "Europe/London"

[[school.connections]]
platform = "zoom"
account_id = "BenchLedgerAccount0001"
label = "benchmark account"
webhook_secret_env = "BENCH_LEDGER_WEBHOOK_SECRET"

[[school.people]]
ref = "BENCH-STAFF-1"
kind = "staff"
role = "staff"
name = "Bench Host"
emails = ["host@bench.example"]
zoom_user_ids = ["BenchHostZoomUserId00A"]
"#;

fn participant_joined(run_id: &str, sequence: u64) -> String {
    let meeting = sequence / 2;
    let user_id = 16_000_000 + sequence;
    let platform_user_id = if sequence % 2 == 0 { HOST_ZOOM_ID } else { "" };
    let now = Utc::now();
    let join_time = now.format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"event":"meeting.participant_joined","event_ts":{},"payload":{{"account_id":"{ACCOUNT_ID}","object":{{"uuid":"{run_id}{meeting:010}==","participant":{{"user_id":"{user_id}","user_name":"Bench {sequence}","registrant_id":"","participant_user_id":"{platform_user_id}","id":"","participant_uuid":"{run_id}-{sequence:012}","join_time":"{join_time}","email":""}},"id":"{}","type":2,"topic":"Y9 mentoring – bench","host_id":"{HOST_ZOOM_ID}","duration":30,"start_time":"{join_time}","timezone":"Europe/London"}}}}}}"#,
        now.timestamp_millis(),
        80_000_000_000 + meeting
    )
}

/// A fresh SQLite database with the bench school, workers off (the benchmark drives them).
async fn application(folder: &std::path::Path) -> Application {
    std::env::set_var("BENCH_LEDGER_WEBHOOK_SECRET", random_hex(32));
    let settings = Settings::load_from(
        None,
        [
            ("CHAPERONE__SERVER__BIND", "127.0.0.1:0".to_string()),
            ("CHAPERONE__SERVER__WORKER_ENABLED", "false".to_string()),
            (
                "CHAPERONE__DATABASE__URL",
                format!("sqlite://{}/bench.db", folder.display()),
            ),
            ("CHAPERONE__API__ADMIN_TOKEN", random_hex(48)),
            ("CHAPERONE__LOG__LEVEL", "warn".to_string()),
        ]
        .map(|(name, value)| (name.to_string(), value)),
    )
    .expect("benchmark settings load");
    let application = Application::build(settings)
        .await
        .expect("the application builds");
    let school = folder.join("school.toml");
    std::fs::write(&school, SCHOOL_FILE).expect("the school file is written");
    chaperone::import::import_path(
        &application.state().db,
        &application.state().secrets,
        &school,
        None,
    )
    .await
    .expect("the bench school imports");
    application
}

async fn fill_inbox(db: &Db, events: u64) {
    let connection: (i64, i64) = {
        let row = sqlx::query("SELECT id, school_id FROM platform_accounts WHERE account_id = $1")
            .bind(ACCOUNT_ID)
            .fetch_one(&db.pool)
            .await
            .expect("the bench account");
        (row.get("id"), row.get("school_id"))
    };
    let run_id = random_hex(12);
    let all: Vec<AcceptedEvent> = (0..events)
        .map(|sequence| AcceptedEvent {
            platform: Platform::Zoom,
            school_id: connection.1,
            connection_id: connection.0,
            account_id: ACCOUNT_ID.to_string(),
            dedup_key: format!("{run_id}-{sequence}"),
            event_type: "meeting.participant_joined".to_string(),
            occurred_at: Utc::now(),
            meeting_ref: Some(format!("{run_id}{:010}==", sequence / 2)),
            body: participant_joined(&run_id, sequence),
            set_aside: None,
        })
        .collect();
    for chunk in all.chunks(EVENTS_PER_INSERT) {
        let mut tx = db.pool.begin().await.expect("a transaction");
        let refs: Vec<&AcceptedEvent> = chunk.iter().collect();
        inbox::insert_many(&mut tx, db.backend, &refs, Utc::now())
            .await
            .expect("events are stored");
        tx.commit().await.expect("events commit");
    }
}

async fn drop_ledger_triggers(db: &Db) {
    let names: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'ledger_notes_%'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the triggers are listed")
    .iter()
    .map(|row| row.get("name"))
    .collect();
    for name in names {
        sqlx::query(&format!("DROP TRIGGER {name}"))
            .execute(&db.pool)
            .await
            .expect("a trigger is dropped");
    }
}

/// Processes and chains every event; answers the time taken and the entries appended.
async fn process_all(application: &Application) -> (Duration, i64) {
    let processor = application.processor();
    let keeper = application.ledger_keeper();
    let started = Instant::now();
    processor.drain().await.expect("the processor drains");
    let processed = started.elapsed();
    keeper.drain().await.expect("the keeper drains");
    let elapsed = started.elapsed();
    println!(
        "  processor {:.2} s, then ledger keeper {:.2} s",
        processed.as_secs_f64(),
        (elapsed - processed).as_secs_f64()
    );
    let entries: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ledger_entries")
        .fetch_one(&application.state().db.pool)
        .await
        .expect("entries counted")
        .get("n");
    let pending: i64 = sqlx::query("SELECT COUNT(*) AS n FROM inbox WHERE processed_at IS NULL")
        .fetch_one(&application.state().db.pool)
        .await
        .expect("pending counted")
        .get("n");
    assert_eq!(pending, 0, "every event was processed");
    (elapsed, entries)
}

async fn append_cost(events: u64) {
    let mut rates = Vec::new();
    for with_ledger in [true, false] {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let application = application(folder.path()).await;
        let db = application.state().db.clone();
        if !with_ledger {
            drop_ledger_triggers(&db).await;
        }
        fill_inbox(&db, events).await;
        let (elapsed, entries) = process_all(&application).await;
        let rate = events as f64 / elapsed.as_secs_f64();
        println!(
            "{}: {events} events processed{} in {:.2} s: {rate:.0} events/s ({entries} ledger entries)",
            if with_ledger { "with the ledger   " } else { "without the ledger" },
            if with_ledger { " and chained" } else { "" },
            elapsed.as_secs_f64(),
        );
        if with_ledger {
            let verified = ledger::verify(&db, &application.state().head_signer, None)
                .await
                .expect("the ledger verifies");
            assert!(verified.iter().all(|school| school.is_intact()));
        }
        rates.push(rate);
    }
    let per_event_us = (1.0 / rates[0] - 1.0 / rates[1]) * 1e6;
    println!(
        "ledger cost: {per_event_us:.1} µs per event ({:.0} % of processing)",
        100.0 * (1.0 - rates[0] / rates[1])
    );
}

async fn verify_time(entries: usize) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let application = application(folder.path()).await;
    let db = application.state().db.clone();
    let school: i64 = sqlx::query("SELECT id FROM schools WHERE slug = 'bench'")
        .fetch_one(&db.pool)
        .await
        .expect("the school")
        .get("id");
    // Entries shaped like a participant's: a canonical record of about 400 bytes.
    let started = Instant::now();
    let mut appended = 0;
    while appended < entries {
        let mut tx = db.pool.begin().await.expect("a transaction");
        let mut appender = Appender::new(db.backend, Utc::now());
        for index in appended..(appended + ENTRIES_PER_TRANSACTION).min(entries) {
            let content = format!(
                r#"{{"display_name":"Bench {index}","email":null,"id":{index},"identified_person_id":null,"identity_basis":"display_name","identity_pending_until":null,"instance_id":{},"joined_at":1796319027000,"left_at":null,"person_id":null,"platform_user_id":"","registrant_id":null,"session_key":"{index:012}","source":"webhook"}}"#,
                index / 2
            );
            let key = format!("bench/{index}");
            appender
                .append(
                    &mut tx,
                    &NewEntry {
                        school_id: school,
                        record_class: ledger::classes::STATEMENT,
                        record_key: &key,
                        change: Change::Stated,
                        content: Some(&content),
                    },
                )
                .await
                .expect("an entry is appended");
        }
        appender.finish(&mut tx).await.expect("the head moves");
        tx.commit().await.expect("the entries commit");
        appended = (appended + ENTRIES_PER_TRANSACTION).min(entries);
    }
    println!(
        "appended {entries} entries in {:.1} s ({:.0} entries/s)",
        started.elapsed().as_secs_f64(),
        entries as f64 / started.elapsed().as_secs_f64()
    );
    let mut connection = db.pool.acquire().await.expect("a connection");
    let started = Instant::now();
    let verified = ledger::verify_school(&mut connection, school, None)
        .await
        .expect("the ledger is read");
    let elapsed = started.elapsed();
    assert!(verified.is_intact(), "{:?}", verified.problems);
    assert_eq!(verified.entries as usize, entries);
    println!(
        "verify: {entries} entries walked and hashed in {:.2} s ({:.0} entries/s)",
        elapsed.as_secs_f64(),
        entries as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let events: u64 = env_or("BENCH_EVENTS", 20_000);
    let entries: usize = env_or("BENCH_LEDGER_ENTRIES", 1_000_000);
    println!(
        "chaperone ledger benchmark: SQLite, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let service = runtime("ledger", None);
    service.block_on(append_cost(events));
    service.block_on(verify_time(entries));
}
