//! The Meet REST API v2 (google-meet.md §3): a conference record and its space, who took part
//! and each of their sessions, and the space's settings (readable by its owner only, §3.4).
//! Times are RFC 3339 with any fractional precision (§10.1).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::MEET_READONLY_SCOPE;
use super::{resource_path, ApiRequest, GoogleApi, GoogleApiError, GoogleCredentials};

const SCOPES: &[&str] = &[MEET_READONLY_SCOPE];
/// Within every Meet list's maximum (participants and sessions allow 250, §3.3).
const PAGE_SIZE: &str = "100";

/// One call in a space (`conferenceRecords/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConferenceRecord {
    pub name: String,
    pub start_time: DateTime<Utc>,
    /// Unset while the conference is running.
    pub end_time: Option<DateTime<Utc>>,
    /// When Google deletes the record: 30 days after the end.
    pub expire_time: Option<DateTime<Utc>>,
    /// `spaces/{id}`.
    pub space: String,
}

/// Someone who took part in a conference, once however often they joined.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawParticipant")]
pub struct Participant {
    /// `conferenceRecords/{id}/participants/{id}`.
    pub name: String,
    pub earliest_start_time: Option<DateTime<Utc>>,
    /// Unset while they are in the call.
    pub latest_end_time: Option<DateTime<Utc>>,
    pub kind: ParticipantKind,
}

/// Who a participant is, as far as Google knows (§3.3). Display names are what the person or
/// an admin typed and prove nothing; only a signed-in user has an identity to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantKind {
    /// A Google account (a person, or a room device's robot account): `user` is
    /// `users/{id}`, the Directory's user id.
    SignedIn { user: String, display_name: String },
    /// Not signed in: only the name they gave.
    Anonymous { display_name: String },
    /// Dialled in: a partly redacted phone number.
    Phone { display_name: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParticipant {
    name: String,
    earliest_start_time: Option<DateTime<Utc>>,
    latest_end_time: Option<DateTime<Utc>>,
    signedin_user: Option<RawSignedInUser>,
    anonymous_user: Option<RawNamedUser>,
    phone_user: Option<RawNamedUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSignedInUser {
    user: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNamedUser {
    #[serde(default)]
    display_name: String,
}

impl TryFrom<RawParticipant> for Participant {
    type Error = String;

    fn try_from(raw: RawParticipant) -> Result<Self, Self::Error> {
        let kind = match (raw.signedin_user, raw.anonymous_user, raw.phone_user) {
            (Some(user), None, None) => ParticipantKind::SignedIn {
                user: user.user,
                display_name: user.display_name,
            },
            (None, Some(user), None) => ParticipantKind::Anonymous {
                display_name: user.display_name,
            },
            (None, None, Some(user)) => ParticipantKind::Phone {
                display_name: user.display_name,
            },
            // Someone Google cannot say who they are is not quietly dropped or guessed at.
            _ => {
                return Err(format!(
                    "participant {} is not exactly one kind of user",
                    raw.name
                ))
            }
        };
        Ok(Participant {
            name: raw.name,
            earliest_start_time: raw.earliest_start_time,
            latest_end_time: raw.latest_end_time,
            kind,
        })
    }
}

/// One stretch of a participant in the call: each join is a new session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantSession {
    /// `conferenceRecords/{id}/participants/{id}/participantSessions/{id}`.
    pub name: String,
    pub start_time: Option<DateTime<Utc>>,
    /// Unset while the session lasts.
    pub end_time: Option<DateTime<Utc>>,
}

/// A meeting space (`spaces/{id}`). Its `config` is only shown to the space's owner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Space {
    pub name: String,
    pub meeting_uri: Option<String>,
    /// `abc-mnop-xyz`: an alias that may be reused a year after last use; never a key.
    pub meeting_code: Option<String>,
    pub config: Option<SpaceConfig>,
    pub active_conference: Option<ActiveConference>,
}

/// The conference running in a space now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveConference {
    pub conference_record: Option<String>,
}

/// A space's settings (§3.4). Every field may be missing: Google adds fields over time and
/// leaves out what the user's policy decides.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaceConfig {
    pub access_type: Option<AccessType>,
    pub entry_point_access: Option<EntryPointAccess>,
    pub moderation: Option<Toggle>,
    pub moderation_restrictions: Option<ModerationRestrictions>,
    pub attendance_report_generation_type: Option<AttendanceReport>,
    pub artifact_config: Option<ArtifactConfig>,
}

