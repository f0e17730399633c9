//! Local passwords, for installations without single sign-on: argon2id hashes in the PHC
//! string format (salt and parameters inside), checked in constant time.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::config::Secret;

/// The shortest password accepted: long passphrases beat complexity rules.
pub const MIN_LENGTH: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the stored password hash cannot be read")]
    Unreadable,
}

/// The argon2id hash to store for `password`.
pub fn hash(password: &Secret) -> Result<String, PasswordError> {
    if password.expose().chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Unreadable)
}

/// Whether `password` is the one `stored` was made from.
pub fn matches(password: &Secret, stored: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(|_| PasswordError::Unreadable)?;
    Ok(Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_hash_and_nothing_else() {
        let password = Secret::new("correct horse battery staple");
        let stored = hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(matches(&password, &stored).unwrap());
        assert!(!matches(&Secret::new("correct horse battery stapler"), &stored).unwrap());
        assert_ne!(hash(&password).unwrap(), stored, "a new salt each time");
    }

    #[test]
    fn short_passwords_and_unreadable_hashes_are_refused() {
        assert_eq!(hash(&Secret::new("short")), Err(PasswordError::TooShort));
        assert_eq!(
            matches(&Secret::new("whatever it is"), "not a hash"),
            Err(PasswordError::Unreadable)
        );
    }
}
