//! Recording what a principal changed through the API, in the transaction that changes it.

use chrono::Utc;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::audit;
use crate::db::Backend;
use crate::error::ApiError;
use crate::identity::Principal;

/// What was changed, at which school, and what it now says.
pub struct Change<'a> {
    pub school_id: Option<i64>,
    pub action: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: i64,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Appends `change`, made by `principal`, to the audit log in the caller's transaction.
pub async fn record(
    connection: &mut AnyConnection,
    backend: Backend,
    principal: &Principal,
    change: Change<'_>,
) -> Result<(), ApiError> {
    audit::record(
        connection,
        backend,
        &audit::Entry {
            actor: &principal.audit_actor(),
            school_id: change.school_id,
            action: change.action,
            subject_kind: change.subject_kind,
            subject_id: &change.subject_id.to_string(),
            before: change.before.as_ref(),
            after: change.after.as_ref(),
        },
        Utc::now(),
    )
    .await?;
    Ok(())
}
