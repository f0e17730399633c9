//! Retention through the service's entry points: calls made by signed webhooks, a school's
//! periods set by import, and the purge run as the ledger keeper runs it, with the clock moved
//! ahead. What is due goes, what is not (or is still referred to) stays, the ledger keeps a
//! tombstone for each record purged and still verifies, and the day's completeness statement
//! lists what went.

use chaperone::directory::settings as school_settings;
use chaperone::ledger;
use chaperone::retention::{self, RetentionSettings, DEFAULT_REGISTER_DAYS};
use chaperone::timers::Timer;
use chaperone::worker::Worker;
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use crate::alerts::{ago, scenario_importing, Scenario};
use crate::helpers::{spawn_app, TestApp};
use crate::zoom_events::{
    chat_message, ended, joined, left, started, DSL, HOST, MEETING_UUID, PUPIL,
};

/// Short periods, so that a purge days or years ahead finds each class due or not.
const SHORT_RETENTION: &str = "
[school.retention]
inbox_days = 8
register_days = 1
alert_deliveries_days = 1
outcomes_days = 30
findings_days = 400
";

fn uuid(call: &str) -> String {
    format!("{call}{}", &MEETING_UUID[call.len()..])
}

/// The calls of a day, by instance key: `alone` and `open` with a pupil alone with one adult
/// (a finding each), `watched` with the DSL there too and chat (no finding).
async fn a_school_day(more: &str) -> Scenario {
    let scenario = scenario_importing(&["two_adults"], 0, false, more).await;
    let app = &scenario.app;
    for (index, call) in ["alone", "open", "watched"].iter().enumerate() {
        let offset = 3600 * (3 - index as i64);
        let mut events = vec![
            started().replace("2025-03-11T14:31:07Z", &ago(offset + 300)),
            joined(&HOST, &ago(offset + 300)),
        ];
        if *call == "watched" {
            events.push(joined(&DSL, &ago(offset + 290)));
        }
        events.push(joined(&PUPIL, &ago(offset + 240)));
        if *call == "watched" {
            events.push(chat_message("m-1", &ago(offset + 200), "hello"));
        }
        events.push(left(&PUPIL, &ago(offset - 600)));
        events.push(ended(&ago(offset - 660)));
        let events: Vec<String> = events
            .into_iter()
            .map(|event| event.replace(MEETING_UUID, &uuid(call)))
            .collect();
        app.deliver(&events).await;
    }
    app.settle_at(Utc::now()).await;
    scenario
}

async fn call_id(app: &TestApp, call: &str) -> i64 {
    sqlx::query("SELECT id FROM meeting_instances WHERE instance_key = $1")
        .bind(uuid(call))
        .fetch_one(&app.db.pool)
        .await
        .unwrap_or_else(|error| panic!("call {call}: {error}"))
        .try_get("id")
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&app.db.pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .try_get(0)
        .unwrap()
}

async fn school_id(app: &TestApp) -> i64 {
    count(app, "SELECT id FROM schools WHERE slug = 'greenfield'").await
}

/// The finding about `call`'s pupil, as the API lists it.
async fn finding_of(app: &TestApp, call: i64) -> i64 {
    let findings = crate::alerts::findings(app).await;
    findings
        .iter()
        .find(|finding| finding["meeting_record_id"].as_i64() == Some(call))
        .unwrap_or_else(|| panic!("no finding about call {call}: {findings:#?}"))["id"]
        .as_i64()
        .unwrap()
}

async fn resolve(app: &TestApp, finding: i64) {
    for (action, body) in [
        ("acknowledge", serde_json::json!({"by": "Dee Esel"})),
        (
            "resolve",
            serde_json::json!({"by": "Dee Esel", "note": "Spoke to the tutor."}),
        ),
    ] {
        let response = app
            .post_json(&format!("/api/v1/findings/{finding}/{action}"), body)
            .await;
        assert_eq!(response.status(), 200, "{action}");
    }
}

