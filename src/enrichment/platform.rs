//! What the enrichment worker asks of a platform's API, in neutral terms, and the registry
//! that picks the platform's implementation by the platform a job or account is stored
//! under. A platform module (`zoom`) implements [`PlatformApi`]; this module depends on none.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::{FetchError, Fetched, Job};
use crate::meeting::Platform;

/// A platform call in flight. Boxed so that the traits stay usable as `dyn` objects.
pub type PlatformFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One platform's API, as enrichment needs it.
pub trait PlatformApi: Send + Sync {
    /// The platform this answers for.
    fn platform(&self) -> Platform;

    /// Answers `job` (meeting or host settings, account membership, registrants, the
    /// participant report) in neutral records; `now` is the caller's clock, against which a
    /// rate limit holding the account back is judged.
    fn fetch<'a>(
        &'a self,
        job: &'a Job,
        now: DateTime<Utc>,
    ) -> PlatformFuture<'a, Result<Fetched, FetchError>>;

    /// How the platform tells how many meetings are live on an account, if it can: the
    /// silence check needs it to tell quiet webhooks from a quiet school.
    fn live_meetings(&self) -> Option<&dyn LiveMeetingsApi> {
        None
    }

    /// What the platform needs kept up on a clock so that its events keep coming (Google's
    /// subscriptions: made for monitored staff, renewed before they expire), if anything.
    /// Returns how many alerts it queued (a coverage gap found or closed).
    fn upkeep<'a>(
        &'a self,
        _now: DateTime<Utc>,
    ) -> Option<PlatformFuture<'a, Result<usize, FetchError>>> {
        None
    }
}

/// A platform that can count the meetings live on an account.
pub trait LiveMeetingsApi: Send + Sync {
    /// How many meetings are live on `account_id` at `now`; `today` is the account's date
    /// (its school's). `FetchError::NotConfigured` for an account without credentials and
    /// `FetchError::AccountHeld` while a rate limit holds it back.
    fn count<'a>(
        &'a self,
        account_id: &'a str,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> PlatformFuture<'a, Result<u64, FetchError>>;
}

/// The platform APIs chaperone can read, by platform.
#[derive(Clone, Default)]
pub struct Platforms {
    apis: HashMap<Platform, Arc<dyn PlatformApi>>,
}

impl Platforms {
    /// Adds (or replaces) the API of `api.platform()`.
    pub fn with(mut self, api: Arc<dyn PlatformApi>) -> Self {
        self.apis.insert(api.platform(), api);
        self
    }

    /// The API of `platform`; `None` when chaperone has none for it.
    pub fn get(&self, platform: Platform) -> Option<&dyn PlatformApi> {
        self.apis.get(&platform).map(|api| api.as_ref())
    }

    /// Every platform's API, with its platform.
    pub fn all(&self) -> impl Iterator<Item = (Platform, &dyn PlatformApi)> {
        self.apis
            .iter()
            .map(|(platform, api)| (*platform, api.as_ref()))
    }

    /// Every platform that can count live meetings, with its counter.
    pub fn with_live_meetings(&self) -> impl Iterator<Item = (Platform, &dyn LiveMeetingsApi)> {
        self.apis
            .iter()
            .filter_map(|(platform, api)| Some((*platform, api.live_meetings()?)))
    }
}
