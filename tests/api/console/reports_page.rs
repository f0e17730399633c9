//! The reports for the DSL, the head and governors: a school's academic year counted month by
//! month (calls held, findings by rule and severity, time to act on them, outcomes written on
//! time, gaps in monitoring) in tables and charts alike; governors see the counts and nothing
//! that names anyone, and cannot open a finding, a call or the register; those without the
//! reports' role cannot open the reports.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde_json::json;
use sqlx::Row;

use super::{school_id, signed_in};
use crate::alerts::{findings, pupil_alone_with_one_adult, scenario, Scenario};
use crate::helpers::TestApp;
use crate::zoom_events::HOST;

const HILLSIDE: &str =
    "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n";

/// The page's text as a reader sees it: the escapes of the template engine undone.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn millis(text: &str) -> i64 {
    at(text).timestamp_millis()
}

/// The text of `html` from `start` to the first `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The cells of the row `row` (`data-month="2024-10"`, `data-rule="two_adults"`, or
/// `class="whole"`) of the table `table`, as text.
fn cells(html: &str, table: &str, row: &str) -> Vec<String> {
    let table = between(html, &format!("<table id=\"{table}\">"), "</table>");
    let row = between(table, &format!("<tr {row}>"), "</tr>");
    // Split at each cell: what comes before the row's first cell, and its heading, go.
    row.split("<t")
        .skip(3)
        .map(|cell| {
            let mut text = String::new();
            let mut in_tag = true;
            for character in cell.chars() {
                match character {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    _ if !in_tag => text.push(character),
                    _ => {}
                }
            }
            unescaped(text.trim())
        })
        .collect()
}

/// How many bars of `class` the chart `chart` draws for `month` (or in all when `None`).
fn bars(html: &str, chart: &str, class: &str, month: Option<&str>) -> usize {
    let svg = between(
        html,
        &format!("aria-labelledby=\"{chart}-title {chart}-desc\""),
        "</svg>",
    );
    let svg = match month {
        Some(month) => between(svg, &format!("data-month=\"{month}\""), "</g>"),
        None => svg,
    };
    svg.matches(&format!("<rect class=\"bar {class}\"")).count()
}

/// A call of `school` that started at `started` and lasted half an hour.
async fn insert_call(app: &TestApp, school: i64, key: &str, started: &str) -> i64 {
    sqlx::query(
        "INSERT INTO meeting_instances (school_id, platform, instance_key, started_at, ended_at, first_seen_at) \
         VALUES ($1, 'zoom', $2, $3, $4, $3) RETURNING id",
    )
    .bind(school)
    .bind(key)
    .bind(millis(started))
    .bind(millis(started) + 30 * 60 * 1000)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get("id")
    .unwrap()
}

async fn insert_outcome(app: &TestApp, school: i64, call: i64, written: &str) {
    sqlx::query(
        "INSERT INTO session_outcomes (school_id, meeting_instance_id, written_at, outcome) \
         VALUES ($1, $2, $3, 'Spoke about the reading plan.')",
    )
    .bind(school)
    .bind(call)
    .bind(millis(written))
    .execute(&app.db.pool)
    .await
    .unwrap();
}

/// A finding as the engine stores it, opened at `opened`, with what people (and the engine)
/// did about it.
struct Seeded<'a> {
    rule: &'a str,
    severity: &'a str,
    opened: &'a str,
    call: Option<i64>,
    acknowledged_after_secs: Option<i64>,
    resolved_after_secs: Option<(i64, &'a str)>,
}

