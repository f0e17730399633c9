//! How fast the DSL's pages render over a realistic store: a register week of 2,000 calls
//! (each a member of staff with an unidentified guest, so each raises findings), and the
//! findings inbox over the thousands of findings those calls raise. The calls go in as
//! signed Zoom webhooks through the real pipeline, are processed and evaluated; then a
//! signed-in DSL asks for each page repeatedly over HTTP. Prints the median, 90th percentile
//! and worst of each, with the sizes the pages covered.
//!
//! `cargo bench --bench pages`; `BENCH_CALLS` (2000) and `BENCH_PAGE_RUNS` (20) change it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chaperone::config::Secret;
use chaperone::zoom::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use chrono::{DateTime, Datelike, Duration as Span, NaiveTime, TimeZone, Utc};
use common::{env_or, percentile_ms, random_hex, runtime, Service};
use futures_util::stream::{self, StreamExt};
use serde_json::json;
use sqlx::Row;

const ACCOUNT: &str = "benchPagesAccount0000A";
const HOST_ZOOM_ID: &str = "BenchPagesHost00000001";
const SECRET_VARIABLE: &str = "BENCH_PAGES_WEBHOOK_SECRET";
const PASSWORD: &str = "a long enough benchmark passphrase";

fn school_file() -> String {
    format!(
        r#"[[school]]
slug = "bench"
name = "Benchmark School"
timezone = "Europe/London"

[[school.connections]]
platform = "zoom"
account_id = "{ACCOUNT}"
label = "benchmark account"
webhook_secret_env = "{SECRET_VARIABLE}"

[[school.people]]
ref = "BENCH-STAFF-1"
kind = "staff"
role = "staff"
name = "Bench Host"
emails = ["host@bench.example"]
zoom_user_ids = ["{HOST_ZOOM_ID}"]

[[school.people]]
ref = "BENCH-DSL-1"
kind = "staff"
role = "dsl"
name = "Bench Lead"
emails = ["dsl@bench.example"]
"#
    )
}

/// The four events of call `n`: it starts, the host and a guest join, it ends 30 minutes on.
fn call_events(n: u64, start: DateTime<Utc>) -> Vec<String> {
    let uuid = format!("benchpages{n:012}==");
    let meeting_number = 81_000_000_000 + n;
    let time = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let object = |extra: serde_json::Value| {
        let mut object = json!({
            "uuid": uuid, "id": meeting_number.to_string(), "host_id": HOST_ZOOM_ID,
            "topic": format!("Mentoring {n}"), "type": 2, "start_time": time(start),
            "timezone": "Europe/London", "duration": 30
        });
        for (key, value) in extra.as_object().expect("an object") {
            object[key] = value.clone();
        }
        object
    };
    let envelope = |event: &str, at: DateTime<Utc>, object: serde_json::Value| {
        json!({"event": event, "event_ts": at.timestamp_millis(),
               "payload": {"account_id": ACCOUNT, "object": object}})
        .to_string()
    };
    let participant = |session: u64, name: &str, user: &str, at: DateTime<Utc>| {
        json!({"participant": {
            "user_id": session.to_string(), "user_name": name, "registrant_id": "",
            "participant_user_id": user, "id": user,
            "participant_uuid": format!("bench-pages-{n}-{session}"),
            "join_time": time(at), "email": ""
        }})
    };
    let end = start + Span::minutes(30);
    vec![
        envelope("meeting.started", start, object(json!({}))),
        envelope(
            "meeting.participant_joined",
            start,
            object(participant(
                16_000_000 + 2 * n,
                "Bench Host",
                HOST_ZOOM_ID,
                start,
            )),
        ),
        envelope(
            "meeting.participant_joined",
            start + Span::minutes(1),
            object(participant(
                16_000_001 + 2 * n,
                &format!("Guest {n}"),
                "",
                start + Span::minutes(1),
            )),
        ),
        envelope(
            "meeting.ended",
            end,
            object(json!({ "end_time": time(end) })),
        ),
    ]
}

/// Monday 00:00 (UTC) of last week: every call of the benchmark is in one past week.
fn last_monday() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    let monday = today - Span::days(today.weekday().num_days_from_monday() as i64 + 7);
    Utc.from_utc_datetime(&monday.and_time(NaiveTime::MIN))
}

