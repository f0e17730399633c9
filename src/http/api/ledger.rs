//! `/api/v1/ledger`: each school's record ledger verified, and its signed daily heads.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::identity::{Capability, Principal, Reach};
use crate::ledger::{self, heads, SchoolVerification, SignedHead};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct LedgerQuery {
    school_id: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct VerifiedLedger {
    /// Whether every entry, signed head and record matches.
    pub intact: bool,
    #[serde(flatten)]
    pub verification: SchoolVerification,
}

#[derive(Debug, Serialize)]
pub struct LedgerVerification {
    /// This instance's head-signing public key (hex) and its fingerprint, to compare with the
    /// one in the digests and evidence packs.
    pub public_key: String,
    pub key_fingerprint: String,
    pub schools: Vec<VerifiedLedger>,
}

/// The schools the principal may check: admins and the DSLs, at their schools.
fn checked_schools(
    principal: &Principal,
    wanted: Option<i64>,
    all: &[i64],
) -> Result<Vec<i64>, ApiError> {
    let reaches = [
        principal.reach(Capability::Configure),
        principal.reach(Capability::SeeSafeguarding),
    ];
    if reaches.iter().all(Reach::is_nowhere) {
        return Err(ApiError::Forbidden(
            "the ledger is for admins and the DSLs".into(),
        ));
    }
    let reached = |school_id: i64| reaches.iter().any(|reach| reach.includes(school_id));
    match wanted {
        Some(school_id) if reached(school_id) => Ok(vec![school_id]),
        Some(_) => Err(ApiError::Forbidden(
            "the ledger of that school is for its admins and DSLs".into(),
        )),
        None => Ok(all.iter().copied().filter(|id| reached(*id)).collect()),
    }
}

/// Walks the chains and holds every record to them; names the first entry that does not match.
pub async fn verify_ledger(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<LedgerQuery>,
) -> Result<Json<LedgerVerification>, ApiError> {
    let mut connection = state.db.pool.acquire().await?;
    let all = ledger::school_ids(&mut connection).await?;
    let mut schools = Vec::new();
    for school_id in checked_schools(&principal, query.school_id, &all)? {
        let verification =
            ledger::verify_school(&mut connection, school_id, Some(&state.head_signer)).await?;
        schools.push(VerifiedLedger {
            intact: verification.is_intact(),
            verification,
        });
    }
    let public_key = state.head_signer.public_key();
    Ok(Json(LedgerVerification {
        key_fingerprint: heads::key_fingerprint(&public_key),
        public_key,
        schools,
    }))
}

/// The signed daily heads, oldest first.
pub async fn list_signed_heads(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<LedgerQuery>,
) -> Result<Json<Vec<SignedHead>>, ApiError> {
    let mut connection = state.db.pool.acquire().await?;
    let all = ledger::school_ids(&mut connection).await?;
    let mut signed = Vec::new();
    for school_id in checked_schools(&principal, query.school_id, &all)? {
        signed.extend(heads::list(&mut connection, school_id).await?);
    }
    Ok(Json(signed))
}
