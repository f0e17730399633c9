//! The calendar feed: made on the console's "My calendar" page, read by a calendar app
//! without a session, parsed by an independent iCalendar parser (Python's `icalendar`, with
//! the times turned into London time by Python's own zoneinfo) so that sessions on both sides
//! of each clock change come out at the time they were planned; replaced and revoked
//! addresses answer 404.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Europe::London;
use serde_json::json;
use sqlx::Row;

use super::{school_id, signed_in, Browser};
use crate::helpers::{spawn_app, TestApp};
use crate::zoom_events::{created, MEETING_NUMBER, TOPIC};

/// The parser's version, as `.ci/run` installs it.
const ICALENDAR_VERSION: &str = "7.3.2";

/// Reads an iCalendar document on stdin and prints, per event: its summary, its start in
/// London time as zoneinfo reads it, its start in UTC, its start in UTC as the document's own
/// VTIMEZONE reads the local time, and its status.
const PARSE_WITH_ICALENDAR: &str = r#"
import sys
from datetime import timezone
from zoneinfo import ZoneInfo
try:
    import icalendar
except ImportError:
    sys.exit("MISSING: Python's icalendar package is not installed")
calendar = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
london = ZoneInfo("Europe/London")
own = {str(vtz["TZID"]): vtz.to_tz(lookup_tzid=False) for vtz in calendar.walk("VTIMEZONE")}
for event in calendar.walk("VEVENT"):
    start = event.decoded("DTSTART")
    tzid = event["DTSTART"].params.get("TZID")
    by_own = start.replace(tzinfo=own[tzid]) if tzid else start
    print("\t".join([
        str(event["SUMMARY"]),
        start.astimezone(london).strftime("%Y-%m-%d %H:%M"),
        start.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        by_own.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        str(event.get("STATUS", "")),
    ]))
"#;

/// One event as the independent parser read it.
#[derive(Debug)]
struct ParsedEvent {
    summary: String,
    london_start: String,
    utc_start: String,
    utc_start_by_own_timezone: String,
    status: String,
}

fn parse_with_icalendar(document: &str) -> Vec<ParsedEvent> {
    let missing = format!(
        "the calendar feed test needs Python 3 with the icalendar package: \
         python3 -m pip install icalendar=={ICALENDAR_VERSION}"
    );
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PARSE_WITH_ICALENDAR)
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{missing} ({error})"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("MISSING"), "{missing}");
    assert!(
        output.status.success(),
        "icalendar could not read the feed: {stderr}\n{document}"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            ParsedEvent {
                summary: fields[0].to_string(),
                london_start: fields[1].to_string(),
                utc_start: fields[2].to_string(),
                utc_start_by_own_timezone: fields[3].to_string(),
                status: fields[4].to_string(),
            }
        })
        .collect()
}

/// The last Sunday of `month` in the first year where it is still to come (or was in the
/// last few days): the day the clocks change.
fn next_clock_change(month: u32, now: DateTime<Utc>) -> NaiveDate {
    let last_sunday = |year: i32| {
        let mut day = NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap() - Duration::days(1);
        while day.weekday() != Weekday::Sun {
            day -= Duration::days(1);
        }
        day
    };
    let this_year = last_sunday(now.year());
    if this_year >= now.date_naive() {
        this_year
    } else {
        last_sunday(now.year() + 1)
    }
}