async fn insert_finding(app: &TestApp, school: i64, key: &str, finding: Seeded<'_>) {
    let opened = millis(finding.opened);
    let acknowledged = finding
        .acknowledged_after_secs
        .map(|secs| opened + secs * 1000);
    let resolved = finding
        .resolved_after_secs
        .map(|(secs, _)| opened + secs * 1000);
    let status = match (resolved, acknowledged) {
        (Some(_), _) => "resolved",
        (None, Some(_)) => "acknowledged",
        (None, None) => "open",
    };
    sqlx::query(
        "INSERT INTO findings (school_id, finding_key, rule, scope, meeting_instance_id, subject, severity, status, \
           title, summary, clause, people, occurred_at, opened_at, updated_at, acknowledged_at, acknowledged_by, \
           resolved_at, resolved_by, version) \
         VALUES ($1, $2, $3, 'instance', $4, 'meeting', $5, $6, 'Seeded finding', 'Seeded for the report.', \
           'A clause.', '[]', $7, $7, $7, $8, $9, $10, $11, 1)",
    )
    .bind(school)
    .bind(key)
    .bind(finding.rule)
    .bind(finding.call)
    .bind(finding.severity)
    .bind(status)
    .bind(opened)
    .bind(acknowledged)
    .bind(acknowledged.map(|_| "Dana Lee"))
    .bind(resolved)
    .bind(finding.resolved_after_secs.map(|(_, by)| by))
    .execute(&app.db.pool)
    .await
    .unwrap();
}

/// The academic year 2024 to 2025 at Greenfield: three calls in October (one just after
/// midnight on 1 October, London time, which is still September in UTC) and two in March,
/// with their findings and outcomes.
async fn seed_a_year(app: &TestApp, school: i64) {
    let first = insert_call(app, school, "oct-1", "2024-09-30T23:30:00Z").await;
    let second = insert_call(app, school, "oct-2", "2024-10-15T09:00:00Z").await;
    let third = insert_call(app, school, "oct-3", "2024-10-16T09:00:00Z").await;
    let fourth = insert_call(app, school, "mar-1", "2025-03-10T10:00:00Z").await;
    insert_call(app, school, "mar-2", "2025-03-11T10:00:00Z").await;
    // The policy asks for outcomes within 24 hours: on time, late, never; on time.
    insert_outcome(app, school, first, "2024-10-01T02:00:00Z").await;
    insert_outcome(app, school, second, "2024-10-16T15:30:00Z").await;
    insert_outcome(app, school, fourth, "2025-03-10T12:00:00Z").await;

    let seeded = [
        // October: acted on after 5 min, 15 min and 1 h (the last resolved without an
        // acknowledgement), one still open, one the engine closed before anyone acted.
        (
            "oct-a",
            "two_adults",
            "critical",
            "2024-10-15T09:05:00Z",
            Some(300),
            None,
        ),
        (
            "oct-b",
            "two_adults",
            "high",
            "2024-10-16T09:05:00Z",
            Some(900),
            None,
        ),
        (
            "oct-c",
            "school_hours",
            "medium",
            "2024-10-16T09:10:00Z",
            None,
            Some((3600, "Dana Lee")),
        ),
        (
            "oct-d",
            "outcome_logged",
            "low",
            "2024-10-17T09:30:00Z",
            None,
            None,
        ),
        (
            "oct-e",
            "school_hours",
            "medium",
            "2024-10-20T09:00:00Z",
            None,
            Some((600, "chaperone")),
        ),
        // March: a gap in monitoring of three hours, one still open, one finding acted on
        // after 2 min.
        (
            "mar-a",
            "coverage",
            "high",
            "2025-03-05T08:00:00Z",
            None,
            Some((3 * 3600, "chaperone")),
        ),
        (
            "mar-b",
            "two_adults",
            "critical",
            "2025-03-10T10:05:00Z",
            Some(120),
            None,
        ),
        (
            "mar-c",
            "coverage",
            "high",
            "2025-03-20T08:00:00Z",
            None,
            None,
        ),
    ];
    for (key, rule, severity, opened, acknowledged, resolved) in seeded {
        let call = match key {
            "oct-d" => Some(third),
            "oct-a" => Some(second),
            _ => None,
        };
        let finding = Seeded {
            rule,
            severity,
            opened,
            call,
            acknowledged_after_secs: acknowledged,
            resolved_after_secs: resolved,
        };
        insert_finding(app, school, key, finding).await;
    }
}

