//! Verifying a school's ledger: walks the chain from its first entry, recomputing every hash
//! and content hash; holds the head and every signed head to the chain; then reads every
//! record the ledger covers and holds it to its last entry. Names the entries that do not
//! match, first one first.

use std::collections::{HashMap, HashSet};

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::append::Change;
use super::chain::{content_hash, EntryFields, GENESIS_HASH};
use super::classes;
use super::heads::{self, HeadSigner};

/// Problems listed at most per school: past the first few, more say little.
const MOST_PROBLEMS: usize = 20;
const PAGE_ROWS: i64 = 5000;

/// What was found wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's columns were changed after it was written.
    HashMismatch,
    /// The entry does not follow the one before it.
    PreviousHashMismatch,
    /// Entries are missing before this one, or its seq is out of order.
    Gap,
    /// The entry's content is not what its content hash says.
    ContentMismatch,
    /// The entry's content was emptied, but the record was never purged.
    ContentMissing,
    /// The head does not name the last entry: entries were removed from the end.
    HeadMismatch,
    /// A signed head names an entry the chain does not have, or not with that hash.
    SignedHeadMismatch,
    /// A signed head's signature does not hold.
    SignatureInvalid,
    /// A signed head was signed by a key this instance does not hold.
    UnknownSigningKey,
    /// The record is not as its last entry says.
    RecordAltered,
    /// The record is gone, but no entry says it was removed or purged.
    RecordMissing,
    /// The record is in its table but in no entry.
    RecordUnchained,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The entry that does not match (for a record, its last entry).
    pub seq: Option<i64>,
    pub record_class: Option<String>,
    pub record_key: Option<String>,
    pub kind: ProblemKind,
    pub detail: String,
}

/// One school's ledger, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolVerification {
    pub school_id: i64,
    pub entries: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub records_checked: u64,
    pub signed_heads: u64,
    /// Records written since the ledger keeper last ran: noted, and chained shortly.
    pub awaiting_ledger: u64,
    /// The first problems, in chain order; none when everything matches.
    pub problems: Vec<Problem>,
}

