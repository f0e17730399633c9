//! The SQL of calendar feeds: one per user, found by the digest of the secret in its address.
//! The secret is 256 random bits shown once as `chc_…` (as API tokens are, with a prefix of
//! its own), so a copy of the database gives nobody anyone's calendar.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use crate::db::time::{from_millis, to_millis};
use crate::identity::store::{grants_of, IdentityError};
use crate::identity::{tokens, Principal, SignedIn};

/// What every feed secret starts with, so that one pasted in the wrong place is recognisable.
pub const PREFIX: &str = "chc_";

/// How often a feed's last read is written down: calendar apps read it every few minutes.
const LAST_READ_EVERY_MS: i64 = 60_000;

/// A user's feed as their page shows it (never the secret, which is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSummary {
    pub created_at: DateTime<Utc>,
    pub last_read_at: Option<DateTime<Utc>>,
}

impl FeedSummary {
    /// The feed as the audit log records it: when it was made, never its secret.
    pub fn audit_state(&self) -> serde_json::Value {
        serde_json::json!({ "created_at": self.created_at })
    }
}

/// A new secret for a feed's address.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system provides random bytes");
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Makes `user_id` a feed, replacing the one they had (whose address stops working); returns
/// the new secret, to be shown once.
pub async fn make(
    connection: &mut AnyConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let secret = generate_secret();
    sqlx::query(
        "INSERT INTO calendar_feeds (user_id, secret_hash, created_at, last_read_at) VALUES ($1, $2, $3, NULL) \
         ON CONFLICT (user_id) DO UPDATE SET secret_hash = excluded.secret_hash, \
           created_at = excluded.created_at, last_read_at = NULL",
    )
    .bind(user_id)
    .bind(tokens::digest(&secret))
    .bind(to_millis(now))
    .execute(connection)
    .await?;
    Ok(secret)
}

/// Revokes `user_id`'s feed; returns whether they had one.
pub async fn revoke(connection: &mut AnyConnection, user_id: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
        .bind(user_id)
        .execute(connection)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// `user_id`'s feed, if they have one.
pub async fn summary_of(
    connection: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<FeedSummary>, sqlx::Error> {
    let row = sqlx::query("SELECT created_at, last_read_at FROM calendar_feeds WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(connection)
        .await?;
    row.map(|row| {
        Ok(FeedSummary {
            created_at: from_millis(row.try_get("created_at")?),
            last_read_at: row
                .try_get::<Option<i64>, _>("last_read_at")?
                .map(from_millis),
        })
    })
    .transpose()
}

/// The owner of the feed whose address carries `secret`, with the roles they hold now, and
/// the read noted. `None` for a secret unknown or replaced, or a disabled user's.
pub async fn owner_of(
    connection: &mut AnyConnection,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<Principal>, IdentityError> {
    if !secret.starts_with(PREFIX) {
        return Ok(None);
    }
    let digest = tokens::digest(secret);
    let row = sqlx::query(
        "SELECT f.last_read_at, u.id AS user_id, u.display_name, u.person_id, u.disabled \
         FROM calendar_feeds f JOIN users u ON u.id = f.user_id WHERE f.secret_hash = $1",
    )
    .bind(&digest)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.try_get::<i64, _>("disabled")? != 0 {
        return Ok(None);
    }
    let user_id: i64 = row.try_get("user_id")?;
    let now_ms = to_millis(now);
    let last_read: Option<i64> = row.try_get("last_read_at")?;
    if last_read.is_none_or(|at| now_ms - at >= LAST_READ_EVERY_MS) {
        sqlx::query("UPDATE calendar_feeds SET last_read_at = $1 WHERE secret_hash = $2")
            .bind(now_ms)
            .bind(&digest)
            .execute(&mut *connection)
            .await?;
    }
    Ok(Some(Principal::User(SignedIn {
        user_id,
        name: row.try_get("display_name")?,
        person_id: row.try_get("person_id")?,
        grants: grants_of(connection, user_id).await?,
        token: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_new_each_time_long_and_unlike_api_tokens() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        assert!(!a.starts_with(tokens::PREFIX));
        assert!(a[PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
