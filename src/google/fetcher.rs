//! Enrichment jobs answered from Google's APIs: the neutral job in, neutral records and
//! events out. What Google's values mean (a signed-in user's id, a space's chat restriction
//! and automatic recording) is read here and nowhere else.
//!
//! Meet's conference records are the space owner's to read, so each call is made as the
//! member of staff whose subscription sent the call's events (`store::conference_owner`);
//! the Directory is read as the connection's admin user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::Any;

use super::api::meet::{ConferenceRecord, Participant, ParticipantKind, Restriction, Toggle};
use super::api::{GoogleApi, GoogleApiError, GoogleCredentials, ServiceAccountKey};
use super::event::{conference_of, participant_of};
use super::store::{self, GoogleAccount, Owner};
use crate::db::Db;
use crate::enrichment::platform::{PlatformApi, PlatformFuture};
use crate::enrichment::{
    FetchError, Fetched, Job, JobKind, MeetingSettingsRecord, ReportedSession, UserAccount,
    UserSettingsRecord,
};
use crate::meeting::{InstanceRef, MeetingEvent, ParticipantIdentity, Platform, Resolution};
use crate::secrets::SecretKeys;

pub struct GoogleFetcher {
    pub(super) api: GoogleApi,
    pub(super) db: Db,
    keys: Arc<SecretKeys>,
    /// Parsed service account keys by connection, with the digest of the JSON they came from.
    parsed_keys: Mutex<HashMap<i64, ([u8; 32], ServiceAccountKey)>>,
    /// The upkeep of each connection's subscriptions (see `super::subscriptions`).
    pub(super) upkeep: super::subscriptions::UpkeepClock,
    /// Spaces by connection and meeting code, once read (see `super::schedules`).
    pub(super) spaces: Mutex<HashMap<(i64, String), String>>,
}

/// A connection ready to call Google with.
pub(super) struct Connected {
    pub(super) account: GoogleAccount,
    key: ServiceAccountKey,
}

impl Connected {
    pub(super) fn acting_as(&self, subject: &str) -> GoogleCredentials {
        GoogleCredentials {
            connection_id: self.account.connection_id,
            key: self.key.clone(),
            subject: subject.to_string(),
        }
    }

    pub(super) fn admin(&self) -> GoogleCredentials {
        self.acting_as(&self.account.settings.admin_user)
    }

    /// Whether an address is of one of the school's Workspace domains.
    pub(super) fn in_domains(&self, email: &str) -> bool {
        let domain = email.rsplit_once('@').map(|(_, domain)| domain);
        domain.is_some_and(|domain| {
            self.account
                .settings
                .domains
                .iter()
                .any(|ours| ours.eq_ignore_ascii_case(domain))
        })
    }
}

impl GoogleFetcher {
    pub fn new(api: GoogleApi, db: Db, keys: Arc<SecretKeys>) -> Self {
        GoogleFetcher {
            api,
            db,
            keys,
            parsed_keys: Mutex::default(),
            upkeep: Default::default(),
            spaces: Mutex::default(),
        }
    }

    pub fn api(&self) -> &GoogleApi {
        &self.api
    }

    /// A database connection for a job's reads; failing, the job is tried again.
    pub(super) async fn database(&self) -> Result<PoolConnection<Any>, FetchError> {
        self.db.pool.acquire().await.map_err(failed)
    }

    /// The connection of `account_id` with its key, or why it cannot be called.
    pub(super) async fn connected(&self, account_id: &str) -> Result<Connected, FetchError> {
        let mut connection = self.database().await?;
        let account = store::account(&mut connection, &self.keys, account_id)
            .await
            .map_err(failed)?
            .ok_or(FetchError::NotConfigured)?;
        if account.service_account_key.is_empty() {
            return Err(FetchError::NotConfigured);
        }
        let key = self.parsed_key(&account)?;
        Ok(Connected { account, key })
    }

    fn parsed_key(&self, account: &GoogleAccount) -> Result<ServiceAccountKey, FetchError> {
        let json = account.service_account_key.expose();
        let digest: [u8; 32] = Sha256::digest(json.as_bytes()).into();
        let mut parsed = self.parsed_keys.lock().expect("key cache lock");
        if let Some((seen, key)) = parsed.get(&account.connection_id) {
            if *seen == digest {
                return Ok(key.clone());
            }
        }
        let key = ServiceAccountKey::from_json(json)
            .map_err(|error| FetchError::Credentials(error.to_string()))?;
        parsed.insert(account.connection_id, (digest, key.clone()));
        Ok(key)
    }

    async fn owner(&self, connected: &Connected, conference: &str) -> Result<Owner, FetchError> {
        let mut connection = self.database().await?;
        store::conference_owner(&mut connection, connected.account.connection_id, conference)
            .await
            .map_err(failed)?
            .ok_or_else(|| {
                FetchError::Failed(
                    "the call's organiser is not known: no subscription of this connection sent its events"
                        .into(),
                )
            })
    }

