//! Signed one-click links in alerts: open a finding, acknowledge it. A link names the finding
//! and the contact it was sent to, expires, and is signed with a key derived from the admin
//! token (rotating the token retires every link).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// How long an acknowledge link works.
pub const LINK_LIFETIME_DAYS: i64 = 14;

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

#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl LinkSigner {
    pub fn new(admin_token: &Secret) -> Self {
        let mut mac =
            HmacSha256::new_from_slice(admin_token.expose().as_bytes()).expect("any key length");
        mac.update(b"chaperone acknowledge links v1");
        LinkSigner {
            key: mac.finalize().into_bytes().into(),
        }
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

    fn sign(&self, payload: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(&Secret::new("an-admin-token-of-sufficient-length-000"))
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
        let other = LinkSigner::new(&Secret::new("another-admin-token-of-sufficient-len"));
        assert_eq!(other.verify(&token, now), Err(LinkError::Invalid));
        assert_eq!(signer().verify("garbage", now), Err(LinkError::Invalid));
    }
}
