//! The parts of Zoom's API answers chaperone reads (shared/platforms/zoom.md §3).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<i64>,
}

/// `GET /meetings/{meetingId}`.
#[derive(Debug, Clone, Deserialize)]
pub struct MeetingDetails {
    #[serde(default)]
    pub host_id: Option<String>,
    #[serde(default)]
    pub host_email: Option<String>,
    #[serde(default)]
    pub settings: MeetingSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MeetingSettings {
    /// Semicolon-separated emails or user ids.
    #[serde(default)]
    pub alternative_hosts: Option<String>,
    #[serde(default)]
    pub meeting_invitees: Option<Vec<Invitee>>,
    /// `local`, `cloud` or `none`.
    #[serde(default)]
    pub auto_recording: Option<String>,
    #[serde(default)]
    pub waiting_room: Option<bool>,
    #[serde(default)]
    pub meeting_authentication: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Invitee {
    pub email: String,
}

/// `GET /users/{userId}/settings`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserSettings {
    #[serde(default)]
    pub in_meeting: InMeeting,
    #[serde(default)]
    pub recording: Recording,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InMeeting {
    #[serde(default)]
    pub chat: Option<bool>,
    #[serde(default)]
    pub private_chat: Option<bool>,
    /// 1 nobody, 2 host and co-hosts, 3 everyone publicly, 4 publicly and privately.
    #[serde(default)]
    pub allow_participants_chat_with: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Recording {
    #[serde(default)]
    pub auto_recording: Option<String>,
}

/// `GET /users/{userId}`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserDetails {
    pub id: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// `GET /past_meetings/{uuid}/participants`.
#[derive(Debug, Clone, Deserialize)]
pub struct PastParticipantsPage {
    #[serde(default)]
    pub participants: Vec<PastParticipant>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PastParticipant {
    /// The Zoom user id when signed in, else empty.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// The per-session participant id, as in webhooks' `participant.user_id`.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub join_time: Option<String>,
    #[serde(default)]
    pub leave_time: Option<String>,
    #[serde(default)]
    pub duration: Option<i64>,
    /// `in_meeting` or `in_waiting_room`.
    #[serde(default)]
    pub status: Option<String>,
}

/// `GET /meetings/{meetingId}/registrants`.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrantsPage {
    #[serde(default)]
    pub registrants: Vec<MeetingRegistrant>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MeetingRegistrant {
    /// The registrant id participants carry in webhooks (`participant.registrant_id`).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `GET /metrics/meetings?type=live`.
#[derive(Debug, Clone, Deserialize)]
pub struct LiveMeetings {
    #[serde(default)]
    pub total_records: u64,
}