fn main() {
    let calls: u64 = env_or("BENCH_CALLS", 2000);
    let runs: usize = env_or("BENCH_PAGE_RUNS", 20);
    let secret = random_hex(32);
    let admin_token = random_hex(48);
    // Read by the import, as a school's connection secret is.
    std::env::set_var(SECRET_VARIABLE, &secret);
    let (service, _) = Service::start(
        vec![
            ("CHAPERONE__API__ADMIN_TOKEN".into(), admin_token.clone()),
            ("CHAPERONE__SERVER__WORKER_ENABLED".into(), "true".into()),
            ("CHAPERONE__ZOOM__SHARED_ENDPOINT".into(), "false".into()),
        ],
        &school_file(),
    );
    let base = format!("http://127.0.0.1:{}", service.port);
    let endpoint = format!("{base}{}", service.endpoint());
    let client = reqwest::Client::new();
    let load = runtime("load", Some(2));

    // Calls through the week, from 07:00 to 19:00, in order.
    let monday = last_monday();
    let slot = Span::seconds((7 * 12 * 3600 / calls.max(1)) as i64);
    let starts: Vec<DateTime<Utc>> = (0..calls)
        .map(|n| {
            let offset = slot * n as i32;
            let day = offset.num_seconds() / (12 * 3600);
            let within = offset.num_seconds() % (12 * 3600);
            monday + Span::days(day) + Span::hours(7) + Span::seconds(within)
        })
        .collect();
    let seeding = Instant::now();
    let events: Vec<String> = starts
        .iter()
        .enumerate()
        .flat_map(|(n, start)| call_events(n as u64, *start))
        .collect();
    let sent = events.len();
    let secret = Arc::new(Secret::new(secret));
    load.block_on(async {
        stream::iter(events)
            .map(|body| {
                let (client, endpoint, secret) = (client.clone(), endpoint.clone(), secret.clone());
                async move {
                    let now = Utc::now().timestamp();
                    let answer = client
                        .post(&endpoint)
                        .header(
                            SIGNATURE_HEADER,
                            signature::sign(&secret, now, body.as_bytes()),
                        )
                        .header(TIMESTAMP_HEADER, now.to_string())
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("the service answers");
                    assert_eq!(answer.status(), 200, "a seeding event was refused");
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
    });
    // Processed and evaluated: nothing pending in the inbox or the evaluation queue.
    let (findings, instances) = service.block_on(async {
        loop {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL AND failed_at IS NULL) AS pending, \
                   (SELECT COUNT(*) FROM evaluation_queue WHERE due_at <= $1) AS queued, \
                   (SELECT COUNT(*) FROM findings) AS findings, \
                   (SELECT COUNT(*) FROM meeting_instances) AS instances",
            )
            .bind(Utc::now().timestamp_millis())
            .fetch_one(&service.db().pool)
            .await
            .expect("the store can be counted");
            let pending: i64 = row.get("pending");
            let queued: i64 = row.get("queued");
            if pending == 0 && queued == 0 {
                break (row.get::<i64, _>("findings"), row.get::<i64, _>("instances"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    println!(
        "seeded {calls} calls ({sent} signed webhooks) in {:.1} s: {instances} calls and {findings} findings stored",
        seeding.elapsed().as_secs_f64()
    );

    let session =
        load.block_on(async {
            let created = client
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin_token)
            .json(&json!({"email": "dsl@bench.example", "name": "Bench Lead", "password": PASSWORD,
                          "roles": [{"role": "dsl", "school_id": 1}]}))
            .send()
            .await
            .expect("the user is made");
            assert_eq!(
                created.status(),
                201,
                "{}",
                created.text().await.unwrap_or_default()
            );
            let signed_in: serde_json::Value = client
                .post(format!("{base}/api/v1/sign-in"))
                .json(&json!({"email": "dsl@bench.example", "password": PASSWORD}))
                .send()
                .await
                .expect("sign-in answers")
                .json()
                .await
                .expect("sign-in answers JSON");
            signed_in["session"]
                .as_str()
                .unwrap_or_else(|| panic!("no session in {signed_in}"))
                .to_string()
        });

    let week = (monday + Span::days(2)).date_naive();
    let pages = [
        (
            "register week (2,000 calls)",
            format!("/register?school=1&week={week}"),
        ),
        (
            "findings inbox, every status",
            "/findings?status=all".to_string(),
        ),
        (
            "findings inbox, one rule",
            "/findings?status=all&rule=two_adults".to_string(),
        ),
        (
            "findings inbox, last page",
            "/findings?status=all&before=0-0".to_string(),
        ),
        (
            "register CSV export of the week",
            format!(
                "/api/v1/register.csv?school_id=1&from={week}&to={}",
                week + Span::days(6)
            ),
        ),
    ];
    println!("page                                  median ms    p90 ms    worst ms   bytes");
    for (name, path) in pages {
        let mut times = Vec::with_capacity(runs);
        let mut bytes = 0;
        for run in 0..=runs {
            let started = Instant::now();
            let body = load.block_on(async {
                let answer = client
                    .get(format!("{base}{path}"))
                    .header("cookie", format!("chaperone_session={session}"))
                    .send()
                    .await
                    .expect("the page answers");
                assert_eq!(answer.status(), 200, "{path}");
                answer.bytes().await.expect("the page is read")
            });
            // The first request warms the caches: not counted.
            if run > 0 {
                times.push(started.elapsed());
            }
            bytes = body.len();
        }
        times.sort();
        println!(
            "{name:<38} {:>9.1} {:>9.1} {:>11.1} {bytes:>8}",
            percentile_ms(&times, 0.5),
            percentile_ms(&times, 0.9),
            percentile_ms(&times, 1.0),
        );
    }
}
