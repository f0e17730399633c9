//! The hash that chains audit entries: SHA-256 over a canonical encoding of an entry's stored
//! columns, the previous entry's hash first. The encoding is a fixed sequence of
//! self-delimiting fields (a tag, then a fixed-width integer or a length-prefixed text), so
//! no two different entries encode alike, whatever their text holds. It is hashed exactly as
//! the columns are stored, so verification needs nothing but the row.

use sha2::{Digest, Sha256};

/// The previous hash of the first entry: the empty log's head.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names the encoding, so that a later change of fields or order cannot collide with it.
const ENCODING: &str = "chaperone.audit_log.v1";

/// Every column of an `audit_log` row except `hash`, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedFields<'a> {
    pub prev_hash: &'a str,
    pub id: i64,
    pub at_ms: i64,
    pub actor_kind: &'a str,
    pub actor_id: Option<i64>,
    pub actor_label: &'a str,
    pub school_id: Option<i64>,
    pub action: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: &'a str,
    pub before_state: Option<&'a str>,
    pub after_state: Option<&'a str>,
}

impl ChainedFields<'_> {
    /// The canonical encoding, in the fixed order: prev_hash, id, at, actor_kind, actor_id,
    /// actor_label, school_id, action, subject_kind, subject_id, before_state, after_state.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Encoder(Vec::with_capacity(256));
        out.text(ENCODING);
        out.text(self.prev_hash);
        out.integer(self.id);
        out.integer(self.at_ms);
        out.text(self.actor_kind);
        out.optional_integer(self.actor_id);
        out.text(self.actor_label);
        out.optional_integer(self.school_id);
        out.text(self.action);
        out.text(self.subject_kind);
        out.text(self.subject_id);
        out.optional_text(self.before_state);
        out.optional_text(self.after_state);
        out.0
    }

    /// Lower-case hex SHA-256 of the encoding: the entry's `hash`.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.encode()))
    }
}

/// Writes self-delimiting fields: `n` for NULL, `i` and 8 bytes big-endian for an integer,
/// `t`, the length in 8 bytes big-endian, then the UTF-8 bytes for a text. The ledger's
/// entries are encoded the same way.
pub(crate) struct Encoder(Vec<u8>);

impl Encoder {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Encoder(Vec::with_capacity(capacity))
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub(crate) fn integer(&mut self, value: i64) {
        self.0.push(b'i');
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn text(&mut self, value: &str) {
        self.0.push(b't');
        self.0
            .extend_from_slice(&(value.len() as u64).to_be_bytes());
        self.0.extend_from_slice(value.as_bytes());
    }

    pub(crate) fn optional_integer(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.integer(value),
            None => self.0.push(b'n'),
        }
    }

    pub(crate) fn optional_text(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.text(value),
            None => self.0.push(b'n'),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn entry() -> ChainedFields<'static> {
        ChainedFields {
            prev_hash: GENESIS_HASH,
            id: 1,
            at_ms: 1_764_720_000_000,
            actor_kind: "person",
            actor_id: Some(7),
            actor_label: "Ada Lovelace",
            school_id: Some(1),
            action: "finding.acknowledged",
            subject_kind: "finding",
            subject_id: "42",
            before_state: Some(r#"{"status":"open"}"#),
            after_state: Some(r#"{"status":"acknowledged"}"#),
        }
    }

    #[test]
    fn the_encoding_and_hash_of_a_known_entry_never_change() {
        // Pinned: a change here means every stored chain stops verifying.
        let hash = entry().hash();
        assert_eq!(
            hash, "fdcd11765c4670e41b4e010a7a96fdf1151c3cc7cd62a066756e247c7d03f531",
            "the field order or encoding changed: stored chains would no longer verify"
        );
        assert_eq!(hash.len(), 64);
        assert!(hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn fields_are_encoded_in_the_fixed_order() {
        let encoded = entry().encode();
        // Where a text field, length-prefixed as encoded, starts.
        let position = |text: &str| {
            let mut field = vec![b't'];
            field.extend_from_slice(&(text.len() as u64).to_be_bytes());
            field.extend_from_slice(text.as_bytes());
            encoded
                .windows(field.len())
                .position(|window| window == field)
                .unwrap_or_else(|| panic!("{text:?} is encoded"))
        };
        let order = [
            position(ENCODING),
            position(GENESIS_HASH),
            position("person"),
            position("Ada Lovelace"),
            position("finding.acknowledged"),
            position("finding"),
            position("42"),
            position(r#"{"status":"open"}"#),
            position(r#"{"status":"acknowledged"}"#),
        ];
        assert_eq!(order[0], 0);
        assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{order:?}");
    }

    #[test]
    fn different_entries_never_encode_alike() {
        let base = entry();
        let variants = vec![
            base.clone(),
            ChainedFields {
                id: 2,
                ..base.clone()
            },
            ChainedFields {
                at_ms: 1_764_720_000_001,
                ..base.clone()
            },
            ChainedFields {
                prev_hash: "1",
                ..base.clone()
            },
            ChainedFields {
                actor_kind: "token",
                ..base.clone()
            },
            ChainedFields {
                actor_id: None,
                ..base.clone()
            },
            ChainedFields {
                actor_id: Some(0),
                ..base.clone()
            },
            ChainedFields {
                school_id: None,
                ..base.clone()
            },
            ChainedFields {
                school_id: Some(0),
                ..base.clone()
            },
            // Text moved across the border between two neighbouring fields.
            ChainedFields {
                actor_label: "Ada Lovelacefinding.",
                action: "acknowledged",
                ..base.clone()
            },
            ChainedFields {
                actor_label: "Ada",
                action: " Lovelacefinding.acknowledged",
                ..base.clone()
            },
            ChainedFields {
                subject_kind: "finding4",
                subject_id: "2",
                ..base.clone()
            },
            // A missing state is not an empty one, and before is not after.
            ChainedFields {
                before_state: None,
                ..base.clone()
            },
            ChainedFields {
                before_state: Some(""),
                ..base.clone()
            },
            ChainedFields {
                before_state: None,
                after_state: Some(r#"{"status":"open"}"#),
                ..base.clone()
            },
            ChainedFields {
                before_state: Some(r#"{"status":"acknowledged"}"#),
                after_state: Some(r#"{"status":"open"}"#),
                ..base.clone()
            },
            ChainedFields {
                after_state: None,
                ..base.clone()
            },
            // A text that looks like the encoding of the fields after it.
            ChainedFields {
                subject_id: "42tn",
                before_state: None,
                ..base.clone()
            },
        ];
        let encodings: HashSet<Vec<u8>> = variants.iter().map(ChainedFields::encode).collect();
        assert_eq!(encodings.len(), variants.len());
        let hashes: HashSet<String> = variants.iter().map(ChainedFields::hash).collect();
        assert_eq!(hashes.len(), variants.len());
    }

    #[test]
    fn the_previous_hash_is_part_of_the_hash() {
        let prev_hash = "f".repeat(64);
        let other = ChainedFields {
            prev_hash: &prev_hash,
            ..entry()
        };
        assert_ne!(entry().hash(), other.hash());
    }
}
