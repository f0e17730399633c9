//! Users and their roles, and the signed-in person's own API tokens. The rules are the API's
//! (`src/api/users.rs`): roles are given only at schools the admin configures (a role at
//! every school needs a trust admin), and only a trust admin makes a trust admin; a school
//! admin sees and manages only the users of their schools. A new token is shown once, on the
//! page that answers its form, and never again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::AnyConnection;

use super::error::PageError;
use super::Console;
use crate::config::Secret;
use crate::directory::{self, School};
use crate::http::api::audited::{self, Change};
use crate::identity::passwords::{self, PasswordError};
use crate::identity::store::{self, HeldGrant, IdentityError, UserListing};
use crate::identity::{Capability, Grant, Reach, Role};
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[
    ("users.html", include_str!("templates/users.html")),
    (
        "users_token.html",
        include_str!("templates/users_token.html"),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(show_users).post(add_user))
        .route("/admin/users/{id}/roles", post(change_roles))
        .route("/admin/users/{id}/disable", post(set_disabled))
        .route("/admin/tokens", post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
}

/// The add-user form.
#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// A school's id; empty: every school.
    #[serde(default)]
    school: String,
    #[serde(default)]
    password: String,
}

/// The new-token form.
#[derive(Deserialize, Default)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    school: String,
    /// The last day the token works (`YYYY-MM-DD`, UTC); empty: until revoked.
    #[serde(default)]
    expires: String,
}

/// What the page shows again after a refused form.
#[derive(Default)]
struct Forms {
    user: FormState,
    token: FormState,
    /// Why a role was not given.
    roles: Vec<String>,
}

/// A form shown again: the values sent (never a password) and why they were refused.
#[derive(Serialize, Default)]
struct FormState {
    email: String,
    name: String,
    role: String,
    school: String,
    expires: String,
    errors: Vec<String>,
}

#[derive(Serialize)]
struct UserView {
    id: i64,
    name: String,
    email: String,
    disabled: bool,
    local_password: bool,
    last_sign_in: Option<String>,
    roles: Vec<RoleView>,
    /// Roles held at schools the viewer does not manage, not shown.
    roles_elsewhere: usize,
    /// Whether the viewer may disable or enable them (every role within their reach).
    may_disable: bool,
    is_me: bool,
}

#[derive(Serialize)]
struct RoleView {
    grant_id: i64,
    role: &'static str,
    school: String,
    removable: bool,
}

