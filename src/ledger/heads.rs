//! The daily signed head: once a school's local day has ended, its completeness statement is
//! appended to its chain and the chain's head is signed with the instance's Ed25519 key. The
//! key is derived from the secrets key, which the database does not hold, so someone who can
//! rewrite the database cannot sign a head for a rewritten chain; the head also goes out in
//! the next digest, outside chaperone altogether.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::append::{append_one, Change, NewEntry};
use super::classes::STATEMENT;
use crate::db::decode::decode_timezone;
use crate::db::time::{from_millis, to_millis};
use crate::db::{Backend, Db};
use crate::directory;
use crate::register::completeness;
use crate::secrets::SecretKeys;

/// Names what a head signature covers, so that it cannot be taken for a signature of
/// anything else.
const SIGNED_AS: &str = "chaperone.ledger.head.v1";

/// A signed chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    pub school_id: i64,
    /// The school's local date whose end the head marks.
    pub local_date: NaiveDate,
    pub seq: i64,
    pub hash: String,
    pub published_at: DateTime<Utc>,
    /// Hex of the Ed25519 public key.
    pub public_key: String,
    /// Hex of the signature over [`SignedHead::message`].
    pub signature: String,
}

impl SignedHead {
    /// The bytes signed: what the head says, each part on a line of its own.
    pub fn message(school_id: i64, local_date: NaiveDate, seq: i64, hash: &str) -> Vec<u8> {
        format!("{SIGNED_AS}\n{school_id}\n{local_date}\n{seq}\n{hash}\n").into_bytes()
    }

    /// Whether the signature is the public key's over what the head says.
    pub fn signature_holds(&self) -> bool {
        let (Ok(public_key), Ok(signature_bytes)) =
            (hex::decode(&self.public_key), hex::decode(&self.signature))
        else {
            return false;
        };
        signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
            .verify(
                &Self::message(self.school_id, self.local_date, self.seq, &self.hash),
                &signature_bytes,
            )
            .is_ok()
    }

    /// The first 16 hex digits of the key's SHA-256: what a person compares.
    pub fn key_fingerprint(&self) -> String {
        key_fingerprint(&self.public_key)
    }
}

pub fn key_fingerprint(public_key_hex: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(public_key_hex.as_bytes());
    hex::encode(&digest[..8])
}

/// The instance's head-signing keys.
pub struct HeadSigner {
    current: Ed25519KeyPair,
    /// Hex public keys of the current key and of the keys before a rotation.
    known: Vec<String>,
}

impl HeadSigner {
    pub fn new(secrets: &SecretKeys) -> Self {
        let pairs: Vec<Ed25519KeyPair> = secrets
            .head_signing_seeds()
            .map(|seed| Ed25519KeyPair::from_seed_unchecked(seed).expect("a 32-byte seed is a key"))
            .collect();
        let known = pairs
            .iter()
            .map(|pair| hex::encode(pair.public_key().as_ref()))
            .collect();
        HeadSigner {
            current: pairs
                .into_iter()
                .next()
                .expect("there is always a current key"),
            known,
        }
    }

    pub fn public_key(&self) -> String {
        self.known[0].clone()
    }

    /// Whether `public_key` (hex) is one of this instance's keys, current or earlier.
    pub fn knows(&self, public_key: &str) -> bool {
        self.known.iter().any(|known| known == public_key)
    }

    pub fn sign(
        &self,
        school_id: i64,
        local_date: NaiveDate,
        seq: i64,
        hash: &str,
        published_at: DateTime<Utc>,
    ) -> SignedHead {
        let signature = self
            .current
            .sign(&SignedHead::message(school_id, local_date, seq, hash));
        SignedHead {
            school_id,
            local_date,
            seq,
            hash: hash.to_string(),
            published_at,
            public_key: self.public_key(),
            signature: hex::encode(signature.as_ref()),
        }
    }
}

