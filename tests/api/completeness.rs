//! The daily completeness statement, from signed Zoom webhooks and the platform's API: a
//! school's local day with a call reconciled, a call whose reconciliation gave up and a gap in
//! monitoring, as the API states it and as the next morning's digest prints it; calls either
//! side of local midnight (British Summer Time) belong to their own days.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::London;
use serde_json::{json, Value};

use crate::fake_zoom::{FakeZoom, CLIENT_ID, CLIENT_SECRET};
use crate::helpers::{
    eventually, policy_checking_only, spawn_app_with, TestApp, HOST_ZOOM_ID, SCHOOL_ACCOUNT,
};
use crate::smtp_sink::SmtpSink;
use crate::zoom_events::{ended, joined, left, started, HOST, MEETING_UUID};

const SECRET_VARIABLE: &str = "CHAPERONE_TEST_COMPLETENESS_ZOOM_CLIENT_SECRET";
const PASSWORD: &str = "a long enough passphrase";

/// Each call's own instance (Zoom's meeting UUID).
const DAY_BEFORE: &str = "ZGF5IGJlZm9yZSBjYWxsMQ==";
const RECONCILED: &str = "cmVjb25jaWxlZCBjYWxsMg==";
const GIVEN_UP: &str = "Z2l2ZW4gdXAgY2FsbCAzMw==";
const NEXT_DAY: &str = "bmV4dCBkYXkgY2FsbCA0NA==";

/// The example school on Europe/London time, its Zoom account connected to `zoom`, no rule
/// but coverage, and a digest to the DSL by `smtp`.
async fn school_on_zoom(zoom: &FakeZoom, smtp: &SmtpSink) -> TestApp {
    let mut overrides = zoom.overrides();
    overrides.extend([
        ("CHAPERONE__SMTP__HOST", "127.0.0.1".to_string()),
        ("CHAPERONE__SMTP__PORT", smtp.port().to_string()),
        ("CHAPERONE__SMTP__SECURITY", "none".to_string()),
    ]);
    let borrowed: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(&borrowed).await;
    std::env::set_var(SECRET_VARIABLE, CLIENT_SECRET);
    let policy = policy_checking_only(&[]);
    app.import_toml(&format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [[school.zoom_accounts]]\naccount_id = \"{SCHOOL_ACCOUNT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_env = \"{SECRET_VARIABLE}\"\n\
         {policy}\
         [school.calendar]\nnation = \"england_and_wales\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nopens = \"00:00\"\ncloses = \"23:59\"\n\
         [school.alerts]\ndigest_hour = 0\n[[school.alerts.contacts]]\nperson = \"STAFF-0001\"\n"
    ))
    .await;
    app
}

async fn school_id(app: &TestApp, slug: &str) -> i64 {
    let schools = app.get_json("/api/v1/schools").await;
    schools
        .as_array()
        .unwrap()
        .iter()
        .find(|school| school["slug"] == slug)
        .unwrap_or_else(|| panic!("no school {slug}: {schools}"))["id"]
        .as_i64()
        .unwrap()
}