impl SchoolVerification {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the chain says of a record: its last entry.
struct LastEntry {
    seq: i64,
    change: Change,
    content_hash: String,
}

/// Verifies `school_id`'s ledger; `signer` (this instance's keys) lets it say whether each
/// signed head is this instance's.
pub async fn verify_school(
    connection: &mut AnyConnection,
    school_id: i64,
    signer: Option<&HeadSigner>,
) -> Result<SchoolVerification, sqlx::Error> {
    let mut problems = Problems::default();
    let mut last: HashMap<(String, String), LastEntry> = HashMap::new();
    let mut emptied: Vec<(i64, String, String)> = Vec::new();
    let mut hashes_at: HashMap<i64, String> = HashMap::new();
    let signed = heads::list(connection, school_id).await?;
    let wanted: HashSet<i64> = signed.iter().map(|head| head.seq).collect();

    let mut expected_seq = 1_i64;
    let mut previous_hash = GENESIS_HASH.to_string();
    let mut entries = 0_u64;
    let mut after = 0_i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, record_class, record_key, change, content, content_hash, prev_hash, hash \
             FROM ledger_entries WHERE school_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(school_id)
        .bind(after)
        .bind(PAGE_ROWS)
        .fetch_all(&mut *connection)
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            let record_class: String = row.try_get("record_class")?;
            let record_key: String = row.try_get("record_key")?;
            let change_text: String = row.try_get("change")?;
            let content: Option<String> = row.try_get("content")?;
            let stored_content_hash: String = row.try_get("content_hash")?;
            let prev_hash: String = row.try_get("prev_hash")?;
            let hash: String = row.try_get("hash")?;
            let at = |kind, detail: String| Problem {
                seq: Some(seq),
                record_class: Some(record_class.clone()),
                record_key: Some(record_key.clone()),
                kind,
                detail,
            };
            entries += 1;
            after = seq;
            if seq != expected_seq {
                problems.push(at(
                    ProblemKind::Gap,
                    format!(
                        "entry {seq} follows entry {}: entries are missing or out of order",
                        expected_seq - 1
                    ),
                ));
            }
            if prev_hash != previous_hash {
                problems.push(at(
                    ProblemKind::PreviousHashMismatch,
                    format!("its previous hash {prev_hash} is not the hash of the entry before it ({previous_hash})"),
                ));
            }
            let computed = EntryFields {
                prev_hash: &prev_hash,
                school_id,
                seq,
                at_ms: row.try_get("at")?,
                record_class: &record_class,
                record_key: &record_key,
                change: &change_text,
                content_hash: &stored_content_hash,
            }
            .hash();
            if computed != hash {
                problems.push(at(
                    ProblemKind::HashMismatch,
                    format!(
                        "its hash does not match its columns (stored {hash}, computed {computed})"
                    ),
                ));
            }
            match &content {
                Some(content) if content_hash(content) != stored_content_hash => problems.push(at(
                    ProblemKind::ContentMismatch,
                    "its content is not what its content hash says".into(),
                )),
                Some(_) => {}
                None => emptied.push((seq, record_class.clone(), record_key.clone())),
            }
            let change = Change::parse(&change_text).unwrap_or(Change::Changed);
            if change != Change::Stated {
                last.insert(
                    (record_class.clone(), record_key.clone()),
                    LastEntry {
                        seq,
                        change,
                        content_hash: stored_content_hash.clone(),
                    },
                );
            }
            if wanted.contains(&seq) {
                hashes_at.insert(seq, hash.clone());
            }
            expected_seq = seq + 1;
            previous_hash = hash;
        }
    }
    for (seq, record_class, record_key) in emptied {
        let purged = last
            .get(&(record_class.clone(), record_key.clone()))
            .is_some_and(|entry| entry.change == Change::Purged);
        if !purged {
            problems.push(Problem {
                seq: Some(seq),
                record_class: Some(record_class),
                record_key: Some(record_key),
                kind: ProblemKind::ContentMissing,
                detail: "its content was emptied, but no entry says the record was purged".into(),
            });
        }
    }

    let head = sqlx::query("SELECT last_seq, last_hash FROM ledger_heads WHERE school_id = $1")
        .bind(school_id)
        .fetch_optional(&mut *connection)
        .await?;
    let (head_seq, head_hash) = match head {
        Some(row) => (row.try_get("last_seq")?, row.try_get("last_hash")?),
        None => (0, GENESIS_HASH.to_string()),
    };
    if head_seq != after || head_hash != previous_hash {
        problems.push(Problem {
            seq: Some(head_seq),
            record_class: None,
            record_key: None,
            kind: ProblemKind::HeadMismatch,
            detail: format!(
                "the head says the chain ends with entry {head_seq}, but the last entry is {after}"
            ),
        });
    }

    for head in &signed {
        let problem = |kind, detail: String| Problem {
            seq: Some(head.seq),
            record_class: None,
            record_key: None,
            kind,
            detail,
        };
        if hashes_at.get(&head.seq) != Some(&head.hash) {
            problems.push(problem(
                ProblemKind::SignedHeadMismatch,
                format!("the head signed for {} names entry {} with hash {}, which the chain does not hold", head.local_date, head.seq, head.hash),
            ));
        }
        if !head.signature_holds() {
            problems.push(problem(
                ProblemKind::SignatureInvalid,
                format!(
                    "the signature of the head for {} does not hold",
                    head.local_date
                ),
            ));
        } else if signer.is_some_and(|signer| !signer.knows(&head.public_key)) {
            problems.push(problem(
                ProblemKind::UnknownSigningKey,
                format!(
                    "the head for {} was signed by key {}, which this instance does not hold",
                    head.local_date,
                    head.key_fingerprint()
                ),
            ));
        }
    }

    let awaiting = pending_keys(connection).await?;
    let mut awaiting_ledger = 0_u64;
    let mut records_checked = 0_u64;
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for class in classes::ALL {
        let sql = class.select_school();
        let mut rows = sqlx::query(&sql).bind(school_id).fetch(&mut *connection);
        while let Some(row) = rows.try_next().await? {
            let record = class.read(&row)?;
            records_checked += 1;
            let id = (class.name.to_string(), record.key.clone());
            let hash = content_hash(&record.content);
            let matches = last
                .get(&id)
                .is_some_and(|entry| !entry.change.ends_record() && entry.content_hash == hash);
            if !matches {
                if awaiting.contains(&id) {
                    awaiting_ledger += 1;
                } else {
                    let (kind, seq, detail) = match last.get(&id) {
                        Some(entry) => (
                            ProblemKind::RecordAltered,
                            Some(entry.seq),
                            format!(
                                "the {} is not as entry {} recorded it",
                                class.name, entry.seq
                            ),
                        ),
                        None => (
                            ProblemKind::RecordUnchained,
                            None,
                            format!("the {} is in no entry of the chain", class.name),
                        ),
                    };
                    problems.push(Problem {
                        seq,
                        record_class: Some(class.name.to_string()),
                        record_key: Some(record.key.clone()),
                        kind,
                        detail,
                    });
                }
            }
            seen.insert(id);
        }
    }
    for ((record_class, record_key), entry) in &last {
        let id = (record_class.clone(), record_key.clone());
        if entry.change.ends_record() || seen.contains(&id) {
            continue;
        }
        if classes::by_name(record_class).is_none() {
            continue;
        }
        if awaiting.contains(&id) {
            awaiting_ledger += 1;
            continue;
        }
        problems.push(Problem {
            seq: Some(entry.seq),
            record_class: Some(record_class.clone()),
            record_key: Some(record_key.clone()),
            kind: ProblemKind::RecordMissing,
            detail: format!(
                "the {record_class} recorded by entry {} is gone, and no entry says it was removed or purged",
                entry.seq
            ),
        });
    }

    Ok(SchoolVerification {
        school_id,
        entries,
        head_seq,
        head_hash,
        records_checked,
        signed_heads: signed.len() as u64,
        awaiting_ledger,
        problems: problems.into_sorted(),
    })
}

