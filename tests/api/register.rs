//! The attendance register built from webhooks, read through the API.

use crate::helpers::{spawn_app, ADMIN_TOKEN, HOST_ZOOM_ID};
use crate::zoom_events::{self, chat_message, joined, left, started, whole_call, HOST, PUPIL};

fn participant<'a>(
    meeting: &'a serde_json::Value,
    display_name: &str,
    role: &str,
) -> &'a serde_json::Value {
    meeting["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == display_name && p["role"] == role)
        .unwrap_or_else(|| panic!("no {role} called {display_name} in {meeting:#}"))
}

#[tokio::test]
async fn a_whole_call_gives_a_register_with_roles_identities_and_intervals() {
    let app = spawn_app().await;
    app.deliver(&whole_call()).await;
    app.drain().await;
    let meeting = app.only_meeting().await;

    assert_eq!(meeting["platform"], "zoom");
    assert_eq!(meeting["meeting_id"], zoom_events::MEETING_NUMBER);
    assert_eq!(meeting["topic"], zoom_events::TOPIC);
    assert_eq!(meeting["host"]["name"], "Ravi Patel");
    assert_eq!(meeting["scheduled_start"], "2025-03-11T14:30:00Z");
    assert_eq!(meeting["scheduled_end"], "2025-03-11T15:00:00Z");
    assert_eq!(meeting["started_at"], "2025-03-11T14:31:07Z");
    assert_eq!(meeting["start_source"], "start_event");
    assert_eq!(meeting["ended_at"], "2025-03-11T15:02:44Z");

    let host = participant(&meeting, "Ravi Patel", "staff");
    assert_eq!(host["is_host"], true);
    assert_eq!(host["person"]["reference"], "STAFF-0002");

    // Resolved by email, whatever its case; two stays because of the rejoin.
    let pupil = participant(&meeting, "J S", "pupil");
    assert_eq!(pupil["person"]["reference"], "PUPIL-1001");
    let stays = pupil["attendance"].as_array().unwrap();
    assert_eq!(stays.len(), 2, "{pupil:#}");
    assert_eq!(stays[0]["joined_at"], "2025-03-11T14:32:10Z");
    assert_eq!(stays[0]["left_at"], "2025-03-11T14:45:00Z");
    assert_eq!(stays[1]["joined_at"], "2025-03-11T14:46:30Z");
    assert_eq!(pupil["arrived_after_start_secs"], 63);

    // Resolved by Zoom user id; the late arrival shows.
    let dsl = participant(&meeting, "Dana Lee", "dsl");
    assert_eq!(dsl["person"]["reference"], "STAFF-0001");
    assert_eq!(dsl["arrived_after_start_secs"], 533);

    // The guest using the DSL's display name is not the DSL.
    let impostor = participant(&meeting, "Dana Lee", "unknown");
    assert!(impostor["person"].is_null());
    assert_eq!(impostor["left_before_end_secs"], 704);

    assert_eq!(
        meeting["participants"].as_array().unwrap().len(),
        4,
        "the waiting room is not the call"
    );
    assert_eq!(meeting["unknown_participant_count"], 1);
    assert_eq!(meeting["activity"]["chat_messages"], 1);
    assert_eq!(meeting["activity"]["first_chat_at"], "2025-03-11T14:38:20Z");
}

#[tokio::test]
async fn any_delivery_order_with_duplicates_gives_the_same_register() {
    let in_order = spawn_app().await;
    in_order.deliver(&whole_call()).await;
    in_order.drain().await;
    let expected = in_order.only_meeting().await;

    let reversed = spawn_app().await;
    let mut events = whole_call();
    events.reverse();
    reversed.deliver(&events).await;
    reversed.drain().await;
    assert_eq!(reversed.only_meeting().await, expected);

    // Interleaved, with every event delivered twice, and processed in between deliveries.
    let shuffled = spawn_app().await;
    let events = whole_call();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|i| (i * 7) % events.len());
    for (step, i) in order.iter().enumerate() {
        shuffled
            .deliver(&[events[*i].clone(), events[(*i + 3) % events.len()].clone()])
            .await;
        if step % 4 == 0 {
            shuffled.drain().await;
        }
    }
    shuffled.drain().await;
    assert_eq!(shuffled.only_meeting().await, expected);
}

#[tokio::test]
async fn a_lost_leave_is_shown_as_ending_with_the_call() {
    let app = spawn_app().await;
    app.deliver(&[
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        joined(&PUPIL, "2025-03-11T14:32:10Z"),
        zoom_events::ended("2025-03-11T15:02:44Z"),
        left(&HOST, "2025-03-11T15:02:44Z"),
    ])
    .await;
    app.drain().await;
    let meeting = app.only_meeting().await;
    let pupil = participant(&meeting, "J S", "pupil");
    assert_eq!(pupil["attendance"][0]["left_at"], "2025-03-11T15:02:44Z");
    assert_eq!(pupil["attendance"][0]["left_at_inferred"], true);
    let host = participant(&meeting, "Ravi Patel", "staff");
    assert_eq!(host["attendance"][0]["left_at_inferred"], false);
}

