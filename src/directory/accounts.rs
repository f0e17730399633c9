//! Which school monitors a platform account: looked up on every webhook, so positive answers
//! are cached briefly. Negative answers are never cached, so a newly connected account
//! is monitored from its first event.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::Row;

use crate::db::Db;
use crate::meeting::Platform;

const POSITIVE_TTL: Duration = Duration::from_secs(30);

/// (platform, account id) → (school id, when it was looked up).
type AccountCache = HashMap<(Platform, String), (i64, Instant)>;

#[derive(Clone)]
pub struct MonitoredAccounts {
    db: Db,
    cache: Arc<RwLock<AccountCache>>,
}

impl MonitoredAccounts {
    pub fn new(db: Db) -> Self {
        MonitoredAccounts {
            db,
            cache: Arc::default(),
        }
    }

    /// The school that monitors `account_id`, or `None` when no school does.
    pub async fn school_for(
        &self,
        platform: Platform,
        account_id: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        let key = (platform, account_id.to_string());
        if let Some((school_id, cached_at)) = self.cache.read().expect("cache lock").get(&key) {
            if cached_at.elapsed() < POSITIVE_TTL {
                return Ok(Some(*school_id));
            }
        }
        let row = sqlx::query(
            "SELECT school_id FROM platform_accounts WHERE platform = $1 AND account_id = $2",
        )
        .bind(platform.as_str())
        .bind(account_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let school_id = row
            .map(|row| row.try_get::<i64, _>("school_id"))
            .transpose()?;
        let mut cache = self.cache.write().expect("cache lock");
        match school_id {
            Some(id) => {
                cache.insert(key, (id, Instant::now()));
            }
            None => {
                cache.remove(&key);
            }
        }
        Ok(school_id)
    }
}
