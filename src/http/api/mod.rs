//! The JSON admin/DSL API under `/api/v1`: every route behind a principal (a session, a
//! personal token or the bootstrap token, see `auth`), but for signing in and the API's own
//! description. `routes` documents each route; a test holds the two together.

mod audit;
pub(crate) mod audited;
mod auth;
mod completeness;
mod connections;
pub(crate) mod dry_run;
mod evidence;
mod findings;
mod inbox;
mod json;
mod ledger;
mod meetings;
mod oidc;
mod openapi;
mod params;
mod register;
mod routes;
mod schools;
mod subscriptions;
mod timetable;
mod users;

use axum::routing::{get, post};
use axum::{middleware, Router};

use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/schools", get(schools::list_schools))
        .route(
            "/api/v1/schools/{id}/policy/dry-run",
            post(dry_run::dry_run_policy),
        )
        .route("/api/v1/connections", get(connections::list_connections))
        .route("/api/v1/audit", get(audit::list_audit_entries))
        .route("/api/v1/ledger/verify", get(ledger::verify_ledger))
        .route("/api/v1/ledger/heads", get(ledger::list_signed_heads))
        .route("/api/v1/inbox/set-aside", get(inbox::list_set_aside))
        .route(
            "/api/v1/subscriptions",
            get(subscriptions::list_subscriptions),
        )
        .route("/api/v1/meetings", get(meetings::list_meetings))
        .route("/api/v1/meetings/{id}", get(meetings::get_meeting))
        .route(
            "/api/v1/meetings/{id}/evidence-pack",
            get(evidence::get_call_evidence_pack),
        )
        .route("/api/v1/register", get(register::export_register_json))
        .route("/api/v1/register.csv", get(register::export_register_csv))
        .route(
            "/api/v1/schools/{id}/completeness",
            get(completeness::get_completeness),
        )
        .route(
            "/api/v1/meetings/{id}/outcome",
            post(timetable::record_outcome),
        )
        .route("/api/v1/findings", get(findings::list_findings))
        .route("/api/v1/findings/{id}", get(findings::get_finding))
        .route(
            "/api/v1/findings/{id}/evidence-pack",
            get(evidence::get_finding_evidence_pack),
        )
        .route(
            "/api/v1/findings/{id}/acknowledge",
            post(findings::acknowledge_finding),
        )
        .route(
            "/api/v1/findings/{id}/resolve",
            post(findings::resolve_finding),
        )
        .route(
            "/api/v1/planned-sessions",
            get(timetable::list_planned_sessions).post(timetable::register_planned_session),
        )
        .route(
            "/api/v1/planned-sessions/{id}/approve",
            post(timetable::approve_planned_session),
        )
        .route(
            "/api/v1/planned-sessions/{id}/cancel",
            post(timetable::cancel_planned_session),
        )
        .route(
            "/api/v1/consents",
            get(timetable::list_consents).post(timetable::record_consent),
        )
        .route(
            "/api/v1/consents/{id}/withdraw",
            post(timetable::withdraw_consent),
        )
        .route("/api/v1/users", post(users::create_user))
        .route(
            "/api/v1/tokens",
            get(users::list_tokens).post(users::create_token),
        )
        .route("/api/v1/tokens/{id}/revoke", post(users::revoke_token))
        .route("/api/v1/sign-out", post(users::sign_out))
        .route_layer(middleware::from_fn_with_state(state, auth::authenticate))
        // Signing in is how a principal is had, and the description reveals no data: the
        // routes before authentication.
        .route("/api/v1/sign-in", post(users::sign_in))
        .route("/api/v1/openapi.json", get(openapi::get_openapi))
        .route("/sign-in/oidc", oidc::start_route())
        .route("/sign-in/oidc/callback", oidc::callback_route())
}
