//! Secrets at rest: platform credentials (webhook Secret Tokens, OAuth client secrets) are
//! stored sealed with ChaCha20-Poly1305 under a key the database never holds.
//!
//! A sealed value reads `v1.<key id>.<base64 of nonce and ciphertext>`. The key id (the
//! first bytes of the key's SHA-256) says which key sealed it, so a rotation can keep the
//! previous keys for opening while everything new is sealed with the current one. Each value
//! is bound to its place (`context`, such as `connection/7/webhook_secret`) as associated
//! data: a sealed value copied into another row or column does not open.

mod key_source;

use std::fmt;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

pub use key_source::{default_key_file, load_keys, KeyOrigin, KeySourceError};

use crate::config::Secret;

const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;
pub const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    #[error("the stored value is not a sealed secret")]
    Malformed,
    #[error(
        "the stored secret was sealed with key {0}, which this instance does not hold \
         (set CHAPERONE__SECRETS__KEY, or list the old key in CHAPERONE__SECRETS__PREVIOUS_KEYS)"
    )]
    UnknownKey(String),
    #[error("the stored secret does not open with key {0}: it was altered or moved")]
    Tampered(String),
}

/// One 256-bit key and its id.
struct SealingKey {
    id: String,
    cipher: ChaCha20Poly1305,
    /// The seed of the Ed25519 key that signs ledger heads, derived from this key so that it
    /// lives where the sealing key lives (never in the database).
    head_signing_seed: [u8; KEY_BYTES],
}

/// Separates the head-signing seed from every other use of the key.
const HEAD_SIGNING_DERIVATION: &[u8] = b"chaperone.ledger.head-signing.v1";

impl SealingKey {
    fn new(bytes: &[u8; KEY_BYTES]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut seed = Sha256::new();
        seed.update(HEAD_SIGNING_DERIVATION);
        seed.update(bytes);
        SealingKey {
            id: hex::encode(&digest[..4]),
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            head_signing_seed: seed.finalize().into(),
        }
    }
}

/// The current key (seals and opens) and the keys before a rotation (open only).
pub struct SecretKeys {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeys")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|key| &key.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SecretKeys {
    pub fn new(current: &[u8; KEY_BYTES], previous: &[[u8; KEY_BYTES]]) -> Self {
        SecretKeys {
            current: SealingKey::new(current),
            previous: previous.iter().map(SealingKey::new).collect(),
        }
    }