/// For every school whose yesterday (in its timezone) has no signed head yet: appends that
/// day's completeness statement and signs the head. Answers how many heads it signed.
pub async fn publish_due(
    db: &Db,
    signer: &HeadSigner,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut published = 0;
    for school in directory::list_schools(db).await? {
        let tz = match decode_timezone("schools", school.id, &school.timezone) {
            Ok(tz) => tz,
            Err(error) => {
                tracing::error!(school_id = school.id, %error, "ledger head not signed");
                continue;
            }
        };
        let yesterday = now.with_timezone(&tz).date_naive() - Duration::days(1);
        let mut tx = db.pool.begin().await?;
        if publish_day(&mut tx, db.backend, signer, school.id, tz, yesterday, now).await? {
            published += 1;
        }
        tx.commit().await?;
    }
    Ok(published)
}

/// Appends `date`'s statement and signs the head, unless that day's head is signed already.
#[allow(clippy::too_many_arguments)]
async fn publish_day(
    connection: &mut AnyConnection,
    db_backend: Backend,
    signer: &HeadSigner,
    school_id: i64,
    tz: Tz,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let signed = sqlx::query(
        "SELECT 1 AS signed FROM ledger_published_heads WHERE school_id = $1 AND local_date = $2",
    )
    .bind(school_id)
    .bind(date.to_string())
    .fetch_optional(&mut *connection)
    .await?;
    if signed.is_some() {
        return Ok(false);
    }
    let statement = completeness::for_day(connection, school_id, tz, date).await?;
    let content =
        serde_json::json!({ "date": date.to_string(), "statement": statement }).to_string();
    let key = date.to_string();
    let seq = append_one(
        connection,
        db_backend,
        &NewEntry {
            school_id,
            record_class: STATEMENT,
            record_key: &key,
            change: Change::Stated,
            content: Some(&content),
        },
        now,
    )
    .await?;
    let hash: String =
        sqlx::query("SELECT hash FROM ledger_entries WHERE school_id = $1 AND seq = $2")
            .bind(school_id)
            .bind(seq)
            .fetch_one(&mut *connection)
            .await?
            .try_get("hash")?;
    let head = signer.sign(school_id, date, seq, &hash, now);
    // Another instance may have signed the same day meanwhile: its head stands, this
    // transaction's statement is rolled back with the conflict.
    sqlx::query(
        "INSERT INTO ledger_published_heads (school_id, local_date, seq, hash, published_at, public_key, signature) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(school_id)
    .bind(date.to_string())
    .bind(head.seq)
    .bind(&head.hash)
    .bind(to_millis(now))
    .bind(&head.public_key)
    .bind(&head.signature)
    .execute(&mut *connection)
    .await?;
    tracing::info!(school_id, seq, %date, "ledger head signed");
    Ok(true)
}

/// The school's signed heads, oldest first.
pub async fn list(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<SignedHead>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT school_id, local_date, seq, hash, published_at, public_key, signature \
         FROM ledger_published_heads WHERE school_id = $1 ORDER BY seq",
    )
    .bind(school_id)
    .fetch_all(&mut *connection)
    .await?;
    rows.iter().map(read_head).collect()
}

/// The head signed for `school_id`'s `local_date`, if it has been.
pub async fn of_day(
    connection: &mut AnyConnection,
    school_id: i64,
    local_date: NaiveDate,
) -> Result<Option<SignedHead>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT school_id, local_date, seq, hash, published_at, public_key, signature \
         FROM ledger_published_heads WHERE school_id = $1 AND local_date = $2",
    )
    .bind(school_id)
    .bind(local_date.to_string())
    .fetch_optional(&mut *connection)
    .await?;
    row.as_ref().map(read_head).transpose()
}

