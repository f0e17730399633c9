//! Reading a pack's contents in the caller's transaction: the records as the ledger last
//! chained them, the chain segment that holds them up to the head it is anchored to, the
//! policy clauses that applied, then the report and the signed manifest.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::archive::{self, Member};
use super::ledger_lines::{self, LedgerLine};
use super::manifest::{sha256_hex, Anchor, Manifest, SchoolRef, SubjectRef};
use super::members::{Membership, RECORD_FILES};
use super::{
    report, FORMAT, LEDGER, MANIFEST, POLICY_CLAUSES, README, REPORT, SIGNATURE, SIGNED_HEAD,
};
use crate::db::decode::decode_timezone;
use crate::db::{Backend, IDS_PER_QUERY};
use crate::directory::{self, School};
use crate::ledger::classes::{self, KeyValue, RecordClass};
use crate::ledger::heads::{self, key_fingerprint, HeadSigner};
use crate::ledger::Change;

const PAGE_ROWS: i64 = 5000;

/// What a pack is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Call(i64),
    Finding(i64),
}

impl Subject {
    pub fn kind(self) -> &'static str {
        match self {
            Subject::Call(_) => "call",
            Subject::Finding(_) => "finding",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Subject::Call(id) | Subject::Finding(id) => id,
        }
    }
}

/// What a pack covers, as its reader may see it: the findings that name the reader are left
/// out by the caller.
#[derive(Debug, Clone)]
pub struct Scope {
    pub subject: Subject,
    pub school: School,
    pub call_id: Option<i64>,
    pub scheduled_meeting_id: Option<i64>,
    pub finding_ids: BTreeSet<i64>,
}

