//! Signed one-click links in alerts: open a finding, acknowledge it. A link names the finding
//! and the contact it was sent to, expires, and is signed with the installation's link key:
//! 32 random bytes made on the first start and kept in the database, sealed with the secrets
//! key, so that every instance on one database signs and checks with the same key.
//!
//! The admin token plays no part. Earlier releases derived the key from it, so links signed
//! before the upgrade no longer verify; they would have expired within
//! [`LINK_LIFETIME_DAYS`] anyway, and the finding can still be acknowledged in chaperone.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::{AnyConnection, Row};

use crate::config::Secret;
use crate::db::time::to_millis;
use crate::db::Db;
use crate::secrets::{SecretKeys, SecretsError};

type HmacSha256 = Hmac<Sha256>;

/// How long an acknowledge link works.
pub const LINK_LIFETIME_DAYS: i64 = 14;

/// The length of the link key.
pub const LINK_KEY_BYTES: usize = 32;

/// The place the sealed link key belongs to: it opens only there.
const LINK_KEY_CONTEXT: &str = "link_signing_key/1/key_sealed";

/// What a valid link grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcknowledgeGrant {
    pub finding_id: i64,
    /// The contact the alert went to (0 for a signed webhook).
    pub contact_id: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("the link is not valid")]
    Invalid,
    #[error("the link has expired")]
    Expired,
}

/// Why the link key could not be read, made or sealed again.
#[derive(Debug, thiserror::Error)]
pub enum LinkKeyError {
    #[error("cannot read or store the link-signing key: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot open the stored link-signing key: {0}")]
    Sealed(#[from] SecretsError),
    #[error("the stored link-signing key is not {LINK_KEY_BYTES} bytes of base64")]
    Malformed,
}

#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; LINK_KEY_BYTES],
}

impl LinkSigner {
    pub fn new(key: [u8; LINK_KEY_BYTES]) -> Self {
        LinkSigner { key }
    }

    /// The installation's signer: the key stored in `db`, or, on the first start, a new
    /// random key stored first. Instances starting together on a new database may each make
    /// one; only the first stored is kept, and every instance reads that one back.
    pub async fn load_or_create(db: &Db, keys: &SecretKeys) -> Result<Self, LinkKeyError> {
        let mut connection = db.pool.acquire().await?;
        if let Some(sealed) = stored_key(&mut connection).await? {
            return open_key(keys, &sealed).map(LinkSigner::new);
        }
        let mut key = [0u8; LINK_KEY_BYTES];
        getrandom::getrandom(&mut key).expect("the operating system provides random bytes");
        let sealed = keys.seal(&Secret::new(STANDARD.encode(key)), LINK_KEY_CONTEXT);
        if insert_key_if_absent(&mut connection, &sealed, Utc::now()).await? {
            tracing::info!("made the link-signing key for the links in alerts");
        }
        let sealed = stored_key(&mut connection)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        open_key(keys, &sealed).map(LinkSigner::new)
    }