    /// The seeds of the keys that sign ledger heads: the current key's first, then those of
    /// the keys before a rotation (whose heads still verify).
    pub fn head_signing_seeds(&self) -> impl Iterator<Item = &[u8; KEY_BYTES]> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|key| &key.head_signing_seed)
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext` for the place `context` names.
    pub fn seal(&self, plaintext: &Secret, context: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce).expect("the operating system provides random bytes");
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose().as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("sealing a short value cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!(
            "{VERSION}.{}.{}",
            self.current.id,
            STANDARD_NO_PAD.encode(sealed)
        )
    }

    /// Opens a value sealed for `context` with the current or a previous key.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Secret, SecretsError> {
        let (key_id, bytes) = split(sealed)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == key_id)
            .ok_or_else(|| SecretsError::UnknownKey(key_id.to_string()))?;
        if bytes.len() <= NONCE_BYTES {
            return Err(SecretsError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plaintext = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Tampered(key_id.to_string()))?;
        String::from_utf8(plaintext)
            .map(Secret::new)
            .map_err(|_| SecretsError::Malformed)
    }

    /// Whether `sealed` was sealed with a key this instance holds.
    pub fn holds_key_of(&self, sealed: &str) -> bool {
        split(sealed).is_ok_and(|(key_id, _)| {
            std::iter::once(&self.current)
                .chain(&self.previous)
                .any(|key| key.id == key_id)
        })
    }

    /// Whether `sealed` was sealed with a key other than the current one (and so is due to
    /// be sealed again after a rotation).
    pub fn needs_resealing(&self, sealed: &str) -> bool {
        split(sealed).is_ok_and(|(key_id, _)| key_id != self.current.id)
    }
}

/// The key id of a sealed value, without opening it.
pub fn key_id_of(sealed: &str) -> Option<&str> {
    split(sealed).ok().map(|(key_id, _)| key_id)
}

fn split(sealed: &str) -> Result<(&str, Vec<u8>), SecretsError> {
    let mut parts = sealed.splitn(3, '.');
    let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SecretsError::Malformed);
    };
    let bytes = STANDARD_NO_PAD
        .decode(body)
        .map_err(|_| SecretsError::Malformed)?;
    Ok((key_id, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: u8, previous: &[u8]) -> SecretKeys {
        let previous: Vec<[u8; KEY_BYTES]> =
            previous.iter().map(|byte| [*byte; KEY_BYTES]).collect();
        SecretKeys::new(&[current; KEY_BYTES], &previous)
    }

    #[test]
    fn a_sealed_secret_opens_in_its_place_and_does_not_show_the_plaintext() {
        let keys = keys(1, &[]);
        let sealed = keys.seal(
            &Secret::new("zoom-secret-token"),
            "connection/7/webhook_secret",
        );
        assert!(!sealed.contains("zoom-secret-token"));
        assert!(sealed.starts_with(&format!("v1.{}.", keys.current_key_id())));
        let opened = keys.open(&sealed, "connection/7/webhook_secret").unwrap();
        assert_eq!(opened.expose(), "zoom-secret-token");
    }

    #[test]
    fn sealing_twice_gives_different_values() {
        let keys = keys(1, &[]);
        let secret = Secret::new("same");
        assert_ne!(keys.seal(&secret, "c"), keys.seal(&secret, "c"));
    }

    #[test]
    fn a_secret_moved_to_another_place_does_not_open() {
        let keys = keys(1, &[]);
        let sealed = keys.seal(&Secret::new("school A"), "connection/1/webhook_secret");
        assert_eq!(
            keys.open(&sealed, "connection/2/webhook_secret"),
            Err(SecretsError::Tampered(keys.current_key_id().to_string()))
        );
    }

    #[test]
    fn an_altered_secret_does_not_open() {
        let keys = keys(1, &[]);
        let sealed = keys.seal(&Secret::new("token"), "c");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert!(matches!(
            keys.open(&altered, "c"),
            Err(SecretsError::Tampered(_) | SecretsError::Malformed)
        ));
    }

    #[test]
    fn after_a_rotation_old_values_open_with_the_previous_key_and_are_due_for_resealing() {
        let before = keys(1, &[]);
        let sealed = before.seal(&Secret::new("token"), "c");
        let after = keys(2, &[1]);
        assert_eq!(after.open(&sealed, "c").unwrap().expose(), "token");
        assert!(after.needs_resealing(&sealed));
        let resealed = after.seal(&after.open(&sealed, "c").unwrap(), "c");
        assert!(!after.needs_resealing(&resealed));
        assert!(matches!(
            keys(3, &[]).open(&sealed, "c"),
            Err(SecretsError::UnknownKey(id)) if id == before.current_key_id()
        ));
    }

    #[test]
    fn the_keys_debug_form_shows_only_key_ids() {
        let keys = keys(9, &[8]);
        let shown = format!("{keys:?}");
        assert!(shown.contains(keys.current_key_id()), "{shown}");
        assert!(!shown.contains("cipher"), "{shown}");
    }

    #[test]
    fn text_that_is_not_a_sealed_value_is_malformed() {
        let keys = keys(1, &[]);
        assert_eq!(
            keys.open("plain-secret", "c").unwrap_err(),
            SecretsError::Malformed
        );
        assert_eq!(key_id_of("v1.abcd.AAAA"), Some("abcd"));
    }
}