/// A pack made.
#[derive(Debug, Clone)]
pub struct Pack {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
    /// Entries in the segment, and how many of them are about the pack's records.
    pub entries: usize,
    pub pack_entries: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("the ledger has not yet chained the {0}'s records")]
    NotChained(&'static str),
    #[error("the school's timezone cannot be read: {0}")]
    Timezone(String),
    #[error("the pack could not be written: {0}")]
    Write(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Makes the pack of `scope`, reading in `connection` (the caller's transaction).
pub async fn produce(
    connection: &mut AnyConnection,
    signer: &HeadSigner,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Pack, CollectError> {
    let school_id = scope.school.id;
    let timezone = decode_timezone("schools", school_id, &scope.school.timezone)
        .map_err(|error| CollectError::Timezone(error.to_string()))?;
    let mut membership = Membership {
        call_id: scope.call_id,
        settings_key: settings_key(connection, scope).await?,
        finding_ids: scope.finding_ids.clone(),
        keys: HashSet::new(),
    };
    membership.keys = live_keys(connection, &membership, school_id).await?;
    let (first, last) = seq_bounds(connection, school_id, &membership.keys)
        .await?
        .ok_or(CollectError::NotChained(scope.subject.kind()))?;
    let (anchor, signed_head) = anchor(connection, school_id, last).await?;
    let lines = segment(
        connection,
        school_id,
        (first - 1).max(1),
        anchor.seq,
        &mut membership,
    )
    .await?;
    let records = latest_records(&lines);
    let clauses = policy_clauses(connection, school_id, &records).await?;

    let mut manifest = Manifest {
        format: FORMAT.to_string(),
        subject: SubjectRef {
            kind: scope.subject.kind().to_string(),
            id: scope.subject.id(),
        },
        made_at: now,
        school: SchoolRef {
            id: school_id,
            name: scope.school.name.clone(),
            timezone: scope.school.timezone.clone(),
        },
        public_key: signer.public_key(),
        key_fingerprint: key_fingerprint(&signer.public_key()),
        anchor,
        pack_entries: (first, last),
        files: BTreeMap::new(),
    };
    let report = report::render(&report::Input {
        manifest: &manifest,
        records: &records,
        clauses: &clauses,
        lines: &lines,
        timezone,
    })
    .map_err(|error| CollectError::Write(error.to_string()))?;
    let mut files: Vec<Member> = vec![
        member(README, include_str!("README.txt").as_bytes().to_vec()),
        member(REPORT, report.into_bytes()),
        member(LEDGER, ledger_lines::render(&lines).into_bytes()),
    ];
    if let Some(head) = &signed_head {
        files.push(member(
            SIGNED_HEAD,
            pretty(&serde_json::to_value(head).expect("a head serialises")),
        ));
    }
    for (file, class) in RECORD_FILES {
        let of_class = records.get(class.name).cloned().unwrap_or_default();
        files.push(member(file, pretty(&Value::Array(of_class))));
    }
    files.push(member(POLICY_CLAUSES, pretty(&clauses)));
    manifest.files = files
        .iter()
        .map(|file| (file.name.clone(), sha256_hex(&file.bytes)))
        .collect();
    let manifest_bytes = manifest.to_bytes();
    let signature = format!("{}\n", signer.sign_pack(&manifest_bytes));
    let mut members = vec![
        member(MANIFEST, manifest_bytes),
        member(SIGNATURE, signature.into_bytes()),
    ];
    members.extend(files);
    let bytes = archive::write(&members, archive::zip_time(now))
        .map_err(|error| CollectError::Write(error.to_string()))?;
    Ok(Pack {
        file_name: format!(
            "evidence-{}-{}-{}.zip",
            scope.subject.kind(),
            scope.subject.id(),
            now.with_timezone(&timezone).format("%Y%m%d-%H%M")
        ),
        bytes,
        entries: lines.len(),
        pack_entries: lines
            .iter()
            .filter(|line| {
                membership
                    .keys
                    .contains(&(line.record_class.clone(), line.record_key.clone()))
            })
            .count(),
        manifest,
    })
}

fn member(name: &str, bytes: Vec<u8>) -> Member {
    Member {
        name: name.to_string(),
        bytes,
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON serialises");
    bytes.push(b'\n');
    bytes
}

/// The canonical `settings` key of the call's meeting, or of the schedule's.
async fn settings_key(
    connection: &mut AnyConnection,
    scope: &Scope,
) -> Result<Option<String>, sqlx::Error> {
    let row = match (scope.call_id, scope.scheduled_meeting_id) {
        (Some(call), _) => {
            sqlx::query("SELECT platform, platform_meeting_id FROM meeting_instances WHERE id = $1")
                .bind(call)
                .fetch_optional(&mut *connection)
                .await?
        }
        (None, Some(scheduled)) => {
            sqlx::query(
                "SELECT platform, platform_meeting_id FROM scheduled_meetings WHERE id = $1",
            )
            .bind(scheduled)
            .fetch_optional(&mut *connection)
            .await?
        }
        (None, None) => None,
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let platform: String = row.try_get("platform")?;
    let meeting: Option<String> = row.try_get("platform_meeting_id")?;
    Ok(meeting.map(|meeting| {
        classes::SETTINGS.canonical_key(&[KeyValue::Text(platform), KeyValue::Text(meeting)])
    }))
}

/// The pack's records as their tables now hold them, by (class, key): where their entries
/// in the chain begin and end.
async fn live_keys(
    connection: &mut AnyConnection,
    membership: &Membership,
    school_id: i64,
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let mut keys = HashSet::new();
    let findings: Vec<i64> = membership.finding_ids.iter().copied().collect();
    let call: Vec<i64> = membership.call_id.into_iter().collect();
    let selections: [(&RecordClass, &str, &[i64]); 8] = [
        (&classes::CALL, "id", &call),
        (&classes::PARTICIPANT, "instance_id", &call),
        (&classes::ROOM_STAY, "instance_id", &call),
        (&classes::SIGNAL, "instance_id", &call),
        (&classes::OUTCOME, "meeting_instance_id", &call),
        (&classes::FINDING, "id", &findings),
        (&classes::FINDING_CHANGE, "finding_id", &findings),
        (&classes::ALERT_DELIVERY, "finding_id", &findings),
    ];
    for (class, column, ids) in selections {
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = class.select_in(Backend::of(connection), column, chunk.len());
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *connection).await? {
                let record = class.read(&row)?;
                if record.school_id == school_id {
                    keys.insert((class.name.to_string(), record.key));
                }
            }
        }
    }
    if let Some(key) = &membership.settings_key {
        keys.insert((classes::SETTINGS.name.to_string(), key.clone()));
    }
    Ok(keys)
}

/// The first and last entries of the chain about any of `keys`.
async fn seq_bounds(
    connection: &mut AnyConnection,
    school_id: i64,
    keys: &HashSet<(String, String)>,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let mut by_class: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (class, key) in keys {
        by_class.entry(class).or_default().push(key);
    }
    let mut bounds: Option<(i64, i64)> = None;
    for (class, keys) in by_class {
        for chunk in keys.chunks(IDS_PER_QUERY) {
            let marks: Vec<String> = (3..chunk.len() + 3)
                .map(|index| format!("${index}"))
                .collect();
            let sql = format!(
                "SELECT MIN(seq) AS first_seq, MAX(seq) AS last_seq FROM ledger_entries \
                 WHERE school_id = $1 AND record_class = $2 AND record_key IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(school_id).bind(class);
            for key in chunk {
                query = query.bind(*key);
            }
            let row = query.fetch_one(&mut *connection).await?;
            let first: Option<i64> = row.try_get("first_seq")?;
            let last: Option<i64> = row.try_get("last_seq")?;
            if let (Some(first), Some(last)) = (first, last) {
                bounds = Some(match bounds {
                    None => (first, last),
                    Some((low, high)) => (low.min(first), high.max(last)),
                });
            }
        }
    }
    Ok(bounds)
}

/// The earliest signed head that covers entry `last`, or else the chain's head now.
async fn anchor(
    connection: &mut AnyConnection,
    school_id: i64,
    last: i64,
) -> Result<(Anchor, Option<heads::SignedHead>), sqlx::Error> {
    let signed = heads::list(connection, school_id)
        .await?
        .into_iter()
        .find(|head| head.seq >= last);
    if let Some(head) = signed {
        return Ok((
            Anchor {
                seq: head.seq,
                hash: head.hash.clone(),
                signed_head_date: Some(head.local_date),
            },
            Some(head),
        ));
    }
    let row = sqlx::query("SELECT last_seq, last_hash FROM ledger_heads WHERE school_id = $1")
        .bind(school_id)
        .fetch_one(&mut *connection)
        .await?;
    Ok((
        Anchor {
            seq: row.try_get("last_seq")?,
            hash: row.try_get("last_hash")?,
            signed_head_date: None,
        },
        None,
    ))
}

/// Entries `from..=to` of the school's chain; content kept for the pack's records only.
async fn segment(
    connection: &mut AnyConnection,
    school_id: i64,
    from: i64,
    to: i64,
    membership: &mut Membership,
) -> Result<Vec<LedgerLine>, sqlx::Error> {
    let mut lines = Vec::new();
    let mut after = from - 1;
    while after < to {
        let rows = sqlx::query(
            "SELECT seq, at, record_class, record_key, change, content, content_hash, prev_hash, hash \
             FROM ledger_entries WHERE school_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(school_id)
        .bind(after)
        .bind(to)
        .bind(PAGE_ROWS)
        .fetch_all(&mut *connection)
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let record_class: String = row.try_get("record_class")?;
            let record_key: String = row.try_get("record_key")?;
            let content: Option<String> = row.try_get("content")?;
            let ours = membership.claims(&record_class, &record_key, content.as_deref());
            let line = LedgerLine {
                school_id,
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                record_class,
                record_key,
                change: row.try_get("change")?,
                content_hash: row.try_get("content_hash")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
                content: if ours { content } else { None },
            };
            after = line.seq;
            lines.push(line);
        }
    }
    Ok(lines)
}

/// Each record the segment carries, as its last entry there says, by class (in order of
/// first appearance); records the segment ends (removed, purged) are left out.
pub fn latest_records(lines: &[LedgerLine]) -> BTreeMap<&'static str, Vec<Value>> {
    let mut last: BTreeMap<(&'static str, &str), (usize, &LedgerLine)> = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(class) = classes::by_name(&line.record_class) else {
            continue;
        };
        if line.content.is_none() && !ends_record(line) {
            continue;
        }
        let first = last
            .get(&(class.name, line.record_key.as_str()))
            .map_or(index, |(first, _)| *first);
        last.insert((class.name, &line.record_key), (first, line));
    }
    let mut ordered: Vec<(usize, &'static str, &LedgerLine)> = last
        .into_iter()
        .map(|((class, _), (first, line))| (first, class, line))
        .collect();
    ordered.sort_by_key(|(first, _, _)| *first);
    let mut records: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    for (_, class, line) in ordered {
        if ends_record(line) {
            continue;
        }
        if let Some(value) = line
            .content
            .as_deref()
            .and_then(|content| serde_json::from_str(content).ok())
        {
            records.entry(class).or_default().push(value);
        }
    }
    records
}

pub(super) fn ends_record(line: &LedgerLine) -> bool {
    Change::parse(&line.change).is_some_and(Change::ends_record)
}

/// For each rule the pack's findings name: the clause each finding quoted when it was
/// opened, and the rule's setting in the school's policy now.
async fn policy_clauses(
    connection: &mut AnyConnection,
    school_id: i64,
    records: &BTreeMap<&'static str, Vec<Value>>,
) -> Result<Value, sqlx::Error> {
    let settings = directory::settings::load(connection, school_id).await?;
    let policy = settings
        .policy
        .resolve()
        .ok()
        .and_then(|policy| serde_json::to_value(policy).ok());
    let mut by_rule: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for finding in records.get("finding").into_iter().flatten() {
        let rule = finding["rule"].as_str().unwrap_or_default().to_string();
        by_rule.entry(rule).or_default().push(json!({
            "finding_id": finding["id"],
            "clause": finding["clause"],
        }));
    }
    let rules: Vec<Value> = by_rule
        .into_iter()
        .map(|(rule, quoted)| {
            let now = policy
                .as_ref()
                .and_then(|policy| policy.get(&rule))
                .map(|setting| {
                    json!({
                        "enabled": setting["enabled"],
                        "severity": setting["severity"],
                        "clause": setting["clause"],
                    })
                });
            json!({ "rule": rule, "quoted_by_findings": quoted, "school_policy_now": now })
        })
        .collect();
    Ok(json!({
        "preset": settings.policy.preset,
        "rules": rules,
    }))
}

/// The school a call belongs to, if the call exists.
pub async fn school_of_call(db: &crate::db::Db, call_id: i64) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT school_id FROM meeting_instances WHERE id = $1")
        .bind(call_id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| row.try_get("school_id")).transpose()
}
