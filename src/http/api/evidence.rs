//! `GET /api/v1/meetings/{id}/evidence-pack` and `GET /api/v1/findings/{id}/evidence-pack`:
//! a call's or a finding's evidence pack, for whoever may see the school's safeguarding
//! records; producing one is recorded in the audit log in the transaction that reads it.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::Utc;

use super::audited::{self, Change};
use super::auth;
use crate::error::ApiError;
use crate::evidence::collect::{self, Scope};
use crate::evidence::manifest::sha256_hex;
use crate::evidence::{CollectError, Subject};
use crate::findings::access;
use crate::findings::query::{self, FindingFilter};
use crate::identity::{Capability, Principal};
use crate::state::AppState;

/// Findings about one call that a pack may hold.
const MOST_FINDINGS: i64 = 5000;

pub async fn get_call_evidence_pack(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let school_id = collect::school_of_call(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("meeting"))?;
    auth::require(&principal, Capability::SeeSafeguarding, school_id)?;
    let filter = FindingFilter {
        meeting_instance_id: Some(id),
        limit: MOST_FINDINGS,
        ..FindingFilter::default()
    };
    // A finding that names the reader is not theirs to see, here as anywhere.
    let finding_ids = query::list(&state.db, &filter)
        .await?
        .into_iter()
        .filter(|finding| !access::hidden_from(&principal, finding))
        .map(|finding| finding.id)
        .collect();
    let scope = Scope {
        subject: Subject::Call(id),
        school: school(&state, school_id).await?,
        call_id: Some(id),
        scheduled_meeting_id: None,
        finding_ids,
    };
    produce(&state, &principal, &scope).await
}

pub async fn get_finding_evidence_pack(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let finding = query::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("finding"))?;
    auth::require(&principal, Capability::SeeSafeguarding, finding.school_id)?;
    if access::hidden_from(&principal, &finding) {
        return Err(ApiError::NotFound("finding"));
    }
    let scope = Scope {
        subject: Subject::Finding(id),
        school: school(&state, finding.school_id).await?,
        call_id: finding.meeting_record_id,
        scheduled_meeting_id: finding.scheduled_meeting_id,
        finding_ids: BTreeSet::from([id]),
    };
    produce(&state, &principal, &scope).await
}

async fn school(state: &AppState, school_id: i64) -> Result<crate::directory::School, ApiError> {
    crate::directory::find_school(&state.db, school_id)
        .await?
        .ok_or(ApiError::NotFound("school"))
}

#[tracing::instrument(skip_all, fields(subject = scope.subject.kind(), subject_id = scope.subject.id()))]
async fn produce(
    state: &AppState,
    principal: &Principal,
    scope: &Scope,
) -> Result<Response, ApiError> {
    let mut tx = state.db.pool.begin().await?;
    let pack = collect::produce(&mut tx, &state.head_signer, scope, Utc::now())
        .await
        .map_err(|error| match error {
            CollectError::NotChained(_) => ApiError::Conflict(format!(
                "{error}; it is chained within moments of being written: try again shortly"
            )),
            CollectError::Database(error) => error.into(),
            other => {
                ApiError::Internal(anyhow::Error::new(other).context("making an evidence pack"))
            }
        })?;
    audited::record(
        &mut tx,
        state.db.backend,
        principal,
        Change {
            school_id: Some(scope.school.id),
            action: "evidence_pack.produced",
            subject_kind: scope.subject.kind(),
            subject_id: scope.subject.id(),
            before: None,
            after: Some(serde_json::json!({
                "pack_sha256": sha256_hex(&pack.bytes),
                "anchor_seq": pack.manifest.anchor.seq,
                "entries": pack.entries,
                "finding_ids": scope.finding_ids,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        anchor_seq = pack.manifest.anchor.seq,
        entries = pack.entries,
        pack_bytes = pack.bytes.len(),
        "evidence pack produced"
    );
    Ok((
        [
            (CONTENT_TYPE, "application/zip".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", pack.file_name),
            ),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        pack.bytes,
    )
        .into_response())
}
