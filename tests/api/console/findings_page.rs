//! The DSL's findings in the console: the alert's link leads, through sign-in, to the
//! finding's page, where the DSL acknowledges and resolves it in their own name; the inbox
//! lists what still needs someone and filters the rest; the count of unacknowledged findings
//! is in every page's header; those without the DSL's role cannot open either.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::{field_value, signed_in, Browser, PASSWORD};
use crate::alerts::{findings, pupil_alone_with_one_adult, scenario, Scenario};
use crate::helpers::TestApp;

/// The page's text as a reader sees it: the escapes of the template engine undone.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The ids of the findings the inbox lists, in its order.
fn listed(html: &str) -> Vec<i64> {
    html.match_indices("<tr id=\"finding-")
        .map(|(at, marker)| {
            html[at + marker.len()..]
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// The number in the header's "Unacknowledged" badge.
fn unacknowledged_in_header(html: &str) -> i64 {
    let marker = "id=\"unacknowledged-count\"";
    let start = html.find(marker).expect("the header's count") + marker.len();
    let text = &html[start..];
    let text = &text[text.find('>').unwrap() + 1..];
    text[..text.find('<').unwrap()].trim().parse().unwrap()
}

/// A school whose pupil was alone with one adult: one open critical finding, alerted.
async fn school_with_a_finding() -> (Scenario, i64) {
    let scenario = scenario(&["two_adults"], 0).await;
    scenario.app.deliver(&pupil_alone_with_one_adult()).await;
    scenario.app.settle_at(Utc::now()).await;
    let found = findings(&scenario.app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let id = found[0]["id"].as_i64().unwrap();
    (scenario, id)
}

async fn add_user(app: &TestApp, email: &str, name: &str, roles: serde_json::Value) {
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": email, "name": name, "password": PASSWORD, "roles": roles}),
        )
        .await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
}

#[tokio::test]
async fn the_alerts_link_leads_through_sign_in_to_the_finding_which_the_dsl_acknowledges_and_resolves(
) {
    let (Scenario { app, smtp, .. }, id) = school_with_a_finding().await;
    let mail = smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    let text = mail[0].text();
    let line = text
        .lines()
        .find(|line| line.starts_with("Open the finding: "))
        .unwrap_or_else(|| panic!("no link to the finding in {text}"));
    let url = line.trim_start_matches("Open the finding: ").trim();
    let path = format!("/findings/{id}");
    assert!(url.ends_with(&path), "{url}");

    // Not signed in: to the sign-in page, which comes back to the finding.
    add_user(
        &app,
        "dana@greenfield.sch.example",
        "Dana Lead",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    let mut browser = Browser::new(&app);
    let first = browser.get(&path).await;
    assert_eq!(first.status, 303);
    let to_sign_in = first.location.clone().unwrap();
    assert!(
        to_sign_in.starts_with("/sign-in?return_to="),
        "{to_sign_in}"
    );
    let form = browser.get(&to_sign_in).await;
    let return_to = unescaped(&field_value(&form.body, "return_to").unwrap());
    assert_eq!(return_to, path);
    let signed_in = browser
        .submit(
            "/sign-in",
            &[
                ("email", "dana@greenfield.sch.example"),
                ("password", PASSWORD),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some(path.as_str()));

    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = unescaped(&page.body);
    assert!(body.contains("Jamie Smith"), "who, by name");
    assert!(body.contains("(pupil)"), "and by role");
    assert!(body.contains("class=\"clause\""), "the policy's clause");
    assert!(body.contains("Two adults"), "the rule");
    assert!(body.contains(">open<"), "its status");
    assert!(body.contains("Alerts sent"));
    assert!(
        body.contains("dsl@greenfield.sch.example") || body.contains(">email<"),
        "the alert delivery is listed: {body}"
    );
    assert_eq!(unacknowledged_in_header(&page.body), 1);
    assert!(
        body.contains("href=\"/findings\" aria-current=\"page\""),
        "the section"
    );

    // Acknowledged in the signed-in DSL's name.
    let acknowledged = browser
        .submit(
            &format!("{path}/acknowledge"),
            &[("note", "Called the member of staff")],
        )
        .await;
    assert_eq!(acknowledged.status, 303, "{}", acknowledged.body);
    let page = browser.get(&path).await;
    assert!(page.body.contains("Finding acknowledged"), "the notice");
    assert_eq!(unacknowledged_in_header(&page.body), 0);
    let detail = app.get_json(&format!("/api/v1/findings/{id}")).await;
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(detail["acknowledged_by"], "Dana Lead");

    // Resolving needs a note; without one nothing changes.
    let refused = browser
        .submit(&format!("{path}/resolve"), &[("note", "  ")])
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("needs a note"), "{}", refused.body);
    let detail = app.get_json(&format!("/api/v1/findings/{id}")).await;
    assert_eq!(detail["status"], "acknowledged");

    let resolved = browser
        .submit(
            &format!("{path}/resolve"),
            &[("note", "Second adult now joins every session")],
        )
        .await;
    assert_eq!(resolved.status, 303, "{}", resolved.body);
    let detail = app.get_json(&format!("/api/v1/findings/{id}")).await;
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["resolved_by"], "Dana Lead");
    let history = detail["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["change"], "resolved");
    assert_eq!(last["actor"], "Dana Lead");
    assert_eq!(last["note"], "Second adult now joins every session");
    let page = unescaped(&browser.get(&path).await.body);
    assert!(page.contains("Second adult now joins every session"));
    assert!(
        !page.contains("action=\"/findings/"),
        "no more forms: {page}"
    );

    // The audit log names the person, as for the API.
    let audit = app.get_json("/api/v1/audit?action=finding.resolved").await;
    assert_eq!(audit[0]["actor"]["label"], "Dana Lead", "{audit:#}");
}

#[tokio::test]
async fn the_inbox_lists_what_needs_someone_filters_the_rest_and_pages() {
    let (Scenario { app, .. }, id) = school_with_a_finding().await;
    let mut dsl = signed_in(
        &app,
        "dsl2@greenfield.sch.example",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;

    let inbox = dsl.get("/findings").await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert_eq!(listed(&inbox.body), vec![id]);
    assert!(inbox.body.contains("/assets/findings.js"));
    for (query, expected) in [
        ("rule=two_adults", vec![id]),
        ("rule=chat_disabled", vec![]),
        ("severity=critical", vec![id]),
        ("severity=low", vec![]),
        ("platform=zoom", vec![id]),
        ("platform=google_meet", vec![]),
        ("status=open", vec![id]),
        ("status=resolved", vec![]),
        ("status=all&school=1", vec![id]),
        ("from=2000-01-01&to=2000-01-02", vec![]),
    ] {
        let page = dsl.get(&format!("/findings?{query}")).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert_eq!(listed(&page.body), expected, "{query}");
    }
    let bad = dsl.get("/findings?severity=urgent&rule=nonsense").await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("Choose a severity from the list."));
    assert!(bad.body.contains("Choose a rule from the list."));
    assert!(listed(&bad.body).is_empty(), "nothing shown unfiltered");

    // A page past the last one lists nothing; a malformed one says so.
    let past = dsl.get(&format!("/findings?before=0-{id}")).await;
    assert!(listed(&past.body).is_empty());
    let malformed = dsl.get("/findings?before=yesterday").await;
    assert!(malformed
        .body
        .contains("That page of findings does not exist."));

    // What the inbox's script asks.
    let latest = dsl.get("/findings/latest").await;
    assert_eq!(latest.status, 200);
    let latest: serde_json::Value = serde_json::from_str(&latest.body).unwrap();
    assert_eq!(latest, json!({"unacknowledged": 1, "newest": id}));

    // Another school's findings are not the DSL's to list.
    let refused = dsl.get("/findings?school=999").await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn only_those_who_safeguard_the_school_open_its_findings_and_forms_need_the_session() {
    let (Scenario { app, .. }, id) = school_with_a_finding().await;
    let path = format!("/findings/{id}");
    for (email, roles) in [
        (
            "gov@greenfield.sch.example",
            json!([{"role": "governor", "school_id": 1}]),
        ),
        (
            "staff@greenfield.sch.example",
            json!([{"role": "staff", "school_id": 1}]),
        ),
        (
            "admin@greenfield.sch.example",
            json!([{"role": "school_admin", "school_id": 1}]),
        ),
    ] {
        let mut browser = signed_in(&app, email, roles).await;
        for page in ["/findings", path.as_str(), "/findings/latest"] {
            let refused = browser.get(page).await;
            assert_eq!(refused.status, 403, "{email} {page}");
        }
        let home = browser.get("/").await;
        assert!(
            !home.body.contains("unacknowledged-count"),
            "{email}: no count"
        );
        assert!(
            !home.body.contains("href=\"/findings\""),
            "{email}: no section"
        );
    }

    // A DSL of another school: refused, and their acknowledgement changes nothing.
    app.import_toml(
        "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n",
    )
    .await;
    let hillside = super::school_id(&app, "hillside").await;
    let mut other = signed_in(
        &app,
        "other@hillside.sch.example",
        json!([{"role": "dsl", "school_id": hillside}]),
    )
    .await;
    assert_eq!(other.get(&path).await.status, 403);
    other.get("/findings").await;
    let refused = other
        .submit(&format!("{path}/acknowledge"), &[("note", "")])
        .await;
    assert_eq!(refused.status, 403);
    assert!(listed(&other.get("/findings").await.body).is_empty());

    // The school's DSL, with a form not from this session: refused, nothing changed.
    let mut dsl = signed_in(
        &app,
        "dsl3@greenfield.sch.example",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    let stale = dsl
        .post_raw(
            &format!("{path}/acknowledge"),
            &[("csrf", "not-the-token"), ("note", "")],
        )
        .await;
    assert_eq!(stale.status, 403);
    assert_eq!(
        app.get_json(&format!("/api/v1/findings/{id}")).await["status"],
        "open"
    );
    assert_eq!(dsl.get("/findings/999999").await.status, 404);
}
