//! Google's answers read into types, errors mapped, and names checked, without a server.

use chrono::{TimeZone, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::json;

use super::super::calendar::CalendarEvent;
use super::super::events::{subscription_filter, Subscription, SubscriptionState};
use super::super::meet::{AccessType, ConferenceRecord, Participant, Restriction, Space, Toggle};
use super::super::token::refusal_or_transient;
use super::super::{error_from, resource_path, GoogleApiError};

#[test]
fn times_with_any_fractional_precision_are_read() {
    for (end, nanos) in [
        ("2026-03-10T14:42:29Z", 0),
        ("2026-03-10T14:42:29.512Z", 512_000_000),
        ("2026-03-10T14:42:29.512987Z", 512_987_000),
        ("2026-03-10T14:42:29.512987654Z", 512_987_654),
    ] {
        let record: ConferenceRecord = serde_json::from_value(json!({
            "name": "conferenceRecords/a", "startTime": "2026-03-10T14:00:11Z",
            "endTime": end, "space": "spaces/s",
        }))
        .unwrap();
        let read = record.end_time.unwrap();
        assert_eq!(
            read.with_nanosecond(0),
            Utc.with_ymd_and_hms(2026, 3, 10, 14, 42, 29).single()
        );
        assert_eq!(read.nanosecond(), nanos, "{end}");
        assert_eq!(record.expire_time, None);
    }
}

#[test]
fn a_participant_who_is_not_exactly_one_kind_of_user_is_an_error() {
    let none = json!({"name": "conferenceRecords/a/participants/1"});
    assert!(serde_json::from_value::<Participant>(none).is_err());
    let both = json!({
        "name": "conferenceRecords/a/participants/1",
        "signedinUser": {"user": "users/1"}, "anonymousUser": {"displayName": "x"},
    });
    assert!(serde_json::from_value::<Participant>(both).is_err());
}

#[test]
fn a_spaces_settings_are_read_and_values_google_adds_later_are_other() {
    let space: Space = serde_json::from_value(json!({
        "name": "spaces/kT9pQx2LmW4r", "meetingUri": "https://meet.google.com/qwe-rtyu-iop",
        "meetingCode": "qwe-rtyu-iop",
        "config": {
            "accessType": "RESTRICTED", "entryPointAccess": "ALL", "moderation": "ON",
            "moderationRestrictions": {
                "chatRestriction": "HOSTS_ONLY", "reactionRestriction": "NO_RESTRICTION",
                "presentRestriction": "SOMETHING_NEW", "defaultJoinAsViewerType": "OFF",
            },
            "attendanceReportGenerationType": "GENERATE_REPORT",
            "artifactConfig": {"recordingConfig": {"autoRecordingGeneration": "ON"}},
            "aFieldFromNextYear": true,
        },
        "activeConference": {"conferenceRecord": "conferenceRecords/x"},
    }))
    .unwrap();
    let config = space.config.unwrap();
    assert_eq!(config.access_type, Some(AccessType::Restricted));
    assert_eq!(config.moderation, Some(Toggle::On));
    let restrictions = config.moderation_restrictions.unwrap();
    assert_eq!(restrictions.chat_restriction, Some(Restriction::HostsOnly));
    assert_eq!(restrictions.present_restriction, Some(Restriction::Other));
    let recording = config.artifact_config.unwrap().recording_config.unwrap();
    assert_eq!(recording.auto_recording_generation, Some(Toggle::On));

    // Not the owner: no config at all, as in the 2024 answer for a Calendar meeting.
    let bare: Space = serde_json::from_value(json!({"name": "spaces/vIMPKJmrMMsB"})).unwrap();
    assert_eq!(bare.config, None);
}

#[test]
fn a_subscription_in_a_state_chaperone_does_not_know_is_an_error() {
    let mut subscription = json!({
        "name": "subscriptions/s", "uid": "u", "targetResource": "//cloudidentity.googleapis.com/users/1",
        "eventTypes": ["google.workspace.meet.conference.v2.started"], "state": "SUSPENDED",
        "suspension_reason": "ENDPOINT_PERMISSION_DENIED", "expireTime": "2026-03-17T08:00:00.123Z",
    });
    let read: Subscription = serde_json::from_value(subscription.clone()).unwrap();
    assert_eq!(read.state, SubscriptionState::Suspended);
    assert_eq!(
        read.suspension_reason.as_deref(),
        Some("ENDPOINT_PERMISSION_DENIED")
    );
    for state in ["STATE_UNSPECIFIED", "PAUSED"] {
        subscription["state"] = json!(state);
        assert!(serde_json::from_value::<Subscription>(subscription.clone()).is_err());
    }
}

#[test]
fn the_subscription_filter_asks_for_any_of_the_event_types_and_the_target() {
    assert_eq!(
        subscription_filter(
            &[
                "google.workspace.meet.conference.v2.started",
                "google.workspace.meet.conference.v2.ended"
            ],
            Some("//cloudidentity.googleapis.com/users/1"),
        ),
        "(event_types:\"google.workspace.meet.conference.v2.started\" OR \
         event_types:\"google.workspace.meet.conference.v2.ended\") \
         AND target_resource=\"//cloudidentity.googleapis.com/users/1\""
    );
    assert_eq!(
        subscription_filter(&["google.workspace.meet.conference.v2.started"], None),
        "event_types:\"google.workspace.meet.conference.v2.started\""
    );
}

#[test]
fn a_calendar_event_keeps_its_offsets_and_gives_its_meet_code() {
    let event: CalendarEvent = serde_json::from_value(json!({
        "id": "5q1m8c0h", "status": "confirmed", "organizer": {"email": "alex@school.example"},
        "start": {"dateTime": "2026-06-16T10:00:00+01:00", "timeZone": "Europe/London"},
        "end": {"dateTime": "2026-06-16T10:45:00+01:00"},
        "attendees": [{"email": "dsl@school.example", "responseStatus": "needsAction"}],
        "conferenceData": {
            "conferenceId": "qwe-rtyu-iop",
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/qwe-rtyu-iop"}],
        },
    }))
    .unwrap();
    let start = event.start.as_ref().unwrap().date_time.unwrap();
    assert_eq!(
        start.with_timezone(&Utc),
        Utc.with_ymd_and_hms(2026, 6, 16, 9, 0, 0).unwrap()
    );
    assert_eq!(event.meeting_code(), Some("qwe-rtyu-iop"));
    assert_eq!(
        event.attendees[0].email.as_deref(),
        Some("dsl@school.example")
    );
}

#[test]
fn googles_errors_mean_what_their_status_and_reason_say() {
    let body = |code: u16, status: &str, reason: Option<&str>| {
        let mut error = json!({"error": {"code": code, "message": "about someone@school.example", "status": status}});
        if let Some(reason) = reason {
            error["error"]["errors"] = json!([{"domain": "usageLimits", "reason": reason}]);
        }
        error.to_string().into_bytes()
    };
    let wait = Some(std::time::Duration::from_secs(30));
    let cases = [
        (
            StatusCode::NOT_FOUND,
            body(404, "NOT_FOUND", None),
            GoogleApiError::NotFound,
        ),
        (
            StatusCode::FORBIDDEN,
            body(403, "PERMISSION_DENIED", None),
            GoogleApiError::PermissionDenied,
        ),
        (
            StatusCode::FORBIDDEN,
            body(403, "PERMISSION_DENIED", Some("userRateLimitExceeded")),
            GoogleApiError::RateLimited { retry_after: wait },
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            body(429, "RESOURCE_EXHAUSTED", None),
            GoogleApiError::RateLimited { retry_after: wait },
        ),
        (
            StatusCode::CONFLICT,
            body(409, "ALREADY_EXISTS", None),
            GoogleApiError::AlreadyExists,
        ),
        (
            StatusCode::CONFLICT,
            body(409, "ABORTED", None),
            GoogleApiError::Unavailable("HTTP 409 ABORTED".into()),
        ),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            b"<html>down</html>".to_vec(),
            GoogleApiError::Unavailable("HTTP 503".into()),
        ),
        (
            StatusCode::BAD_REQUEST,
            body(400, "INVALID_ARGUMENT", None),
            GoogleApiError::Unexpected("HTTP 400 INVALID_ARGUMENT".into()),
        ),
    ];
    for (status, body, expected) in cases {
        let error = error_from(status, &body, wait);
        assert!(!error.to_string().contains("someone@"), "{error}");
        assert_eq!(error, expected, "{status}");
    }
}

