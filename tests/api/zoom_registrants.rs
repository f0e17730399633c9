//! Participants who joined through a meeting's registration: their registrant id is resolved
//! through Zoom's registrant list to the address they registered with.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::fake_zoom::FakeZoom;
use crate::helpers::TestApp;
use crate::zoom_api::connected;
use crate::zoom_events::{joined, started, Joiner, HOST, MEETING_NUMBER};

/// A pupil joining from the link in their registration email: not signed in, no email in the
/// webhook, only a display name and the registrant id.
const REGISTERED_GUEST: Joiner = Joiner {
    session_id: "16783360",
    name: "Dara Finch",
    zoom_user_id: "",
    email: "",
};

const SECOND_GUEST: Joiner = Joiner {
    session_id: "16784384",
    name: "Ali Khan",
    zoom_user_id: "",
    email: "",
};

/// `participant_joined` for `joiner`, carrying `registrant_id` as Zoom sends it.
fn joined_registered(joiner: &Joiner, registrant_id: &str, at: &str) -> String {
    let mut body: Value = serde_json::from_str(&joined(joiner, at)).unwrap();
    body["payload"]["object"]["participant"]["registrant_id"] = json!(registrant_id);
    body.to_string()
}

/// A registrant as `GET /meetings/{meetingId}/registrants` lists them.
fn registrant(id: &str, email: &str, status: &str) -> Value {
    json!({
        "id": id,
        "email": email,
        "first_name": "Registered",
        "last_name": "Person",
        "status": status,
        "create_time": "2025-03-10T09:00:00Z",
        "join_url": format!("https://greenfield.zoom.us/w/{MEETING_NUMBER}?tk={id}")
    })
}

fn zoom_lists_registrants(zoom: &FakeZoom, registrants: Vec<Value>) {
    zoom.with(|state| {
        state
            .registrants
            .insert(MEETING_NUMBER.to_string(), registrants)
    });
}

async fn stored_email(app: &TestApp, registrant_id: &str) -> Option<String> {
    let mut connection = app.db.pool.acquire().await.unwrap();
    chaperone::enrichment::store::registrant_email(
        &mut connection,
        "zoom",
        MEETING_NUMBER,
        registrant_id,
    )
    .await
    .unwrap()
}

