//! A call's page shades, in its timeline, the time the pupil was without two staff: from when
//! they were left with one adult until the second joined, drawn where the pupil's own bar
//! begins.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::alerting::{
    now_to_the_second, AlertingSchool, Meeting, DSL_EMAIL, DSL_PASSWORD, HOST, PUPIL, SECOND_ADULT,
};
use crate::harness::{DESKTOP, PHONE};

/// How far apart, in CSS pixels, two edges drawn for the same moment may be.
const SAME_PLACE_PX: f64 = 0.5;

/// Where the breach and the bars of the pupil and the second adult are on screen: the
/// `getBoundingClientRect()` of each, as `{left, right, top, bottom}`.
const MEASURE_TIMELINE: &str = r#"
var box = function (element) {
  if (!element) { return null; }
  var rect = element.getBoundingClientRect();
  return { left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom };
};
var barOf = function (name) {
  var rows = Array.prototype.slice.call(document.querySelectorAll("svg g.row.person"));
  var row = rows.find(function (row) {
    var label = row.querySelector("text.label");
    return label && label.textContent.indexOf(name) !== -1;
  });
  return box(row && row.querySelector("rect.bar"));
};
return {
  breach: box(document.querySelector("svg rect.breach")),
  pupil: barOf(arguments[0]),
  second: barOf(arguments[1])
};
"#;

fn seconds(iso: &str) -> i64 {
    DateTime::parse_from_rfc3339(iso)
        .unwrap_or_else(|error| panic!("{iso:?} is not an ISO time: {error}"))
        .timestamp()
}

fn edge(measured: &Value, what: &str, side: &str) -> f64 {
    measured[what][side]
        .as_f64()
        .unwrap_or_else(|| panic!("no {what} in the timeline: {measured}"))
}

#[tokio::test]
async fn the_calls_timeline_shades_the_time_the_pupil_was_without_two_staff_where_it_happened() {
    let school = AlertingSchool::start("call").await;
    let browser = &school.scene.browser;
    let now = now_to_the_second();
    let meeting = Meeting {
        started: now - Duration::seconds(300),
    };
    let left_with_one_adult: DateTime<Utc> = now - Duration::seconds(240);
    let second_adult_joined: DateTime<Utc> = now - Duration::seconds(60);
    school
        .deliver(&[
            meeting.start_event(),
            meeting.joined_event(&HOST, meeting.started),
            meeting.joined_event(&PUPIL, left_with_one_adult),
            meeting.joined_event(&SECOND_ADULT, second_adult_joined),
        ])
        .await;
    // Once the DSL is alerted the finding is there; the call is still running.
    school.finding_link_in_alert().await;

    // From the inbox to the finding, and from there to its call.
    browser.visit("/findings").await;
    browser.sign_in_with_password(DSL_EMAIL, DSL_PASSWORD).await;
    browser.wait_for_path("/findings").await;
    browser.click("table a[href^='/findings/']").await;
    browser.wait_for("#finding-status").await;
    let finding = browser.location().await;
    browser
        .click_named("The call: who was there when, with its timeline")
        .await;
    let breach = browser.wait_for("svg rect.breach").await;
    let call = browser.location().await;
    assert!(call.starts_with("/calls/"), "the call's page: {call}");
    browser.wait_for_text("still running").await;

    let session = browser.session();
    let attribute = |name: &'static str| {
        let breach = breach.clone();
        async move {
            session
                .attribute(&breach, name)
                .await
                .unwrap_or_else(|| panic!("the breach has no {name}"))
        }
    };
    assert_eq!(
        seconds(&attribute("data-from").await),
        left_with_one_adult.timestamp(),
        "the shading starts as the pupil is left with one adult"
    );
    assert_eq!(
        seconds(&attribute("data-until").await),
        second_adult_joined.timestamp(),
        "the shading ends as the second adult joins"
    );
    assert_eq!(
        format!("/findings/{}", attribute("data-finding").await),
        finding,
        "the shading is the finding's"
    );
    assert_eq!(
        session.find_all("svg rect.breach").await.len(),
        1,
        "one window shaded"
    );

    // On screen, at both widths, the shading begins where the pupil's bar begins, ends where
    // the second adult's begins, and covers the pupil's row.
    for viewport in [PHONE, DESKTOP] {
        viewport.apply(session).await;
        let measured = session
            .execute(MEASURE_TIMELINE, json!(["Jamie Smith", "Dana Lee"]))
            .await;
        let at = |what: &str, side: &str| edge(&measured, what, side);
        assert!(
            (at("breach", "left") - at("pupil", "left")).abs() <= SAME_PLACE_PX,
            "at {} width the shading starts where the pupil's bar starts: {measured}",
            viewport.name
        );
        assert!(
            (at("breach", "right") - at("second", "left")).abs() <= SAME_PLACE_PX,
            "at {} width the shading ends where the second adult's bar starts: {measured}",
            viewport.name
        );
        assert!(
            at("breach", "top") <= at("pupil", "top")
                && at("breach", "bottom") >= at("pupil", "bottom"),
            "at {} width the shading covers the pupil's row: {measured}",
            viewport.name
        );
    }
    browser.capture("call").await;

    school.scene.finish().await;
}