#[tokio::test]
async fn a_lost_start_event_is_filled_from_the_participant_events() {
    let app = spawn_app().await;
    app.deliver(&[joined(&HOST, "2025-03-11T14:31:20Z")]).await;
    app.drain().await;
    let meeting = app.only_meeting().await;
    assert_eq!(meeting["started_at"], "2025-03-11T14:31:07Z");
    assert_eq!(meeting["start_source"], "participant_events");
}

#[tokio::test]
async fn chat_is_counted_and_its_text_is_stored_nowhere() {
    let app = spawn_app().await;
    let secret_text = "meet me after school at the park";
    app.deliver(&[
        started(),
        chat_message("m1", "2025-03-11T14:35:00Z", secret_text),
        chat_message("m2", "2025-03-11T14:36:00Z", secret_text),
    ])
    .await;
    app.drain().await;
    let meeting = app.only_meeting().await;
    assert_eq!(meeting["activity"]["chat_messages"], 2);
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM inbox")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(bodies.len(), 3);
    assert!(bodies
        .iter()
        .all(|body| !body.contains("meet me after school")));
    assert!(!meeting.to_string().contains("meet me after school"));
}

#[tokio::test]
async fn a_chat_message_is_kept_only_as_sent_and_when_and_two_at_one_instant_both_count() {
    let app = spawn_app().await;
    app.deliver(&[
        started(),
        chat_message("MSG-7f3a9c-first", "2025-03-11T14:35:00Z", "hello"),
        chat_message("MSG-b81e04-second", "2025-03-11T14:35:00Z", "hello again"),
    ])
    .await;
    app.drain().await;
    let meeting = app.only_meeting().await;
    assert_eq!(meeting["activity"]["chat_messages"], 2);
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM inbox")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    let signals: Vec<String> = sqlx::query_scalar("SELECT source_ref FROM instance_signals")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    for stored in bodies.iter().chain(&signals) {
        assert!(!stored.contains("MSG-"), "a message id was kept: {stored}");
    }
    assert!(!meeting.to_string().contains("MSG-"));
}

#[tokio::test]
async fn a_schedule_change_delivered_before_the_creation_still_wins() {
    let app = spawn_app().await;
    app.deliver(&[
        zoom_events::updated(1741700100788, "2025-03-11T18:45:00Z"),
        zoom_events::created("2025-03-11T14:30:00Z", ""),
        started(),
    ])
    .await;
    app.drain().await;
    let meeting = app.only_meeting().await;
    assert_eq!(meeting["scheduled_start"], "2025-03-11T18:45:00Z");
}

#[tokio::test]
async fn every_api_route_needs_the_bearer_token() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/schools",
        "/api/v1/meetings",
        "/api/v1/meetings/1",
        "/api/v1/register",
        "/api/v1/register.csv",
    ] {
        let url = format!("{}{path}", app.address);
        let anonymous = app.client.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path} without a token");
        let wrong = app
            .client
            .get(&url)
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let right = app
            .client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_ne!(right.status(), 401, "{path} with the token");
    }
}

#[tokio::test]
async fn meetings_are_filtered_by_school_and_time() {
    let app = spawn_app().await;
    app.deliver(&whole_call()).await;
    app.drain().await;
    let schools = app.get_json("/api/v1/schools").await;
    let school_id = schools[0]["id"].as_i64().unwrap();

    let same_day = app
        .get_json(&format!(
            "/api/v1/meetings?school_id={school_id}&from=2025-03-11&to=2025-03-11"
        ))
        .await;
    assert_eq!(same_day.as_array().unwrap().len(), 1);
    let next_day = app
        .get_json(&format!(
            "/api/v1/meetings?school_id={school_id}&from=2025-03-12"
        ))
        .await;
    assert_eq!(next_day.as_array().unwrap().len(), 0);
    let before = app
        .get_json("/api/v1/meetings?to=2025-03-11T14:00:00Z")
        .await;
    assert_eq!(before.as_array().unwrap().len(), 0);

    let unknown_school = app.get_api("/api/v1/meetings?school_id=999").await;
    assert_eq!(unknown_school.status(), 404);
    let bad_date = app.get_api("/api/v1/meetings?from=yesterday").await;
    assert_eq!(bad_date.status(), 400);
    let body: serde_json::Value = bad_date.json().await.unwrap();
    assert_eq!(body["code"], "invalid_time");
}

