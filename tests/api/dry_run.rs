//! A policy dry run over a seeded fortnight: a longer `two_adults` grace period finds fewer
//! breaches than the live policy did, names the calls that drop out, and changes nothing but
//! the audit log's record of the run. A policy that cannot be used, a period too long and a
//! role without the right are refused.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use sqlx::Row;

use crate::alerts::{scenario, Scenario};
use crate::helpers::TestApp;
use crate::zoom_events::{ended, joined, left, started, DSL, HOST, MEETING_UUID, PUPIL};

const PASSWORD: &str = "a long enough passphrase";

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Zoom's events of a half-hour call starting at `start`: the host, the pupil a minute later,
/// and the DSL (the second member of staff) `dsl_late_mins` after the pupil, or never.
fn call(uuid: &str, start: DateTime<Utc>, dsl_late_mins: Option<i64>) -> Vec<String> {
    let pupil_joins = start + Duration::minutes(1);
    let end = start + Duration::minutes(30);
    let mut bodies = vec![
        started(),
        joined(&HOST, &at(start)),
        joined(&PUPIL, &at(pupil_joins)),
    ];
    if let Some(late) = dsl_late_mins {
        bodies.push(joined(&DSL, &at(pupil_joins + Duration::minutes(late))));
        bodies.push(left(&DSL, &at(end)));
    }
    bodies.extend([
        left(&PUPIL, &at(end)),
        left(&HOST, &at(end)),
        ended(&at(end)),
    ]);
    bodies
        .into_iter()
        .map(|body| {
            body.replace("2025-03-11T14:31:07Z", &at(start))
                .replace(MEETING_UUID, uuid)
        })
        .collect()
}

/// When the DSL joined each day's call, for the fortnight before today: on time, 3 minutes
/// late (past the live 2-minute grace, within 5), 8 minutes late, or never.
const FORTNIGHT: [Option<i64>; 10] = [
    Some(0),
    Some(3),
    Some(8),
    Some(0),
    Some(3),
    None,
    Some(0),
    Some(8),
    Some(3),
    Some(0),
];

/// The example school checking only `two_adults` (2 staff, 2 minutes' grace), with a call a
/// day over the last fortnight; the uuids of the calls whose DSL was 3 minutes late.
pub(crate) async fn seeded_fortnight() -> (TestApp, Vec<String>) {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    let mut three_minutes_late = Vec::new();
    for (day, late) in FORTNIGHT.iter().enumerate() {
        let uuid = format!("ZHJ5cnVuQ2FsbE51bWJlcj{day:02}==");
        let start = Utc::now() - Duration::days(14 - day as i64) - Duration::hours(3);
        app.deliver(&call(&uuid, start, *late)).await;
        if *late == Some(3) {
            three_minutes_late.push(uuid);
        }
    }
    app.settle_at(Utc::now()).await;
    (app, three_minutes_late)
}

async fn school_id(app: &TestApp) -> i64 {
    let schools = app.get_json("/api/v1/schools").await;
    schools
        .as_array()
        .unwrap()
        .iter()
        .find(|school| school["slug"] == "greenfield")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// Posts a dry run with `secret`; the status and the body.
async fn dry_run(app: &TestApp, secret: &str, school_id: i64, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!(
            "{}/api/v1/schools/{school_id}/policy/dry-run",
            app.address
        ))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A user with `roles`, signed in; their session.
async fn person(app: &TestApp, email: &str, roles: Value) -> String {
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": email, "name": "Test User", "password": PASSWORD, "roles": roles}),
        )
        .await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let response = app
        .client
        .post(format!("{}/api/v1/sign-in", app.address))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["session"].as_str().unwrap().to_string()
}

