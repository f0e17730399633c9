//! The register in the console: a school's week day by day, each day's statement of how
//! complete its record is, and the week's export taken with the same session.

use chrono::Utc;
use serde_json::json;

use super::signed_in;
use crate::alerts::{ago, pupil_alone_with_one_adult, scenario, Scenario};
use crate::zoom_events::ended;

/// The statement of the day dated `date` (`YYYY-MM-DD`), tags stripped.
fn statement_of(html: &str, date: &str) -> String {
    let marker = format!("data-date=\"{date}\">");
    let start = html.find(&marker).expect("the day's statement") + marker.len();
    let end = start + html[start..].find("</p>").unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("&#x27;", "'")
}

#[tokio::test]
async fn the_week_lists_each_days_calls_says_how_complete_the_record_is_and_exports() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
    let call_id = app.get_json("/api/v1/meetings").await[0]["id"]
        .as_i64()
        .unwrap();

    let mut dsl = signed_in(
        &app,
        "dana@greenfield.sch.example",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    let page = dsl.get("/register").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("id=\"call-{call_id}\"")),
        "the call is listed"
    );
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
        .to_string();
    let statement = statement_of(&page.body, &today);
    assert!(
        statement.contains("1 call: 0 reconciled, 1 still running."),
        "{statement}"
    );
    assert!(statement.contains("incomplete"), "{statement}");

    // Ended: waiting for the platform's report, still not complete.
    app.deliver(&[ended(&ago(10))]).await;
    app.settle_at(Utc::now()).await;
    let page = dsl.get("/register").await;
    let statement = statement_of(&page.body, &today);
    assert!(
        statement.contains(
            "1 call: 0 reconciled, 1 not reconciled: chaperone cannot read the platform's report"
        ),
        "{statement}"
    );

    // Another week has none of it.
    let page = dsl.get("/register?school=1&week=2020-01-08").await;
    assert!(!page.body.contains(&format!("id=\"call-{call_id}\"")));
    assert_eq!(statement_of(&page.body, "2020-01-06"), "complete No calls.");

    // The export links take the session.
    let page = dsl.get("/register").await;
    let body = page.body.replace("&#x2f;", "/").replace("&amp;", "&");
    let start = body.find("/api/v1/register.csv").expect("a CSV link");
    let csv_link = body[start..].split('"').next().unwrap().to_string();
    let csv = dsl.get(&csv_link).await;
    assert_eq!(csv.status, 200, "{csv_link}: {}", csv.body);
    assert!(csv.body.lines().count() >= 2, "{}", csv.body);

    // A governor does not see the register.
    let mut governor = signed_in(
        &app,
        "gov@greenfield.sch.example",
        json!([{"role": "governor", "school_id": 1}]),
    )
    .await;
    assert_eq!(governor.get("/register").await.status, 403);
    assert_eq!(dsl.get("/register?school=999").await.status, 403);
}