    async fn answer(&self, job: &Job, now: DateTime<Utc>) -> Result<Fetched, FetchError> {
        let connected = self.connected(&job.account_id).await?;
        if let Some(until) = self
            .api
            .rate_limited_until(connected.account.connection_id, now)
        {
            return Err(FetchError::AccountHeld { until });
        }
        match job.kind {
            JobKind::Participant => self.participant(&connected, &job.key, now).await,
            JobKind::Instance => self.instance(&connected, &job.key).await,
            JobKind::Attendance => self.attendance(&connected, &job.key).await,
            JobKind::MeetingSettings => self.space_settings(&connected, &job.key).await,
            JobKind::UserAccount => match self.api.user(&connected.admin(), &job.key).await {
                Ok(user) => Ok(Fetched::UserInAccount(
                    connected.in_domains(&user.primary_email) && !user.suspended,
                )),
                Err(GoogleApiError::NotFound) => Ok(Fetched::UserInAccount(false)),
                Err(error) => Err(fetch_error(error)),
            },
            // Meet has no chat or recording setting per user that an app can read: the
            // space's settings are read with the meeting.
            JobKind::HostSettings => Ok(Fetched::HostSettings(UserSettingsRecord::default())),
            // Meet has no registration.
            JobKind::Registrants => Ok(Fetched::Registrants(Vec::new())),
        }
    }