#[tokio::test]
async fn the_annual_review_counts_each_month_in_tables_and_charts_alike() {
    let Scenario { app, .. } = scenario(&["two_adults", "outcome_logged"], 0).await;
    let greenfield = school_id(&app, "greenfield").await;
    seed_a_year(&app, greenfield).await;
    let mut dsl = signed_in(&app, "lead@greenfield.test", json!([{"role": "dsl"}])).await;

    let page = dsl
        .get(&format!(
            "/reports?school={greenfield}&period=year&year=2024"
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = &page.body;
    assert!(html.contains("the academic year 2024 to 2025"));

    // Calls: by the school's month, twelve months, one bar each.
    assert_eq!(cells(html, "calls-table", "data-month=\"2024-09\""), ["0"]);
    assert_eq!(cells(html, "calls-table", "data-month=\"2024-10\""), ["3"]);
    assert_eq!(cells(html, "calls-table", "data-month=\"2025-03\""), ["2"]);
    assert_eq!(cells(html, "calls-table", "class=\"whole\""), ["5"]);
    assert_eq!(html.matches("<tr data-month=").count(), 12 * 5);
    assert_eq!(bars(html, "calls-chart", "calls", None), 12);

    // Findings by severity (critical, high, medium, low), the chart stacking the same.
    assert_eq!(
        cells(html, "severity-table", "data-month=\"2024-10\""),
        ["5", "1", "1", "2", "1"]
    );
    assert_eq!(
        cells(html, "severity-table", "data-month=\"2025-03\""),
        ["3", "1", "2", "0", "0"]
    );
    assert_eq!(
        cells(html, "severity-table", "class=\"whole\""),
        ["8", "2", "3", "2", "1"]
    );
    for (class, october, march) in [
        ("critical", 1, 1),
        ("high", 1, 1),
        ("medium", 1, 0),
        ("low", 1, 0),
    ] {
        assert_eq!(
            bars(html, "severity-chart", class, Some("2024-10")),
            october,
            "{class}"
        );
        assert_eq!(
            bars(html, "severity-chart", class, Some("2025-03")),
            march,
            "{class}"
        );
    }
    assert_eq!(bars(html, "severity-chart", "high", Some("2024-11")), 0);

    // Findings by rule: only the rules that had any, month by month and in all.
    let two_adults = cells(html, "rules-table", "data-rule=\"two_adults\"");
    assert_eq!(two_adults.len(), 13);
    assert_eq!(
        (
            two_adults[1].as_str(),
            two_adults[6].as_str(),
            two_adults[12].as_str()
        ),
        ("2", "1", "3")
    );
    assert_eq!(
        cells(html, "rules-table", "data-rule=\"coverage\"")[12],
        "2"
    );
    assert_eq!(
        cells(html, "rules-table", "data-rule=\"school_hours\"")[12],
        "2"
    );
    assert_eq!(
        cells(html, "rules-table", "data-rule=\"outcome_logged\"")[12],
        "1"
    );
    assert!(!html.contains("data-rule=\"recording\""));

    // Time to act: nearest-rank median and 90th percentile of 5 min, 15 min and 1 h in
    // October; 2 min in March; 2 min, 5 min, 15 min and 1 h over the year.
    assert_eq!(
        cells(html, "acknowledgement-table", "data-month=\"2024-10\""),
        ["3", "15 min", "1 h", "1", "1"]
    );
    assert_eq!(
        cells(html, "acknowledgement-table", "data-month=\"2025-03\""),
        ["1", "2 min", "2 min", "1", "1"]
    );
    assert_eq!(
        cells(html, "acknowledgement-table", "data-month=\"2024-11\""),
        ["0", "–", "–", "0", "0"]
    );
    assert_eq!(
        cells(html, "acknowledgement-table", "class=\"whole\""),
        ["4", "5 min", "1 h", "2", "2"]
    );
    assert_eq!(bars(html, "acknowledgement-chart", "median", None), 2);
    assert_eq!(
        bars(html, "acknowledgement-chart", "p90", Some("2024-10")),
        1
    );

    // Outcomes: October's three calls needed one (on time, late, never), March's one did.
    assert_eq!(
        cells(html, "outcomes-table", "data-month=\"2024-10\""),
        ["3", "1", "1", "1", "33%"]
    );
    assert_eq!(
        cells(html, "outcomes-table", "data-month=\"2025-03\""),
        ["1", "1", "0", "0", "100%"]
    );

    // Gaps in monitoring: two began in March, one ended after three hours.
    assert_eq!(
        cells(html, "gaps-table", "data-month=\"2025-03\""),
        ["2", "1", "3 h", "1", "0"]
    );

    // Every chart is an image with a description, and the page prints.
    assert_eq!(html.matches("role=\"img\"").count(), 4);
    assert_eq!(html.matches("<desc id=").count(), 4);
    let css = app
        .client
        .get(format!("{}/assets/console.css", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.contains(".report-section + .report-section { break-before: page; }"));

    // The DSL's counts open the inbox at those findings.
    let text = unescaped(html);
    let link = format!(
        "/findings?status=all&school={greenfield}&rule=two_adults&from=2024-10-01&to=2024-10-31"
    );
    assert!(
        text.contains(&format!("href=\"{link}\"")),
        "no link to {link}"
    );
    let inbox = dsl.get(&link).await;
    assert_eq!(inbox.status, 200);
    assert_eq!(inbox.body.matches("<tr id=\"finding-").count(), 2);
}

#[tokio::test]
async fn a_month_is_the_default_and_a_month_not_begun_is_refused_in_words() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let id = findings(&app).await[0]["id"].as_i64().unwrap();
    let acknowledged = app
        .post_json(
            &format!("/api/v1/findings/{id}/acknowledge"),
            json!({"by": "Dana Lee"}),
        )
        .await;
    assert_eq!(acknowledged.status(), 200);
    let mut dsl = signed_in(&app, "lead@greenfield.test", json!([{"role": "dsl"}])).await;

    let page = dsl.get("/reports").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let month = Utc::now().with_timezone(&chrono_tz::Europe::London);
    let key = format!("{:04}-{:02}", month.year(), month.month());
    assert_eq!(
        cells(&page.body, "calls-table", &format!("data-month=\"{key}\"")),
        ["1"]
    );
    let acted = cells(
        &page.body,
        "acknowledgement-table",
        &format!("data-month=\"{key}\""),
    );
    assert_eq!((acted[0].as_str(), acted[3].as_str()), ("1", "0"));
    assert_eq!(bars(&page.body, "calls-chart", "calls", None), 1);

    let later = Utc::now() + Duration::days(400);
    let refused = dsl
        .get(&format!("/reports?period=month&month={}-01", later.year()))
        .await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("role=\"alert\""));
    assert!(refused.body.contains("That month has not begun yet."));
    assert!(!refused.body.contains("calls-table"));
    let garbled = dsl.get("/reports?period=year&year=soon").await;
    assert!(garbled
        .body
        .contains("Choose an academic year from the list."));
}

#[tokio::test]
async fn a_governor_sees_the_counts_and_cannot_open_a_finding_a_call_or_a_person() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    app.import_toml(HILLSIDE).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let id = findings(&app).await[0]["id"].as_i64().unwrap();
    app.post_json(
        &format!("/api/v1/findings/{id}/acknowledge"),
        json!({"by": "Dana Lee"}),
    )
    .await;
    let finding = app.get_json(&format!("/api/v1/findings/{id}")).await;
    let call: i64 = sqlx::query("SELECT id FROM meeting_instances")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("id")
        .unwrap();
    let greenfield = school_id(&app, "greenfield").await;
    let hillside = school_id(&app, "hillside").await;
    let mut governor = signed_in(
        &app,
        "governor@greenfield.test",
        json!([{"role": "governor", "school_id": greenfield}]),
    )
    .await;

    let home = governor.get("/").await;
    assert!(unescaped(&home.body).contains("href=\"/reports\""));
    let page = governor.get("/reports").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = unescaped(&page.body);
    assert!(
        text.contains("<dd id=\"summary-findings\">1</dd>"),
        "{text}"
    );
    assert!(text.contains("<dd id=\"summary-calls\">1</dd>"));
    let mut private = vec![
        finding["title"].as_str().unwrap().to_string(),
        finding["summary"].as_str().unwrap().to_string(),
        "Dana Lee".to_string(),
    ];
    for person in finding["people"].as_array().unwrap() {
        private.push(person["name"].as_str().unwrap().to_string());
    }
    assert!(private.len() > 3, "the finding names people: {finding}");
    for words in &private {
        assert!(
            !text.contains(words.as_str()),
            "the governor sees {words:?}"
        );
    }
    for link in ["href=\"/findings", "href=\"/calls", "href=\"/register"] {
        assert!(!text.contains(link), "the governor is offered {link}");
    }

    for path in [
        "/findings".to_string(),
        format!("/findings/{id}"),
        format!("/calls/{call}"),
        "/register".to_string(),
        "/api/v1/findings".to_string(),
        format!("/api/v1/findings/{id}"),
        "/api/v1/meetings".to_string(),
        format!("/api/v1/meetings/{call}"),
        "/api/v1/register".to_string(),
        format!("/reports?school={hillside}"),
    ] {
        let refused = governor.get(&path).await;
        assert_eq!(
            refused.status, 403,
            "a governor at {path}: {}",
            refused.body
        );
    }
}

