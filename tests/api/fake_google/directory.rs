//! The Directory's lists: the users of an organisational unit (and the units under it), and
//! a group's members, paged as Google pages them.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;

use super::{gate, google_error, page, Shared, DIRECTORY};

const GROUP_MEMBERS: &str = "https://www.googleapis.com/auth/admin.directory.group.member.readonly";

/// `GET users?customer=my_customer&query=orgUnitPath='/Staff'`.
pub(super) async fn users(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, DIRECTORY) {
        return *early;
    }
    let Some(unit) = query
        .get("query")
        .and_then(|q| q.strip_prefix("orgUnitPath='"))
        .and_then(|q| q.strip_suffix('\''))
        .map(|unit| unit.replace("\\'", "'"))
    else {
        return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "Bad query.");
    };
    let within = |path: &str| {
        path == unit || unit == "/" || path.starts_with(&format!("{}/", unit.trim_end_matches('/')))
    };
    let mut users: Vec<Value> = state
        .users
        .values()
        .filter(|user| user["orgUnitPath"].as_str().is_some_and(within))
        .cloned()
        .collect();
    users.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    page(&state, &users, &query, "maxResults", 500, "users")
}

/// `GET groups/{group}/members`.
pub(super) async fn members(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(group): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(early) = gate(&mut state, &headers, GROUP_MEMBERS) {
        return *early;
    }
    let Some(members) = state.groups.get(&group.to_lowercase()).cloned() else {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Resource Not Found: groupKey",
        );
    };
    page(&state, &members, &query, "maxResults", 200, "members")
}
