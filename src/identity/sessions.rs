//! Signed-in sessions, kept server-side: the secret (`chs_…`) is given to the user once and
//! stored only as its digest; a session ends when idle for [`IDLE_TIMEOUT`], at
//! [`ABSOLUTE_TIMEOUT`] after sign-in, or at sign-out. Sign-in with a local password is
//! throttled per account: after [`MAX_FAILURES`] wrong passwords in a row the account is
//! locked for [`LOCKOUT`], and the answer does not say whether the address exists.

use chrono::{DateTime, Duration, Utc};
use sqlx::{AnyConnection, Row};

use super::store::{self, IdentityError};
use super::{passwords, tokens, Principal, SignedIn};
use crate::config::Secret;
use crate::db::time::to_millis;

pub const PREFIX: &str = "chs_";
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
pub const MAX_FAILURES: i64 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);

/// Why a sign-in did not succeed. The words are the same for a wrong password and an unknown
/// address, so that nobody learns who has an account.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the address or the password is wrong")]
    Refused,
    #[error("too many wrong passwords: try again later")]
    Locked,
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl From<sqlx::Error> for SignInError {
    fn from(error: sqlx::Error) -> Self {
        SignInError::Identity(IdentityError::Database(error))
    }
}

/// Checks the password and opens a session; returns the session secret, shown once.
pub async fn sign_in_with_password(
    connection: &mut AnyConnection,
    email: &str,
    password: &Secret,
    now: DateTime<Utc>,
) -> Result<String, SignInError> {
    let Some((user, stored)) = store::user_by_email(connection, email).await? else {
        // As long as a real check, so that timing does not tell an unknown address.
        let _ = passwords::hash(&Secret::new("an-address-nobody-has"));
        return Err(SignInError::Refused);
    };
    let row = sqlx::query("SELECT failed_sign_ins, locked_until FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&mut *connection)
        .await?;
    let locked_until: Option<i64> = row.try_get("locked_until")?;
    if locked_until.is_some_and(|until| until > to_millis(now)) {
        return Err(SignInError::Locked);
    }
    let matches = match &stored {
        Some(stored) => passwords::matches(password, stored).unwrap_or(false),
        None => false,
    };
    if !matches || user.disabled {
        let failures: i64 = row.try_get::<i64, _>("failed_sign_ins")? + 1;
        let lock = (failures >= MAX_FAILURES).then(|| to_millis(now + LOCKOUT));
        sqlx::query("UPDATE users SET failed_sign_ins = $1, locked_until = $2 WHERE id = $3")
            .bind(if lock.is_some() { 0 } else { failures })
            .bind(lock)
            .bind(user.id)
            .execute(&mut *connection)
            .await?;
        return Err(if lock.is_some() {
            SignInError::Locked
        } else {
            SignInError::Refused
        });
    }
    sqlx::query(
        "UPDATE users SET failed_sign_ins = 0, locked_until = NULL, last_sign_in_at = $1 WHERE id = $2",
    )
    .bind(to_millis(now))
    .bind(user.id)
    .execute(&mut *connection)
    .await?;
    Ok(open(connection, user.id, now).await?)
}

/// Opens a session for `user_id` (a new secret every time: a session id is never reused
/// across a sign-in).
pub async fn open(
    connection: &mut AnyConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<String, IdentityError> {
    let secret = format!("{PREFIX}{}", &tokens::generate()[tokens::PREFIX.len()..]);
    sqlx::query(
        "INSERT INTO sessions (session_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
    )
    .bind(tokens::digest(&secret))
    .bind(user_id)
    .bind(to_millis(now))
    .bind(to_millis(now + ABSOLUTE_TIMEOUT))
    .execute(&mut *connection)
    .await?;
    sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
        .bind(to_millis(now))
        .bind(user_id)
        .execute(connection)
        .await?;
    Ok(secret)
}

/// The principal of a live session (its user with all their roles), marking it seen.
pub async fn principal(
    connection: &mut AnyConnection,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<Principal>, IdentityError> {
    let row = sqlx::query(
        "SELECT s.id, s.user_id, s.last_seen_at, s.expires_at, s.ended_at, u.display_name, u.person_id, u.disabled \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.session_hash = $1",
    )
    .bind(tokens::digest(secret))
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let now_ms = to_millis(now);
    let idle = row.try_get::<i64, _>("last_seen_at")? + IDLE_TIMEOUT.num_milliseconds() <= now_ms;
    let over = row.try_get::<i64, _>("expires_at")? <= now_ms;
    let ended = row.try_get::<Option<i64>, _>("ended_at")?.is_some();
    if idle || over || ended || row.try_get::<i64, _>("disabled")? != 0 {
        return Ok(None);
    }
    let session_id: i64 = row.try_get("id")?;
    // Written at most once a minute, as a token's last use is: each request would otherwise
    // be a write on the connection ingestion needs. The idle timeout is half an hour.
    let last_seen: i64 = row.try_get("last_seen_at")?;
    if now_ms - last_seen >= store::LAST_USED_EVERY_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(session_id)
            .execute(&mut *connection)
            .await?;
    }
    let user_id: i64 = row.try_get("user_id")?;
    Ok(Some(Principal::User(SignedIn {
        user_id,
        name: row.try_get("display_name")?,
        person_id: row.try_get("person_id")?,
        grants: store::grants_of(connection, user_id).await?,
        token: None,
    })))
}

/// Ends the session (sign-out); returns whether it was live.
pub async fn end(
    connection: &mut AnyConnection,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<bool, IdentityError> {
    let result = sqlx::query(
        "UPDATE sessions SET ended_at = $1 WHERE session_hash = $2 AND ended_at IS NULL",
    )
    .bind(to_millis(now))
    .bind(tokens::digest(secret))
    .execute(connection)
    .await?;
    Ok(result.rows_affected() > 0)
}