/// 10:00 in London on `day`, as an instant.
fn ten_in_london(day: NaiveDate) -> DateTime<Utc> {
    London
        .from_local_datetime(&day.and_hms_opt(10, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Registers a planned session through the API and answers its id.
async fn plan(
    app: &TestApp,
    school: i64,
    host: &str,
    pupil: &str,
    starts_at: DateTime<Utc>,
) -> i64 {
    let registered = app
        .post_json(
            "/api/v1/planned-sessions",
            json!({
                "school_id": school, "host_ref": host, "pupil_refs": [pupil],
                "starts_at": starts_at, "ends_at": starts_at + Duration::minutes(30),
                "purpose": "Mentoring; reading, writing", "approved_by_ref": "STAFF-0004",
                "risk_assessment_ref": "RA-2026-14",
            }),
        )
        .await;
    let status = registered.status();
    let body: serde_json::Value = registered.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

/// Makes (or replaces) the browser's feed on the page and reads its address off it.
async fn make_feed(browser: &mut Browser<'_>) -> String {
    let page = browser.get("/calendar").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let made = browser.submit("/calendar/feed", &[]).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let body = made.body.replace("&#x2f;", "/");
    let start = body.find("/feeds/chc_").expect("the new feed's address");
    let end = start + body[start..].find(".ics").expect("an .ics address") + ".ics".len();
    let public_url = browser.app.state.settings.server.public_url.clone();
    assert!(
        body[..start].ends_with(public_url.trim_end_matches('/')),
        "the full address, with server.public_url"
    );
    body[start..end].to_string()
}

/// What a calendar app gets at `path`: no cookies, no session.
async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
}

async fn fetch_feed(app: &TestApp, path: &str) -> String {
    let response = fetch(app, path).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/calendar; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("set-cookie").is_none());
    response.text().await.unwrap()
}

fn event(events: &[ParsedEvent], utc_start: DateTime<Utc>) -> &ParsedEvent {
    let wanted = utc_start.format("%Y-%m-%d %H:%M").to_string();
    events
        .iter()
        .find(|event| event.utc_start == wanted)
        .unwrap_or_else(|| panic!("no event starting {wanted} UTC in {events:#?}"))
}

#[tokio::test]
async fn a_feed_shows_planned_sessions_at_their_local_times_across_the_clock_changes_and_a_revoked_address_answers_404(
) {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let now = Utc::now();
    let spring = next_clock_change(3, now);
    let autumn = next_clock_change(10, now);
    // Friday before and Monday after each change: 10:00 in London, an hour apart in UTC
    // across the change.
    let sessions = [
        ten_in_london(spring - Duration::days(2)),
        ten_in_london(spring + Duration::days(1)),
        ten_in_london(autumn - Duration::days(2)),
        ten_in_london(autumn + Duration::days(1)),
    ];
    for (index, starts_at) in sessions.iter().enumerate() {
        let pupil = if index % 2 == 0 {
            "PUPIL-1001"
        } else {
            "PUPIL-1002"
        };
        plan(&app, school, "STAFF-0002", pupil, *starts_at).await;
    }
    // One the DSL hosts, cancelled; one too far ahead for the feed.
    let dsl_hosted = plan(
        &app,
        school,
        "STAFF-0001",
        "PUPIL-1001",
        now + Duration::days(3),
    )
    .await;
    let cancelled = app
        .post_json(
            &format!("/api/v1/planned-sessions/{dsl_hosted}/cancel"),
            json!({}),
        )
        .await;
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    plan(
        &app,
        school,
        "STAFF-0002",
        "PUPIL-1001",
        now + Duration::days(500),
    )
    .await;
    // A Zoom meeting Ravi Patel scheduled, on no planned session.
    let meeting_starts = (now + Duration::days(2)).format("%Y-%m-%dT%H:%M:00Z");
    app.deliver(&[created(&meeting_starts.to_string(), "")])
        .await;
    app.drain().await;

    // The DSL (linked to the directory's Dana Lee by address) makes a feed.
    let mut dsl = signed_in(
        &app,
        "dsl@greenfield.sch.example",
        json!([{"role": "dsl", "school_id": school}]),
    )
    .await;
    let page = dsl.get("/calendar").await;
    assert!(
        page.body.contains("You have no calendar feed."),
        "{}",
        page.body
    );
    let address = make_feed(&mut dsl).await;

    let document = fetch_feed(&app, &address).await;
    assert!(document.starts_with("BEGIN:VCALENDAR\r\n"));
    assert!(document.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/London\r\n"));
    assert!(
        !document.contains("Jamie Smith") && !document.contains("Alex Jones"),
        "pupils are named by initials only: {document}"
    );
    let events = parse_with_icalendar(&document);
    assert_eq!(events.len(), 6, "{events:#?}");
    assert!(
        events
            .iter()
            .any(|event| event.summary == format!("{TOPIC} (host Ravi Patel)")),
        "{events:#?}"
    );
    for (starts_at, offset_hours) in sessions.iter().zip([0, 1, 1, 0]) {
        let parsed = event(&events, *starts_at);
        assert_eq!(
            parsed.london_start,
            format!("{} 10:00", starts_at.with_timezone(&London).date_naive()),
            "{parsed:?}"
        );
        assert_eq!(
            starts_at.format("%H:%M").to_string(),
            format!("{:02}:00", 10 - offset_hours),
            "GMT, then BST, then BST, then GMT"
        );
        assert_eq!(
            parsed.utc_start_by_own_timezone, parsed.utc_start,
            "{parsed:?}"
        );
        assert!(parsed.summary.starts_with("1:1 with "), "{parsed:?}");
        assert!(parsed.summary.ends_with("(host Ravi Patel)"), "{parsed:?}");
        assert_eq!(parsed.status, "CONFIRMED");
    }
    assert_eq!(
        event(&events, sessions[0]).summary,
        "1:1 with J.S. (host Ravi Patel)"
    );
    assert_eq!(
        event(&events, sessions[1]).summary,
        "1:1 with A.J. (host Ravi Patel)"
    );
    let own = events
        .iter()
        .find(|event| event.status == "CANCELLED")
        .expect("the cancelled session, marked so");
    assert_eq!(own.summary, "Cancelled: 1:1 with J.S.");

    // The address is shown once: the page says only that there is a feed.
    let page = dsl.get("/calendar").await;
    assert!(!page.body.replace("&#x2f;", "/").contains("/feeds/chc_"));
    assert!(
        page.body.contains("You have a calendar feed"),
        "{}",
        page.body
    );

    // A member of staff's feed holds their own sessions only.
    let mut staff = signed_in(
        &app,
        "r.patel@greenfield.sch.example",
        json!([{"role": "staff", "school_id": school}]),
    )
    .await;
    let staff_address = make_feed(&mut staff).await;
    let staff_events = parse_with_icalendar(&fetch_feed(&app, &staff_address).await);
    assert_eq!(staff_events.len(), 5, "{staff_events:#?}");
    assert_eq!(event(&staff_events, sessions[2]).summary, "1:1 with J.S.");
    assert!(staff_events.iter().any(|event| event.summary == TOPIC));

    // A new address replaces the old, which answers 404 from then on.
    let replacement = make_feed(&mut dsl).await;
    assert_ne!(replacement, address);
    assert_eq!(fetch(&app, &address).await.status(), 404);
    fetch_feed(&app, &replacement).await;

    // Revoked: 404, as for an address that never was.
    dsl.get("/calendar").await;
    let revoked = dsl.submit("/calendar/feed/revoke", &[]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(fetch(&app, &replacement).await.status(), 404);
    assert_eq!(
        fetch(&app, "/feeds/chc_no-such-feed.ics").await.status(),
        404
    );
    assert_eq!(fetch(&app, "/feeds/anything").await.status(), 404);
    let page = dsl.get("/calendar").await;
    assert!(
        page.body.contains("You have no calendar feed."),
        "{}",
        page.body
    );
    // The staff member's feed is theirs: untouched.
    fetch_feed(&app, &staff_address).await;

    // Each change is in the audit log, never a secret.
    let entries = sqlx::query(
        "SELECT action, COALESCE(before_state, '') || COALESCE(after_state, '') AS states \
         FROM audit_log WHERE subject_kind = 'calendar_feed' ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let actions: Vec<String> = entries.iter().map(|row| row.get("action")).collect();
    assert_eq!(
        actions,
        [
            "calendar_feed.created",
            "calendar_feed.created",
            "calendar_feed.replaced",
            "calendar_feed.revoked"
        ]
    );
    assert!(entries
        .iter()
        .all(|row| !row.get::<String, _>("states").contains("chc_")));
}

#[tokio::test]
async fn a_planned_session_and_its_scheduled_meeting_are_one_event_with_the_join_link() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let starts_at = Utc::now() + Duration::days(1);
    app.deliver(&[created(
        &starts_at.format("%Y-%m-%dT%H:%M:00Z").to_string(),
        "",
    )])
    .await;
    app.drain().await;
    // The link to join, as the platform's API reports it (a webhook does not carry it).
    sqlx::query("UPDATE scheduled_meetings SET join_url = $1 WHERE platform_meeting_id = $2")
        .bind("https://greenfield.zoom.us/j/84712345678?pwd=abc")
        .bind(MEETING_NUMBER)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let registered = app
        .post_json(
            "/api/v1/planned-sessions",
            json!({
                "school_id": school, "host_ref": "STAFF-0002", "pupil_refs": ["PUPIL-1001"],
                "starts_at": starts_at, "ends_at": starts_at + Duration::minutes(30),
                "purpose": "Mentoring", "platform_meeting_id": MEETING_NUMBER,
            }),
        )
        .await;
    assert_eq!(registered.status(), 201);

    let mut deputy = signed_in(
        &app,
        "m.shaw@greenfield.sch.example",
        json!([{"role": "deputy_dsl", "school_id": school}]),
    )
    .await;
    let address = make_feed(&mut deputy).await;
    let document = fetch_feed(&app, &address).await;
    let events = parse_with_icalendar(&document);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].summary, "1:1 with J.S. (host Ravi Patel)");
    assert_eq!(events[0].status, "TENTATIVE", "not approved yet");
    assert!(
        document.contains("LOCATION:https://greenfield.zoom.us/j/84712345678?pwd=abc\r\n"),
        "{document}"
    );
}

#[tokio::test]
async fn a_governor_cannot_open_the_calendar_page_or_make_a_feed() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let mut governor = signed_in(
        &app,
        "gov@greenfield.sch.example",
        json!([{"role": "governor", "school_id": school}]),
    )
    .await;
    assert_eq!(governor.get("/calendar").await.status, 403);
    governor.get("/").await;
    assert_eq!(governor.submit("/calendar/feed", &[]).await.status, 403);
    let feeds: i64 = sqlx::query("SELECT COUNT(*) AS n FROM calendar_feeds")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(feeds, 0);
}
