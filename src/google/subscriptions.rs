//! Keeping Meet events coming: one Workspace Events subscription per monitored member of
//! staff (google-meet.md §1.1, §1.5, §1.7), made by impersonating them, renewed well before it
//! expires (never relying on Google's reminders), reactivated once a suspension's cause is
//! fixed, made again once expired, and deleted when the member of staff stops being
//! monitored. The list is checked against Google's on start and daily. A subscription that
//! is not delivering is a coverage finding for the school (`enrichment::coverage`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::api::events::{Subscription, SubscriptionState as GoogleState};
use super::api::GoogleApiError;
use super::fetcher::{failed, fetch_error, Connected, GoogleFetcher};
use super::store::{self, StoredSubscription, SubscriptionChange, SubscriptionState};
use crate::connections::google::MonitoredStaff;
use crate::enrichment::{coverage, FetchError};
use crate::meeting::Platform;

/// What each subscription asks for: the documented Meet events for a user target (the
/// scope table of Google's auth guide; a type Google does not offer would refuse the whole
/// subscription).
pub const EVENT_TYPES: [&str; 5] = [
    "google.workspace.meet.conference.v2.started",
    "google.workspace.meet.conference.v2.ended",
    "google.workspace.meet.participant.v2.joined",
    "google.workspace.meet.participant.v2.left",
    "google.workspace.meet.recording.v2.fileGenerated",
];

/// A subscription is renewed this long before it expires: Meet subscriptions last at most
/// seven days, so two days leaves room for a day of Google being unreachable.
const RENEW_BEFORE: chrono::Duration = chrono::Duration::days(2);
/// Who is monitored is read again from the Directory this often (and on start).
const RESOLVE_EVERY: Duration = Duration::from_secs(3600);
/// Every subscription is read back from Google this often (and on start).
const RECONCILE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// When each connection's staff were last resolved (and from which settings) and its
/// subscriptions last reconciled.
#[derive(Default)]
pub struct UpkeepClock {
    resolved: Mutex<HashMap<i64, Resolved>>,
    reconciled: Mutex<HashMap<i64, Instant>>,
}

struct Resolved {
    at: Instant,
    from: MonitoredStaff,
    users: Vec<MonitoredUser>,
}

/// A member of staff whose calls are monitored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoredUser {
    pub user_id: String,
    pub email: String,
}

impl GoogleFetcher {
    /// Keeps every Google connection's subscriptions; returns how many alerts were queued.
    /// A connection that cannot be kept (no key, Google unreachable) does not stop the others.
    pub async fn keep_subscriptions(&self, now: DateTime<Utc>) -> Result<usize, FetchError> {
        let connections = {
            let mut connection = self.database().await?;
            store::connection_ids(&mut connection)
                .await
                .map_err(failed)?
        };
        let mut alerts = 0;
        for (connection_id, account_id) in connections {
            let refused = match self.keep_connection(&account_id, now).await {
                Ok(()) => None,
                Err(FetchError::NotConfigured) => continue,
                Err(FetchError::Credentials(reason)) => Some(reason),
                Err(error) => {
                    tracing::warn!(connection_id, %error, "Google subscriptions could not be kept");
                    None
                }
            };
            let mut tx = self.db.pool.begin().await.map_err(failed)?;
            let google = Platform::GoogleMeet;
            alerts +=
                coverage::record_credentials(&mut tx, google, &account_id, refused.as_deref(), now)
                    .await
                    .map_err(failed)?;
            alerts += coverage::evaluate_account(&mut tx, google, &account_id, now)
                .await
                .map_err(failed)?;
            tx.commit().await.map_err(failed)?;
        }
        Ok(alerts)
    }

    async fn keep_connection(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), FetchError> {
        let connected = self.connected(account_id).await?;
        let connection_id = connected.account.connection_id;
        let monitored = self.monitored(&connected).await?;
        let stored: HashMap<String, StoredSubscription> = {
            let mut connection = self.database().await?;
            store::subscriptions(&mut connection, Some(connection_id))
                .await
                .map_err(failed)?
                .into_iter()
                .map(|subscription| (subscription.user_id.clone(), subscription))
                .collect()
        };
        let reconcile = {
            let mut reconciled = self.upkeep.reconciled.lock().expect("upkeep lock");
            let due = reconciled
                .get(&connection_id)
                .is_none_or(|at| at.elapsed() >= RECONCILE_EVERY);
            if due {
                reconciled.insert(connection_id, Instant::now());
            }
            due
        };
        let wanted: HashSet<&str> = monitored.iter().map(|user| user.user_id.as_str()).collect();
        for user in &monitored {
            let kept = stored.get(&user.user_id);
            let outcome = self.keep_one(&connected, user, kept, reconcile, now).await;
            if let Err(FetchError::Credentials(reason)) = &outcome {
                // The key or its delegation is refused: every user would fail the same way.
                return Err(FetchError::Credentials(reason.clone()));
            }
        }
        for subscription in stored.values() {
            if subscription.state != SubscriptionState::Deleted
                && !wanted.contains(subscription.user_id.as_str())
            {
                self.stop(&connected, subscription, now).await?;
            }
        }
        self.remember(&connected, &monitored, now).await?;
        self.read_schedules(&connected, &monitored, now).await
    }