async fn stored_registrants(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM meeting_registrants")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// The registrant-list requests Zoom received, one per page.
fn registrant_pages_read(zoom: &FakeZoom) -> Vec<String> {
    zoom.with(|state| {
        state
            .requests
            .iter()
            .filter(|request| request.contains("/registrants"))
            .cloned()
            .collect()
    })
}

async fn queued_for_evaluation(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM evaluation_queue WHERE scope = 'instance'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_guest_who_joined_through_registration_has_the_registered_address_stored_from_one_read_of_every_page(
) {
    let zoom = FakeZoom::start().await;
    zoom_lists_registrants(
        &zoom,
        vec![
            registrant("reg-dara", " Dara.Finch@Home.Example ", "approved"),
            registrant("reg-ali", "ali.khan@home.example", "approved"),
            registrant("reg-sam", "sam.smith@home.example", "approved"),
            registrant("reg-waiting", "waiting@home.example", "pending"),
            registrant("reg-refused", "refused@home.example", "denied"),
        ],
    );
    let app = connected(&zoom, &[]).await;
    // The call's own reads (meeting and host settings) are done first.
    app.deliver(&[started(), joined(&HOST, "2025-03-11T14:31:07Z")])
        .await;
    app.settle_at(Utc::now()).await;
    assert!(
        registrant_pages_read(&zoom).is_empty(),
        "nobody registered yet"
    );

    app.deliver(&[
        joined_registered(&REGISTERED_GUEST, "reg-dara", "2025-03-11T14:32:10Z"),
        joined_registered(&SECOND_GUEST, "reg-ali", "2025-03-11T14:32:40Z"),
    ])
    .await;
    app.drain().await;
    app.evaluator.drain(Utc::now()).await.unwrap();
    assert_eq!(stored_email(&app, "reg-dara").await, None, "not read yet");
    assert_eq!(queued_for_evaluation(&app).await, 0);

    app.enricher.drain(Utc::now()).await.unwrap();
    assert_eq!(
        stored_email(&app, "reg-dara").await.as_deref(),
        Some("dara.finch@home.example"),
        "lower-cased and trimmed"
    );
    assert_eq!(
        stored_email(&app, "reg-ali").await.as_deref(),
        Some("ali.khan@home.example")
    );
    assert_eq!(
        stored_registrants(&app).await,
        3,
        "approved registrants only: pending and denied ones cannot join"
    );
    assert_eq!(
        queued_for_evaluation(&app).await,
        1,
        "the call is checked again with what is now known"
    );
    let pages = registrant_pages_read(&zoom);
    assert_eq!(
        pages.len(),
        2,
        "one read for the meeting, two pages of two: {pages:#?}"
    );
    assert!(
        pages[0].starts_with(&format!(
            "/v2/meetings/{MEETING_NUMBER}/registrants?status=approved&page_size=300"
        )),
        "{pages:#?}"
    );
    assert!(pages[1].contains("next_page_token=2"), "{pages:#?}");
    let read_at: i64 = sqlx::query_scalar(
        "SELECT read_at FROM meeting_registrants WHERE registrant_id = 'reg-dara'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!((Utc::now().timestamp_millis() - read_at).abs() < 60_000);
}

#[tokio::test]
async fn a_registration_not_stored_yet_is_read_again_at_most_every_two_minutes() {
    let zoom = FakeZoom::start().await;
    zoom_lists_registrants(
        &zoom,
        vec![registrant(
            "reg-dara",
            "dara.finch@home.example",
            "approved",
        )],
    );
    let app = connected(&zoom, &[]).await;
    app.deliver(&[
        started(),
        joined(&HOST, "2025-03-11T14:31:07Z"),
        joined_registered(&REGISTERED_GUEST, "reg-dara", "2025-03-11T14:32:10Z"),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    assert_eq!(registrant_pages_read(&zoom).len(), 1);

    // A pupil registers after the read and joins; so does someone Zoom never lists, twice.
    zoom_lists_registrants(
        &zoom,
        vec![
            registrant("reg-dara", "dara.finch@home.example", "approved"),
            registrant("reg-late", "late.joiner@home.example", "approved"),
        ],
    );
    app.deliver(&[
        joined_registered(&SECOND_GUEST, "reg-late", "2025-03-11T14:35:00Z"),
        joined_registered(
            &Joiner {
                session_id: "16785408",
                ..SECOND_GUEST
            },
            "reg-unlisted",
            "2025-03-11T14:35:30Z",
        ),
        joined_registered(
            &Joiner {
                session_id: "16786432",
                ..SECOND_GUEST
            },
            "reg-unlisted",
            "2025-03-11T14:36:00Z",
        ),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    assert_eq!(
        registrant_pages_read(&zoom).len(),
        1,
        "not again within two minutes of the last read"
    );
    assert_eq!(stored_email(&app, "reg-late").await, None);

    app.settle_at(Utc::now() + Duration::minutes(3)).await;
    assert_eq!(
        registrant_pages_read(&zoom).len(),
        2,
        "three joins with unstored registrations, one more read"
    );
    assert_eq!(
        stored_email(&app, "reg-late").await.as_deref(),
        Some("late.joiner@home.example")
    );
    assert_eq!(stored_email(&app, "reg-unlisted").await, None);
    app.settle_at(Utc::now() + Duration::minutes(10)).await;
    assert_eq!(
        registrant_pages_read(&zoom).len(),
        2,
        "nobody new joined: no more reads"
    );
}

#[tokio::test]
async fn a_registered_guest_on_an_account_without_api_credentials_queues_no_read() {
    let app = crate::helpers::spawn_app_with(&[]).await;
    app.import_toml(&format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
         [[school.zoom_accounts]]\naccount_id = \"{}\"\n",
        crate::helpers::SCHOOL_ACCOUNT
    ))
    .await;
    app.deliver(&[
        started(),
        joined_registered(&REGISTERED_GUEST, "reg-dara", "2025-03-11T14:32:10Z"),
    ])
    .await;
    app.settle_at(Utc::now()).await;
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enrichment_jobs")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
}
