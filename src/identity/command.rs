//! Users from the command line: the first admin of an installation, before anyone can sign in
//! to add others. Recorded in the audit log as chaperone's own act.

use chrono::Utc;
use serde_json::json;

use super::passwords::{self, PasswordError};
use super::store::{self, IdentityError};
use super::{Grant, Role};
use crate::audit;
use crate::config::Secret;
use crate::db::Db;

#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    #[error("no school has the slug {0:?}")]
    UnknownSchool(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl From<sqlx::Error> for AddUserError {
    fn from(error: sqlx::Error) -> Self {
        AddUserError::Identity(IdentityError::Database(error))
    }
}

/// Adds a user holding `role` at the school `school_slug` (or every school), with a local
/// password when one is given; returns their id.
pub async fn add_user(
    db: &Db,
    email: &str,
    name: &str,
    role: Role,
    school_slug: Option<&str>,
    password: Option<&Secret>,
) -> Result<i64, AddUserError> {
    let school_id = match school_slug {
        Some(slug) => Some(
            crate::directory::list_schools(db)
                .await?
                .into_iter()
                .find(|school| school.slug == slug)
                .ok_or_else(|| AddUserError::UnknownSchool(slug.to_string()))?
                .id,
        ),
        None => None,
    };
    let password_hash = password.map(passwords::hash).transpose()?;
    let now = Utc::now();
    let mut tx = db.pool.begin().await?;
    let id = store::create_user(&mut tx, email, name, password_hash.as_deref(), now).await?;
    let grant = Grant { role, school_id };
    store::grant(&mut tx, id, grant, now).await?;
    audit::record(
        &mut tx,
        db.backend,
        &audit::Entry {
            actor: &audit::Actor::System,
            school_id,
            action: "user.role_granted",
            subject_kind: "user",
            subject_id: &id.to_string(),
            before: None,
            after: Some(&json!({
                "email": email.trim().to_lowercase(),
                "name": name.trim(),
                "role": role,
                "school_id": school_id,
                "by": "the command line",
            })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
