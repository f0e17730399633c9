//! Users and their personal API tokens: `POST /api/v1/users` (an admin adds a user with
//! their roles), `GET/POST /api/v1/tokens` and `POST /api/v1/tokens/{id}/revoke` (a user's
//! own tokens, each carrying one of their roles at one school, the token shown once).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::audited::{self, Change};
use super::auth;
use super::json::JsonBody;
use crate::config::Secret;
use crate::error::ApiError;
use crate::identity::passwords::{self, PasswordError};
use crate::identity::sessions::{self, SignInError};
use crate::identity::store::{self, IdentityError, TokenSummary};
use crate::identity::{Capability, Grant, Principal, Role, SignedIn};
use crate::state::AppState;

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::EmailTaken => ApiError::Conflict(error.to_string()),
            IdentityError::NoSuchUser => ApiError::NotFound("user"),
            IdentityError::RoleNotHeld { .. } => ApiError::Forbidden(error.to_string()),
            IdentityError::UnknownRole { .. } => ApiError::Internal(anyhow::Error::new(error)),
            IdentityError::Database(error) => error.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    role: Role,
    /// The school; absent: every school of the installation.
    #[serde(default)]
    school_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    name: String,
    /// A local password, for installations without single sign-on.
    #[serde(default)]
    password: Option<String>,
    roles: Vec<GrantRequest>,
}

/// An admin adds a user with roles at the schools they configure (a role at every school
/// needs a trust-wide admin).
pub async fn create_user(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let reach = auth::reach(&principal, Capability::Configure)?;
    for grant in &new.roles {
        let allowed = match grant.school_id {
            Some(school_id) => reach.includes(school_id),
            None => reach == crate::identity::Reach::Everywhere,
        };
        if !allowed {
            return Err(ApiError::Forbidden(
                "a role can be given only at schools you configure".into(),
            ));
        }
    }
    if !new.email.contains('@') || new.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_user",
            "a user needs an email address and a name",
        ));
    }
    let password_hash = new
        .password
        .map(|password| passwords::hash(&Secret::new(password)))
        .transpose()
        .map_err(|error| match error {
            PasswordError::TooShort => ApiError::bad_request("weak_password", error.to_string()),
            PasswordError::Unreadable => ApiError::Internal(anyhow::Error::new(error)),
        })?;
    let now = Utc::now();
    let mut tx = db.pool.begin().await?;
    let id = store::create_user(
        &mut tx,
        &new.email,
        &new.name,
        password_hash.as_deref(),
        now,
    )
    .await?;
    for grant in &new.roles {
        let grant = Grant {
            role: grant.role,
            school_id: grant.school_id,
        };
        store::grant(&mut tx, id, grant, now).await?;
        audited::record(
            &mut tx,
            db.backend,
            &principal,
            Change {
                school_id: grant.school_id,
                action: "user.role_granted",
                subject_kind: "user",
                subject_id: id,
                before: None,
                after: Some(json!({"email": new.email.trim().to_lowercase(), "name": new.name.trim(), "role": grant.role, "school_id": grant.school_id})),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Tokens belong to users; the bootstrap token has none.
fn signed_in(principal: &Principal) -> Result<&SignedIn, ApiError> {
    match principal {
        Principal::User(user) => Ok(user),
        Principal::Bootstrap => Err(ApiError::Forbidden(
            "the bootstrap admin token has no tokens of its own; sign in as a user".into(),
        )),
    }
}

pub async fn list_tokens(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<TokenSummary>>, ApiError> {
    let user = signed_in(&principal)?;
    let mut connection = db.pool.acquire().await?;
    Ok(Json(store::tokens_of(&mut connection, user.user_id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    role: Role,
    #[serde(default)]
    school_id: Option<i64>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// Makes a token carrying one of the user's own roles; the answer is the only time the token
/// is shown. A token cannot make another token with more than it carries.
pub async fn create_token(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(new): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = signed_in(&principal)?;
    if new.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_token",
            "a token needs a name",
        ));
    }
    let grant = Grant {
        role: new.role,
        school_id: new.school_id,
    };
    if user.token.is_some() && !user.grants.iter().any(|held| held.covers(&grant)) {
        return Err(ApiError::Forbidden(
            "a token can only make tokens within what it carries".into(),
        ));
    }
    let mut tx = db.pool.begin().await?;
    let (id, token) = store::create_token(
        &mut tx,
        user.user_id,
        &new.name,
        grant,
        new.expires_at,
        Utc::now(),
    )
    .await?;
    audited::record(
        &mut tx,
        db.backend,
        &principal,
        Change {
            school_id: grant.school_id,
            action: "token.created",
            subject_kind: "api_token",
            subject_id: id,
            before: None,
            after: Some(json!({"name": new.name.trim(), "role": grant.role, "school_id": grant.school_id, "expires_at": new.expires_at})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "token": token, "shown_once": true })),
    ))
}

pub async fn revoke_token(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let user = signed_in(&principal)?;
    let mut tx = db.pool.begin().await?;
    if !store::revoke_token(&mut tx, user.user_id, id, Utc::now()).await? {
        return Err(ApiError::NotFound("token"));
    }
    audited::record(
        &mut tx,
        db.backend,
        &principal,
        Change {
            school_id: None,
            action: "token.revoked",
            subject_kind: "api_token",
            subject_id: id,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    email: String,
    password: String,
}

/// `POST /api/v1/sign-in`: a local password for a session secret (`chs_…`), shown once.
/// Not behind a token: it is how one is had.
pub async fn sign_in(
    State(AppState { db, .. }): State<AppState>,
    JsonBody(request): JsonBody<SignIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut connection = db.pool.acquire().await?;
    let secret = sessions::sign_in_with_password(
        &mut connection,
        &request.email,
        &Secret::new(request.password),
        Utc::now(),
    )
    .await
    .map_err(|error| match error {
        SignInError::Refused => ApiError::Unauthorized,
        SignInError::Locked => ApiError::TooManyRequests(error.to_string()),
        SignInError::Identity(error) => error.into(),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "session": secret,
            "idle_timeout_secs": sessions::IDLE_TIMEOUT.num_seconds(),
            "expires_in_secs": sessions::ABSOLUTE_TIMEOUT.num_seconds(),
        })),
    ))
}

/// `POST /api/v1/sign-out`: ends the session the request came with.
pub async fn sign_out(
    State(AppState { db, .. }): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<StatusCode, ApiError> {
    let secret = super::auth::bearer_token(&headers)
        .filter(|secret| secret.starts_with(sessions::PREFIX))
        .ok_or_else(|| ApiError::bad_request("not_a_session", "sign-out ends a session"))?;
    let mut connection = db.pool.acquire().await?;
    sessions::end(&mut connection, secret, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
