//! A call's page in the console: who was there by role and the timeline, whose shaded window
//! is the time the pupil was without two staff; the finding's page leads to it; only those
//! who safeguard the school open it.

use chrono::Utc;
use serde_json::json;

use super::signed_in;
use crate::alerts::{ago, findings, pupil_alone_with_one_adult, scenario, Scenario};
use crate::zoom_events::{joined, Joiner, DSL};

/// The `(data-from, data-until)` of every shaded breach in the page's timeline.
fn shaded(html: &str) -> Vec<(String, String)> {
    html.match_indices("<rect class=\"breach\"")
        .map(|(at, _)| {
            let rect = &html[at..at + html[at..].find('>').unwrap()];
            let attribute = |name: &str| {
                let marker = format!("{name}=\"");
                let start = rect.find(&marker).unwrap() + marker.len();
                rect[start..start + rect[start..].find('"').unwrap()].to_string()
            };
            (attribute("data-from"), attribute("data-until"))
        })
        .collect()
}

#[tokio::test]
async fn the_calls_timeline_shades_the_time_the_pupil_was_without_two_staff() {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    let pupil_joined = ago(240);
    let second_adult_joined = ago(60);
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.deliver(&[joined(
        &Joiner {
            session_id: "555",
            ..DSL
        },
        &second_adult_joined,
    )])
    .await;
    app.settle_at(Utc::now()).await;

    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let finding = &found[0];
    let call_id = finding["meeting_record_id"].as_i64().expect("a call");
    // The pupil joined at ago(240) in the scenario; the window closes as the DSL arrives.
    let windows = finding["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{finding:#}");
    let from = windows[0]["from"].as_str().unwrap().to_string();
    let until = windows[0]["until"].as_str().unwrap().to_string();
    let seconds = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp()
    };
    assert!(
        (seconds(&from) - seconds(&pupil_joined)).abs() <= 1,
        "{from} {pupil_joined}"
    );
    assert_eq!(seconds(&until), seconds(&second_adult_joined));

    let mut dsl = signed_in(
        &app,
        "dana@greenfield.sch.example",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    let finding_page = dsl.get(&format!("/findings/{}", finding["id"])).await;
    assert!(
        finding_page.body.contains(&format!("/calls/{call_id}")),
        "the finding leads to its call"
    );
    let page = dsl.get(&format!("/calls/{call_id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let marks = shaded(&page.body);
    assert_eq!(marks.len(), 1, "one window shaded");
    assert_eq!(seconds(&marks[0].0), seconds(&from));
    assert_eq!(seconds(&marks[0].1), seconds(&until));
    for who in [
        "Ravi Patel",
        "Jamie Smith",
        "(pupil)",
        "<svg",
        "still running",
    ] {
        assert!(page.body.contains(who), "{who} on the page");
    }
    assert!(
        page.body.contains("Pupil without two staff"),
        "the finding is listed"
    );

    // Both pages offer the evidence pack, which the DSL's session downloads.
    for (page, link) in [
        (
            &page.body,
            format!("/api/v1/meetings/{call_id}/evidence-pack"),
        ),
        (
            &finding_page.body,
            format!("/api/v1/findings/{}/evidence-pack", finding["id"]),
        ),
    ] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{link} offered");
        let pack = dsl.get(&link).await;
        assert_eq!(pack.status, 200, "{link}");
        assert!(
            pack.body.starts_with("PK\u{3}\u{4}"),
            "{link} is a ZIP file"
        );
    }

    // Those who do not safeguard the school cannot open it.
    let mut governor = signed_in(
        &app,
        "gov@greenfield.sch.example",
        json!([{"role": "governor", "school_id": 1}]),
    )
    .await;
    assert_eq!(governor.get(&format!("/calls/{call_id}")).await.status, 403);
    assert_eq!(dsl.get("/calls/999999").await.status, 404);
}