/// `hour:minute` on `date` in London.
fn london(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    London
        .from_local_datetime(&date.and_hms_opt(hour, minute, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A call of the host alone on instance `uuid`, from `start` to `end`.
fn call(uuid: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<String> {
    let (start, end) = (rfc(start), rfc(end));
    [
        started(),
        joined(&HOST, &start),
        ended(&end),
        left(&HOST, &end),
    ]
    .into_iter()
    .map(|body| {
        body.replace(MEETING_UUID, uuid)
            .replace("2025-03-11T14:31:07Z", &start)
    })
    .collect()
}

/// The register record id of the call that started at `start`.
async fn call_id(app: &TestApp, start: DateTime<Utc>) -> i64 {
    let meetings = app.get_json("/api/v1/meetings").await;
    meetings
        .as_array()
        .unwrap()
        .iter()
        .find(|meeting| {
            meeting["started_at"]
                .as_str()
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .is_some_and(|at| at == start)
        })
        .unwrap_or_else(|| panic!("no call started at {start}: {meetings:#}"))["id"]
        .as_i64()
        .unwrap()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

async fn insert_purge(app: &TestApp, school_id: i64, at: DateTime<Utc>, class: &str, purged: i64) {
    sqlx::query(
        "INSERT INTO retention_purges (school_id, at, record_class, purged, older_than) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(school_id)
    .bind(at.timestamp_millis())
    .bind(class)
    .bind(purged)
    .bind((at - chrono::Duration::days(30)).timestamp_millis())
    .execute(&app.db.pool)
    .await
    .expect("a purge recorded");
}

#[tokio::test]
async fn a_days_statement_names_the_call_given_up_and_the_gap_and_the_next_digest_prints_it() {
    // Arrange: a summer day to come, so the platform's API can be asked at its hours.
    let zoom = FakeZoom::start().await;
    let smtp = SmtpSink::start().await;
    let app = school_on_zoom(&zoom, &smtp).await;
    let school = school_id(&app, "greenfield").await;
    let day = NaiveDate::from_ymd_opt(Utc::now().year() + 1, 7, 14).unwrap();
    let (before, after) = (day.pred_opt().unwrap(), day.succ_opt().unwrap());

    // The evening before, at 23:30 BST (22:30 UTC): its report never comes. The day at
    // 10:00: the platform's report has it.
    zoom.with(|state| {
        state.past_participants.insert(
            RECONCILED.to_string(),
            vec![json!({
                "id": HOST_ZOOM_ID, "name": HOST.name, "user_id": HOST.session_id,
                "user_email": HOST.email, "join_time": rfc(london(day, 10, 0)),
                "leave_time": rfc(london(day, 10, 30)), "duration": 1800,
                "status": "in_meeting", "internal_user": true
            })],
        )
    });
    app.deliver(&call(
        DAY_BEFORE,
        london(before, 23, 30),
        london(before, 23, 45),
    ))
    .await;
    app.deliver(&call(RECONCILED, london(day, 10, 0), london(day, 10, 30)))
        .await;
    app.settle_at(london(day, 11, 0)).await;

    // 23:30 BST on the day (22:30 UTC): the API fails until chaperone gives the report up.
    zoom.with(|state| state.down = true);
    app.deliver(&call(GIVEN_UP, london(day, 23, 30), london(day, 23, 45)))
        .await;
    app.settle_at(london(day, 23, 50)).await;

    // 23:55 BST: Zoom refuses chaperone's credentials, a gap in monitoring, as it is asked
    // about a call at 00:30 BST — 23:30 UTC on the day, and the next day in London.
    zoom.with(|state| {
        state.down = false;
        state.refuse_credentials = true;
        state.valid_tokens.clear();
    });
    app.deliver(&call(NEXT_DAY, london(after, 0, 30), london(after, 0, 45)))
        .await;
    app.settle_at(london(day, 23, 55)).await;

    // Retention purges, one of them the day's.
    insert_purge(&app, school, london(day, 3, 0), "inbox", 42).await;
    insert_purge(&app, school, london(before, 23, 30), "inbox", 7).await;
    insert_purge(&app, school, london(after, 0, 30), "alert_deliveries", 3).await;

    let reconciled = call_id(&app, london(day, 10, 0)).await;
    let given_up = call_id(&app, london(day, 23, 30)).await;
    let evening_before = call_id(&app, london(before, 23, 30)).await;
    let next_day = call_id(&app, london(after, 0, 30)).await;
    let findings = app.get_json("/api/v1/findings").await;
    let gaps: Vec<&Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["rule"] == "coverage")
        .collect();
    assert_eq!(gaps.len(), 1, "{findings:#}");
    let gap_id = gaps[0]["id"].as_i64().unwrap();

    // Act
    let statement = app
        .get_json(&format!("/api/v1/schools/{school}/completeness?date={day}"))
        .await;

    // Assert: the day's two calls, one reconciled, the other given up; the gap; the purge.
    assert_eq!(statement["date"], day.to_string());
    assert_eq!(statement["calls_held"], 2, "{statement:#}");
    assert_eq!(statement["reconciled"], 1, "{statement:#}");
    let not_reconciled = statement["not_reconciled"].as_array().unwrap();
    assert_eq!(not_reconciled.len(), 1, "{statement:#}");
    assert_eq!(not_reconciled[0]["meeting_instance_id"], given_up);
    assert_eq!(not_reconciled[0]["platform"], "zoom");
    assert_eq!(not_reconciled[0]["reason"], "gave_up");
    assert!(
        not_reconciled[0]["words"]
            .as_str()
            .unwrap()
            .contains("reconciliation gave up"),
        "{statement:#}"
    );
    let stated_gaps = statement["gaps"].as_array().unwrap();
    assert_eq!(stated_gaps.len(), 1, "{statement:#}");
    assert_eq!(stated_gaps[0]["finding_id"], gap_id);
    assert_eq!(stated_gaps[0]["rule"], "coverage");
    assert_eq!(stated_gaps[0]["what"], "credentials_refused");
    assert_eq!(stated_gaps[0]["platform"], "zoom");
    assert!(stated_gaps[0]["connection_id"].is_i64(), "{statement:#}");
    assert_eq!(time(&stated_gaps[0]["from"]), london(day, 23, 55));
    assert!(stated_gaps[0]["until"].is_null(), "still open");
    let purges = statement["purges"].as_array().unwrap();
    assert_eq!(purges.len(), 1, "{statement:#}");
    assert_eq!(purges[0]["record_class"], "inbox");
    assert_eq!(purges[0]["purged"], 42);
    assert_eq!(statement["complete"], false);

    let lines: Vec<String> = statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap().to_string())
        .collect();
    let text = lines.join("\n");
    assert!(text.contains("is incomplete."), "{text}");
    assert!(
        text.contains("2 calls: 1 reconciled, 1 not reconciled: reconciliation gave up"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Call {given_up} (Zoom): not reconciled: reconciliation gave up"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Monitoring gap, finding {gap_id} (Zoom connection {}): API credentials refused, from 23:55, still open.",
            stated_gaps[0]["connection_id"]
        )),
        "{text}"
    );
    assert!(text.contains("Retention purged 42 inbox records"), "{text}");
    for private in ["Ravi", "Patel", "mentoring", "@"] {
        assert!(!text.contains(private), "no personal data or topic: {text}");
    }
    assert!(!text.contains(&format!("Call {reconciled} ")), "{text}");

    // Either side of the day's local midnights: each call is its own day's.
    let the_day_before = app
        .get_json(&format!(
            "/api/v1/schools/{school}/completeness?date={before}"
        ))
        .await;
    assert_eq!(the_day_before["calls_held"], 1, "{the_day_before:#}");
    assert_eq!(
        the_day_before["not_reconciled"],
        json!([{
            "meeting_instance_id": evening_before,
            "platform": "zoom",
            "reason": "report_never_came",
            "words": "not reconciled: the platform's report never came"
        }])
    );
    assert_eq!(the_day_before["gaps"], json!([]), "the gap began later");
    assert_eq!(the_day_before["purges"][0]["purged"], 7);
    let the_day_after = app
        .get_json(&format!(
            "/api/v1/schools/{school}/completeness?date={after}"
        ))
        .await;
    assert_eq!(the_day_after["calls_held"], 1, "{the_day_after:#}");
    assert_eq!(
        the_day_after["not_reconciled"][0]["meeting_instance_id"],
        next_day
    );
    assert_eq!(
        the_day_after["gaps"][0]["finding_id"], gap_id,
        "a gap still open is every day's until it ends"
    );

    // Once the day has ended its statement is chained and the chain's head signed; the
    // digest carries both.
    assert!(
        app.ledger
            .publish_heads(london(after, 0, 10))
            .await
            .unwrap()
            >= 1
    );
    let heads = app
        .get_json(&format!(
            "/api/v1/ledger/heads?school_id={}",
            statement["school_id"]
        ))
        .await;
    let head = heads
        .as_array()
        .unwrap()
        .iter()
        .find(|head| head["local_date"] == day.to_string())
        .expect("the day's head is signed")
        .clone();
    use sqlx::Row;
    let chained: String = sqlx::query(
        "SELECT content FROM ledger_entries WHERE record_class = 'statement' AND record_key = $1",
    )
    .bind(day.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get::<String, _>("content")
    .unwrap();
    let chained: serde_json::Value = serde_json::from_str(&chained).unwrap();
    for field in [
        "calls_held",
        "reconciled",
        "not_reconciled",
        "gaps",
        "purges",
        "complete",
    ] {
        assert_eq!(
            chained["statement"][field], statement[field],
            "{field} as chained"
        );
    }

    // The next morning's digest carries the day's statement, line for line.
    let sent = app
        .dispatcher
        .send_digests(london(after, 8, 0))
        .await
        .unwrap();
    assert_eq!(sent, 1);
    let digest = eventually(StdDuration::from_secs(5), || async {
        smtp.received()
            .iter()
            .any(|mail| mail.subject().unwrap_or_default().contains("Daily digest"))
    })
    .await;
    assert!(digest, "a digest was delivered");
    let mail = smtp
        .received()
        .into_iter()
        .find(|mail| mail.subject().unwrap_or_default().contains("Daily digest"))
        .unwrap();
    let body = mail.text();
    assert!(
        body.contains(&format!(
            "Yesterday's record ({})",
            day.format("%a %-d %B %Y")
        )),
        "{body}"
    );
    for line in &lines {
        assert!(body.contains(line.as_str()), "{line:?} missing from {body}");
    }
    let sealed = format!(
        "Record sealed at entry {} with hash {}",
        head["seq"],
        head["hash"].as_str().unwrap()
    );
    assert!(body.contains(&sealed), "{sealed:?} missing from {body}");
}

#[tokio::test]
async fn the_statement_is_for_those_who_may_read_the_register_and_defaults_to_yesterday() {
    let zoom = FakeZoom::start().await;
    let smtp = SmtpSink::start().await;
    let app = school_on_zoom(&zoom, &smtp).await;
    app.import_toml(
        "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n",
    )
    .await;
    let school = school_id(&app, "greenfield").await;
    let other = school_id(&app, "hillside").await;
    let path = format!("/api/v1/schools/{school}/completeness");

    let yesterday = Utc::now()
        .with_timezone(&London)
        .date_naive()
        .pred_opt()
        .unwrap();
    let statement = app.get_json(&path).await;
    assert_eq!(statement["date"], yesterday.to_string());
    assert_eq!(statement["timezone"], "Europe/London");
    assert_eq!(statement["calls_held"], 0);
    assert_eq!(statement["complete"], true);
    assert_eq!(statement["lines"][1], "No calls.");

    let refused = app.get_api(&format!("{path}?date=14/07/2026")).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "invalid_date", "{body}");
    assert_eq!(
        app.get_api("/api/v1/schools/999/completeness")
            .await
            .status(),
        404
    );

    for (email, grants, allowed) in [
        (
            "dsl@example.test",
            json!([{"role": "dsl", "school_id": school}]),
            true,
        ),
        (
            "governor@example.test",
            json!([{"role": "governor", "school_id": school}]),
            false,
        ),
        (
            "other@example.test",
            json!([{"role": "dsl", "school_id": other}]),
            false,
        ),
    ] {
        let created = app
            .post_json(
                "/api/v1/users",
                json!({"email": email, "name": "Someone", "password": PASSWORD, "roles": grants}),
            )
            .await;
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
        let signed_in: Value = app
            .client
            .post(format!("{}/api/v1/sign-in", app.address))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(signed_in["session"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status();
        let expected = if allowed { 200 } else { 403 };
        assert_eq!(status.as_u16(), expected, "{email}");
    }
}