#[derive(Serialize)]
struct TokenView {
    id: i64,
    name: String,
    role: String,
    school: String,
    created: String,
    expires: Option<String>,
    last_used: Option<String>,
    /// live, expired or revoked.
    state: &'static str,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

fn time_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn school_label(schools: &[School], school_id: Option<i64>) -> String {
    match school_id {
        None => "every school".to_string(),
        Some(id) => schools
            .iter()
            .find(|school| school.id == id)
            .map(|school| school.name.clone())
            .unwrap_or_else(|| format!("school {id}")),
    }
}

/// Whether `reach` covers the school of `grant` (a grant at every school needs every school).
fn covers(reach: &Reach, school_id: Option<i64>) -> bool {
    match school_id {
        Some(school_id) => reach.includes(school_id),
        None => *reach == Reach::Everywhere,
    }
}

/// Whether the user is one of the viewer's: a trust admin's every user, a school admin's
/// those with a role at one of their schools.
fn is_managed(reach: &Reach, user: &UserListing) -> bool {
    *reach == Reach::Everywhere
        || user
            .grants
            .iter()
            .any(|held| held.grant.school_id.is_some_and(|id| reach.includes(id)))
}

pub async fn show_users(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    render(&state, &console, StatusCode::OK, Forms::default()).await
}

async fn render(
    state: &AppState,
    console: &Console,
    status: StatusCode,
    forms: Forms,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let schools = directory::list_schools(&state.db).await?;
    let me = console.user();
    let mut connection = state.db.pool.acquire().await?;
    let users = store::list_users(&mut connection)
        .await
        .map_err(identity_error)?;
    let tokens = store::tokens_of(&mut connection, me.user_id)
        .await
        .map_err(identity_error)?;
    drop(connection);
    let now = Utc::now();
    let user_views: Vec<UserView> = users
        .iter()
        .filter(|user| is_managed(&reach, user))
        .map(|user| {
            let shown: Vec<&HeldGrant> = user
                .grants
                .iter()
                .filter(|held| {
                    held.grant.school_id.is_none() || covers(&reach, held.grant.school_id)
                })
                .collect();
            UserView {
                id: user.user.id,
                name: user.user.display_name.clone(),
                email: user.user.email.clone(),
                disabled: user.user.disabled,
                local_password: user.local_password,
                last_sign_in: user.last_sign_in_at.map(time_text),
                roles: shown
                    .iter()
                    .map(|held| RoleView {
                        grant_id: held.id,
                        role: held.grant.role.as_str(),
                        school: school_label(&schools, held.grant.school_id),
                        removable: covers(&reach, held.grant.school_id)
                            && user.user.id != me.user_id,
                    })
                    .collect(),
                roles_elsewhere: user.grants.len() - shown.len(),
                may_disable: user.user.id != me.user_id
                    && user
                        .grants
                        .iter()
                        .all(|held| covers(&reach, held.grant.school_id)),
                is_me: user.user.id == me.user_id,
            }
        })
        .collect();
    let token_views: Vec<TokenView> = tokens
        .iter()
        .map(|token| TokenView {
            id: token.id,
            name: token.name.clone(),
            role: token.role.clone(),
            school: school_label(&schools, token.school_id),
            created: time_text(token.created_at),
            expires: token.expires_at.map(time_text),
            last_used: token.last_used_at.map(time_text),
            state: if token.revoked_at.is_some() {
                "revoked"
            } else if token.expires_at.is_some_and(|at| at <= now) {
                "expired"
            } else {
                "live"
            },
        })
        .collect();
    // Roles at every school are offered only to a trust admin.
    let mut school_choices = Vec::new();
    if reach == Reach::Everywhere {
        school_choices.push(Choice {
            value: String::new(),
            label: "Every school".into(),
        });
    }
    school_choices.extend(
        schools
            .iter()
            .filter(|school| reach.includes(school.id))
            .map(|school| Choice {
                value: school.id.to_string(),
                label: school.name.clone(),
            }),
    );
    let role_choices: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|role| *role != Role::TrustAdmin || reach == Reach::Everywhere)
        .map(Role::as_str)
        .collect();
    // A token carries one of the person's own roles.
    let mut token_roles: Vec<&str> = me.grants.iter().map(|grant| grant.role.as_str()).collect();
    token_roles.sort_unstable();
    token_roles.dedup();
    let mut token_schools = Vec::new();
    if me.grants.iter().any(|grant| grant.school_id.is_none()) {
        token_schools.push(Choice {
            value: String::new(),
            label: "Every school".into(),
        });
    }
    for school in &schools {
        if me
            .grants
            .iter()
            .any(|grant| grant.school_id.is_none() || grant.school_id == Some(school.id))
        {
            token_schools.push(Choice {
                value: school.id.to_string(),
                label: school.name.clone(),
            });
        }
    }
    console.page_with_status(
        status,
        "users.html",
        context! {
            users => user_views, tokens => token_views, school_choices => school_choices,
            role_choices => role_choices, token_roles => token_roles,
            token_schools => token_schools, user_form => forms.user, token_form => forms.token,
            role_errors => forms.roles,
            min_password => passwords::MIN_LENGTH,
        },
    )
}

fn identity_error(error: IdentityError) -> PageError {
    match error {
        IdentityError::NoSuchUser => PageError::NotFound("user"),
        IdentityError::RoleNotHeld { .. } => PageError::Forbidden(error.to_string()),
        IdentityError::Database(error) => error.into(),
        other => PageError::Internal(anyhow::Error::new(other)),
    }
}

async fn audit(
    connection: &mut AnyConnection,
    state: &AppState,
    console: &Console,
    change: Change<'_>,
) -> Result<(), PageError> {
    audited::record(connection, state.db.backend, console.principal(), change)
        .await
        .map_err(|error| PageError::Internal(anyhow::anyhow!("{error}")))
}

/// The role and school of a form, read; `Err` is a reason to show with the form.
fn parse_grant(role: &str, school: &str) -> Result<Grant, String> {
    let role = Role::parse(role.trim()).ok_or_else(|| "Choose a role.".to_string())?;
    let school_id = match school.trim() {
        "" => None,
        id => Some(
            id.parse::<i64>()
                .map_err(|_| "Choose a school.".to_string())?,
        ),
    };
    if role == Role::TrustAdmin && school_id.is_some() {
        return Err("A trust admin holds the role at every school: choose “Every school”.".into());
    }
    Ok(Grant { role, school_id })
}

