//! `manifest.json`: what the pack is about, who made it with which key, the chain head it is
//! anchored to, and the SHA-256 of every other file. `manifest.sig` signs its exact bytes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`super::FORMAT`].
    pub format: String,
    pub subject: SubjectRef,
    pub made_at: DateTime<Utc>,
    pub school: SchoolRef,
    /// Hex of the Ed25519 public key that signed the manifest.
    pub public_key: String,
    /// What a person compares with the fingerprint the school's digest shows.
    pub key_fingerprint: String,
    pub anchor: Anchor,
    /// The seq of the first and last entries about the pack's own records.
    pub pack_entries: (i64, i64),
    /// Every other file of the pack, by name: lower-case hex SHA-256 of its bytes.
    pub files: BTreeMap<String, String>,
}

/// A call (`call`) or a finding (`finding`), by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRef {
    pub kind: String,
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolRef {
    pub id: i64,
    pub name: String,
    pub timezone: String,
}

/// The entry the segment ends at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    /// The local date of the signed daily head that names the entry (`signed_head.json`);
    /// none when the chain's head when the pack was made stands in, vouched for by the pack's
    /// own signature.
    pub signed_head_date: Option<chrono::NaiveDate>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Manifest {
    /// The manifest's bytes as signed and stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        bytes.push(b'\n');
        bytes
    }
}
