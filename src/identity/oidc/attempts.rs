//! The SQL of pending sign-ins (`oidc_attempts`): made when the browser leaves for the
//! provider, claimed once when it comes back.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use crate::db::time::{from_millis, to_millis};

/// A sign-in the browser has come back to, as claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedAttempt {
    pub id: i64,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub created_at: DateTime<Utc>,
}

/// Stores a new attempt under the digest of its state; returns its id.
pub async fn insert(
    connection: &mut AnyConnection,
    state_hash: &str,
    nonce: &str,
    pkce_verifier: &str,
    return_to: &str,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO oidc_attempts (state_hash, nonce, pkce_verifier, return_to, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(state_hash)
    .bind(nonce)
    .bind(pkce_verifier)
    .bind(return_to)
    .bind(to_millis(now))
    .fetch_one(connection)
    .await?;
    row.try_get("id")
}

/// Marks the attempt with this state digest used and returns it, if it was known and unused.
/// One statement, so that of two callbacks with the same state only one gets the attempt;
/// whatever happens to the sign-in afterwards, the state is spent.
pub async fn claim(
    connection: &mut AnyConnection,
    state_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<ClaimedAttempt>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE oidc_attempts SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL \
         RETURNING id, nonce, pkce_verifier, return_to, created_at",
    )
    .bind(to_millis(now))
    .bind(state_hash)
    .fetch_optional(connection)
    .await?;
    row.map(|row| {
        Ok(ClaimedAttempt {
            id: row.try_get("id")?,
            nonce: row.try_get("nonce")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
            return_to: row.try_get("return_to")?,
            created_at: from_millis(row.try_get("created_at")?),
        })
    })
    .transpose()
}

/// Deletes attempts made before `before` (void by then, used or not); returns how many.
pub async fn delete_made_before(
    connection: &mut AnyConnection,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM oidc_attempts WHERE created_at < $1")
        .bind(to_millis(before))
        .execute(connection)
        .await?;
    Ok(result.rows_affected())
}
