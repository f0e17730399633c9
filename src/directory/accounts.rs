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

/// (platform, account id) → (the account, when it was looked up).
type AccountCache = HashMap<(Platform, String), (MonitoredAccount, Instant)>;

/// A monitored account: its connection (the `platform_accounts` row) and its school.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitoredAccount {
    pub connection_id: i64,
    pub school_id: i64,
}

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

    /// The connection and school that monitor `account_id`, or `None` when no school does.
    pub async fn account_for(
        &self,
        platform: Platform,
        account_id: &str,
    ) -> Result<Option<MonitoredAccount>, sqlx::Error> {
        let key = (platform, account_id.to_string());
        if let Some((account, cached_at)) = self.cache.read().expect("cache lock").get(&key) {
            if cached_at.elapsed() < POSITIVE_TTL {
                return Ok(Some(*account));
            }
        }
        let row = sqlx::query(
            "SELECT id, school_id FROM platform_accounts WHERE platform = $1 AND account_id = $2",
        )
        .bind(platform.as_str())
        .bind(account_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let account = row
            .map(|row| -> Result<MonitoredAccount, sqlx::Error> {
                Ok(MonitoredAccount {
                    connection_id: row.try_get("id")?,
                    school_id: row.try_get("school_id")?,
                })
            })
            .transpose()?;
        let mut cache = self.cache.write().expect("cache lock");
        match account {
            Some(account) => {
                cache.insert(key, (account, Instant::now()));
            }
            None => {
                cache.remove(&key);
            }
        }
        Ok(account)
    }
}