#[test]
fn the_token_endpoints_429_and_unknown_answers_are_not_credential_errors() {
    let wait = Some(std::time::Duration::from_secs(2));
    let grant = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
    assert_eq!(
        refusal_or_transient(StatusCode::TOO_MANY_REQUESTS, grant, wait),
        GoogleApiError::RateLimited { retry_after: wait }
    );
    for (status, body) in [
        (StatusCode::BAD_GATEWAY, &grant[..]),
        (StatusCode::BAD_REQUEST, b"<html>proxy</html>"),
        (
            StatusCode::BAD_REQUEST,
            br#"{"error":"temporarily_unavailable"}"#,
        ),
    ] {
        assert!(
            matches!(
                refusal_or_transient(status, body, None),
                GoogleApiError::Unavailable(_)
            ),
            "{status}"
        );
    }
}

#[test]
fn resource_names_are_checked_against_their_collections_and_encoded() {
    assert_eq!(
        resource_path(
            "conferenceRecords/a-B_1/participants/123",
            &["conferenceRecords", "participants"]
        ),
        Ok("conferenceRecords/a-B_1/participants/123".into())
    );
    assert_eq!(
        resource_path("spaces/a b", &["spaces"]),
        Ok("spaces/a%20b".into())
    );
    assert_eq!(
        resource_path("conferenceRecords/a?x=1", &["conferenceRecords"]),
        Ok("conferenceRecords/a%3Fx%3D1".into())
    );
    for name in [
        "conferenceRecords/..",
        "conferenceRecords/../admin",
        "conferenceRecords/",
        "spaces/x",
        "conferenceRecords/a/participants/1",
    ] {
        assert!(
            resource_path(name, &["conferenceRecords"]).is_err(),
            "{name}"
        );
    }
}