fn read_head(row: &sqlx::any::AnyRow) -> Result<SignedHead, sqlx::Error> {
    let date: String = row.try_get("local_date")?;
    Ok(SignedHead {
        school_id: row.try_get("school_id")?,
        local_date: date
            .parse()
            .map_err(|error: chrono::ParseError| sqlx::Error::Decode(Box::new(error)))?,
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        published_at: from_millis(row.try_get("published_at")?),
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(byte: u8) -> HeadSigner {
        HeadSigner::new(&SecretKeys::new(&[byte; 32], &[]))
    }

    fn head() -> SignedHead {
        signer(7).sign(
            3,
            NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
            41,
            "ab",
            Utc::now(),
        )
    }

    #[test]
    fn a_signed_head_verifies_and_any_change_to_it_does_not() {
        let head = head();
        assert!(head.signature_holds());
        assert!(!SignedHead {
            seq: 42,
            ..head.clone()
        }
        .signature_holds());
        assert!(!SignedHead {
            hash: "ac".into(),
            ..head.clone()
        }
        .signature_holds());
        assert!(!SignedHead {
            school_id: 4,
            ..head.clone()
        }
        .signature_holds());
        assert!(!SignedHead {
            local_date: NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
            ..head.clone()
        }
        .signature_holds());
        assert!(!SignedHead {
            public_key: signer(8).public_key(),
            ..head
        }
        .signature_holds());
    }

    #[test]
    fn the_key_is_the_secrets_keys_and_earlier_keys_are_known() {
        assert_eq!(signer(7).public_key(), signer(7).public_key());
        assert_ne!(signer(7).public_key(), signer(8).public_key());
        let rotated = HeadSigner::new(&SecretKeys::new(&[8; 32], &[[7; 32]]));
        assert_eq!(rotated.public_key(), signer(8).public_key());
        assert!(rotated.knows(&signer(7).public_key()));
        assert!(!signer(8).knows(&signer(7).public_key()));
    }
}

/// Names what an evidence pack's signature covers: the manifest of a pack, and nothing a
/// head signature could be taken for.
const PACK_SIGNED_AS: &[u8] = b"chaperone.evidence.pack.v1\n";

fn pack_message(manifest: &[u8]) -> Vec<u8> {
    [PACK_SIGNED_AS, manifest].concat()
}

impl HeadSigner {
    /// Hex of the current key's signature over an evidence pack's manifest bytes.
    pub fn sign_pack(&self, manifest: &[u8]) -> String {
        hex::encode(self.current.sign(&pack_message(manifest)).as_ref())
    }
}

/// Whether `signature_hex` is `public_key_hex`'s signature over a pack's `manifest` bytes.
pub fn pack_signature_holds(public_key_hex: &str, manifest: &[u8], signature_hex: &str) -> bool {
    let (Ok(public_key), Ok(signature_bytes)) =
        (hex::decode(public_key_hex), hex::decode(signature_hex))
    else {
        return false;
    };
    signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(&pack_message(manifest), &signature_bytes)
        .is_ok()
}

#[cfg(test)]
mod pack_tests {
    use super::*;

    #[test]
    fn a_pack_signature_holds_for_its_manifest_only_and_is_no_head_signature() {
        let signer = HeadSigner::new(&SecretKeys::new(&[7; 32], &[]));
        let key = signer.public_key();
        let signature = signer.sign_pack(b"{\"a\":1}");
        assert!(pack_signature_holds(&key, b"{\"a\":1}", &signature));
        assert!(!pack_signature_holds(&key, b"{\"a\":2}", &signature));
        assert!(!pack_signature_holds(&key, b"{\"a\":1}", "zz"));
        let other = HeadSigner::new(&SecretKeys::new(&[8; 32], &[])).public_key();
        assert!(!pack_signature_holds(&other, b"{\"a\":1}", &signature));
        // A head's message signed as a pack is not a signed head.
        let message = SignedHead::message(1, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), 1, "ab");
        let head = SignedHead {
            school_id: 1,
            local_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            seq: 1,
            hash: "ab".into(),
            published_at: Utc::now(),
            public_key: key,
            signature: signer.sign_pack(&message),
        };
        assert!(!head.signature_holds());
    }
}