/// Every row a dry run could touch, as text: findings and their history, alerts, the queues,
/// the register's identities and the settings.
async fn state_of(app: &TestApp) -> Vec<String> {
    let queries = [
        "SELECT id, status, version, updated_at, summary FROM findings ORDER BY id",
        "SELECT finding_id, version, change FROM finding_history ORDER BY finding_id, version",
        "SELECT id, finding_id, status FROM alert_deliveries ORDER BY id",
        "SELECT scope, scope_id, due_at FROM evaluation_queue ORDER BY scope, scope_id",
        "SELECT COUNT(*) FROM enrichment_jobs",
        "SELECT instance_id, session_key, identity_basis, identified_person_id FROM participant_sessions \
         ORDER BY instance_id, session_key",
        "SELECT school_id, policy FROM school_settings ORDER BY school_id",
    ];
    let mut rows = Vec::new();
    for sql in queries {
        for row in sqlx::query(sql).fetch_all(&app.db.pool).await.unwrap() {
            let columns: Vec<String> = (0..row.len())
                .map(|index| {
                    row.try_get::<Option<i64>, _>(index)
                        .map(|value| format!("{value:?}"))
                        .or_else(|_| {
                            row.try_get::<Option<String>, _>(index)
                                .map(|v| format!("{v:?}"))
                        })
                        .unwrap()
                })
                .collect();
            rows.push(format!("{sql}: {}", columns.join(", ")));
        }
    }
    rows
}

async fn audit_entries(app: &TestApp) -> Vec<Value> {
    app.get_json("/api/v1/audit?limit=5000")
        .await
        .as_array()
        .unwrap()
        .clone()
}

