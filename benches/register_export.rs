//! How long the register's CSV export of a school year takes: 100,000 calls, each a member of
//! staff with a pupil (a guest in every fourth, a pupil's rejoin in every tenth, chat in every
//! tenth, breakout rooms in every hundredth), written straight into the store as the processor
//! and the evaluation would have left them (pushing some 300,000 webhooks through the pipeline
//! would take longer than the export being measured), then `GET /api/v1/register.csv` for the
//! whole year over HTTP, read to the end. Prints the time to the first byte and to the last,
//! the calls and rows received and the CPU time the process (server and client) used, on
//! SQLite and, when `CHAPERONE_BENCH_POSTGRES_URL` names a server
//! (postgres://postgres@127.0.0.1:5432), on a fresh PostgreSQL database too.
//!
//! `cargo bench --bench register_export`; `BENCH_CALLS` (100000), `BENCH_EXPORT_RUNS` (5) and
//! `BENCH_LIMIT` (unset: no `limit` in the request) change it; `BENCH_KEEP_DATABASE` keeps
//! the PostgreSQL database.

mod common;

use std::collections::HashSet;
use std::fmt::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use chaperone::db::{Backend, Db};
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use common::{env_or, percentile_ms, random_hex, runtime, Service};
use sqlx::{Connection, Row};

const STAFF: u64 = 200;
const PUPILS: u64 = 1000;
/// Rows per INSERT statement while seeding.
const ROWS_PER_INSERT: usize = 1000;
const POSTGRES_URL_VARIABLE: &str = "CHAPERONE_BENCH_POSTGRES_URL";

fn school_file() -> String {
    let mut file = String::from(
        "[[school]]\nslug = \"bench\"\nname = \"Benchmark School\"\ntimezone = \"Europe/London\"\n",
    );
    for n in 0..STAFF {
        let _ = write!(
            file,
            "\n[[school.people]]\nref = \"STAFF-{n:04}\"\nkind = \"staff\"\nrole = \"staff\"\n\
             name = \"Teacher {n}\"\nemails = [\"teacher{n}@bench.example\"]\n\
             zoom_user_ids = [\"{}\"]\n",
            host_zoom_id(n)
        );
    }
    for n in 0..PUPILS {
        let _ = write!(
            file,
            "\n[[school.people]]\nref = \"PUPIL-{n:04}\"\nkind = \"pupil\"\n\
             name = \"Pupil {n}\"\nemails = [\"pupil{n}@bench.example\"]\n"
        );
    }
    file
}

fn host_zoom_id(n: u64) -> String {
    format!("BenchHost{n:013}")
}

/// The first day of the school year the calls fill.
fn year_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 1, 0, 0, 0).unwrap()
}

const YEAR_DAYS: i64 = 330;

