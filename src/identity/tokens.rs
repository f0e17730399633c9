//! Personal API tokens: 256 random bits shown once as `chp_…`, kept only as their SHA-256
//! digest, so a copy of the database lets nobody act as anyone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// What every token starts with, so that one pasted in the wrong place is recognisable.
pub const PREFIX: &str = "chp_";

/// A new token, as shown once to its owner.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system provides random bytes");
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest a token is stored and looked up by.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_new_each_time_and_stored_only_as_a_digest() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() > 40);
        assert_eq!(digest(&a).len(), 64);
        assert!(!digest(&a).contains(&a[PREFIX.len()..]));
        assert_eq!(digest(&a), digest(&a));
    }
}