/// Who joins without knocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessType {
    Open,
    Trusted,
    Restricted,
    /// `ACCESS_TYPE_UNSPECIFIED`, or a value this version does not know.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryPointAccess {
    All,
    CreatorAppOnly,
    #[serde(other)]
    Other,
}

/// `ON` / `OFF` settings: moderation, join as viewer, automatic recording and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Toggle {
    On,
    Off,
    /// `…_UNSPECIFIED`, or a value this version does not know: neither on nor off.
    #[serde(other)]
    Other,
}

/// Who may chat, react or present when moderation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Restriction {
    HostsOnly,
    NoRestriction,
    #[serde(other)]
    Other,
}

/// In effect only with `moderation: ON`. There is no "chat off": chat restricted is
/// `chat_restriction == HostsOnly` with moderation on (§3.4).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModerationRestrictions {
    pub chat_restriction: Option<Restriction>,
    pub reaction_restriction: Option<Restriction>,
    pub present_restriction: Option<Restriction>,
    pub default_join_as_viewer_type: Option<Toggle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttendanceReport {
    GenerateReport,
    DoNotGenerate,
    #[serde(other)]
    Other,
}

/// What Meet records, transcribes and notes by itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactConfig {
    pub recording_config: Option<RecordingConfig>,
    pub transcription_config: Option<TranscriptionConfig>,
    pub smart_notes_config: Option<SmartNotesConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingConfig {
    pub auto_recording_generation: Option<Toggle>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionConfig {
    pub auto_transcription_generation: Option<Toggle>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartNotesConfig {
    pub auto_smart_notes_generation: Option<Toggle>,
}

impl GoogleApi {
    /// `GET conferenceRecords/{id}`, for `conferenceRecords/{id}`.
    pub async fn conference_record(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<ConferenceRecord, GoogleApiError> {
        let path = resource_path(name, &["conferenceRecords"])?;
        self.send(credentials, SCOPES, &self.meet(&path)).await
    }

    /// `GET conferenceRecords/{id}/participants/{id}`.
    pub async fn participant(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<Participant, GoogleApiError> {
        let path = resource_path(name, &["conferenceRecords", "participants"])?;
        self.send(credentials, SCOPES, &self.meet(&path)).await
    }

    /// `GET …/participants/{id}/participantSessions/{id}`.
    pub async fn participant_session(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<ParticipantSession, GoogleApiError> {
        let path = resource_path(
            name,
            &["conferenceRecords", "participants", "participantSessions"],
        )?;
        self.send(credentials, SCOPES, &self.meet(&path)).await
    }

    /// Every participant of `conferenceRecords/{id}`, all pages.
    pub async fn participants(
        &self,
        credentials: &GoogleCredentials,
        conference: &str,
    ) -> Result<Vec<Participant>, GoogleApiError> {
        let path = resource_path(conference, &["conferenceRecords"])?;
        let request = self
            .meet(&format!("{path}/participants"))
            .query("pageSize", PAGE_SIZE);
        self.list_all(credentials, SCOPES, request, "participants")
            .await
    }

    /// Every session of `conferenceRecords/{id}/participants/{id}`, all pages.
    pub async fn participant_sessions(
        &self,
        credentials: &GoogleCredentials,
        participant: &str,
    ) -> Result<Vec<ParticipantSession>, GoogleApiError> {
        let path = resource_path(participant, &["conferenceRecords", "participants"])?;
        let request = self
            .meet(&format!("{path}/participantSessions"))
            .query("pageSize", PAGE_SIZE);
        self.list_all(credentials, SCOPES, request, "participantSessions")
            .await
    }

    /// `GET spaces/{id}` (or `spaces/{meeting code}`, answered with the canonical name). The
    /// `config` is there only when the impersonated user owns the space.
    pub async fn space(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<Space, GoogleApiError> {
        let path = resource_path(name, &["spaces"])?;
        self.send(credentials, SCOPES, &self.meet(&path)).await
    }

    fn meet(&self, path: &str) -> ApiRequest {
        ApiRequest::get(&self.settings.meet_api_base_url, path)
    }
}