/// Records noted by the triggers and not yet chained, by canonical key.
async fn pending_keys(
    connection: &mut AnyConnection,
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT record_class, record_key FROM ledger_pending")
        .fetch_all(&mut *connection)
        .await?;
    let mut keys = HashSet::new();
    for row in rows {
        let name: String = row.try_get("record_class")?;
        let key: String = row.try_get("record_key")?;
        if let Some(class) = classes::by_name(&name) {
            if let Ok(values) = class.parse_key(&key) {
                keys.insert((name, class.canonical_key(&values)));
            }
        }
    }
    Ok(keys)
}

/// Problems kept in chain order, the first few only.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    /// The chain's own problems first, in chain order (a record held to a broken chain says
    /// little until the chain is sound), then the records'.
    fn into_sorted(mut self) -> Vec<Problem> {
        self.0.sort_by_key(|problem| {
            let about_records = matches!(
                problem.kind,
                ProblemKind::RecordAltered
                    | ProblemKind::RecordMissing
                    | ProblemKind::RecordUnchained
            );
            (about_records, problem.seq.unwrap_or(i64::MAX))
        });
        self.0.truncate(MOST_PROBLEMS);
        self.0
    }
}

/// Every school that has a chain or could have one.
pub async fn school_ids(connection: &mut AnyConnection) -> Result<Vec<i64>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT id FROM schools UNION SELECT school_id FROM ledger_heads ORDER BY 1")
            .fetch_all(&mut *connection)
            .await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}

/// Verifies the ledger of `school_id`, or of every school.
pub async fn verify(
    db: &crate::db::Db,
    signer: &HeadSigner,
    school_id: Option<i64>,
) -> Result<Vec<SchoolVerification>, sqlx::Error> {
    let mut connection = db.pool.acquire().await?;
    let ids = match school_id {
        Some(id) => vec![id],
        None => school_ids(&mut connection).await?,
    };
    let mut verified = Vec::with_capacity(ids.len());
    for id in ids {
        verified.push(verify_school(&mut connection, id, Some(signer)).await?);
    }
    Ok(verified)
}
