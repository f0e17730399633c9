//! Checking a pack from its bytes alone, offline: the ZIP (every CRC, and its form), the
//! manifest's hashes of every file and its signature, the chain segment (every hash, every
//! link, every content), its end at the anchor and the signed head's signature, and that
//! the record files say what the ledger says. The first thing that does not hold is named.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::archive::{self, ArchiveError};
use super::collect::ends_record;
use super::ledger_lines::{self, LedgerLine, SegmentError};
use super::manifest::{sha256_hex, Manifest};
use super::members::{key_of, RECORD_FILES};
use super::{FORMAT, LEDGER, MANIFEST, SIGNATURE, SIGNED_HEAD};
use crate::ledger::heads::{key_fingerprint, pack_signature_holds};
use crate::ledger::SignedHead;

/// What a pack that holds says.
#[derive(Debug, Clone, Serialize)]
pub struct PackSummary {
    pub subject_kind: String,
    pub subject_id: i64,
    pub school_id: i64,
    pub school_name: String,
    pub made_at: chrono::DateTime<chrono::Utc>,
    pub files: usize,
    pub entries: usize,
    pub entries_with_content: usize,
    pub records: usize,
    pub first_seq: i64,
    pub anchor_seq: i64,
    pub signed_head_date: Option<chrono::NaiveDate>,
    pub key_fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("the pack has no {0}")]
    Missing(&'static str),
    #[error("{file} cannot be read: {detail}")]
    Unreadable { file: String, detail: String },
    #[error("the pack is of format {0:?}, which this version does not know")]
    Format(String),
    #[error("the manifest's signature does not hold: the manifest was changed, or not signed by the key it names")]
    Signature,
    #[error("the manifest's key fingerprint is not its public key's")]
    Fingerprint,
    #[error("{0} is in the pack but not in the manifest")]
    Extra(String),
    #[error("{0} is in the manifest but not in the pack")]
    Absent(String),
    #[error("{0} is not what the manifest's hash says: it was changed")]
    FileHash(String),
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("the ledger segment ends at entry {found}, not at the anchor, entry {anchor}")]
    AnchorSeq { found: i64, anchor: i64 },
    #[error("the ledger segment's last entry is not the anchor's hash")]
    AnchorHash,
    #[error("the manifest says the anchor is a signed head, but the pack has no signed_head.json")]
    SignedHeadMissing,
    #[error("signed_head.json is in the pack, but the manifest anchors to no signed head")]
    SignedHeadUnexpected,
    #[error("the signed head's signature does not hold")]
    SignedHeadSignature,
    #[error("the signed head does not name the anchor ({0})")]
    SignedHeadMismatch(&'static str),
    #[error("{file} holds a record of which no key can be read")]
    RecordKey { file: &'static str },
    #[error("{file} holds {class} {key}, which no entry of the segment records")]
    RecordUnrecorded {
        file: &'static str,
        class: &'static str,
        key: String,
    },
    #[error("{file} holds {class} {key} otherwise than its last entry, {seq}, says")]
    RecordDiffers {
        file: &'static str,
        class: &'static str,
        key: String,
        seq: i64,
    },
    #[error("{file} lacks {class} {key}, which entry {seq} records")]
    RecordLeftOut {
        file: &'static str,
        class: &'static str,
        key: String,
        seq: i64,
    },
}

/// Checks the pack in `bytes`.
pub fn verify_pack(bytes: &[u8]) -> Result<PackSummary, PackError> {
    let members = archive::read(bytes)?;
    let files: BTreeMap<&str, &[u8]> = members
        .iter()
        .map(|member| (member.name.as_str(), member.bytes.as_slice()))
        .collect();
    let manifest_bytes = *files.get(MANIFEST).ok_or(PackError::Missing(MANIFEST))?;
    let signature = *files.get(SIGNATURE).ok_or(PackError::Missing(SIGNATURE))?;
    let manifest: Manifest =
        serde_json::from_slice(manifest_bytes).map_err(|error| unreadable(MANIFEST, error))?;
    if manifest.format != FORMAT {
        return Err(PackError::Format(manifest.format));
    }
    let signature = std::str::from_utf8(signature)
        .map_err(|error| unreadable(SIGNATURE, error))?
        .trim_end_matches('\n');
    if !pack_signature_holds(&manifest.public_key, manifest_bytes, signature) {
        return Err(PackError::Signature);
    }
    if key_fingerprint(&manifest.public_key) != manifest.key_fingerprint {
        return Err(PackError::Fingerprint);
    }
    for name in files
        .keys()
        .filter(|name| ![MANIFEST, SIGNATURE].contains(name))
    {
        if !manifest.files.contains_key(*name) {
            return Err(PackError::Extra(name.to_string()));
        }
    }
    for (name, hash) in &manifest.files {
        let file = files
            .get(name.as_str())
            .ok_or_else(|| PackError::Absent(name.clone()))?;
        if sha256_hex(file) != *hash {
            return Err(PackError::FileHash(name.clone()));
        }
    }

    let ledger = std::str::from_utf8(files.get(LEDGER).ok_or(PackError::Missing(LEDGER))?)
        .map_err(|error| unreadable(LEDGER, error))?;
    let lines = ledger_lines::parse(ledger)?;
    ledger_lines::check(&lines, manifest.school.id)?;
    let last = lines.last().expect("a checked segment has entries");
    if last.seq != manifest.anchor.seq {
        return Err(PackError::AnchorSeq {
            found: last.seq,
            anchor: manifest.anchor.seq,
        });
    }
    if last.hash != manifest.anchor.hash {
        return Err(PackError::AnchorHash);
    }
    match (manifest.anchor.signed_head_date, files.get(SIGNED_HEAD)) {
        (Some(date), Some(head)) => {
            let head: SignedHead =
                serde_json::from_slice(head).map_err(|error| unreadable(SIGNED_HEAD, error))?;
            if !head.signature_holds() {
                return Err(PackError::SignedHeadSignature);
            }
            if head.seq != last.seq || head.hash != last.hash {
                return Err(PackError::SignedHeadMismatch("entry"));
            }
            if head.school_id != manifest.school.id {
                return Err(PackError::SignedHeadMismatch("school"));
            }
            if head.local_date != date {
                return Err(PackError::SignedHeadMismatch("date"));
            }
        }
        (Some(_), None) => return Err(PackError::SignedHeadMissing),
        (None, Some(_)) => return Err(PackError::SignedHeadUnexpected),
        (None, None) => {}
    }
    let records = check_records(&files, &lines)?;
    Ok(PackSummary {
        subject_kind: manifest.subject.kind.clone(),
        subject_id: manifest.subject.id,
        school_id: manifest.school.id,
        school_name: manifest.school.name.clone(),
        made_at: manifest.made_at,
        files: files.len(),
        entries: lines.len(),
        entries_with_content: lines.iter().filter(|line| line.content.is_some()).count(),
        records,
        first_seq: lines[0].seq,
        anchor_seq: manifest.anchor.seq,
        signed_head_date: manifest.anchor.signed_head_date,
        key_fingerprint: manifest.key_fingerprint,
    })
}

fn unreadable(file: &str, error: impl std::fmt::Display) -> PackError {
    PackError::Unreadable {
        file: file.to_string(),
        detail: error.to_string(),
    }
}

/// Holds every record file to the segment, both ways: each record is as its last entry
/// says, and each record the segment carries (and does not end) is in its file.
fn check_records(files: &BTreeMap<&str, &[u8]>, lines: &[LedgerLine]) -> Result<usize, PackError> {
    let mut last: HashMap<(&str, &str), &LedgerLine> = HashMap::new();
    let mut carried: BTreeSet<(&str, &str)> = BTreeSet::new();
    for line in lines {
        last.insert((&line.record_class, &line.record_key), line);
        if line.content.is_some() {
            carried.insert((&line.record_class, &line.record_key));
        }
    }
    let mut checked = 0;
    for (file, class) in RECORD_FILES {
        let held: Vec<Value> = match files.get(file) {
            Some(bytes) => {
                serde_json::from_slice(bytes).map_err(|error| unreadable(file, error))?
            }
            None => Vec::new(),
        };
        let mut keys = BTreeSet::new();
        for record in &held {
            let key = key_of(class, record).ok_or(PackError::RecordKey { file })?;
            let entry = *last.get(&(class.name, key.as_str())).ok_or_else(|| {
                PackError::RecordUnrecorded {
                    file,
                    class: class.name,
                    key: key.clone(),
                }
            })?;
            let said: Option<Value> = entry
                .content
                .as_deref()
                .and_then(|content| serde_json::from_str(content).ok());
            if ends_record(entry) || said.as_ref() != Some(record) {
                return Err(PackError::RecordDiffers {
                    file,
                    class: class.name,
                    key,
                    seq: entry.seq,
                });
            }
            keys.insert(key);
            checked += 1;
        }
        for (record_class, key) in carried.iter().filter(|(name, _)| *name == class.name) {
            let entry = last[&(*record_class, *key)];
            if entry.content.is_some() && !ends_record(entry) && !keys.contains(*key) {
                return Err(PackError::RecordLeftOut {
                    file,
                    class: class.name,
                    key: key.to_string(),
                    seq: entry.seq,
                });
            }
        }
    }
    Ok(checked)
}

/// Reads and checks the pack at `path`, for `chaperone verify-pack`: the summary to print,
/// or what does not hold.
pub fn verify_file(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let summary = verify_pack(&bytes)
        .with_context(|| format!("the evidence pack {} does not verify", path.display()))?;
    Ok(summary.to_string())
}

impl std::fmt::Display for PackSummary {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            out,
            "evidence pack verified: {} {} of school {} (id {}), made {}",
            self.subject_kind,
            self.subject_id,
            self.school_name,
            self.school_id,
            self.made_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )?;
        writeln!(
            out,
            "  {} files intact; ledger entries {} to {} ({} entries, {} with content) link and hash correctly; {} records match their last entries",
            self.files, self.first_seq, self.anchor_seq, self.entries, self.entries_with_content, self.records
        )?;
        match self.signed_head_date {
            Some(date) => writeln!(
                out,
                "  anchored to entry {}, the signed daily head of {date}, whose signature holds",
                self.anchor_seq
            )?,
            None => writeln!(
                out,
                "  anchored to entry {}, the chain's head when the pack was made (no signed daily head covered it yet)",
                self.anchor_seq
            )?,
        }
        write!(
            out,
            "  signed with key fingerprint {}: check that it matches the fingerprint in the school's daily digest",
            self.key_fingerprint
        )
    }
}
