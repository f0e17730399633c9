//! The Calendar API v3 (google-meet.md §4): the events on an organiser's calendar around a
//! conference, with their Meet link and invitees, so that a call can be matched to the lesson it
//! was booked as and the invitation list checked (was the DSL invited?). Called impersonating
//! the organiser.

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
use serde::Deserialize;

use super::CALENDAR_READONLY_SCOPE;
use super::{encode_segment, ApiRequest, GoogleApi, GoogleApiError, GoogleCredentials};

const SCOPES: &[&str] = &[CALENDAR_READONLY_SCOPE];
/// Calendar's own maximum for `events.list`.
const PAGE_SIZE: &str = "250";

/// One event (one occurrence: recurring events are expanded).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarEvent {
    pub id: String,
    /// `confirmed`, `tentative` or `cancelled`.
    pub status: Option<String>,
    /// The event's title, as the organiser wrote it.
    pub summary: Option<String>,
    /// When the event was last changed.
    pub updated: Option<DateTime<Utc>>,
    pub organizer: Option<EventPerson>,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    pub start: Option<EventTime>,
    pub end: Option<EventTime>,
    pub hangout_link: Option<String>,
    pub conference_data: Option<ConferenceData>,
    /// Set on an occurrence of a recurring event.
    pub recurring_event_id: Option<String>,
}

impl CalendarEvent {
    /// The Meet meeting code of the event's conference, when it is a Google Meet one.
    pub fn meeting_code(&self) -> Option<&str> {
        let data = self.conference_data.as_ref()?;
        let is_meet = data
            .conference_solution
            .as_ref()
            .and_then(|solution| solution.key.as_ref())
            .and_then(|key| key.kind.as_deref())
            == Some("hangoutsMeet");
        data.conference_id.as_deref().filter(|_| is_meet)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPerson {
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    pub email: Option<String>,
    /// `needsAction`, `declined`, `tentative` or `accepted`.
    pub response_status: Option<String>,
    #[serde(default)]
    pub organizer: bool,
    /// A room or other resource, not a person.
    #[serde(default)]
    pub resource: bool,
    #[serde(default)]
    pub optional: bool,
}

/// A start or end: a time with the organiser's offset (`+01:00` in summer, §10.2), or a date
/// for an all-day event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTime {
    pub date_time: Option<DateTime<FixedOffset>>,
    pub date: Option<NaiveDate>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConferenceData {
    /// For Google Meet, the meeting code (`aaa-bbbb-ccc`).
    pub conference_id: Option<String>,
    pub conference_solution: Option<ConferenceSolution>,
    #[serde(default)]
    pub entry_points: Vec<EntryPoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConferenceSolution {
    pub key: Option<ConferenceSolutionKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConferenceSolutionKey {
    /// `hangoutsMeet` for Google Meet.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryPoint {
    /// `video`, `phone`, `sip` or `more`.
    pub entry_point_type: Option<String>,
    pub uri: Option<String>,
}

impl GoogleApi {
    /// The events of `calendar_id` (the organiser's address for their primary calendar)
    /// overlapping `time_min..time_max`, recurring ones expanded, all pages.
    pub async fn calendar_events(
        &self,
        credentials: &GoogleCredentials,
        calendar_id: &str,
        time_min: DateTime<Utc>,
        time_max: DateTime<Utc>,
    ) -> Result<Vec<CalendarEvent>, GoogleApiError> {
        if calendar_id.is_empty() {
            return Err(GoogleApiError::NotFound);
        }
        let request = ApiRequest::get(
            &self.settings.calendar_api_base_url,
            &format!("calendars/{}/events", encode_segment(calendar_id)),
        )
        .query(
            "timeMin",
            time_min.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
        .query(
            "timeMax",
            time_max.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
        .query("singleEvents", "true")
        // A cancelled occurrence is listed as such, so that its checks are withdrawn.
        .query("showDeleted", "true")
        .query("maxResults", PAGE_SIZE);
        self.list_all(credentials, SCOPES, request, "items").await
    }
}
