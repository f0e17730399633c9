//! `ledger.jsonl`: the chain segment of a pack, one entry a line with every column the hash
//! covers and the hash itself; content only for the pack's own records. Checking a segment
//! needs nothing but the lines.

use serde::{Deserialize, Serialize};

use crate::ledger::chain::{content_hash, EntryFields, GENESIS_HASH};

/// One ledger entry as a pack carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerLine {
    pub school_id: i64,
    pub seq: i64,
    /// Milliseconds since the epoch, as chained.
    pub at: i64,
    pub record_class: String,
    pub record_key: String,
    pub change: String,
    pub content_hash: String,
    pub prev_hash: String,
    pub hash: String,
    /// The record's canonical content, for the pack's own records; left out for every
    /// other record (and where retention emptied it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl LedgerLine {
    pub fn computed_hash(&self) -> String {
        EntryFields {
            prev_hash: &self.prev_hash,
            school_id: self.school_id,
            seq: self.seq,
            at_ms: self.at,
            record_class: &self.record_class,
            record_key: &self.record_key,
            change: &self.change,
            content_hash: &self.content_hash,
        }
        .hash()
    }
}

/// What does not hold in a segment, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("ledger.jsonl line {line} cannot be read: {detail}")]
    Unreadable { line: usize, detail: String },
    #[error("ledger.jsonl holds no entry")]
    Empty,
    #[error("ledger entry {seq} belongs to school {found}, not the pack's school {expected}")]
    OtherSchool { seq: i64, found: i64, expected: i64 },
    #[error("ledger entry {seq}'s hash does not match its columns")]
    Hash { seq: i64 },
    #[error(
        "ledger entry {seq} does not follow entry {previous}: entries are missing or out of order"
    )]
    Gap { seq: i64, previous: i64 },
    #[error("ledger entry {seq} does not link to the entry before it (its previous hash differs)")]
    Link { seq: i64 },
    #[error("ledger entry {seq}'s content is not what its content hash says")]
    Content { seq: i64 },
}

/// Reads the lines of `ledger.jsonl`.
pub fn parse(text: &str) -> Result<Vec<LedgerLine>, SegmentError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|error| SegmentError::Unreadable {
                line: index + 1,
                detail: error.to_string(),
            })
        })
        .collect()
}

/// Writes the lines of `ledger.jsonl`.
pub fn render(lines: &[LedgerLine]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).expect("a ledger line serialises"));
        text.push('\n');
    }
    text
}

/// Holds a segment to itself: every hash recomputed, each entry linked to the one before (the
/// first to the genesis hash when it is the chain's first), seqs consecutive, and every
/// content to its content hash.
pub fn check(lines: &[LedgerLine], school_id: i64) -> Result<(), SegmentError> {
    let first = lines.first().ok_or(SegmentError::Empty)?;
    let mut previous: Option<&LedgerLine> = None;
    for line in lines {
        if line.school_id != school_id {
            return Err(SegmentError::OtherSchool {
                seq: line.seq,
                found: line.school_id,
                expected: school_id,
            });
        }
        if line.computed_hash() != line.hash {
            return Err(SegmentError::Hash { seq: line.seq });
        }
        match previous {
            Some(before) if line.seq != before.seq + 1 => {
                return Err(SegmentError::Gap {
                    seq: line.seq,
                    previous: before.seq,
                })
            }
            Some(before) if line.prev_hash != before.hash => {
                return Err(SegmentError::Link { seq: line.seq })
            }
            None if first.seq == 1 && line.prev_hash != GENESIS_HASH => {
                return Err(SegmentError::Link { seq: line.seq })
            }
            _ => {}
        }
        if let Some(content) = &line.content {
            if content_hash(content) != line.content_hash {
                return Err(SegmentError::Content { seq: line.seq });
            }
        }
        previous = Some(line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn chain(count: i64) -> Vec<LedgerLine> {
        let mut lines: Vec<LedgerLine> = Vec::new();
        let mut previous = GENESIS_HASH.to_string();
        for seq in 1..=count {
            let content = format!("{{\"id\":{seq}}}");
            let mut line = LedgerLine {
                school_id: 1,
                seq,
                at: 1_000 + seq,
                record_class: "call".into(),
                record_key: seq.to_string(),
                change: "recorded".into(),
                content_hash: content_hash(&content),
                prev_hash: previous.clone(),
                hash: String::new(),
                content: Some(content),
            };
            line.hash = line.computed_hash();
            previous = line.hash.clone();
            lines.push(line);
        }
        lines
    }

    #[test]
    fn a_sound_segment_holds_with_or_without_contents() {
        let mut lines = chain(5);
        assert_eq!(check(&lines, 1), Ok(()));
        lines[2].content = None;
        assert_eq!(check(&lines, 1), Ok(()));
        assert_eq!(check(&lines[2..], 1), Ok(()), "a segment from the middle");
        assert_eq!(parse(&render(&lines)).unwrap(), lines);
    }

    #[test]
    fn each_kind_of_change_is_named() {
        let lines = chain(4);
        let mut edited = lines.clone();
        edited[1].at += 1;
        assert_eq!(check(&edited, 1), Err(SegmentError::Hash { seq: 2 }));
        let mut content = lines.clone();
        content[2].content = Some("{}".into());
        assert_eq!(check(&content, 1), Err(SegmentError::Content { seq: 3 }));
        let mut removed = lines.clone();
        removed.remove(1);
        assert_eq!(
            check(&removed, 1),
            Err(SegmentError::Gap {
                seq: 3,
                previous: 1
            })
        );
        assert_eq!(
            check(&lines, 2),
            Err(SegmentError::OtherSchool {
                seq: 1,
                found: 1,
                expected: 2
            })
        );
        assert_eq!(check(&[], 1), Err(SegmentError::Empty));
        let mut relinked = chain(3);
        relinked[0].prev_hash = "1".repeat(64);
        relinked[0].hash = relinked[0].computed_hash();
        assert_eq!(check(&relinked, 1), Err(SegmentError::Link { seq: 1 }));
    }
}