async fn write_outcome(app: &TestApp, call: i64) {
    let response = app
        .post_json(
            &format!("/api/v1/meetings/{call}/outcome"),
            serde_json::json!({"outcome": "Talked through the week; no concerns."}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

/// How many `record_class` rows retention_purges holds for the school at `at`.
async fn recorded_purge(app: &TestApp, school: i64, at: DateTime<Utc>, class: &str) -> i64 {
    sqlx::query(
        "SELECT CAST(COALESCE(SUM(purged), 0) AS BIGINT) FROM retention_purges \
         WHERE school_id = $1 AND at = $2 AND record_class = $3",
    )
    .bind(school)
    .bind(at.timestamp_millis())
    .bind(class)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get(0)
    .unwrap()
}

/// Every key of `class` with a tombstone in the school's chain.
async fn tombstones(app: &TestApp, school: i64, class: &str) -> Vec<String> {
    sqlx::query(
        "SELECT record_key FROM ledger_entries WHERE school_id = $1 AND record_class = $2 \
         AND change = 'purged' ORDER BY seq",
    )
    .bind(school)
    .bind(class)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get("record_key").unwrap())
    .collect()
}

async fn assert_intact(app: &TestApp, school: i64) {
    app.ledger.drain().await.unwrap();
    let mut connection = app.db.pool.acquire().await.unwrap();
    let verification = ledger::verify_school(&mut connection, school, Some(&app.state.head_signer))
        .await
        .unwrap();
    drop(connection);
    assert!(verification.is_intact(), "{:#?}", verification.problems);
    assert_eq!(verification.awaiting_ledger, 0);
    let answer = app.get_json("/api/v1/ledger/verify").await;
    assert_eq!(answer["schools"][0]["intact"], true, "{answer:#}");
}

#[tokio::test]
async fn purging_removes_what_is_due_keeps_what_is_not_and_the_chain_still_verifies() {
    // Arrange: a resolved finding with an outcome on its call, an open finding, a call with
    // no finding, and an event that arrives but is not yet applied.
    let Scenario { app, .. } = a_school_day(SHORT_RETENTION).await;
    let school = school_id(&app).await;
    let (alone, open, watched) = (
        call_id(&app, "alone").await,
        call_id(&app, "open").await,
        call_id(&app, "watched").await,
    );
    let resolved = finding_of(&app, alone).await;
    let still_open = finding_of(&app, open).await;
    resolve(&app, resolved).await;
    write_outcome(&app, alone).await;
    app.settle_at(Utc::now()).await;
    assert!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM findings WHERE meeting_instance_id = {watched}")
        )
        .await
            == 0,
        "two adults were there"
    );
    let deliveries_of = |finding: i64| {
        format!("SELECT COUNT(*) FROM alert_deliveries WHERE finding_id = {finding}")
    };
    assert!(count(&app, &deliveries_of(resolved)).await > 0);
    assert!(count(&app, &deliveries_of(still_open)).await > 0);
    let stays_of =
        |call: i64| format!("SELECT COUNT(*) FROM participant_sessions WHERE instance_id = {call}");
    let watched_sessions = count(&app, &stays_of(watched)).await;
    assert!(watched_sessions >= 3);
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM instance_signals WHERE instance_id = {watched}")
        )
        .await,
        1
    );
    let processed = count(
        &app,
        "SELECT COUNT(*) FROM inbox WHERE processed_at IS NOT NULL",
    )
    .await;
    assert!(processed > 10, "{processed}");
    let later = started().replace(MEETING_UUID, &uuid("later"));
    app.deliver(&[later]).await;
    let history = count(
        &app,
        &format!("SELECT COUNT(*) FROM finding_history WHERE finding_id = {resolved}"),
    )
    .await;
    assert!(history >= 3, "opened, acknowledged, resolved: {history}");

    // Act: three days on, only the register's and the deliveries' single day has passed.
    let soon = Utc::now() + Duration::days(3);
    let report = retention::purge_due(&app.db, soon, 30).await.unwrap();

    // Assert: the call no one refers to went, with its participants and signal; the calls
    // the findings and the outcome refer to stayed; the resolved finding's deliveries went
    // on their own period, the open one's stayed; no raw event was old enough.
    assert_eq!(report.count(school, "call"), 1, "{report:#?}");
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM meeting_instances WHERE id = {watched}")
        )
        .await,
        0
    );
    assert_eq!(count(&app, &stays_of(watched)).await, 0);
    assert_eq!(report.count(school, "participant"), watched_sessions as u64);
    assert_eq!(report.count(school, "signal"), 1);
    for kept in [alone, open] {
        assert_eq!(
            count(
                &app,
                &format!("SELECT COUNT(*) FROM meeting_instances WHERE id = {kept}")
            )
            .await,
            1,
            "call {kept} is referred to"
        );
        assert!(count(&app, &stays_of(kept)).await > 0);
    }
    assert_eq!(count(&app, &deliveries_of(resolved)).await, 0);
    assert!(count(&app, &deliveries_of(still_open)).await > 0);
    assert_eq!(report.count(school, "inbox"), 0);
    assert_eq!(report.count(school, "finding"), 0);
    assert_eq!(report.count(school, "outcome"), 0);
    assert_eq!(
        recorded_purge(&app, school, soon, "call").await,
        1,
        "the purge is recorded"
    );
    assert_eq!(
        recorded_purge(&app, school, soon, "alert_delivery").await as u64,
        report.count(school, "alert_delivery")
    );
    assert_intact(&app, school).await;
    assert_eq!(
        tombstones(&app, school, "call").await,
        vec![watched.to_string()]
    );

    // Act: two years on, through the keeper's own timer.
    let years_on = Utc::now() + Duration::days(730);
    let pass = app
        .ledger
        .run_timer(Timer::Retention { inbox_days: 30 }, years_on)
        .await
        .unwrap();
    assert_eq!(pass, chaperone::worker::Pass::Worked);

    // Assert: the resolved finding went with its history, the outcome went, and with nothing
    // left referring to it, so did their call; the open finding, its deliveries and its call
    // stayed; every applied event went, the one not yet applied stayed.
    let gone =
        |table: &str, condition: String| format!("SELECT COUNT(*) FROM {table} WHERE {condition}");
    assert_eq!(
        count(&app, &gone("findings", format!("id = {resolved}"))).await,
        0
    );
    assert_eq!(
        count(
            &app,
            &gone("finding_history", format!("finding_id = {resolved}"))
        )
        .await,
        0
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM session_outcomes").await,
        0
    );
    assert_eq!(
        count(&app, &gone("meeting_instances", format!("id = {alone}"))).await,
        0
    );
    assert_eq!(count(&app, &stays_of(alone)).await, 0);
    assert_eq!(
        count(&app, &gone("findings", format!("id = {still_open}"))).await,
        1
    );
    assert!(count(&app, &deliveries_of(still_open)).await > 0);
    assert_eq!(
        count(&app, &gone("meeting_instances", format!("id = {open}"))).await,
        1
    );
    assert!(count(&app, &stays_of(open)).await > 0);
    assert_eq!(app.inbox_count().await, 1, "only the event not yet applied");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL"
        )
        .await,
        1
    );
    for (class, purged) in [
        ("finding", 1),
        ("finding_change", history),
        ("outcome", 1),
        ("call", 1),
        ("inbox", processed),
    ] {
        assert_eq!(
            recorded_purge(&app, school, years_on, class).await,
            purged,
            "{class}"
        );
    }

    // The ledger: a tombstone for each record purged, whose earlier entries keep their
    // hashes but no longer what the record said, and one statement for the raw events.
    assert_intact(&app, school).await;
    assert_eq!(
        tombstones(&app, school, "finding").await,
        vec![resolved.to_string()]
    );
    assert_eq!(tombstones(&app, school, "outcome").await.len(), 1);
    assert_eq!(
        tombstones(&app, school, "finding_change").await.len() as i64,
        history
    );
    assert_eq!(
        tombstones(&app, school, "call").await,
        vec![watched.to_string(), alone.to_string()]
    );
    assert_eq!(tombstones(&app, school, "signal").await.len(), 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM ledger_entries WHERE change = 'removed'"
        )
        .await,
        0,
        "every record retention removed is a tombstone, once"
    );
    for (class, key) in [("finding", resolved), ("call", alone), ("call", watched)] {
        let (emptied, kept): (i64, i64) = {
            let row = sqlx::query(
                "SELECT SUM(CASE WHEN content IS NULL THEN 1 ELSE 0 END) AS emptied, \
                 SUM(CASE WHEN content IS NULL THEN 0 ELSE 1 END) AS kept FROM ledger_entries \
                 WHERE school_id = $1 AND record_class = $2 AND record_key = $3 AND change <> 'purged'",
            )
            .bind(school)
            .bind(class)
            .bind(key.to_string())
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
            (
                row.try_get("emptied").unwrap(),
                row.try_get("kept").unwrap(),
            )
        };
        assert!(emptied >= 1, "{class} {key}");
        assert_eq!(
            kept, 0,
            "{class} {key}: its content is gone from the ledger"
        );
    }
    let open_entries = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM ledger_entries WHERE record_class = 'finding' \
             AND record_key = '{still_open}' AND content IS NOT NULL"
        ),
    )
    .await;
    assert!(open_entries >= 1, "what is kept keeps its content");
    let statement: String = sqlx::query(
        "SELECT content FROM ledger_entries WHERE school_id = $1 AND record_class = 'purge' \
         AND change = 'stated'",
    )
    .bind(school)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get("content")
    .unwrap();
    let statement: serde_json::Value = serde_json::from_str(&statement).unwrap();
    assert_eq!(statement["record_class"], "inbox");
    assert_eq!(statement["purged"], processed);

    // The day's completeness statement lists what retention purged.
    let date = years_on
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let answer = app
        .get_json(&format!(
            "/api/v1/schools/{school}/completeness?date={date}"
        ))
        .await;
    let purges = answer["purges"].as_array().expect("purges listed");
    for class in ["call", "finding", "finding_change", "outcome", "inbox"] {
        assert!(
            purges.iter().any(|purge| purge["record_class"] == class),
            "{class} not in {answer:#}"
        );
    }
    let lines: Vec<&str> = answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line.as_str())
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("Retention purged 1 finding record older than")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&format!("Retention purged {processed} inbox records"))),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_school_that_sets_no_periods_keeps_its_register_and_only_old_raw_events_go() {
    let Scenario { app, .. } = a_school_day("").await;
    let school = school_id(&app).await;
    let calls = count(&app, "SELECT COUNT(*) FROM meeting_instances").await;
    let processed = count(
        &app,
        "SELECT COUNT(*) FROM inbox WHERE processed_at IS NOT NULL",
    )
    .await;

    // A month on (the instance's 30 days have passed), then almost three years on.
    let month_on = Utc::now() + Duration::days(31);
    let report = retention::purge_due(&app.db, month_on, 30).await.unwrap();
    assert_eq!(report.count(school, "inbox"), processed as u64);
    assert_eq!(report.total(), processed as u64, "{report:#?}");
    let nearly = Utc::now() + Duration::days(i64::from(DEFAULT_REGISTER_DAYS) - 2);
    let report = retention::purge_due(&app.db, nearly, 30).await.unwrap();
    assert_eq!(report.total(), 0, "{report:#?}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM meeting_instances").await,
        calls
    );
    assert_intact(&app, school).await;
}