/// Refuses (403) a grant beyond the admin's reach: a school they do not configure, every
/// school without a trust admin's reach, or the trust admin role itself.
fn may_give(reach: &Reach, grant: &Grant) -> Result<(), PageError> {
    if grant.role == Role::TrustAdmin && *reach != Reach::Everywhere {
        return Err(PageError::Forbidden(
            "Only a trust admin can make someone a trust admin.".into(),
        ));
    }
    if !covers(reach, grant.school_id) {
        return Err(PageError::Forbidden(
            "A role can be given only at schools you configure.".into(),
        ));
    }
    Ok(())
}

fn grant_state(grant: &Grant) -> serde_json::Value {
    json!({"role": grant.role, "school_id": grant.school_id})
}

pub async fn add_user(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<NewUserForm>,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let refused = |errors: Vec<String>| FormState {
        email: form.email.trim().to_string(),
        name: form.name.trim().to_string(),
        role: form.role.clone(),
        school: form.school.clone(),
        errors,
        ..FormState::default()
    };
    let grant = match parse_grant(&form.role, &form.school) {
        Ok(grant) => grant,
        Err(reason) => {
            return render(
                &state,
                &console,
                StatusCode::UNPROCESSABLE_ENTITY,
                Forms {
                    user: refused(vec![reason]),
                    ..Forms::default()
                },
            )
            .await
        }
    };
    may_give(&reach, &grant)?;
    let mut errors = Vec::new();
    let email = form.email.trim().to_lowercase();
    if !email.contains('@') {
        errors.push("Give the person's email address.".to_string());
    }
    if form.name.trim().is_empty() {
        errors.push("Give the person's name.".to_string());
    }
    let password_hash = if form.password.is_empty() {
        None
    } else {
        match passwords::hash(&Secret::new(form.password.clone())) {
            Ok(hash) => Some(hash),
            Err(PasswordError::TooShort) => {
                errors.push(format!(
                    "A password needs at least {} characters; leave it empty for a user who signs in with the school's identity provider.",
                    passwords::MIN_LENGTH
                ));
                None
            }
            Err(error) => return Err(PageError::Internal(anyhow::Error::new(error))),
        }
    };
    if !errors.is_empty() {
        return render(
            &state,
            &console,
            StatusCode::UNPROCESSABLE_ENTITY,
            Forms {
                user: refused(errors),
                ..Forms::default()
            },
        )
        .await;
    }
    let now = Utc::now();
    let mut tx = state.db.pool.begin().await?;
    let id = match store::create_user(&mut tx, &email, &form.name, password_hash.as_deref(), now)
        .await
    {
        Ok(id) => id,
        Err(IdentityError::EmailTaken) => {
            drop(tx);
            return render(
                &state,
                &console,
                StatusCode::UNPROCESSABLE_ENTITY,
                Forms {
                    user: refused(vec!["A user with that email address exists already.".into()]),
                    ..Forms::default()
                },
            )
            .await;
        }
        Err(error) => return Err(identity_error(error)),
    };
    store::grant(&mut tx, id, grant, now)
        .await
        .map_err(identity_error)?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: grant.school_id,
            action: "user.role_granted",
            subject_kind: "user",
            subject_id: id,
            before: None,
            after: Some(json!({"email": email, "name": form.name.trim(), "role": grant.role, "school_id": grant.school_id})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = id, "user added from the console");
    Ok(console.redirect_with_notice("/admin/users", "User added."))
}

/// User `id`, who must be one of the viewer's and not the viewer.
async fn managed_user(
    state: &AppState,
    console: &Console,
    reach: &Reach,
    id: i64,
) -> Result<UserListing, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    let user = store::user_with_grants(&mut connection, id)
        .await
        .map_err(identity_error)?
        .ok_or(PageError::NotFound("user"))?;
    if !is_managed(reach, &user) {
        return Err(PageError::Forbidden(
            "This user is not at a school you manage.".into(),
        ));
    }
    if user.user.id == console.user().user_id {
        return Err(PageError::Forbidden(
            "Your own account is changed by another admin.".into(),
        ));
    }
    Ok(user)
}

#[derive(Deserialize)]
pub struct RolesForm {
    /// `add` or `remove`.
    action: Option<String>,
    #[serde(default)]
    role: String,
    #[serde(default)]
    school: String,
    /// The grant to remove.
    grant: Option<i64>,
}