    pub fn acknowledge_token(&self, grant: AcknowledgeGrant, now: DateTime<Utc>) -> String {
        let expires = (now + Duration::days(LINK_LIFETIME_DAYS)).timestamp();
        let payload = format!("{}.{}.{}", grant.finding_id, grant.contact_id, expires);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.sign(&payload))
        )
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AcknowledgeGrant, LinkError> {
        let (payload, signature) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let payload = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|_| LinkError::Invalid)?,
        )
        .map_err(|_| LinkError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::Invalid)?;
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| LinkError::Invalid)?;
        let parts: Vec<i64> = payload
            .split('.')
            .map(|part| part.parse().map_err(|_| LinkError::Invalid))
            .collect::<Result<_, _>>()?;
        let [finding_id, contact_id, expires] = parts[..] else {
            return Err(LinkError::Invalid);
        };
        if now.timestamp() > expires {
            return Err(LinkError::Expired);
        }
        Ok(AcknowledgeGrant {
            finding_id,
            contact_id,
        })
    }

    /// The token every form of a signed-in session carries (CSRF): bound to the session's
    /// digest, so it is no use in another session, and signed under a prefix of its own, so
    /// that no acknowledge link can stand for it or it for one.
    pub fn form_token(&self, session_secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.sign(&form_payload(session_secret)))
    }

    /// Whether `presented` is the form token of `session_secret`, compared in constant time.
    pub fn form_token_matches(&self, session_secret: &str, presented: &str) -> bool {
        let Ok(signature) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(form_payload(session_secret).as_bytes());
        mac.verify_slice(&signature).is_ok()
    }

    fn sign(&self, payload: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

fn form_payload(session_secret: &str) -> String {
    format!("form:{}", crate::identity::tokens::digest(session_secret))
}

/// Seals the link key again with the current secrets key when a previous one sealed it (after
/// a rotation, as `chaperone reseal` does for connections' secrets). Returns how many values
/// were sealed again: 0 or 1.
pub async fn reseal_key(db: &Db, keys: &SecretKeys) -> Result<u64, LinkKeyError> {
    let mut connection = db.pool.acquire().await?;
    let Some(sealed) = stored_key(&mut connection).await? else {
        return Ok(0);
    };
    if !keys.needs_resealing(&sealed) {
        return Ok(0);
    }
    let opened = keys.open(&sealed, LINK_KEY_CONTEXT)?;
    // Only if no one else changed it meanwhile: the key itself never changes.
    let updated =
        sqlx::query("UPDATE link_signing_key SET key_sealed = $1 WHERE id = 1 AND key_sealed = $2")
            .bind(keys.seal(&opened, LINK_KEY_CONTEXT))
            .bind(&sealed)
            .execute(&mut *connection)
            .await?;
    Ok(updated.rows_affected())
}

fn open_key(keys: &SecretKeys, sealed: &str) -> Result<[u8; LINK_KEY_BYTES], LinkKeyError> {
    let opened = keys.open(sealed, LINK_KEY_CONTEXT)?;
    STANDARD
        .decode(opened.expose())
        .ok()
        .and_then(|bytes| <[u8; LINK_KEY_BYTES]>::try_from(bytes).ok())
        .ok_or(LinkKeyError::Malformed)
}

/// The sealed link key, if one is stored.
async fn stored_key(connection: &mut AnyConnection) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT key_sealed FROM link_signing_key WHERE id = 1")
        .fetch_optional(connection)
        .await?
        .map(|row| row.try_get("key_sealed"))
        .transpose()
}

/// Stores `sealed` as the link key unless one is stored already.
async fn insert_key_if_absent(
    connection: &mut AnyConnection,
    sealed: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO link_signing_key (id, key_sealed, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(sealed)
    .bind(to_millis(now))
    .execute(connection)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new([7; LINK_KEY_BYTES])
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let now = Utc::now();
        let grant = AcknowledgeGrant {
            finding_id: 7,
            contact_id: 2,
        };
        let token = signer().acknowledge_token(grant, now);
        assert_eq!(signer().verify(&token, now), Ok(grant));
        assert_eq!(
            signer().verify(&token, now + Duration::days(LINK_LIFETIME_DAYS + 1)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn a_changed_link_or_another_key_is_invalid() {
        let now = Utc::now();
        let token = signer().acknowledge_token(
            AcknowledgeGrant {
                finding_id: 7,
                contact_id: 2,
            },
            now,
        );
        let (_, signature) = token.split_once('.').unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode("8.2.99999999999"));
        assert_eq!(signer().verify(&forged, now), Err(LinkError::Invalid));
        let other = LinkSigner::new([8; LINK_KEY_BYTES]);
        assert_eq!(other.verify(&token, now), Err(LinkError::Invalid));
        assert_eq!(signer().verify("garbage", now), Err(LinkError::Invalid));
    }

    #[test]
    fn a_link_signed_with_the_key_derived_from_the_admin_token_no_longer_verifies() {
        // How releases before the link key signed: HMAC of a label under the admin token.
        let mut derivation = HmacSha256::new_from_slice(b"an-admin-token-of-sufficient-length-000")
            .expect("any key length");
        derivation.update(b"chaperone acknowledge links v1");
        let before_the_upgrade = LinkSigner::new(derivation.finalize().into_bytes().into());
        let now = Utc::now();
        let token = before_the_upgrade.acknowledge_token(
            AcknowledgeGrant {
                finding_id: 7,
                contact_id: 2,
            },
            now,
        );
        assert_eq!(signer().verify(&token, now), Err(LinkError::Invalid));
    }

    #[test]
    fn a_stored_key_that_is_not_32_bytes_is_refused() {
        let keys = SecretKeys::new(&[1; 32], &[]);
        let short = keys.seal(&Secret::new(STANDARD.encode([1u8; 16])), LINK_KEY_CONTEXT);
        assert!(matches!(
            open_key(&keys, &short),
            Err(LinkKeyError::Malformed)
        ));
        let elsewhere = keys.seal(&Secret::new(STANDARD.encode([1u8; 32])), "connection/1/x");
        assert!(matches!(
            open_key(&keys, &elsewhere),
            Err(LinkKeyError::Sealed(SecretsError::Tampered(_)))
        ));
    }
}