#[tokio::test]
async fn staff_and_admins_are_refused_the_reports_and_not_offered_them() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    let greenfield = school_id(&app, "greenfield").await;
    for role in ["staff", "school_admin", "trust_admin"] {
        let grant = if role == "trust_admin" {
            json!([{"role": role}])
        } else {
            json!([{"role": role, "school_id": greenfield}])
        };
        let mut browser = signed_in(&app, &format!("{role}@greenfield.test"), grant).await;
        let home = browser.get("/").await;
        assert!(
            !unescaped(&home.body).contains("href=\"/reports\""),
            "{role} is offered the reports"
        );
        let refused = browser.get("/reports").await;
        assert_eq!(refused.status, 403, "{role}: {}", refused.body);
        assert!(refused
            .body
            .contains("the DSL, deputy DSL or governor role"));
    }
}

#[tokio::test]
async fn a_finding_about_the_reader_is_not_counted_in_their_report() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let id = findings(&app).await[0]["id"].as_i64().unwrap();
    let finding = app.get_json(&format!("/api/v1/findings/{id}")).await;
    assert!(
        finding["people"]
            .as_array()
            .unwrap()
            .iter()
            .any(|person| person["name"] == HOST.name),
        "the finding names the host: {finding}"
    );
    let greenfield = school_id(&app, "greenfield").await;

    // The host is a deputy DSL too: the finding about them is not theirs to count.
    let mut host = signed_in(
        &app,
        HOST.email,
        json!([{"role": "deputy_dsl", "school_id": greenfield}]),
    )
    .await;
    let theirs = host.get("/reports").await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    assert!(theirs.body.contains("<dd id=\"summary-findings\">0</dd>"));
    let mut lead = signed_in(&app, "lead@greenfield.test", json!([{"role": "dsl"}])).await;
    let everyone_elses = lead.get("/reports").await;
    assert!(everyone_elses
        .body
        .contains("<dd id=\"summary-findings\">1</dd>"));
}