    /// Who a participant session is: the session's times, the participant's kind, and for a
    /// signed-in user their address and whether they are the school's, from the Directory.
    async fn participant(
        &self,
        connected: &Connected,
        session_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Fetched, FetchError> {
        let unnamed =
            || FetchError::Failed(format!("{session_name:?} is not a participant session"));
        let conference = conference_of(session_name).ok_or_else(unnamed)?;
        let participant_name = participant_of(session_name).ok_or_else(unnamed)?;
        let owner = self.owner(connected, conference).await?;
        let as_owner = connected.acting_as(&owner.email);
        let session = self
            .api
            .participant_session(&as_owner, session_name)
            .await
            .map_err(fetch_error)?;
        let participant = self
            .api
            .participant(&as_owner, participant_name)
            .await
            .map_err(fetch_error)?;
        let (mut identity, accounts) = self.identify(connected, &participant).await?;
        identity.session_key = session.name.clone();
        let instance = InstanceRef {
            instance_key: conference.to_string(),
            meeting_id: None,
            host_user_id: Some(owner.user_id),
            topic: None,
            started_at: None,
        };
        let joined_at = session
            .start_time
            .or(participant.earliest_start_time)
            .unwrap_or(now);
        let mut events = vec![MeetingEvent::ParticipantJoined {
            instance: instance.clone(),
            participant: identity.clone(),
            at: joined_at,
        }];
        if let Some(left_at) = session.end_time {
            events.push(MeetingEvent::ParticipantLeft {
                instance,
                participant: identity,
                at: left_at,
            });
        }
        Ok(Fetched::Said { events, accounts })
    }

    /// Who a Meet participant is, as far as Google can say. A display name is kept to show,
    /// never to identify: only a signed-in user of the school's domain has an address.
    async fn identify(
        &self,
        connected: &Connected,
        participant: &Participant,
    ) -> Result<(ParticipantIdentity, Vec<UserAccount>), FetchError> {
        let mut identity = ParticipantIdentity {
            session_key: String::new(),
            platform_user_id: None,
            email: None,
            display_name: None,
            registrant_id: None,
            resolution: Resolution::Given,
        };
        let mut accounts = Vec::new();
        match &participant.kind {
            ParticipantKind::SignedIn { user, display_name } => {
                let user_id = user.strip_prefix("users/").unwrap_or(user).to_string();
                identity.display_name = non_empty(display_name);
                let in_account = match self.api.user(&connected.admin(), &user_id).await {
                    Ok(found) => {
                        let email = found.primary_email.trim().to_lowercase();
                        let ours = connected.in_domains(&email) && !found.suspended;
                        // An address is proof of identity only inside the school's domains.
                        if connected.in_domains(&email) {
                            identity.email = Some(email);
                        }
                        ours
                    }
                    // Another domain's user, or a personal account: not the school's.
                    Err(GoogleApiError::NotFound) => false,
                    Err(error) => return Err(fetch_error(error)),
                };
                accounts.push(UserAccount {
                    platform_user_id: user_id.clone(),
                    in_account,
                    email: identity.email.clone(),
                });
                identity.platform_user_id = Some(user_id);
            }
            ParticipantKind::Anonymous { display_name }
            | ParticipantKind::Phone { display_name } => {
                identity.display_name = non_empty(display_name);
            }
        }
        Ok((identity, accounts))
    }

    /// A call's space, host and times, which its events do not carry.
    async fn instance(
        &self,
        connected: &Connected,
        conference: &str,
    ) -> Result<Fetched, FetchError> {
        let owner = self.owner(connected, conference).await?;
        let record = self
            .api
            .conference_record(&connected.acting_as(&owner.email), conference)
            .await
            .map_err(fetch_error)?;
        // The organiser is a monitored member of staff: their address is the subscription's.
        let organiser = UserAccount {
            platform_user_id: owner.user_id.clone(),
            in_account: connected.in_domains(&owner.email),
            email: Some(owner.email.clone()),
        };
        Ok(Fetched::Said {
            events: call_events(&record, &owner),
            accounts: vec![organiser],
        })
    }

    /// The space's own settings, read as its owner (only the owner is shown them).
    async fn space_settings(
        &self,
        connected: &Connected,
        space: &str,
    ) -> Result<Fetched, FetchError> {
        let mut connection = self.database().await?;
        let owner = store::space_owner(&mut connection, connected.account.connection_id, space)
            .await
            .map_err(failed)?
            .ok_or_else(|| FetchError::Failed("the space's owner is not known".into()))?;
        drop(connection);
        let space = match self
            .api
            .space(&connected.acting_as(&owner.email), space)
            .await
        {
            Ok(space) => space,
            Err(GoogleApiError::NotFound) => return Ok(Fetched::MeetingGone),
            Err(error) => return Err(fetch_error(error)),
        };
        let config = space.config.unwrap_or_default();
        let chat_enabled = match (
            config.moderation,
            config
                .moderation_restrictions
                .as_ref()
                .and_then(|restrictions| restrictions.chat_restriction),
        ) {
            // There is no "chat off" in Meet: only hosts may chat is chat off for a pupil.
            (Some(Toggle::On), Some(Restriction::HostsOnly)) => Some(false),
            (Some(Toggle::Off), _) | (Some(Toggle::On), Some(Restriction::NoRestriction)) => {
                Some(true)
            }
            _ => None,
        };
        let auto_recording = config
            .artifact_config
            .and_then(|artifacts| artifacts.recording_config)
            .and_then(|recording| recording.auto_recording_generation)
            .and_then(|toggle| match toggle {
                Toggle::On => Some(true),
                Toggle::Off => Some(false),
                Toggle::Other => None,
            });
        Ok(Fetched::MeetingSettings(MeetingSettingsRecord {
            host_email: Some(owner.email),
            auto_recording,
            chat_enabled,
            ..MeetingSettingsRecord::default()
        }))
    }

    /// Every session of every participant of an ended call, for reconciliation.
    async fn attendance(
        &self,
        connected: &Connected,
        conference: &str,
    ) -> Result<Fetched, FetchError> {
        let owner = self.owner(connected, conference).await?;
        let as_owner = connected.acting_as(&owner.email);
        let participants = match self.api.participants(&as_owner, conference).await {
            Ok(participants) => participants,
            Err(GoogleApiError::NotFound) => return Ok(Fetched::Attendance(None)),
            Err(error) => return Err(fetch_error(error)),
        };
        let mut reported = Vec::new();
        for participant in &participants {
            let (identity, _) = self.identify(connected, participant).await?;
            let sessions = self
                .api
                .participant_sessions(&as_owner, &participant.name)
                .await
                .map_err(fetch_error)?;
            for session in sessions {
                reported.push(ReportedSession {
                    session_key: session.name,
                    platform_user_id: identity.platform_user_id.clone(),
                    email: identity.email.clone(),
                    display_name: identity.display_name.clone(),
                    joined_at: session.start_time,
                    left_at: session.end_time,
                });
            }
        }
        Ok(Fetched::Attendance(Some(reported)))
    }
}

/// The neutral events that name a call's space, host and times.
fn call_events(record: &ConferenceRecord, owner: &Owner) -> Vec<MeetingEvent> {
    let instance = InstanceRef {
        instance_key: record.name.clone(),
        meeting_id: Some(record.space.clone()),
        host_user_id: Some(owner.user_id.clone()),
        topic: None,
        started_at: Some(record.start_time),
    };
    let mut events = vec![MeetingEvent::InstanceStarted {
        instance: instance.clone(),
        at: record.start_time,
    }];
    if let Some(ended_at) = record.end_time {
        events.push(MeetingEvent::InstanceEnded {
            instance,
            at: ended_at,
        });
    }
    events
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A failure on chaperone's side: the job is tried again.
pub(super) fn failed(error: impl std::fmt::Display) -> FetchError {
    FetchError::Failed(error.to_string())
}

pub(super) fn fetch_error(error: GoogleApiError) -> FetchError {
    match error {
        GoogleApiError::Credentials(reason) => FetchError::Credentials(reason),
        GoogleApiError::RateLimited { retry_after } => FetchError::RateLimited { retry_after },
        other => FetchError::Failed(other.to_string()),
    }
}

impl PlatformApi for GoogleFetcher {
    fn platform(&self) -> Platform {
        Platform::GoogleMeet
    }

    fn fetch<'a>(
        &'a self,
        job: &'a Job,
        now: DateTime<Utc>,
    ) -> PlatformFuture<'a, Result<Fetched, FetchError>> {
        Box::pin(self.answer(job, now))
    }

    fn upkeep<'a>(
        &'a self,
        now: DateTime<Utc>,
    ) -> Option<PlatformFuture<'a, Result<usize, FetchError>>> {
        Some(Box::pin(self.keep_subscriptions(now)))
    }
}