    /// Files each monitored member of staff's address under their Google user id, so that
    /// the directory finds them as a call's host before they join one.
    async fn remember(
        &self,
        connected: &Connected,
        monitored: &[MonitoredUser],
        now: DateTime<Utc>,
    ) -> Result<(), FetchError> {
        let mut connection = self.database().await?;
        for user in monitored {
            let status = if connected.in_domains(&user.email) {
                "in_account"
            } else {
                "not_in_account"
            };
            crate::enrichment::store::remember_user(
                &mut connection,
                Platform::GoogleMeet,
                &user.user_id,
                status,
                Some(&user.email),
                None,
                now,
            )
            .await
            .map_err(failed)?;
        }
        Ok(())
    }

    /// Brings one member of staff's subscription to active, as far as Google allows.
    async fn keep_one(
        &self,
        connected: &Connected,
        user: &MonitoredUser,
        kept: Option<&StoredSubscription>,
        reconcile: bool,
        now: DateTime<Utc>,
    ) -> Result<(), FetchError> {
        let as_user = connected.acting_as(&user.email);
        let answer = match kept {
            Some(kept) if kept.name.is_some() => {
                let name = kept.name.as_deref().unwrap_or_default();
                match kept.state {
                    SubscriptionState::Suspended => {
                        match self.api.reactivate_subscription(&as_user, name).await {
                            // Refused: still suspended, or not suspended at all (the notice
                            // came late). Google's own record says which.
                            Err(error) if !error.is_transient() && !is_refusal(&error) => {
                                match self.api.get_subscription(&as_user, name).await {
                                    Ok(found) if found.state == GoogleState::Suspended => {
                                        Err(error)
                                    }
                                    other => other,
                                }
                            }
                            other => other,
                        }
                    }
                    SubscriptionState::Active
                        if kept
                            .expire_time
                            .is_none_or(|expires| expires - RENEW_BEFORE <= now) =>
                    {
                        self.api.renew_subscription(&as_user, name).await
                    }
                    SubscriptionState::Active if reconcile => {
                        self.api.get_subscription(&as_user, name).await
                    }
                    SubscriptionState::Active => return Ok(()),
                    SubscriptionState::Expired
                    | SubscriptionState::Failed
                    | SubscriptionState::Deleted => self.create(connected, user).await,
                }
            }
            _ => self.create(connected, user).await,
        };
        // A subscription Google no longer has is made again.
        let answer = match answer {
            Err(GoogleApiError::NotFound) => self.create(connected, user).await,
            other => other,
        };
        let (change_error, result) = match &answer {
            Ok(_) => (None, Ok(())),
            Err(error) => (Some(error.to_string()), Err(fetch_error(error.clone()))),
        };
        let change = match &answer {
            Ok(subscription) => SubscriptionChange {
                name: Some(&subscription.name),
                state: match subscription.state {
                    GoogleState::Active => SubscriptionState::Active,
                    GoogleState::Suspended => SubscriptionState::Suspended,
                    GoogleState::Deleted => SubscriptionState::Expired,
                },
                suspension_reason: subscription.suspension_reason.as_deref(),
                expire_time: subscription.expire_time,
                renewed: true,
                error: None,
            },
            // Still suspended (its cause not fixed yet), or not made: kept as it was, with why.
            Err(_) => SubscriptionChange {
                name: None,
                state: match kept.map(|kept| kept.state) {
                    Some(SubscriptionState::Suspended) => SubscriptionState::Suspended,
                    Some(SubscriptionState::Active) if !transient(&answer) => {
                        SubscriptionState::Failed
                    }
                    Some(SubscriptionState::Active) => SubscriptionState::Active,
                    _ => SubscriptionState::Failed,
                },
                suspension_reason: kept.and_then(|kept| kept.suspension_reason.as_deref()),
                expire_time: None,
                renewed: false,
                error: change_error.as_deref(),
            },
        };
        let mut connection = self.database().await?;
        store::save(
            &mut connection,
            connected.account.connection_id,
            &user.user_id,
            &user.email,
            &change,
            now,
        )
        .await
        .map_err(failed)?;
        result
    }