pub async fn change_roles(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<RolesForm>,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let user = managed_user(&state, &console, &reach, id).await?;
    let now = Utc::now();
    match form.action.as_deref() {
        Some("add") => {
            let grant = match parse_grant(&form.role, &form.school) {
                Ok(grant) => grant,
                Err(reason) => {
                    return render(
                        &state,
                        &console,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Forms {
                            roles: vec![format!("No role was added: {reason}")],
                            ..Forms::default()
                        },
                    )
                    .await;
                }
            };
            may_give(&reach, &grant)?;
            let mut tx = state.db.pool.begin().await?;
            let added = store::grant(&mut tx, id, grant, now)
                .await
                .map_err(identity_error)?;
            if added {
                audit(
                    &mut tx,
                    &state,
                    &console,
                    Change {
                        school_id: grant.school_id,
                        action: "user.role_granted",
                        subject_kind: "user",
                        subject_id: id,
                        before: None,
                        after: Some(json!({"email": user.user.email, "name": user.user.display_name, "role": grant.role, "school_id": grant.school_id})),
                    },
                )
                .await?;
            }
            tx.commit().await?;
            let notice = if added {
                "Role given."
            } else {
                "They hold that role already."
            };
            Ok(console.redirect_with_notice("/admin/users", notice))
        }
        Some("remove") => {
            let held = form
                .grant
                .and_then(|grant_id| user.grants.iter().find(|held| held.id == grant_id))
                .ok_or(PageError::NotFound("role"))?;
            if !covers(&reach, held.grant.school_id) {
                return Err(PageError::Forbidden(
                    "A role can be taken away only at schools you configure.".into(),
                ));
            }
            let mut tx = state.db.pool.begin().await?;
            if store::revoke_grant(&mut tx, id, held.id)
                .await
                .map_err(identity_error)?
            {
                audit(
                    &mut tx,
                    &state,
                    &console,
                    Change {
                        school_id: held.grant.school_id,
                        action: "user.role_revoked",
                        subject_kind: "user",
                        subject_id: id,
                        before: Some(grant_state(&held.grant)),
                        after: None,
                    },
                )
                .await?;
            }
            tx.commit().await?;
            Ok(console.redirect_with_notice("/admin/users", "Role taken away."))
        }
        _ => Ok(console.redirect_with_notice("/admin/users", "Nothing changed.")),
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    /// `true` to disable, `false` to enable again.
    disabled: Option<String>,
}

pub async fn set_disabled(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<DisableForm>,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let user = managed_user(&state, &console, &reach, id).await?;
    if !user
        .grants
        .iter()
        .all(|held| covers(&reach, held.grant.school_id))
    {
        return Err(PageError::Forbidden(
            "This user also has roles at schools you do not manage: a trust admin can disable them."
                .into(),
        ));
    }
    let disabled = match form.disabled.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => return Ok(console.redirect_with_notice("/admin/users", "Nothing changed.")),
    };
    // The entry belongs to the user's school when they have one.
    let mut schools: Vec<i64> = user
        .grants
        .iter()
        .filter_map(|held| held.grant.school_id)
        .collect();
    schools.sort_unstable();
    schools.dedup();
    let school_id = match (
        schools.as_slice(),
        user.grants.iter().any(|h| h.grant.school_id.is_none()),
    ) {
        ([only], false) => Some(*only),
        _ => None,
    };
    let mut tx = state.db.pool.begin().await?;
    let changed = store::set_disabled(&mut tx, id, disabled)
        .await
        .map_err(identity_error)?;
    if changed {
        audit(
            &mut tx,
            &state,
            &console,
            Change {
                school_id,
                action: if disabled {
                    "user.disabled"
                } else {
                    "user.enabled"
                },
                subject_kind: "user",
                subject_id: id,
                before: Some(json!({ "disabled": !disabled })),
                after: Some(json!({ "disabled": disabled })),
            },
        )
        .await?;
    }
    tx.commit().await?;
    if changed {
        tracing::info!(
            user_id = id,
            disabled,
            "user disabled or enabled from the console"
        );
    }
    let notice = if disabled {
        "User disabled: their sessions and tokens no longer work."
    } else {
        "User enabled."
    };
    Ok(console.redirect_with_notice("/admin/users", notice))
}

/// The end of the last day a token works (the start of the next, UTC).
fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| "Give the expiry as a date (YYYY-MM-DD), or leave it empty.".to_string())?;
    let end = (day + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    if end <= now {
        return Err("The expiry date has passed: choose today or a later day.".into());
    }
    Ok(Some(end))
}

