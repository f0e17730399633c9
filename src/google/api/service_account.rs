//! A Google service account key, read once from the JSON file Google issues, and the RS256 JWT
//! assertion it signs to ask for an access token that impersonates one user of the school's
//! domain (domain-wide delegation, google-meet.md §5.2). The private key is parsed into `ring`
//! at once and never kept as text; `Debug` shows only the account and the key id.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Deserialize;
use serde_json::json;

use crate::config::Secret;

/// How long an assertion is valid: the most Google accepts (§5.2 "maximum of 1 hour").
pub const ASSERTION_LIFETIME_SECS: i64 = 3600;

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// Why a service account key cannot be used. The messages never quote the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAccountKeyError {
    #[error("the service account key is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the key file's type is {0:?}, not \"service_account\"")]
    NotServiceAccount(String),
    #[error("the service account key has no {0}")]
    Missing(&'static str),
    #[error("the service account key's private_key is unusable: {0}")]
    PrivateKey(String),
    #[error("the assertion could not be signed")]
    Signing,
}

/// The fields of Google's key file chaperone reads; others (`project_id`, `client_id`, ...)
/// are ignored.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<Secret>,
    token_uri: Option<String>,
}

/// A parsed service account key. Cheap to clone: the key pair is shared.
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    private_key_id: String,
    token_uri: Option<String>,
    key_pair: Arc<RsaKeyPair>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl ServiceAccountKey {
    /// Reads Google's JSON key file: `type` must be `service_account`, with `client_email`,
    /// `private_key_id` and a PKCS#8 PEM `private_key` (the form Google issues).
    pub fn from_json(json: &str) -> Result<Self, ServiceAccountKeyError> {
        let file: KeyFile =
            serde_json::from_str(json).map_err(|error| ServiceAccountKeyError::NotJson {
                line: error.line(),
                column: error.column(),
            })?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => return Err(ServiceAccountKeyError::NotServiceAccount(other.into())),
            None => return Err(ServiceAccountKeyError::Missing("type")),
        }
        let present = |value: Option<String>, name| {
            value
                .filter(|value| !value.trim().is_empty())
                .ok_or(ServiceAccountKeyError::Missing(name))
        };
        let client_email = present(file.client_email, "client_email")?;
        let private_key_id = present(file.private_key_id, "private_key_id")?;
        let private_key = file
            .private_key
            .filter(|key| !key.is_empty())
            .ok_or(ServiceAccountKeyError::Missing("private_key"))?;
        let der = pkcs8_der(private_key.expose())?;
        let key_pair = RsaKeyPair::from_pkcs8(&der)
            .map_err(|rejected| ServiceAccountKeyError::PrivateKey(rejected.to_string()))?;
        Ok(ServiceAccountKey {
            client_email,
            private_key_id,
            token_uri: file.token_uri.filter(|uri| !uri.trim().is_empty()),
            key_pair: Arc::new(key_pair),
        })
    }

    /// The service account's address: the assertion's issuer.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// Names the key among the account's keys (the assertion's `kid`).
    pub fn private_key_id(&self) -> &str {
        &self.private_key_id
    }

    /// The token endpoint the key file names, if it names one.
    pub fn token_uri(&self) -> Option<&str> {
        self.token_uri.as_deref()
    }

    /// A signed JWT-bearer assertion asking for `scopes` as `subject` (the user impersonated),
    /// for the token endpoint `audience`, issued at `now` and valid for an hour.
    pub fn assertion(
        &self,
        subject: &str,
        scopes: &[&str],
        audience: &str,
        now: DateTime<Utc>,
    ) -> Result<Secret, ServiceAccountKeyError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let iat = now.timestamp();
        let claims = json!({
            "iss": self.client_email,
            "sub": subject,
            "scope": scopes.join(" "),
            "aud": audience,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ServiceAccountKeyError::Signing)?;
        Ok(Secret::new(format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

/// The DER inside a PKCS#8 PEM block. A key pasted with its newlines still escaped (`\n` as
/// two characters) is read too: it is a common way for a key to reach an environment variable.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, ServiceAccountKeyError> {
    let unescaped = pem.replace("\\n", "\n");
    let text = unescaped.trim();
    if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        return Err(ServiceAccountKeyError::PrivateKey(
            "it is a PKCS#1 key; Google issues PKCS#8 (BEGIN PRIVATE KEY)".into(),
        ));
    }
    let body = text
        .strip_prefix(PEM_BEGIN)
        .and_then(|rest| rest.strip_suffix(PEM_END))
        .ok_or_else(|| {
            ServiceAccountKeyError::PrivateKey(
                "it is not a PEM block between BEGIN PRIVATE KEY and END PRIVATE KEY".into(),
            )
        })?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(base64)
        .map_err(|_| ServiceAccountKeyError::PrivateKey("its body is not base64".into()))
}