/// Statements that seed `calls` calls, as the processor (`processor::apply`), the
/// reconciliation and the evaluation's identification leave them.
fn seed_statements(calls: u64, people: &[(String, i64)]) -> Vec<String> {
    let person = |reference: &str| {
        people
            .iter()
            .find(|(r, _)| r == reference)
            .map(|(_, id)| *id)
            .unwrap_or_else(|| panic!("{reference} was imported"))
    };
    let staff: Vec<i64> = (0..STAFF)
        .map(|n| person(&format!("STAFF-{n:04}")))
        .collect();
    let pupils: Vec<i64> = (0..PUPILS)
        .map(|n| person(&format!("PUPIL-{n:04}")))
        .collect();
    let ms = |at: DateTime<Utc>| at.timestamp_millis();
    // Calls through the year, from 08:00 to 18:00, in order.
    let slot_secs = YEAR_DAYS * 10 * 3600 / calls.max(1) as i64;
    let mut instances = Vec::new();
    let mut scheduled = Vec::new();
    let mut sessions = Vec::new();
    let mut signals = Vec::new();
    let mut rooms = Vec::new();
    for n in 0..calls {
        let id = n + 1;
        let offset = slot_secs * n as i64;
        let start = year_start()
            + Span::days(offset / (10 * 3600))
            + Span::hours(8)
            + Span::seconds(offset % (10 * 3600));
        let end = start + Span::minutes(30);
        let host = n % STAFF;
        let pupil = n % PUPILS;
        let meeting_number = 82_000_000_000 + n;
        let host_id = host_zoom_id(host);
        instances.push(format!(
            "({id}, 1, 'zoom', 'benchexport{n:012}==', '{meeting_number}', '{host_id}', \
             'Mentoring {n}', {}, {}, {}, {}, 'complete', {})",
            ms(start),
            ms(start),
            ms(end),
            ms(start),
            ms(end + Span::minutes(5)),
        ));
        scheduled.push(format!(
            "(1, 'zoom', '{meeting_number}', '{host_id}', 'Mentoring {n}', {}, 30, 'Europe/London', {})",
            ms(start),
            ms(start - Span::days(1)),
        ));
        let session_key = |k: u64| 16_000_000 + 4 * n + k;
        sessions.push(format!(
            "({id}, '{}', '{host_id}', 'teacher{host}@bench.example', 'Teacher {host}', {}, {}, {}, \
             'webhook', 'verified', NULL)",
            session_key(0),
            staff[host as usize],
            ms(start),
            ms(end),
        ));
        let pupil_left = if n % 10 == 0 {
            start + Span::minutes(12)
        } else {
            end
        };
        sessions.push(format!(
            "({id}, '{}', NULL, 'pupil{pupil}@bench.example', 'Pupil {pupil}', {}, {}, {}, \
             'webhook', 'verified', NULL)",
            session_key(1),
            pupils[pupil as usize],
            ms(start + Span::minutes(1)),
            ms(pupil_left),
        ));
        if n % 10 == 0 {
            sessions.push(format!(
                "({id}, '{}', NULL, 'pupil{pupil}@bench.example', 'Pupil {pupil}', {}, {}, {}, \
                 'webhook', 'verified', NULL)",
                session_key(2),
                pupils[pupil as usize],
                ms(start + Span::minutes(14)),
                ms(end),
            ));
            signals.push(format!(
                "({id}, 'chat_message', {}, 'bench{n}')",
                ms(start + Span::minutes(3))
            ));
        }
        if n % 4 == 0 {
            // A guest: named like the pupil every twentieth call, so possibly them.
            let (name, basis, possibly) = if n % 20 == 0 {
                (
                    format!("Pupil {pupil}"),
                    "display_name",
                    pupils[pupil as usize].to_string(),
                )
            } else {
                (format!("Guest {n}"), "none", "NULL".to_string())
            };
            sessions.push(format!(
                "({id}, '{}', NULL, NULL, '{name}', NULL, {}, {}, 'webhook', '{basis}', {possibly})",
                session_key(3),
                ms(start + Span::minutes(2)),
                ms(end - Span::minutes(4)),
            ));
        }
        if n % 100 == 0 {
            for (k, session) in [(0, session_key(0)), (1, session_key(1))] {
                rooms.push(format!(
                    "({id}, 'room-{n}', 'stay-{k}', '{session}', {}, {})",
                    ms(start + Span::minutes(5)),
                    ms(start + Span::minutes(10)),
                ));
            }
        }
    }
    let mut statements = Vec::new();
    let mut insert = |head: &str, rows: &[String]| {
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            statements.push(format!("{head} VALUES {}", chunk.join(", ")));
        }
    };
    insert(
        "INSERT INTO meeting_instances (id, school_id, platform, instance_key, platform_meeting_id, \
         host_user_id, topic, started_at, start_hint, ended_at, first_seen_at, reconciliation, reconciled_at)",
        &instances,
    );
    insert(
        "INSERT INTO scheduled_meetings (school_id, platform, platform_meeting_id, host_user_id, topic, \
         start_time, duration_minutes, timezone, revised_at)",
        &scheduled,
    );
    insert(
        "INSERT INTO participant_sessions (instance_id, session_key, platform_user_id, email, display_name, \
         person_id, joined_at, left_at, source, identity_basis, identified_person_id)",
        &sessions,
    );
    insert(
        "INSERT INTO instance_signals (instance_id, kind, at, source_ref)",
        &signals,
    );
    insert(
        "INSERT INTO room_stays (instance_id, room_key, stay_key, session_key, joined_at, left_at)",
        &rooms,
    );
    statements
}

async fn seed(db: &Db, calls: u64) -> u64 {
    let people: Vec<(String, i64)> = sqlx::query("SELECT external_ref, id FROM people")
        .fetch_all(&db.pool)
        .await
        .expect("the people can be read")
        .iter()
        .map(|row| (row.get("external_ref"), row.get("id")))
        .collect();
    let mut tx = db.pool.begin().await.expect("a transaction");
    for statement in seed_statements(calls, &people) {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .expect("the seed rows go in");
    }
    tx.commit().await.expect("the seed commits");
    if db.backend == Backend::Postgres {
        // What autovacuum does within a minute of such a bulk insert; without statistics
        // the planner takes the new tables for empty ones.
        sqlx::query("ANALYZE")
            .execute(&db.pool)
            .await
            .expect("the tables are analysed");
    }
    let sessions: i64 = sqlx::query("SELECT COUNT(*) AS n FROM participant_sessions")
        .fetch_one(&db.pool)
        .await
        .expect("the sessions can be counted")
        .get("n");
    u64::try_from(sessions).expect("a count")
}