fn two_adults(answer: &Value) -> &Value {
    answer["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["rule"] == "two_adults")
        .unwrap()
}

async fn uuid_of(app: &TestApp, meeting_instance_id: i64) -> String {
    sqlx::query("SELECT instance_key FROM meeting_instances WHERE id = $1")
        .bind(meeting_instance_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("instance_key")
        .unwrap()
}

#[tokio::test]
async fn a_longer_grace_period_finds_fewer_breaches_names_the_calls_that_drop_out_and_changes_nothing(
) {
    // Arrange: six breaches under the live 2 minutes (three DSLs 3 minutes late, two 8 minutes
    // late, one who never came).
    let (app, three_minutes_late) = seeded_fortnight().await;
    let school = school_id(&app).await;
    let dsl = person(
        &app,
        "dsl.user@greenfield.sch.example",
        json!([{"role": "dsl", "school_id": school}]),
    )
    .await;
    let live_findings = app.get_json("/api/v1/findings").await;
    assert_eq!(
        live_findings.as_array().unwrap().len(),
        6,
        "{live_findings:#}"
    );
    let before = state_of(&app).await;
    let audit_before = audit_entries(&app).await;

    // Act: the same policy with 5 minutes' grace, over the fortnight.
    let (status, answer) = dry_run(
        &app,
        &dsl,
        school,
        json!({
            "from": at(Utc::now() - Duration::days(15)),
            "to": at(Utc::now()),
            "policy": "[overrides.two_adults]\ngrace_secs = 300\n",
        }),
    )
    .await;

    // Assert: three fewer, exactly the calls whose DSL was 3 minutes late.
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["calls_considered"], 10, "{answer:#}");
    assert_eq!(answer["calls"].as_array().unwrap().len(), 10);
    let rule = two_adults(&answer);
    assert_eq!(
        (rule["live"].as_i64(), rule["proposed"].as_i64()),
        (Some(6), Some(3))
    );
    assert_eq!(rule["newly_found"], json!([]));
    let dropped = rule["no_longer_found"].as_array().unwrap();
    let mut dropped_uuids = Vec::new();
    for finding in dropped {
        dropped_uuids.push(uuid_of(&app, finding["meeting_instance_id"].as_i64().unwrap()).await);
        assert!(finding["finding_id"].is_i64(), "{finding}");
        assert!(
            finding["summary"].as_str().unwrap().contains("min"),
            "{finding}"
        );
    }
    dropped_uuids.sort();
    assert_eq!(dropped_uuids, three_minutes_late);
    let others: i64 = answer["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| rule["rule"] != "two_adults")
        .map(|rule| rule["live"].as_i64().unwrap() + rule["proposed"].as_i64().unwrap())
        .sum();
    assert_eq!(others, 0, "only two_adults is on");

    // Nothing changed: findings, history, alerts, queues, identities, settings.
    assert_eq!(state_of(&app).await, before);
    let audit_after = audit_entries(&app).await;
    assert_eq!(audit_after.len(), audit_before.len() + 1);
    let entry = &audit_after[0];
    assert_eq!(entry["action"], "policy.dry_run");
    assert_eq!(entry["school_id"], school);
    assert_eq!(entry["after"]["calls"], 10);
    let recorded = entry.to_string();
    for personal in ["Jamie", "Smith", "Ravi", "Dana", "J S"] {
        assert!(!recorded.contains(personal), "{personal} in {recorded}");
    }
}

#[tokio::test]
async fn an_admin_tries_a_policy_without_reading_the_findings_and_others_are_refused() {
    let (app, _) = seeded_fortnight().await;
    let school = school_id(&app).await;
    let admin = person(
        &app,
        "admin.user@greenfield.sch.example",
        json!([{"role": "school_admin", "school_id": school}]),
    )
    .await;
    let staff = person(
        &app,
        "staff.user@greenfield.sch.example",
        json!([{"role": "staff", "school_id": school}]),
    )
    .await;
    let governor = person(
        &app,
        "governor.user@greenfield.sch.example",
        json!([{"role": "governor", "school_id": school}]),
    )
    .await;
    let fortnight = json!({
        "from": at(Utc::now() - Duration::days(15)),
        "to": at(Utc::now()),
        "policy": "[overrides.two_adults]\nenabled = false\n",
    });

    let (status, answer) = dry_run(&app, &admin, school, fortnight.clone()).await;
    assert_eq!(status, 200, "{answer:#}");
    let rule = two_adults(&answer);
    assert_eq!(
        (rule["live"].as_i64(), rule["proposed"].as_i64()),
        (Some(6), Some(0))
    );
    let dropped = rule["no_longer_found"].as_array().unwrap();
    assert_eq!(dropped.len(), 6);
    assert!(
        dropped.iter().all(|finding| finding["summary"].is_null()),
        "{dropped:#?}"
    );
    assert!(answer["calls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|call| call["topic"].is_null()));

    for refused in [&staff, &governor] {
        let (status, answer) = dry_run(&app, refused, school, fortnight.clone()).await;
        assert_eq!(status, 403, "{answer:#}");
        assert_eq!(answer["code"], "forbidden");
    }
}

#[tokio::test]
async fn a_policy_that_cannot_be_used_or_a_period_too_long_is_refused_with_the_reason() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    let school = school_id(&app).await;
    let admin = crate::helpers::ADMIN_TOKEN;
    let fortnight =
        |policy: &str| json!({"from": "2026-03-02", "to": "2026-03-15", "policy": policy});

    #[rustfmt::skip]
    let policies = [
        ("[overrides.two_adults]\ngrace_secs = -60", "two_adults.grace_secs is -60"),
        ("[overrides.two_adults]\nmin_staff = 0", "two_adults.min_staff is 0"),
        ("preset = \"lenient\"", "lenient"),
        ("[overrides.two_adult]\nenabled = false", "two_adult"),
        ("[overrides.two_adults", "not TOML"),
    ];
    for (policy, reason) in policies {
        let (status, answer) = dry_run(&app, admin, school, fortnight(policy)).await;
        assert_eq!(status, 422, "{policy}: {answer:#}");
        assert_eq!(answer["code"], "invalid_policy");
        assert!(
            answer["detail"].as_str().unwrap().contains(reason),
            "{policy}: {answer:#}"
        );
    }

    let too_long = json!({"from": "2026-01-01", "to": "2026-04-30"});
    let (status, answer) = dry_run(&app, admin, school, too_long).await;
    assert_eq!(status, 400, "{answer:#}");
    assert_eq!(answer["code"], "invalid_period");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("at most 92 days"),
        "{answer:#}"
    );

    let backwards = json!({"from": "2026-03-15", "to": "2026-03-01"});
    assert_eq!(dry_run(&app, admin, school, backwards).await.0, 400);
    let malformed = json!({"from": "last week", "to": "2026-03-01"});
    assert_eq!(dry_run(&app, admin, school, malformed).await.0, 400);
    let unknown_field = json!({"from": "2026-03-01", "to": "2026-03-02", "polcy": ""});
    assert_eq!(dry_run(&app, admin, school, unknown_field).await.0, 400);
    let no_school = json!({"from": "2026-03-01", "to": "2026-03-02"});
    assert_eq!(dry_run(&app, admin, 999, no_school).await.0, 404);

    let audited = app.get_json("/api/v1/audit?action=policy.dry_run").await;
    assert_eq!(audited, json!([]), "a refused run reads nothing");
}
