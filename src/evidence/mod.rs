//! Evidence packs: one ZIP file per call or per finding, for people outside the school (the
//! LADO, the police, an inspector). It holds the records as the ledger chained them, a
//! printable report, the chain segment that holds them with every hash, the head it is
//! anchored to, and a manifest signed with the instance's key, so that anyone can check it
//! offline with `chaperone verify-pack FILE`.
//!
//! [`collect`] reads a pack's contents in the caller's transaction, [`archive`] writes and
//! reads the ZIP, [`verify`] checks a pack from its bytes alone.

pub mod archive;
pub mod collect;
pub mod ledger_lines;
pub mod manifest;
pub mod members;
mod report;
pub mod verify;

pub use collect::{produce, CollectError, Pack, Subject};
pub use verify::{verify_pack, PackError, PackSummary};

/// What the pack's signature and format are called; a change of layout gets a new name.
pub const FORMAT: &str = "chaperone.evidence.pack.v1";

/// The pack's fixed members besides the record files.
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
pub const LEDGER: &str = "ledger.jsonl";
pub const SIGNED_HEAD: &str = "signed_head.json";
pub const REPORT: &str = "report.html";
pub const README: &str = "README.txt";
pub const POLICY_CLAUSES: &str = "policy_clauses.json";
