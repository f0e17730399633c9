//! Enrichment jobs answered from Zoom's API: the neutral job in, the neutral record out.
//! What Zoom's values mean (`chat`, `allow_participants_chat_with`, `auto_recording`,
//! `alternative_hosts`) is read here and nowhere else.

use chrono::{DateTime, NaiveDate, Utc};

use super::api::types::{InMeeting, MeetingRegistrant, PastParticipant};
use super::api::{ZoomApi, ZoomApiError, ZoomCredentials};
use std::sync::Arc;

use crate::connections::store::client_credentials;
use crate::db::Db;
use crate::enrichment::platform::{LiveMeetingsApi, PlatformApi, PlatformFuture};
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
    async fn answer(&self, job: &Job, now: DateTime<Utc>) -> Result<Fetched, FetchError> {
        let credentials = self.credentials(&job.account_id).await?;
        if let Some(until) = self.api.rate_limited_until(&job.account_id, now) {
            return Err(FetchError::AccountHeld { until });
        }
        match job.kind {
            JobKind::MeetingSettings => match self.api.meeting(&credentials, &job.key).await {
                Ok(meeting) => Ok(Fetched::MeetingSettings(MeetingSettingsRecord {
                    host_email: meeting.host_email.map(|email| email.to_lowercase()),
                    invitees: Some(
                        meeting
                            .settings
                            .meeting_invitees
                            .unwrap_or_default()
                            .into_iter()
                            .map(|invitee| invitee.email.trim().to_lowercase())
                            .collect(),
                    ),
                    co_hosts: Some(
                        meeting
                            .settings
                            .alternative_hosts
                            .unwrap_or_default()
                            .split([';', ','])
                            .map(|entry| entry.trim().to_lowercase())
                            .filter(|entry| !entry.is_empty())
                            .collect(),
                    ),
                    auto_recording: records_automatically(
                        meeting.settings.auto_recording.as_deref(),
                    ),
                    waiting_room: meeting.settings.waiting_room,
                    authentication: meeting.settings.meeting_authentication,
                    // Zoom's chat setting is the host's.
                    chat_enabled: None,
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
                    chat_enabled: chat_enabled(&settings.in_meeting),
                    auto_recording: records_automatically(
                        settings.recording.auto_recording.as_deref(),
                    ),
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
            // Zoom's events say who joined and which meeting a call is: never asked.
            JobKind::Participant | JobKind::Instance => Ok(Fetched::Said {
                events: Vec::new(),
                accounts: Vec::new(),
            }),
        }
    }
}

impl PlatformApi for ZoomFetcher {
    fn platform(&self) -> Platform {
        Platform::Zoom
    }

    fn fetch<'a>(
        &'a self,
        job: &'a Job,
        now: DateTime<Utc>,
    ) -> PlatformFuture<'a, Result<Fetched, FetchError>> {
        Box::pin(self.answer(job, now))
    }

    fn live_meetings(&self) -> Option<&dyn LiveMeetingsApi> {
        Some(self)
    }
}

impl LiveMeetingsApi for ZoomFetcher {
    fn count<'a>(
        &'a self,
        account_id: &'a str,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> PlatformFuture<'a, Result<u64, FetchError>> {
        Box::pin(async move {
            let credentials = self.credentials(account_id).await?;
            // Calls during a hold only lengthen it.
            if let Some(until) = self.api.rate_limited_until(account_id, now) {
                return Err(FetchError::AccountHeld { until });
            }
            self.api
                .live_meetings(&credentials, today)
                .await
                .map_err(fetch_error)
        })
    }
}

/// Whether participants can chat in a host's calls: chat switched off, or
/// `allow_participants_chat_with` 1 ("cannot use chat"), is no chat (zoom.md §3.3).
fn chat_enabled(in_meeting: &InMeeting) -> Option<bool> {
    match (in_meeting.chat, in_meeting.allow_participants_chat_with) {
        (Some(false), _) | (_, Some(1)) => Some(false),
        (Some(true), _) => Some(true),
        (None, _) => None,
    }
}

/// Zoom's `auto_recording`: `local` and `cloud` record when the call starts, `none` does
/// not (zoom.md §3.2).
fn records_automatically(mode: Option<&str>) -> Option<bool> {
    mode.map(|mode| mode != "none")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn in_meeting(chat: Option<bool>, chat_with: Option<i64>) -> InMeeting {
        InMeeting {
            chat,
            private_chat: None,
            allow_participants_chat_with: chat_with,
        }
    }

    #[test]
    fn chat_is_off_when_switched_off_or_when_nobody_may_chat() {
        assert_eq!(chat_enabled(&in_meeting(Some(false), Some(4))), Some(false));
        assert_eq!(chat_enabled(&in_meeting(Some(true), Some(1))), Some(false));
        assert_eq!(chat_enabled(&in_meeting(None, Some(1))), Some(false));
    }

    #[test]
    fn chat_is_on_when_switched_on_for_anyone_and_unknown_when_zoom_does_not_say() {
        for chat_with in [None, Some(2), Some(3), Some(4)] {
            assert_eq!(chat_enabled(&in_meeting(Some(true), chat_with)), Some(true));
        }
        assert_eq!(chat_enabled(&in_meeting(None, None)), None);
        assert_eq!(chat_enabled(&in_meeting(None, Some(4))), None);
    }

    #[test]
    fn local_and_cloud_recording_record_automatically_and_none_does_not() {
        assert_eq!(records_automatically(Some("local")), Some(true));
        assert_eq!(records_automatically(Some("cloud")), Some(true));
        assert_eq!(records_automatically(Some("none")), Some(false));
        assert_eq!(records_automatically(None), None);
    }
}
