//! `POST /api/v1/schools/{id}/policy/dry-run`: a proposed policy run over the calls of a past
//! period, compared rule by rule with what the live policy found ([`dry_run`]). Nothing is
//! stored but the audit entry saying that the calls were read.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;

use super::audited::{self, Change};
use super::json::JsonBody;
use super::params::RegisterQuery;
use crate::error::ApiError;
use crate::evaluation::dry_run::{self, DryRun, DryRunError, Period};
use crate::identity::{Capability, Principal};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// A date in the school's timezone, or an RFC 3339 time.
    from: String,
    /// A date in the school's timezone (that whole day included), or an RFC 3339 time.
    to: String,
    /// TOML as under `[school.policy]` in the import file; absent: the live policy itself.
    #[serde(default)]
    policy: Option<String>,
}

/// The route's refusals: the API's own, and a proposed policy that cannot be used (422, as
/// the console's policy page answers a policy it refuses).
#[derive(Debug)]
pub enum DryRunRefusal {
    Api(ApiError),
    InvalidPolicy(String),
}

impl From<ApiError> for DryRunRefusal {
    fn from(error: ApiError) -> Self {
        DryRunRefusal::Api(error)
    }
}

impl From<sqlx::Error> for DryRunRefusal {
    fn from(error: sqlx::Error) -> Self {
        DryRunRefusal::Api(error.into())
    }
}

impl From<DryRunError> for DryRunRefusal {
    fn from(error: DryRunError) -> Self {
        match error {
            DryRunError::InvalidPolicy(reason) => DryRunRefusal::InvalidPolicy(reason),
            DryRunError::EmptyPeriod { .. } | DryRunError::PeriodTooLong { .. } => {
                DryRunRefusal::Api(ApiError::bad_request("invalid_period", error.to_string()))
            }
            DryRunError::Database(error) => DryRunRefusal::Api(error.into()),
        }
    }
}

impl IntoResponse for DryRunRefusal {
    fn into_response(self) -> Response {
        match self {
            DryRunRefusal::Api(error) => error.into_response(),
            DryRunRefusal::InvalidPolicy(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({ "code": "invalid_policy", "detail": detail })),
            )
                .into_response(),
        }
    }
}

/// Whoever configures the school's policy, or reads its safeguarding records, may try one; only
/// the latter read the findings' sentences and the calls' topics.
fn may_read_details(principal: &Principal, school_id: i64) -> Result<bool, ApiError> {
    let details = principal.may(Capability::SeeSafeguarding, school_id);
    if details || principal.may(Capability::Configure, school_id) {
        Ok(details)
    } else {
        Err(ApiError::Forbidden(format!(
            "this needs {}, or {}",
            Capability::Configure.held_by(),
            Capability::SeeSafeguarding.held_by()
        )))
    }
}

pub async fn dry_run_policy(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(school_id): Path<i64>,
    JsonBody(request): JsonBody<DryRunRequest>,
) -> Result<Json<DryRun>, DryRunRefusal> {
    let asked = Asked {
        from: &request.from,
        to: &request.to,
        policy: request.policy.as_deref(),
    };
    Ok(Json(
        run_recorded(&state, &principal, school_id, asked).await?,
    ))
}

/// A dry run as asked, the period's bounds and the proposed policy as written.
pub(crate) struct Asked<'a> {
    pub from: &'a str,
    pub to: &'a str,
    /// TOML as under `[school.policy]`; `None`: the live policy itself.
    pub policy: Option<&'a str>,
}

/// Runs the dry run `principal` asks for at `school_id`, shown as far as they may read it, and
/// records it in the audit log: the API's and the console's one path.
pub(crate) async fn run_recorded(
    state: &AppState,
    principal: &Principal,
    school_id: i64,
    asked: Asked<'_>,
) -> Result<DryRun, DryRunRefusal> {
    let AppState {
        db, bank_holidays, ..
    } = state;
    let details = may_read_details(principal, school_id)?;
    // The register's reading of dates (the school's timezone, `to` as a whole day); it
    // answers 404 for a school that does not exist.
    let bounds = RegisterQuery {
        school_id: Some(school_id),
        from: Some(asked.from.trim().to_string()),
        to: Some(asked.to.trim().to_string()),
        limit: None,
    }
    .to_filter(db)
    .await?;
    let (Some(from), Some(to)) = (bounds.from, bounds.to) else {
        unreachable!("both bounds were given");
    };
    let period = Period::new(from, to)?;
    let live = {
        let mut connection = db.pool.acquire().await?;
        crate::directory::settings::load(&mut connection, school_id)
            .await?
            .policy
    };
    let choice = match asked.policy {
        Some(text) => dry_run::proposed_choice(text, &live)?,
        None => live,
    };
    let proposed = dry_run::resolve_proposed(&choice)?;
    let now = Utc::now();
    let run = dry_run::dry_run(db, bank_holidays, school_id, &proposed, period, now).await?;
    let run = match details {
        true => run.withholding_about(principal.person_id()),
        false => run.without_details(),
    };

    // The calls of a period were read: recorded, with what was tried, never who was in them.
    let (live_findings, proposed_findings) = run.totals();
    let mut tx = db.pool.begin().await?;
    audited::record(
        &mut tx,
        db.backend,
        principal,
        Change {
            school_id: Some(school_id),
            action: "policy.dry_run",
            subject_kind: "school",
            subject_id: school_id,
            before: None,
            after: Some(serde_json::json!({
                "from": period.from,
                "to": period.to,
                "policy": choice,
                "calls": run.calls_considered,
                "live_findings": live_findings,
                "proposed_findings": proposed_findings,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        school_id,
        calls = run.calls_considered,
        live_findings,
        proposed_findings,
        "policy dry run"
    );
    Ok(run)
}
