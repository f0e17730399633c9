//! `/api/v1/audit`: the audit log, newest first.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::params::parse_time;
use crate::audit::{self, ActorKind, AuditFilter, AuditRecord};
use crate::error::ApiError;
use crate::identity::{Capability, Principal, Reach};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 500;
const MAX_LIMIT: i64 = 5000;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    school_id: Option<i64>,
    /// A kind of actor (`person`, `token`, `bootstrap`, `system`), or a person or token by
    /// id (`person:12`, `token:3`).
    actor: Option<String>,
    /// An action's exact name (`finding.acknowledged`).
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
}

/// Admins and the DSLs read the entries of the schools they reach (an entry of no school,
/// such as a trust-wide user, only with a reach of every school).
pub async fn list_audit_entries(
    State(AppState { db, .. }): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let reaches = [
        principal.reach(Capability::Configure),
        principal.reach(Capability::SeeSafeguarding),
    ];
    if reaches.iter().all(Reach::is_nowhere) {
        return Err(ApiError::Forbidden(
            "the audit log is for admins and the DSLs".into(),
        ));
    }
    let shown = |school_id: Option<i64>| {
        reaches.iter().any(|reach| match school_id {
            Some(school_id) => reach.includes(school_id),
            None => *reach == Reach::Everywhere,
        })
    };
    let (actor_kind, actor_id) = match query.actor.as_deref() {
        Some(actor) => parse_actor(actor)?,
        None => (None, None),
    };
    let mut filter = AuditFilter {
        school_id: query.school_id,
        actor_kind,
        actor_id,
        action: query.action,
        from: query.from.as_deref().map(parse_time).transpose()?,
        to: query.to.as_deref().map(parse_time).transpose()?,
        before: None,
        limit: query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
    };
    // Entries of schools out of reach are left out page by page, so that a page holds
    // `limit` entries whenever as many are there to show, not fewer.
    let wanted = filter.limit as usize;
    let mut records = Vec::with_capacity(wanted);
    loop {
        let page = audit::list(&db, &filter).await?;
        let last_page = page.len() < wanted;
        filter.before = page.last().map(|record| record.id);
        records.extend(page.into_iter().filter(|record| shown(record.school_id)));
        if records.len() >= wanted || last_page || filter.before.is_none() {
            break;
        }
    }
    records.truncate(wanted);
    Ok(Json(records))
}

/// `person`, `person:12`, `token:3`, `bootstrap`, `system`.
fn parse_actor(text: &str) -> Result<(Option<ActorKind>, Option<i64>), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_actor",
            "actor must be person, token, bootstrap or system, or person:<id> or token:<id>",
        )
    };
    let (kind, id) = match text.split_once(':') {
        Some((kind, id)) => (kind, Some(id.parse::<i64>().map_err(|_| invalid())?)),
        None => (text, None),
    };
    let kind = ActorKind::parse(kind).ok_or_else(invalid)?;
    if id.is_some() && !matches!(kind, ActorKind::Person | ActorKind::Token) {
        return Err(invalid());
    }
    Ok((Some(kind), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_is_a_kind_or_a_person_or_token_by_id() {
        assert_eq!(
            parse_actor("person:12").unwrap(),
            (Some(ActorKind::Person), Some(12))
        );
        assert_eq!(
            parse_actor("token").unwrap(),
            (Some(ActorKind::Token), None)
        );
        assert_eq!(
            parse_actor("system").unwrap(),
            (Some(ActorKind::System), None)
        );
        for nonsense in ["admin", "person:", "person:x", "system:1", ""] {
            assert!(parse_actor(nonsense).is_err(), "{nonsense}");
        }
    }
}