#[tokio::test]
async fn the_register_exports_as_csv_in_the_schools_local_time() {
    let app = spawn_app().await;
    // A call in British Summer Time.
    let events: Vec<String> = whole_call()
        .into_iter()
        .map(|body| body.replace("2025-03-11", "2025-06-10"))
        .collect();
    app.deliver(&events).await;
    app.drain().await;
    let response = app
        .get_api("/api/v1/register.csv?school_id=1&from=2025-06-10&to=2025-06-10")
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Host 1, pupil 2 stays, DSL 1, guest 1.
    assert_eq!(rows.len(), 5, "{text}");
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let pupil_rows: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| &r[column("person_ref")] == "PUPIL-1001")
        .collect();
    assert_eq!(pupil_rows.len(), 2);
    assert_eq!(
        &pupil_rows[0][column("joined_at")],
        "2025-06-10T15:32:10+01:00"
    );
    assert_eq!(&pupil_rows[0][column("participant_role")], "pupil");
    assert_eq!(&pupil_rows[0][column("identity_basis")], "verified");
    let guest_rows: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| &r[column("participant_role")] == "unknown")
        .collect();
    assert_eq!(guest_rows.len(), 1, "{text}");
    assert_eq!(&guest_rows[0][column("identity_basis")], "none");
    let empty = app
        .get_api("/api/v1/register.csv?school_id=1&from=2025-06-11")
        .await;
    let text = empty.text().await.unwrap();
    assert_eq!(text.lines().count(), 1, "only the header: {text}");
}

#[tokio::test]
async fn a_missing_meeting_is_404() {
    let app = spawn_app().await;
    let response = app.get_api("/api/v1/meetings/4242").await;
    assert_eq!(response.status(), 404);
}

/// `calls` calls of the example school on 2025-03-11 onwards, a minute apart, each with its
/// host and a guest, written as the processor leaves them (faster than their webhooks).
async fn seed_calls(app: &crate::helpers::TestApp, calls: i64) {
    let start = chrono::DateTime::parse_from_rfc3339("2025-03-11T08:00:00Z")
        .unwrap()
        .timestamp_millis();
    let mut instances = Vec::new();
    let mut sessions = Vec::new();
    for n in 0..calls {
        let (id, at) = (n + 1, start + n * 60_000);
        instances.push(format!(
            "({id}, 1, 'zoom', 'seeded{n}==', '{}', '{HOST_ZOOM_ID}', 'Seeded {n}', {at}, {at}, {}, {at})",
            83_000_000_000 + n,
            at + 1_800_000
        ));
        sessions.push(format!(
            "({id}, 'host-{n}', '{HOST_ZOOM_ID}', 'Ravi Patel', {at}, {}, 'webhook')",
            at + 1_800_000
        ));
        sessions.push(format!(
            "({id}, 'guest-{n}', NULL, 'Guest {n}', {}, {}, 'webhook')",
            at + 60_000,
            at + 1_200_000
        ));
    }
    let mut tx = app.db.pool.begin().await.unwrap();
    for chunk in instances.chunks(1000) {
        sqlx::query(&format!(
            "INSERT INTO meeting_instances (id, school_id, platform, instance_key, platform_meeting_id, \
             host_user_id, topic, started_at, start_hint, ended_at, first_seen_at) VALUES {}",
            chunk.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for chunk in sessions.chunks(1000) {
        sqlx::query(&format!(
            "INSERT INTO participant_sessions (instance_id, session_key, platform_user_id, display_name, \
             joined_at, left_at, source) VALUES {}",
            chunk.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_csv_export_hands_over_a_range_longer_than_a_page_of_json() {
    let app = spawn_app().await;
    seed_calls(&app, 6_000).await;

    let response = app
        .get_api("/api/v1/register.csv?school_id=1&from=2025-03-01&to=2025-03-31")
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 12_000, "a host and a guest for every call");
    let ids: Vec<i64> = rows.iter().map(|row| row[0].parse().unwrap()).collect();
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        (1..=6_000).collect::<Vec<i64>>(),
        "every call, in order"
    );
    let hosts = rows.iter().filter(|row| &row[4] == "Ravi Patel").count();
    assert_eq!(hosts, 12_000, "each call's host named on each of its rows");

    // A limit, when asked for, still caps it; JSON keeps its pages.
    let limited = app
        .get_api("/api/v1/register.csv?school_id=1&from=2025-03-01&limit=10")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(limited.lines().count(), 1 + 20, "{limited}");
    let page = app
        .get_json("/api/v1/register?school_id=1&from=2025-03-01")
        .await;
    assert_eq!(page.as_array().unwrap().len(), 500);
    let too_many = app.get_api("/api/v1/register.csv?limit=6000").await;
    assert_eq!(too_many.status(), 400);
}
