//! Walking the chain: every entry's hash is computed again from its columns, its previous
//! hash must be the hash of the entry before, ids must run on without a gap, and the head
//! must name the last entry. A page at a time, so a long log is never held in memory.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::chain::{ChainedFields, GENESIS_HASH};
use crate::db::Db;

/// Entries read per query while verifying.
const PAGE_ROWS: i64 = 1000;

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries found intact, from the first up to the first broken one (or the end).
    pub checked: u64,
    /// The first entry that does not verify; none when the whole chain does.
    pub broken: Option<BrokenEntry>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The first entry where the chain breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {id}: {problem}")]
pub struct BrokenEntry {
    pub id: i64,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The entry's columns were changed after it was written.
    #[error("its hash does not match its contents (stored {stored}, computed {computed})")]
    HashMismatch { stored: String, computed: String },
    /// The entry does not follow the one before it (one was altered, or this one replaced).
    #[error("its previous hash {found} is not the hash of the entry before it ({expected})")]
    PreviousHashMismatch { expected: String, found: String },
    /// Entries are missing before this one (or its id is out of sequence).
    #[error("{}", gap(*expected_id, *found_id))]
    Gap { expected_id: i64, found_id: i64 },
    /// The head names this entry as the last, but it is not there (it was removed).
    #[error("the head says the log ends with this entry (hash {head_hash}), but the last entry is {last_id}")]
    MissingAtEnd { last_id: i64, head_hash: String },
    /// This entry and any after it were added without moving the head.
    #[error("it lies beyond the head, which says the log ends at entry {head_id}")]
    BeyondHead { head_id: i64 },
    /// The head names this entry as the last with another hash.
    #[error("the head records its hash as {head_hash}, but it is {hash}")]
    HeadHashMismatch { head_hash: String, hash: String },
    /// The head row was removed.
    #[error("the head of the chain (audit_head) is missing")]
    HeadMissing,
}

fn gap(expected_id: i64, found_id: i64) -> String {
    if found_id == expected_id + 1 {
        format!("entry {expected_id} before it is missing")
    } else if found_id > expected_id {
        format!(
            "entries {expected_id} to {} before it are missing",
            found_id - 1
        )
    } else {
        format!("its id is out of sequence (entry {expected_id} was expected)")
    }
}

/// Verifies the whole chain, from the genesis hash to the head, and names the first entry
/// that breaks it. Entries appended while it runs are verified too.
pub async fn verify(db: &Db) -> Result<Verification, sqlx::Error> {
    let mut last_id = 0_i64;
    let mut last_hash = GENESIS_HASH.to_string();
    let mut checked = 0_u64;
    let broken = |id, problem| BrokenEntry { id, problem };
    loop {
        let rows = sqlx::query(
            "SELECT id, at, actor_kind, actor_id, actor_label, school_id, action, subject_kind, \
             subject_id, before_state, after_state, prev_hash, hash \
             FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(last_id)
        .bind(PAGE_ROWS)
        .fetch_all(&db.pool)
        .await?;
        for row in &rows {
            if let Some(problem) = check(row, last_id, &last_hash)? {
                let id = row.try_get("id")?;
                return Ok(Verification {
                    checked,
                    broken: Some(broken(id, problem)),
                });
            }
            last_id = row.try_get("id")?;
            last_hash = row.try_get("hash")?;
            checked += 1;
        }
        if !rows.is_empty() {
            continue;
        }
        // The end of the log as read: the head must name it. An append commits its entry and
        // the head together, so a head further on means entries committed meanwhile.
        let Some(head) = sqlx::query("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
            .fetch_optional(&db.pool)
            .await?
        else {
            return Ok(Verification {
                checked,
                broken: Some(broken(last_id, Problem::HeadMissing)),
            });
        };
        let head_id: i64 = head.try_get("last_id")?;
        let head_hash: String = head.try_get("last_hash")?;
        let problem = if head_id > last_id {
            let newer = sqlx::query("SELECT id FROM audit_log WHERE id > $1 LIMIT 1")
                .bind(last_id)
                .fetch_optional(&db.pool)
                .await?;
            if newer.is_some() {
                continue;
            }
            return Ok(Verification {
                checked,
                broken: Some(broken(
                    head_id,
                    Problem::MissingAtEnd { last_id, head_hash },
                )),
            });
        } else if head_id < last_id {
            return Ok(Verification {
                checked,
                broken: Some(broken(head_id + 1, Problem::BeyondHead { head_id })),
            });
        } else if head_hash != last_hash {
            Some(Problem::HeadHashMismatch {
                head_hash,
                hash: last_hash,
            })
        } else {
            None
        };
        return Ok(Verification {
            checked,
            broken: problem.map(|problem| broken(last_id, problem)),
        });
    }
}

/// Checks one entry against the one before it: the problem, when it breaks the chain.
fn check(
    row: &AnyRow,
    previous_id: i64,
    previous_hash: &str,
) -> Result<Option<Problem>, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    if id != previous_id + 1 {
        return Ok(Some(Problem::Gap {
            expected_id: previous_id + 1,
            found_id: id,
        }));
    }
    let prev_hash: String = row.try_get("prev_hash")?;
    if prev_hash != previous_hash {
        return Ok(Some(Problem::PreviousHashMismatch {
            expected: previous_hash.to_string(),
            found: prev_hash,
        }));
    }
    let actor_kind: String = row.try_get("actor_kind")?;
    let actor_label: String = row.try_get("actor_label")?;
    let action: String = row.try_get("action")?;
    let subject_kind: String = row.try_get("subject_kind")?;
    let subject_id: String = row.try_get("subject_id")?;
    let before_state: Option<String> = row.try_get("before_state")?;
    let after_state: Option<String> = row.try_get("after_state")?;
    let computed = ChainedFields {
        prev_hash: &prev_hash,
        id,
        at_ms: row.try_get("at")?,
        actor_kind: &actor_kind,
        actor_id: row.try_get("actor_id")?,
        actor_label: &actor_label,
        school_id: row.try_get("school_id")?,
        action: &action,
        subject_kind: &subject_kind,
        subject_id: &subject_id,
        before_state: before_state.as_deref(),
        after_state: after_state.as_deref(),
    }
    .hash();
    let stored: String = row.try_get("hash")?;
    Ok((stored != computed).then_some(Problem::HashMismatch { stored, computed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_is_described_by_the_ids_missing() {
        let words = |expected_id, found_id| {
            Problem::Gap {
                expected_id,
                found_id,
            }
            .to_string()
        };
        assert_eq!(words(3, 4), "entry 3 before it is missing");
        assert_eq!(words(3, 9), "entries 3 to 8 before it are missing");
        assert!(words(3, 1).contains("out of sequence"));
    }

    #[test]
    fn a_broken_entry_is_named_by_its_id() {
        let broken = BrokenEntry {
            id: 12,
            problem: Problem::HeadMissing,
        };
        assert!(broken.to_string().starts_with("audit entry 12: "));
    }
}