    /// Makes the member of staff's subscription; one that exists already (made by an earlier
    /// install, or before a crash) is found and kept.
    async fn create(
        &self,
        connected: &Connected,
        user: &MonitoredUser,
    ) -> Result<Subscription, GoogleApiError> {
        let as_user = connected.acting_as(&user.email);
        let topic = &connected.account.settings.pubsub_topic;
        match self
            .api
            .create_subscription(&as_user, &user.user_id, &EVENT_TYPES, topic)
            .await
        {
            Err(GoogleApiError::AlreadyExists) => {
                let filter = super::api::events::subscription_filter(
                    &EVENT_TYPES,
                    Some(&super::api::events::user_target(&user.user_id)),
                );
                self.api
                    .list_subscriptions(&as_user, &filter)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or(GoogleApiError::AlreadyExists)
            }
            other => other,
        }
    }

    /// Deletes the subscription of someone no longer monitored.
    async fn stop(
        &self,
        connected: &Connected,
        subscription: &StoredSubscription,
        now: DateTime<Utc>,
    ) -> Result<(), FetchError> {
        if let Some(name) = &subscription.name {
            let as_user = connected.acting_as(&subscription.user_email);
            match self.api.delete_subscription(&as_user, name).await {
                Ok(()) | Err(GoogleApiError::NotFound) => {}
                Err(error) => return Err(fetch_error(error)),
            }
        }
        let mut connection = self.database().await?;
        store::save(
            &mut connection,
            connected.account.connection_id,
            &subscription.user_id,
            &subscription.user_email,
            &SubscriptionChange {
                name: None,
                state: SubscriptionState::Deleted,
                suspension_reason: None,
                expire_time: None,
                renewed: false,
                error: None,
            },
            now,
        )
        .await
        .map_err(failed)
    }

    /// The staff the connection monitors, from the Directory (read at most hourly).
    async fn monitored(&self, connected: &Connected) -> Result<Vec<MonitoredUser>, FetchError> {
        let connection_id = connected.account.connection_id;
        let monitored = &connected.account.settings.monitored;
        if let Some(resolved) = self
            .upkeep
            .resolved
            .lock()
            .expect("upkeep lock")
            .get(&connection_id)
        {
            // Settings changed by an import are followed at once.
            if resolved.at.elapsed() < RESOLVE_EVERY && resolved.from == *monitored {
                return Ok(resolved.users.clone());
            }
        }
        let admin = connected.admin();
        let mut users: Vec<MonitoredUser> = Vec::new();
        let mut add = |user_id: String, email: String| {
            if !users.iter().any(|known| known.user_id == user_id) {
                users.push(MonitoredUser {
                    user_id,
                    email: email.trim().to_lowercase(),
                });
            }
        };
        for address in &monitored.users {
            match self.api.user(&admin, address).await {
                Ok(user) if !user.suspended => add(user.id, user.primary_email),
                Ok(_) => {}
                // A listed address the Directory does not have cannot be subscribed; the
                // subscription list shows who is covered.
                Err(GoogleApiError::NotFound) => {
                    tracing::warn!(connection_id, "a monitored address is not in the Directory")
                }
                Err(error) => return Err(fetch_error(error)),
            }
        }
        for org_unit in &monitored.org_units {
            for user in self
                .api
                .users_in_org_unit(&admin, org_unit)
                .await
                .map_err(fetch_error)?
            {
                if !user.suspended {
                    add(user.id, user.primary_email);
                }
            }
        }
        for group in &monitored.groups {
            for user_id in self
                .api
                .group_members(&admin, group)
                .await
                .map_err(fetch_error)?
            {
                match self.api.user(&admin, &user_id).await {
                    Ok(user) if !user.suspended => add(user.id, user.primary_email),
                    Ok(_) | Err(GoogleApiError::NotFound) => {}
                    Err(error) => return Err(fetch_error(error)),
                }
            }
        }
        self.upkeep.resolved.lock().expect("upkeep lock").insert(
            connection_id,
            Resolved {
                at: Instant::now(),
                from: monitored.clone(),
                users: users.clone(),
            },
        );
        Ok(users)
    }
}

/// The connection's credentials are refused: nothing else will work either.
fn is_refusal(error: &GoogleApiError) -> bool {
    matches!(error, GoogleApiError::Credentials(_))
}

fn transient<T>(answer: &Result<T, GoogleApiError>) -> bool {
    answer
        .as_ref()
        .err()
        .is_some_and(GoogleApiError::is_transient)
}