pub async fn create_token(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, PageError> {
    let me = console.user();
    let now = Utc::now();
    let refused = |errors: Vec<String>| FormState {
        name: form.name.trim().to_string(),
        role: form.role.clone(),
        school: form.school.clone(),
        expires: form.expires.trim().to_string(),
        errors,
        ..FormState::default()
    };
    let mut errors = Vec::new();
    if form.name.trim().is_empty() {
        errors.push("Give the token a name (what it is for).".to_string());
    }
    let grant = match parse_token_grant(&form) {
        Ok(grant) => Some(grant),
        Err(reason) => {
            errors.push(reason);
            None
        }
    };
    let expires_at = parse_expiry(&form.expires, now).unwrap_or_else(|reason| {
        errors.push(reason);
        None
    });
    let Some(grant) = grant.filter(|_| errors.is_empty()) else {
        return render(
            &state,
            &console,
            StatusCode::UNPROCESSABLE_ENTITY,
            Forms {
                token: refused(errors),
                ..Forms::default()
            },
        )
        .await;
    };
    let mut tx = state.db.pool.begin().await?;
    let (id, token) = store::create_token(&mut tx, me.user_id, &form.name, grant, expires_at, now)
        .await
        .map_err(identity_error)?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: grant.school_id,
            action: "token.created",
            subject_kind: "api_token",
            subject_id: id,
            before: None,
            after: Some(json!({"name": form.name.trim(), "role": grant.role, "school_id": grant.school_id, "expires_at": expires_at})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(token_id = id, "API token created from the console");
    let school = match grant.school_id {
        Some(school_id) => directory::find_school(&state.db, school_id)
            .await?
            .map(|school| school.name)
            .unwrap_or_else(|| format!("school {school_id}")),
        None => "every school".into(),
    };
    console.page(
        "users_token.html",
        context! {
            token => token, name => form.name.trim(), role => grant.role.as_str(),
            school => school, expires => expires_at.map(time_text),
        },
    )
}

/// The token's role and school; that the person holds them is `store::create_token`'s check
/// (refused with 403, as the API refuses it).
fn parse_token_grant(form: &NewTokenForm) -> Result<Grant, String> {
    let role = Role::parse(form.role.trim()).ok_or_else(|| "Choose a role.".to_string())?;
    let school_id = match form.school.trim() {
        "" => None,
        id => Some(
            id.parse::<i64>()
                .map_err(|_| "Choose a school.".to_string())?,
        ),
    };
    Ok(Grant { role, school_id })
}

pub async fn revoke_token(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let me = console.user();
    let mut tx = state.db.pool.begin().await?;
    if !store::revoke_token(&mut tx, me.user_id, id, Utc::now())
        .await
        .map_err(identity_error)?
    {
        return Err(PageError::NotFound("token"));
    }
    audit(
        &mut tx,
        &state,
        &console,
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
    Ok(console.redirect_with_notice("/admin/users", "Token revoked."))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_school_admin_gives_roles_only_at_their_school_and_never_trust_admin() {
        let school_admin = Reach::Schools(BTreeSet::from([1]));
        let at = |role, school_id| Grant { role, school_id };
        assert!(may_give(&school_admin, &at(Role::Dsl, Some(1))).is_ok());
        assert!(may_give(&school_admin, &at(Role::SchoolAdmin, Some(1))).is_ok());
        assert!(may_give(&school_admin, &at(Role::Dsl, Some(2))).is_err());
        assert!(may_give(&school_admin, &at(Role::Dsl, None)).is_err());
        assert!(may_give(&school_admin, &at(Role::TrustAdmin, None)).is_err());
        assert!(may_give(&Reach::Everywhere, &at(Role::TrustAdmin, None)).is_ok());
    }

    #[test]
    fn a_trust_admin_is_given_at_every_school_only() {
        assert!(parse_grant("trust_admin", "3").is_err());
        assert_eq!(
            parse_grant("trust_admin", "").unwrap(),
            Grant {
                role: Role::TrustAdmin,
                school_id: None
            }
        );
        assert!(parse_grant("admin", "").is_err());
        assert!(parse_grant("dsl", "x").is_err());
    }

    #[test]
    fn a_token_works_through_its_last_day() {
        let now = "2026-03-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            parse_expiry("2026-03-01", now).unwrap(),
            Some("2026-03-02T00:00:00Z".parse().unwrap())
        );
        assert_eq!(parse_expiry(" ", now).unwrap(), None);
        assert!(parse_expiry("2026-02-28", now).is_err());
        assert!(parse_expiry("tomorrow", now).is_err());
    }
}
