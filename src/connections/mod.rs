//! Connections: one platform account (a Zoom account, or a Google Workspace for Meet)
//! connected to one school, with an endpoint of its own
//! (`POST /webhooks/{platform}/{endpoint_id}`) and its own secrets, stored sealed. A
//! connection is a row of `platform_accounts`; [`setup`] is the one way one is added or
//! its secrets set, by an import or from the console.
//!
//! Looked up on every delivery, so found connections are cached briefly
//! (`server.connection_cache_ms`); a delivery whose signature does not match a cached
//! connection reads it again once, so a secret added by an import is honoured at once.

pub mod google;
pub mod setup;
pub mod status;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::Secret;
use crate::db::Db;
use crate::meeting::Platform;
use crate::secrets::{SecretKeys, SecretsError};

/// What a delivery to a connection's endpoint is checked against and attributed to.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: i64,
    pub platform: Platform,
    pub school_id: i64,
    pub account_id: String,
    pub webhook_secrets: WebhookSecrets,
    /// A Google Workspace connection's settings (what its push tokens must say).
    pub google: Option<google::GoogleSettings>,
    /// The feeds that deliver its events, where its platform has them (a Google
    /// connection's subscriptions, by name): `None` for a platform without.
    pub feeds: Option<std::collections::HashSet<String>>,
}

impl Connection {
    /// What deliveries to this connection are checked against.
    pub fn expected(&self) -> crate::http::webhooks::source::Expected<'_> {
        crate::http::webhooks::source::Expected {
            secrets: &self.webhook_secrets,
            google: self.google.as_ref(),
        }
    }
}

/// The secrets a platform signs deliveries with: the current one, and the one before a
/// rotation while it is still set. Either may be unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookSecrets {
    pub current: Secret,
    pub previous: Secret,
}

impl WebhookSecrets {
    pub fn all(&self) -> [&Secret; 2] {
        [&self.current, &self.previous]
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty() && self.previous.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("the connections could not be read: {0}")]
    Database(#[from] sqlx::Error),
    #[error("connection {connection_id}: {source}")]
    Sealed {
        connection_id: i64,
        source: SecretsError,
    },
}

type Cache = HashMap<(Platform, String), (Connection, Instant)>;

#[derive(Clone)]
pub struct Connections {
    db: Db,
    keys: Arc<SecretKeys>,
    cache_ttl: Duration,
    cache: Arc<RwLock<Cache>>,
    /// Held while an expired or missing entry is read from the database, so that the many
    /// deliveries arriving when an entry expires wait for one read instead of each making
    /// their own (on SQLite they would queue for the one connection ingestion also needs).
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

/// Whether a connection came from the cache (and so may be older than the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Cached,
    Read,
}

impl Connections {
    pub fn new(db: Db, keys: Arc<SecretKeys>, cache_ttl: Duration) -> Self {
        Connections {
            db,
            keys,
            cache_ttl,
            cache: Arc::default(),
            refreshing: Arc::default(),
        }
    }

    /// The connection behind an endpoint id, or `None` when there is none.
    pub async fn find(
        &self,
        platform: Platform,
        endpoint_id: &str,
    ) -> Result<Option<(Connection, Freshness)>, ConnectionError> {
        let key = (platform, endpoint_id.to_string());
        if let Some(connection) = self.cached(&key) {
            return Ok(Some((connection, Freshness::Cached)));
        }
        let _refreshing = self.refreshing.lock().await;
        // Another delivery may have read it while this one waited.
        if let Some(connection) = self.cached(&key) {
            return Ok(Some((connection, Freshness::Cached)));
        }
        Ok(self
            .read(platform, endpoint_id)
            .await?
            .map(|connection| (connection, Freshness::Read)))
    }

    fn cached(&self, key: &(Platform, String)) -> Option<Connection> {
        let cache = self.cache.read().expect("cache lock");
        let (connection, cached_at) = cache.get(key)?;
        (cached_at.elapsed() < self.cache_ttl).then(|| connection.clone())
    }

    /// Reads the connection from the database, bypassing (and refreshing) the cache.
    pub async fn read(
        &self,
        platform: Platform,
        endpoint_id: &str,
    ) -> Result<Option<Connection>, ConnectionError> {
        let key = (platform, endpoint_id.to_string());
        let mut connection = self.db.pool.acquire().await?;
        let found = store::by_endpoint(&mut connection, &self.keys, platform, endpoint_id).await?;
        let mut cache = self.cache.write().expect("cache lock");
        match &found {
            Some(connection) => {
                cache.insert(key, (connection.clone(), Instant::now()));
            }
            None => {
                cache.remove(&key);
            }
        }
        Ok(found)
    }

    /// Drops the connection behind an endpoint id from this instance's cache, so that the next
    /// delivery reads a change made here (a secret rotated or removed) at once. Other
    /// instances see it within the cache's lifetime.
    pub fn forget(&self, platform: Platform, endpoint_id: &str) {
        self.cache
            .write()
            .expect("cache lock")
            .remove(&(platform, endpoint_id.to_string()));
    }

    /// Notes that the platform validated connection `connection_id`'s endpoint, without
    /// holding up the answer the platform waits for (Zoom allows three seconds): the note is
    /// written on its own, and a failure to write it is logged, never answered.
    pub fn note_url_validation(&self, connection_id: i64) {
        let db = self.db.clone();
        tokio::spawn(async move {
            let noted = async {
                let mut connection = db.pool.acquire().await?;
                status::record_url_validation(&mut connection, connection_id, chrono::Utc::now())
                    .await
            };
            if let Err(error) = noted.await {
                tracing::warn!(connection_id, %error, "the endpoint's validation could not be noted");
            }
        });
    }
}

/// The path a platform is told to deliver a connection's events to.
pub fn endpoint_path(platform: Platform, endpoint_id: &str) -> String {
    format!("/webhooks/{}/{endpoint_id}", platform.as_str())
}

/// The address a platform is given for an endpoint path: the path behind the address people
/// reach chaperone at (`server.public_url`).
pub fn endpoint_url(public_url: &str, endpoint_path: &str) -> String {
    format!("{}{endpoint_path}", public_url.trim_end_matches('/'))
}

/// A new unguessable endpoint id: 128 random bits.
pub fn new_endpoint_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the operating system provides random bytes");
    hex::encode(bytes)
}
