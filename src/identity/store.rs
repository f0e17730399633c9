//! The SQL of users, their roles and their API tokens.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{tokens, Grant, Principal, Role, SignedIn};
use crate::db::time::{from_millis, to_millis};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("a user with that address exists already")]
    EmailTaken,
    #[error("no such user")]
    NoSuchUser,
    #[error("the user does not hold the role {role} there, so a token cannot carry it")]
    RoleNotHeld { role: Role },
    #[error("users row {id}: unknown role {value:?}")]
    UnknownRole { id: i64, value: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A user as stored (the password hash is not part of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub person_id: Option<i64>,
    pub disabled: bool,
}

/// Adds a user (with a local password hash, or none for single sign-on only), linked to the
/// directory person with the same address where there is one.
pub async fn create_user(
    connection: &mut AnyConnection,
    email: &str,
    display_name: &str,
    password_hash: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i64, IdentityError> {
    let email = email.trim().to_lowercase();
    let person_id: Option<i64> = sqlx::query(
        "SELECT person_id FROM person_emails WHERE email = $1 ORDER BY person_id LIMIT 1",
    )
    .bind(&email)
    .fetch_optional(&mut *connection)
    .await?
    .map(|row| row.try_get("person_id"))
    .transpose()?;
    let inserted = sqlx::query(
        "INSERT INTO users (email, display_name, password_hash, person_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&email)
    .bind(display_name.trim())
    .bind(password_hash)
    .bind(person_id)
    .bind(to_millis(now))
    .fetch_optional(&mut *connection)
    .await?;
    match inserted {
        Some(row) => Ok(row.try_get("id")?),
        None => Err(IdentityError::EmailTaken),
    }
}

/// The user with `email`, with their stored password hash.
pub async fn user_by_email(
    connection: &mut AnyConnection,
    email: &str,
) -> Result<Option<(User, Option<String>)>, IdentityError> {
    let row = sqlx::query(
        "SELECT id, email, display_name, person_id, disabled, password_hash FROM users WHERE email = $1",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(connection)
    .await?;
    row.map(|row| {
        Ok((
            User {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                display_name: row.try_get("display_name")?,
                person_id: row.try_get("person_id")?,
                disabled: row.try_get::<i64, _>("disabled")? != 0,
            },
            row.try_get("password_hash")?,
        ))
    })
    .transpose()
}

/// Gives `user_id` the role; returns whether it is new.
pub async fn grant(
    connection: &mut AnyConnection,
    user_id: i64,
    grant: Grant,
    now: DateTime<Utc>,
) -> Result<bool, IdentityError> {
    if grants_of(connection, user_id).await?.contains(&grant) {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO role_grants (user_id, role, school_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(grant.role.as_str())
    .bind(grant.school_id)
    .bind(to_millis(now))
    .execute(connection)
    .await?;
    Ok(true)
}

/// The roles `user_id` holds.
pub async fn grants_of(
    connection: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<Grant>, IdentityError> {
    let rows =
        sqlx::query("SELECT id, role, school_id FROM role_grants WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(connection)
            .await?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok(Grant {
                role: Role::parse(&role).ok_or_else(|| IdentityError::UnknownRole {
                    id: row.try_get("id").unwrap_or_default(),
                    value: role.clone(),
                })?,
                school_id: row.try_get("school_id")?,
            })
        })
        .collect()
}

/// A token as its owner sees it listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenSummary {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub school_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Makes a token for `user_id` carrying `grant`, which the user must hold; returns its id
/// and the token, which is shown once and never stored.
pub async fn create_token(
    connection: &mut AnyConnection,
    user_id: i64,
    name: &str,
    grant: Grant,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(i64, String), IdentityError> {
    let held = grants_of(connection, user_id).await?;
    if !held.iter().any(|holding| holding.covers(&grant)) {
        return Err(IdentityError::RoleNotHeld { role: grant.role });
    }
    let token = tokens::generate();
    let row = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, role, school_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(user_id)
    .bind(name.trim())
    .bind(tokens::digest(&token))
    .bind(grant.role.as_str())
    .bind(grant.school_id)
    .bind(to_millis(now))
    .bind(expires_at.map(to_millis))
    .fetch_one(connection)
    .await?;
    Ok((row.try_get("id")?, token))
}

/// The tokens of `user_id`, newest first.
pub async fn tokens_of(
    connection: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<TokenSummary>, IdentityError> {
    let rows = sqlx::query(
        "SELECT id, name, role, school_id, created_at, expires_at, last_used_at, revoked_at FROM api_tokens \
         WHERE user_id = $1 ORDER BY id DESC",
    )
    .bind(user_id)
    .fetch_all(connection)
    .await?;
    let time =
        |row: &sqlx::any::AnyRow, column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
            Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
        };
    rows.iter()
        .map(|row| {
            Ok(TokenSummary {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                role: row.try_get("role")?,
                school_id: row.try_get("school_id")?,
                created_at: from_millis(row.try_get("created_at")?),
                expires_at: time(row, "expires_at")?,
                last_used_at: time(row, "last_used_at")?,
                revoked_at: time(row, "revoked_at")?,
            })
        })
        .collect()
}

/// Revokes token `token_id` of `user_id`; returns whether it was theirs and still live.
pub async fn revoke_token(
    connection: &mut AnyConnection,
    user_id: i64,
    token_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, IdentityError> {
    let result = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(to_millis(now))
    .bind(token_id)
    .bind(user_id)
    .execute(connection)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// How often a token's last use is written down: each request would be a write.
pub(super) const LAST_USED_EVERY_MS: i64 = 60_000;

/// The principal a presented token stands for: its user, acting as the one role the token
/// carries while the user still holds it. `None` for a token unknown, revoked, expired, or
/// of a disabled user.
pub async fn principal_for_token(
    connection: &mut AnyConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Principal>, IdentityError> {
    let row = sqlx::query(
        "SELECT t.id, t.name, t.role, t.school_id, t.expires_at, t.revoked_at, t.last_used_at, \
           u.id AS user_id, u.display_name, u.person_id, u.disabled \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
    )
    .bind(tokens::digest(token))
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let now_ms = to_millis(now);
    let revoked = row.try_get::<Option<i64>, _>("revoked_at")?.is_some();
    let expired = row
        .try_get::<Option<i64>, _>("expires_at")?
        .is_some_and(|expires| expires <= now_ms);
    if revoked || expired || row.try_get::<i64, _>("disabled")? != 0 {
        return Ok(None);
    }
    let token_id: i64 = row.try_get("id")?;
    let user_id: i64 = row.try_get("user_id")?;
    let role: String = row.try_get("role")?;
    let carried = Grant {
        role: Role::parse(&role).ok_or(IdentityError::UnknownRole {
            id: token_id,
            value: role,
        })?,
        school_id: row.try_get("school_id")?,
    };
    let held = grants_of(connection, user_id).await?;
    let grants = if held.iter().any(|holding| holding.covers(&carried)) {
        vec![carried]
    } else {
        Vec::new()
    };
    let last_used: Option<i64> = row.try_get("last_used_at")?;
    if last_used.is_none_or(|at| now_ms - at >= LAST_USED_EVERY_MS) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(token_id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(Some(Principal::User(SignedIn {
        user_id,
        name: row.try_get("display_name")?,
        person_id: row.try_get("person_id")?,
        grants,
        token: Some((token_id, row.try_get("name")?)),
    })))
}

/// A role held, with the id of its grant (to take it away again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeldGrant {
    pub id: i64,
    pub grant: Grant,
}

/// A user as the console lists them: who, how they sign in, and what they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserListing {
    pub user: User,
    /// Whether the user has a local password (else only the identity provider signs them in).
    pub local_password: bool,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub grants: Vec<HeldGrant>,
}

fn held_grant(row: &sqlx::any::AnyRow) -> Result<HeldGrant, IdentityError> {
    let id: i64 = row.try_get("id")?;
    let role: String = row.try_get("role")?;
    Ok(HeldGrant {
        id,
        grant: Grant {
            role: Role::parse(&role).ok_or(IdentityError::UnknownRole { id, value: role })?,
            school_id: row.try_get("school_id")?,
        },
    })
}

fn user_listing(row: &sqlx::any::AnyRow) -> Result<UserListing, IdentityError> {
    Ok(UserListing {
        user: User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            person_id: row.try_get("person_id")?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
        },
        local_password: row.try_get::<i64, _>("local_password")? != 0,
        last_sign_in_at: row
            .try_get::<Option<i64>, _>("last_sign_in_at")?
            .map(from_millis),
        grants: Vec::new(),
    })
}

const LISTING_COLUMNS: &str = "id, email, display_name, person_id, disabled, last_sign_in_at, \
     CAST(CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) AS local_password";

/// Every user with their roles, by name.
pub async fn list_users(connection: &mut AnyConnection) -> Result<Vec<UserListing>, IdentityError> {
    let rows = sqlx::query(&format!(
        "SELECT {LISTING_COLUMNS} FROM users ORDER BY display_name, id"
    ))
    .fetch_all(&mut *connection)
    .await?;
    let mut users = rows
        .iter()
        .map(user_listing)
        .collect::<Result<Vec<_>, _>>()?;
    let grants = sqlx::query("SELECT id, user_id, role, school_id FROM role_grants ORDER BY id")
        .fetch_all(connection)
        .await?;
    for row in &grants {
        let user_id: i64 = row.try_get("user_id")?;
        let held = held_grant(row)?;
        if let Some(listing) = users.iter_mut().find(|listing| listing.user.id == user_id) {
            listing.grants.push(held);
        }
    }
    Ok(users)
}

/// User `user_id` with their roles.
pub async fn user_with_grants(
    connection: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<UserListing>, IdentityError> {
    let row = sqlx::query(&format!(
        "SELECT {LISTING_COLUMNS} FROM users WHERE id = $1"
    ))
    .bind(user_id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut listing = user_listing(&row)?;
    listing.grants = held_grants(connection, user_id).await?;
    Ok(Some(listing))
}

/// The roles `user_id` holds, with their grants' ids.
pub async fn held_grants(
    connection: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<HeldGrant>, IdentityError> {
    sqlx::query("SELECT id, role, school_id FROM role_grants WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(connection)
        .await?
        .iter()
        .map(held_grant)
        .collect()
}

/// Takes grant `grant_id` away from `user_id`; returns whether it was theirs.
pub async fn revoke_grant(
    connection: &mut AnyConnection,
    user_id: i64,
    grant_id: i64,
) -> Result<bool, IdentityError> {
    let result = sqlx::query("DELETE FROM role_grants WHERE id = $1 AND user_id = $2")
        .bind(grant_id)
        .bind(user_id)
        .execute(connection)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Disables (or enables again) `user_id`: a disabled user's sessions and tokens stop working
/// at their next request. Returns whether anything changed.
pub async fn set_disabled(
    connection: &mut AnyConnection,
    user_id: i64,
    disabled: bool,
) -> Result<bool, IdentityError> {
    let result = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2 AND disabled <> $1")
        .bind(i64::from(disabled))
        .bind(user_id)
        .execute(connection)
        .await?;
    Ok(result.rows_affected() > 0)
}