/// A fresh database on the PostgreSQL server at `server`, and its URL.
fn fresh_postgres(server: &str) -> (String, String) {
    let server = server.trim_end_matches('/').to_string();
    let name = format!("chaperone_bench_export_{}", std::process::id());
    runtime("set-up", Some(1)).block_on(async {
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|error| panic!("{POSTGRES_URL_VARIABLE}: {error}"));
        sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("a benchmark database");
    });
    (format!("{server}/{name}"), name)
}

fn drop_postgres(server: &str, name: &str) {
    let server = server.trim_end_matches('/');
    runtime("tear-down", Some(1)).block_on(async {
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("the server is still there");
        let _ = sqlx::Executor::execute(
            &mut admin,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
        )
        .await;
    });
}

/// CPU time this process (service and client) has used, user and system.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|field| field.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or_default();
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn run(backend: &str, database_url: Option<String>, calls: u64, runs: usize) {
    let admin_token = random_hex(48);
    let mut settings = vec![
        ("CHAPERONE__API__ADMIN_TOKEN".into(), admin_token.clone()),
        // Only the API: no worker competes with the export for the machine.
        ("CHAPERONE__SERVER__WORKER_ENABLED".into(), "false".into()),
        ("CHAPERONE__ZOOM__SHARED_ENDPOINT".into(), "false".into()),
        // Given, so that no key file is written beside a PostgreSQL run.
        (
            "CHAPERONE__SECRETS__KEY".into(),
            base64::engine::general_purpose::STANDARD.encode(random_hex(32)),
        ),
    ];
    if let Some(url) = database_url {
        settings.push(("CHAPERONE__DATABASE__URL".into(), url));
    }
    let (service, _) = Service::start(settings, &school_file());
    let seeding = Instant::now();
    let sessions = service.block_on(seed(service.db(), calls));
    println!(
        "{backend}: seeded {calls} calls with {sessions} participant sessions in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let limit = std::env::var("BENCH_LIMIT")
        .map(|limit| format!("&limit={limit}"))
        .unwrap_or_default();
    let url = format!(
        "http://127.0.0.1:{}/api/v1/register.csv?school_id=1&from=2025-09-01&to=2026-08-31{limit}",
        service.port
    );
    let client = reqwest::Client::new();
    let load = runtime("load", Some(1));
    let mut first_bytes: Vec<Duration> = Vec::with_capacity(runs);
    let mut wholes: Vec<Duration> = Vec::with_capacity(runs);
    let mut cpus: Vec<Duration> = Vec::with_capacity(runs);
    let mut received = (0, 0, 0);
    for run in 0..=runs {
        let started = Instant::now();
        let cpu_before = process_cpu();
        let (first_byte, body) = load.block_on(async {
            let answer = client
                .get(&url)
                .bearer_auth(&admin_token)
                .send()
                .await
                .expect("the export answers");
            assert_eq!(answer.status(), 200);
            let first_byte = started.elapsed();
            (
                first_byte,
                answer.bytes().await.expect("the export is read"),
            )
        });
        let whole = started.elapsed();
        let cpu = process_cpu().saturating_sub(cpu_before);
        // The first request warms the caches: not counted.
        if run > 0 {
            first_bytes.push(first_byte);
            wholes.push(whole);
            cpus.push(cpu);
        }
        let mut reader = csv::Reader::from_reader(body.as_ref());
        let mut meetings = HashSet::new();
        let mut rows = 0;
        for record in reader.records() {
            let record = record.expect("the export is CSV");
            meetings.insert(record[0].to_string());
            rows += 1;
        }
        received = (meetings.len(), rows, body.len());
    }
    first_bytes.sort();
    wholes.sort();
    cpus.sort();
    let (meetings, rows, bytes) = received;
    println!(
        "{backend}: register.csv of {meetings} calls ({rows} rows, {:.1} MB): \
         whole median {:.0} ms, worst {:.0} ms; first byte median {:.0} ms; \
         this process's CPU median {:.0} ms ({runs} runs, load average {})",
        bytes as f64 / 1e6,
        percentile_ms(&wholes, 0.5),
        percentile_ms(&wholes, 1.0),
        percentile_ms(&first_bytes, 0.5),
        percentile_ms(&cpus, 0.5),
        load_average(),
    );
}

fn main() {
    let calls: u64 = env_or("BENCH_CALLS", 100_000);
    let runs: usize = env_or("BENCH_EXPORT_RUNS", 5);
    println!("load average before: {}", load_average());
    run("SQLite", None, calls, runs);
    if let Ok(server) = std::env::var(POSTGRES_URL_VARIABLE) {
        if !server.is_empty() {
            let (url, name) = fresh_postgres(&server);
            run("PostgreSQL", Some(url), calls, runs);
            // BENCH_KEEP_DATABASE=1 leaves it for EXPLAIN ANALYZE.
            if std::env::var("BENCH_KEEP_DATABASE").is_err() {
                drop_postgres(&server, &name);
            } else {
                println!("kept the database {name}");
            }
        }
    }
}
