//! Enrichment jobs answered from Zoom's API: the neutral job in, the neutral record out.

use chrono::{DateTime, Utc};

use super::api::types::{MeetingRegistrant, PastParticipant};
use super::api::{ZoomApi, ZoomApiError, ZoomCredentials};
use std::sync::Arc;

use crate::connections::store::client_credentials;
use crate::db::Db;
use crate::enrichment::{
    FetchError, Fetched, Job, JobKind, MeetingSettingsRecord, Registrant, ReportedSession,
    UserSettingsRecord,
};
use crate::meeting::Platform;
use crate::secrets::SecretKeys;

pub struct ZoomFetcher {
    api: ZoomApi,
    db: Db,
    keys: Arc<SecretKeys>,
}

impl ZoomFetcher {
    pub fn new(api: ZoomApi, db: Db, keys: Arc<SecretKeys>) -> Self {
        ZoomFetcher { api, db, keys }
    }

    pub fn api(&self) -> &ZoomApi {
        &self.api
    }

    /// The stored Server-to-Server OAuth credentials of a monitored account.
    pub async fn credentials(&self, account_id: &str) -> Result<ZoomCredentials, FetchError> {
        let mut connection = self
            .db
            .pool
            .acquire()
            .await
            .map_err(|error| FetchError::Failed(error.to_string()))?;
        let (client_id, client_secret) =
            client_credentials(&mut connection, &self.keys, Platform::Zoom, account_id)
                .await
                .map_err(|error| FetchError::Failed(error.to_string()))?
                .ok_or(FetchError::NotConfigured)?;
        Ok(ZoomCredentials {
            account_id: account_id.to_string(),
            client_id,
            client_secret,
        })
    }

    /// Answers `job` from the API, unless a rate limit still holds the account back at `now`.
    pub async fn fetch(&self, job: &Job, now: DateTime<Utc>) -> Result<Fetched, FetchError> {
        let credentials = self.credentials(&job.account_id).await?;
        if let Some(until) = self.api.rate_limited_until(&job.account_id, now) {
            return Err(FetchError::AccountHeld { until });
        }
        match job.kind {
            JobKind::MeetingSettings => match self.api.meeting(&credentials, &job.key).await {
                Ok(meeting) => Ok(Fetched::MeetingSettings(MeetingSettingsRecord {
                    host_email: meeting.host_email.map(|email| email.to_lowercase()),
                    invitees: meeting
                        .settings
                        .meeting_invitees
                        .unwrap_or_default()
                        .into_iter()
                        .map(|invitee| invitee.email.trim().to_lowercase())
                        .collect(),
                    alternative_hosts: meeting
                        .settings
                        .alternative_hosts
                        .unwrap_or_default()
                        .split([';', ','])
                        .map(|entry| entry.trim().to_lowercase())
                        .filter(|entry| !entry.is_empty())
                        .collect(),
                    auto_recording: meeting.settings.auto_recording,
                    waiting_room: meeting.settings.waiting_room,
                    authentication: meeting.settings.meeting_authentication,
                })),
                Err(ZoomApiError::NotFound) => Ok(Fetched::MeetingGone),
                Err(error) => Err(fetch_error(error)),
            },
            JobKind::HostSettings => {
                let settings = self
                    .api
                    .user_settings(&credentials, &job.key)
                    .await
                    .map_err(fetch_error)?;
                Ok(Fetched::HostSettings(UserSettingsRecord {
                    chat: settings.in_meeting.chat,
                    private_chat: settings.in_meeting.private_chat,
                    chat_with: settings.in_meeting.allow_participants_chat_with,
                    auto_recording: settings.recording.auto_recording,
                }))
            }
            JobKind::UserAccount => match self.api.user(&credentials, &job.key).await {
                // A user the account's API can read is one of its users.
                Ok(user) => Ok(Fetched::UserInAccount(
                    user.account_id
                        .is_none_or(|account| account == job.account_id),
                )),
                Err(ZoomApiError::NotFound) => Ok(Fetched::UserInAccount(false)),
                Err(error) => Err(fetch_error(error)),
            },
            JobKind::Attendance => match self.api.past_participants(&credentials, &job.key).await {
                // Rows that all still say 0 seconds are a report Zoom is still filling in
                // (large meetings lag): not there yet.
                Ok(rows) if !rows.is_empty() && rows.iter().all(|row| row.duration == Some(0)) => {
                    Ok(Fetched::Attendance(None))
                }
                // A 200 is the report. An empty one is complete too: Zoom leaves out the rows
                // of a call that had only one participant (zoom.md §3.5).
                Ok(rows) => Ok(Fetched::Attendance(Some(
                    rows.into_iter().filter_map(reported_session).collect(),
                ))),
                // Zoom answers 404 / code 3001 until the report of an ended call exists.
                Err(ZoomApiError::NotFound) => Ok(Fetched::Attendance(None)),
                Err(error) => Err(fetch_error(error)),
            },
            JobKind::Registrants => {
                match self.api.meeting_registrants(&credentials, &job.key).await {
                    Ok(rows) => Ok(Fetched::Registrants(
                        rows.into_iter().filter_map(registrant).collect(),
                    )),
                    // A meeting deleted since: nobody left to resolve.
                    Err(ZoomApiError::NotFound) => Ok(Fetched::Registrants(Vec::new())),
                    Err(error) => Err(fetch_error(error)),
                }
            }
        }
    }
}

fn fetch_error(error: ZoomApiError) -> FetchError {
    match error {
        ZoomApiError::Credentials(reason) => FetchError::Credentials(reason),
        ZoomApiError::RateLimited { retry_after } => FetchError::RateLimited { retry_after },
        other => FetchError::Failed(other.to_string()),
    }
}

fn reported_session(row: PastParticipant) -> Option<ReportedSession> {
    if row.status.as_deref() == Some("in_waiting_room") {
        return None;
    }
    let joined_at = parse_time(row.join_time.as_deref());
    let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    let session_key = non_empty(row.user_id).or_else(|| {
        // Without a per-session id, the join time tells sessions of one person apart.
        Some(format!(
            "report:{}:{}",
            row.id.clone().unwrap_or_default(),
            joined_at?.timestamp()
        ))
    })?;
    Some(ReportedSession {
        session_key,
        platform_user_id: non_empty(row.id),
        email: non_empty(row.user_email).map(|email| email.trim().to_lowercase()),
        display_name: non_empty(row.name),
        joined_at,
        left_at: parse_time(row.leave_time.as_deref()),
    })
}

fn registrant(row: MeetingRegistrant) -> Option<Registrant> {
    let registrant_id = row.id.filter(|id| !id.trim().is_empty())?;
    let email = row
        .email
        .map(|email| email.trim().to_lowercase())
        .filter(|email| !email.is_empty())?;
    Some(Registrant {
        registrant_id,
        email,
    })
}

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}
