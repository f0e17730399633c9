//! The hash that chains a school's ledger entries: SHA-256 over a canonical encoding of the
//! entry's columns, the previous entry's hash first. The record itself is chained through its
//! `content_hash`, not its content, so that retention can empty an entry's content and the
//! chain still verifies. The field encoding is the audit log's (self-delimiting fields), under
//! a name of its own.

use sha2::{Digest, Sha256};

use crate::audit::chain::Encoder;

pub use crate::audit::chain::GENESIS_HASH;

/// Names the encoding, so that a later change of fields or order cannot collide with it.
const ENCODING: &str = "chaperone.ledger.v1";

/// Every column of a `ledger_entries` row except `content` and `hash`, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFields<'a> {
    pub prev_hash: &'a str,
    pub school_id: i64,
    pub seq: i64,
    pub at_ms: i64,
    pub record_class: &'a str,
    pub record_key: &'a str,
    pub change: &'a str,
    pub content_hash: &'a str,
}

impl EntryFields<'_> {
    /// The canonical encoding, in the fixed order: prev_hash, school_id, seq, at,
    /// record_class, record_key, change, content_hash.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Encoder::with_capacity(256);
        out.text(ENCODING);
        out.text(self.prev_hash);
        out.integer(self.school_id);
        out.integer(self.seq);
        out.integer(self.at_ms);
        out.text(self.record_class);
        out.text(self.record_key);
        out.text(self.change);
        out.text(self.content_hash);
        out.into_bytes()
    }

    /// Lower-case hex SHA-256 of the encoding: the entry's `hash`.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.encode()))
    }
}

/// Lower-case hex SHA-256 of a record's canonical content.
pub fn content_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> EntryFields<'static> {
        EntryFields {
            prev_hash: GENESIS_HASH,
            school_id: 1,
            seq: 1,
            at_ms: 1_764_720_000_000,
            record_class: "participant",
            record_key: "12",
            change: "recorded",
            content_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        }
    }

    #[test]
    fn the_encoding_and_hash_of_a_known_entry_never_change() {
        // Pinned: a change here means every stored ledger stops verifying.
        assert_eq!(
            entry().hash(),
            "e5bf6632ae1dcdcda54da3429b45384f00e83c4281d0efa5a24991d7292ecd77",
            "the field order or encoding changed: stored ledgers would no longer verify"
        );
    }

    #[test]
    fn every_field_is_in_the_hash() {
        let base = entry();
        let hashes = [
            EntryFields {
                prev_hash: "1",
                ..base.clone()
            }
            .hash(),
            EntryFields {
                school_id: 2,
                ..base.clone()
            }
            .hash(),
            EntryFields {
                seq: 2,
                ..base.clone()
            }
            .hash(),
            EntryFields {
                at_ms: 1,
                ..base.clone()
            }
            .hash(),
            EntryFields {
                record_class: "call",
                ..base.clone()
            }
            .hash(),
            EntryFields {
                record_key: "13",
                ..base.clone()
            }
            .hash(),
            EntryFields {
                change: "changed",
                ..base.clone()
            }
            .hash(),
            EntryFields {
                content_hash: "00",
                ..base.clone()
            }
            .hash(),
        ];
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), hashes.len());
        assert!(!distinct.contains(&base.hash()));
    }

    #[test]
    fn text_fields_cannot_run_into_each_other() {
        let one = EntryFields {
            record_class: "ab",
            record_key: "c",
            ..entry()
        };
        let other = EntryFields {
            record_class: "a",
            record_key: "bc",
            ..entry()
        };
        assert_ne!(one.hash(), other.hash());
    }
}
