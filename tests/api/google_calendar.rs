//! Meet calls checked before they happen: a booking on a monitored organiser's calendar with
//! a Meet conference is read on the upkeep timer and checked as a scheduled Zoom meeting is,
//! and the call held in its space is matched to it.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::alerts::findings;
use crate::google_meet::{meet_school, MeetSchool, TEACHER_EMAIL};

const DSL_ADDRESS: &str = "dsl@greenfield.sch.example";

/// A booking by the teacher tomorrow evening in the teacher's space, inviting `invitees`.
fn booking(school: &MeetSchool, id: &str, invitees: &[&str], status: &str) -> Value {
    let tomorrow = Utc::now().date_naive() + Duration::days(1);
    let start = tomorrow.and_hms_opt(19, 0, 0).unwrap().and_utc();
    let end = start + Duration::minutes(30);
    let mut attendees =
        vec![json!({"email": TEACHER_EMAIL, "organizer": true, "responseStatus": "accepted"})];
    attendees.extend(
        invitees
            .iter()
            .map(|email| json!({"email": email, "responseStatus": "needsAction"})),
    );
    let event = json!({
        "id": id, "status": status, "summary": "Catch-up",
        "updated": "2026-11-30T09:00:00.000Z",
        "organizer": {"email": TEACHER_EMAIL},
        "attendees": attendees,
        "start": {"dateTime": start.to_rfc3339_opts(SecondsFormat::Secs, true), "timeZone": "Europe/London"},
        "end": {"dateTime": end.to_rfc3339_opts(SecondsFormat::Secs, true), "timeZone": "Europe/London"},
        "hangoutLink": "https://meet.google.com/abc-mnop-xyz",
        "conferenceData": {
            "conferenceId": "abc-mnop-xyz",
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}},
            "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-mnop-xyz"}]
        }
    });
    school.google.with(|state| {
        state
            .calendar_events
            .insert(TEACHER_EMAIL.to_string(), vec![event.clone()])
    });
    event
}

async fn open_rules(school: &MeetSchool) -> Vec<String> {
    let mut rules: Vec<String> = findings(&school.app)
        .await
        .iter()
        .filter(|finding| finding["status"] == "open")
        .map(|finding| finding["rule"].as_str().unwrap().to_string())
        .collect();
    rules.sort();
    rules
}

async fn read_calendars(school: &MeetSchool) {
    school.app.enricher.keep_platforms(Utc::now()).await;
    school.settle().await;
}

#[tokio::test]
async fn a_meet_booked_for_the_evening_without_the_dsl_is_found_before_it_happens() {
    let school = meet_school(&["dsl_invited", "school_hours"]).await;
    booking(&school, "ev1", &["sam.smith@home.example"], "confirmed");
    read_calendars(&school).await;

    assert_eq!(
        open_rules(&school).await,
        vec!["dsl_invited", "school_hours"],
        "{:#?}",
        findings(&school.app).await
    );
    let mail = school
        .smtp
        .wait_for_mail(1, std::time::Duration::from_secs(5))
        .await;
    assert!(!mail.is_empty());

    // Read again unchanged: nothing new is stored.
    let stored = school.app.inbox_count().await;
    read_calendars(&school).await;
    assert_eq!(school.app.inbox_count().await, stored);

    // The organiser invites the DSL: that finding closes; the evening stays outside hours.
    booking(
        &school,
        "ev1",
        &["sam.smith@home.example", DSL_ADDRESS],
        "confirmed",
    );
    school.google.with(|state| {
        state.calendar_events.get_mut(TEACHER_EMAIL).unwrap()[0]["updated"] =
            json!("2026-11-30T10:00:00Z")
    });
    read_calendars(&school).await;
    assert_eq!(open_rules(&school).await, vec!["school_hours"]);

    // Cancelled: nothing is left to warn of.
    booking(&school, "ev1", &[DSL_ADDRESS], "cancelled");
    school.google.with(|state| {
        state.calendar_events.get_mut(TEACHER_EMAIL).unwrap()[0]["updated"] =
            json!("2026-11-30T11:00:00Z")
    });
    read_calendars(&school).await;
    assert!(
        open_rules(&school).await.is_empty(),
        "{:#?}",
        findings(&school.app).await
    );
}

#[tokio::test]
async fn the_call_held_in_a_booked_space_is_checked_against_its_booking() {
    let school = meet_school(&["dsl_invited"]).await;
    booking(&school, "ev2", &["sam.smith@home.example"], "confirmed");
    read_calendars(&school).await;
    assert_eq!(open_rules(&school).await, vec!["dsl_invited"]);

    // The call happens in the booked space: it is the booking's call.
    let google = &school.google;
    let conference = crate::google_meet::call(google, "booked", &crate::alerts::ago(120), None);
    let teacher = crate::google_meet::attendee(
        google,
        &conference,
        "p-teacher",
        crate::fake_google::signed_in(crate::google_meet::TEACHER_ID, "Ravi Patel"),
        &crate::alerts::ago(120),
        None,
    );
    school
        .push(&[
            crate::google_meet::started(&conference, &crate::alerts::ago(120)),
            crate::google_meet::joined(&teacher, &crate::alerts::ago(120)),
        ])
        .await;
    school.settle().await;
    let meeting = school.app.only_meeting().await;
    assert_eq!(
        meeting["meeting_id"],
        crate::google_meet::SPACE,
        "{meeting:#}"
    );
    assert!(meeting["scheduled_start"].is_string(), "{meeting:#}");
}