#[tokio::test]
async fn a_schools_periods_are_set_by_import_and_a_period_under_a_day_is_refused() {
    let app = spawn_app().await;
    let school = school_id(&app).await;
    let file = |retention: &str| {
        format!(
            "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\n\
             timezone = \"Europe/London\"\n[school.retention]\n{retention}\n"
        )
    };
    app.import_toml(&file("register_days = 400\ninbox_days = 10"))
        .await;
    let mut connection = app.db.pool.acquire().await.unwrap();
    let stored = school_settings::load(&mut connection, school)
        .await
        .unwrap();
    drop(connection);
    assert_eq!(
        stored.retention,
        RetentionSettings {
            register_days: Some(400),
            inbox_days: Some(10),
            ..RetentionSettings::default()
        }
    );

    for (retention, says) in [
        (
            "findings_days = 0",
            "findings_days = 0: keep records at least 1 day",
        ),
        (
            "inbox_days = 3",
            "inbox_days = 3: keep records at least 8 days",
        ),
    ] {
        let path = app.folder.path().join("refused.toml");
        std::fs::write(&path, file(retention)).unwrap();
        let refused =
            chaperone::import::import_path(&app.db, &app.state.secrets, &path, None).await;
        let message = refused.expect_err(retention).to_string();
        assert!(message.contains(says), "{message}");
    }
    let mut connection = app.db.pool.acquire().await.unwrap();
    let kept = school_settings::load(&mut connection, school)
        .await
        .unwrap();
    assert_eq!(
        kept.retention, stored.retention,
        "a refused file changes nothing"
    );
    drop(connection);

    // The school's page shows what is in force, and which periods are the defaults.
    let mut browser = crate::console::signed_in(
        &app,
        "admin@greenfield.test",
        serde_json::json!([{"role": "school_admin", "school_id": school}]),
    )
    .await;
    let page = browser.get(&format!("/admin/schools/{school}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<h2>Retention</h2>"), "{}", page.body);
    assert!(page.body.contains("<td>400 days</td>"), "{}", page.body);
    assert!(page.body.contains("<td>10 days</td>"), "{}", page.body);
    let default_findings = format!(
        "<td>{} days <span class=\"hint\">(default)</span></td>",
        retention::DEFAULT_FINDINGS_DAYS
    );
    assert!(page.body.contains(&default_findings), "{}", page.body);
}
