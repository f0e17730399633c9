//! The ID token the provider's token endpoint answers with, verified before anything in it is
//! believed ([OpenID Connect Core §3.1.3.7](https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation)):
//! RS256 only, signed by a key of the provider's key set, issued by the configured issuer, for
//! this client, current, carrying this sign-in's nonce, and naming a verified address in one of
//! the allowed domains. The checks are written here, as in `google::push_token`, so that each
//! is strict and visible; the signature is checked with `ring`.
//!
//! **Entra ID and `email_verified`.** Microsoft Entra ID sends `email` without
//! `email_verified`. The address is then the one the school's own tenant holds for the person
//! (its administrators set it), so it is accepted when, and only when, the issuer is a single
//! Entra tenant (`https://login.microsoftonline.com/{tenant id}/v2.0`, which the issuer check
//! pins to the configured one — never `common`, `organizations` or the personal-accounts
//! tenant) and the address's domain is one of the allowed domains, as for every token. Any
//! other provider must say `email_verified: true`; `false` is refused everywhere.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use serde_json::Value;

use super::keys::{KeyCache, KeyError};

/// Entra ID's issuers start so; the tenant id follows.
const ENTRA_ISSUER_PREFIX: &str = "https://login.microsoftonline.com/";
/// The tenant of personal Microsoft accounts: not a school's.
const ENTRA_CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Why an ID token was refused. The words are for the person signing in: none of them is
/// secret, and none repeats the address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the identity provider's ID token is not a JWT: {0}")]
    Malformed(&'static str),
    #[error("the ID token is signed with {0}, not RS256")]
    Algorithm(String),
    #[error("the ID token names a key the identity provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token is not from the school's identity provider")]
    Issuer,
    #[error("the ID token is for another application")]
    Audience,
    #[error("the ID token is not for this sign-in")]
    Nonce,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet")]
    NotYetValid,
    #[error("the identity provider did not give an email address")]
    EmailMissing,
    #[error("the identity provider has not verified the email address")]
    EmailUnverified,
    #[error("the email address is not one of the school's")]
    Domain,
    #[error("the identity provider's keys could not be read: {0}")]
    KeysUnavailable(String),
}

impl IdTokenError {
    /// A stable label for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            IdTokenError::Malformed(_) => "id_token_malformed",
            IdTokenError::Algorithm(_) => "id_token_algorithm",
            IdTokenError::UnknownKey => "id_token_unknown_key",
            IdTokenError::Signature => "id_token_signature",
            IdTokenError::Issuer => "id_token_issuer",
            IdTokenError::Audience => "id_token_audience",
            IdTokenError::Nonce => "id_token_nonce",
            IdTokenError::Expired => "id_token_expired",
            IdTokenError::NotYetValid => "id_token_not_yet_valid",
            IdTokenError::EmailMissing => "id_token_email_missing",
            IdTokenError::EmailUnverified => "id_token_email_unverified",
            IdTokenError::Domain => "id_token_domain",
            IdTokenError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

/// What the token must say.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The discovery document's issuer (the configured one).
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce this sign-in sent.
    pub nonce: &'a str,
    /// Allowed clock difference for `iat`, `nbf` and `exp`.
    pub leeway: Duration,
    /// Lower case.
    pub allowed_domains: &'a [String],
}

/// Who the token says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// Lower case.
    pub email: String,
    /// The provider's id of the person.
    pub subject: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    azp: Option<String>,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<Value>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
}

/// Verifies `token` against the key set at `jwks_uri` and `expected`, at `now`.
pub async fn verify(
    token: &str,
    jwks_uri: &str,
    keys: &KeyCache,
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<VerifiedIdentity, IdTokenError> {
    let mut parts = token.split('.');
    let (Some(header_part), Some(claims_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed("it does not have three parts"));
    };
    let header: Header = decode_part(header_part)?;
    if header.alg != "RS256" {
        return Err(IdTokenError::Algorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(IdTokenError::Malformed("it has critical header extensions"));
    }
    let kid = header.kid.ok_or(IdTokenError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| IdTokenError::Malformed("its signature is not base64url"))?;
    let key = keys
        .key(jwks_uri, &kid)
        .await
        .map_err(|error| match error {
            KeyError::Unknown => IdTokenError::UnknownKey,
            KeyError::Unavailable(error) => IdTokenError::KeysUnavailable(error.0),
        })?;
    let signed = &token[..header_part.len() + 1 + claims_part.len()];
    RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
    .map_err(|_| IdTokenError::Signature)?;
    let claims: Claims = decode_part(claims_part)?;
    check_claims(&claims, expected, now)
}

fn check_claims(
    claims: &Claims,
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<VerifiedIdentity, IdTokenError> {
    if claims.iss.as_deref() != Some(expected.issuer) {
        return Err(IdTokenError::Issuer);
    }
    check_audience(claims, expected.client_id)?;
    let leeway = i64::try_from(expected.leeway.as_secs()).unwrap_or(i64::MAX);
    let now = now.timestamp();
    let (Some(issued), Some(expires)) = (claims.iat, claims.exp) else {
        return Err(IdTokenError::Malformed("it lacks iat or exp"));
    };
    if issued > now.saturating_add(leeway)
        || claims
            .nbf
            .is_some_and(|not_before| not_before > now.saturating_add(leeway))
    {
        return Err(IdTokenError::NotYetValid);
    }
    if expires.saturating_add(leeway) < now {
        return Err(IdTokenError::Expired);
    }
    if claims.nonce.as_deref() != Some(expected.nonce) {
        return Err(IdTokenError::Nonce);
    }
    let subject = claims
        .sub
        .clone()
        .filter(|subject| !subject.is_empty())
        .ok_or(IdTokenError::Malformed("it lacks sub"))?;
    let email = claims
        .email
        .as_deref()
        .map(|email| email.trim().to_lowercase())
        .filter(|email| !email.is_empty())
        .ok_or(IdTokenError::EmailMissing)?;
    let verified = match &claims.email_verified {
        Some(Value::Bool(verified)) => *verified,
        // Some providers write it as a string.
        Some(Value::String(verified)) => verified == "true",
        None => is_single_entra_tenant(expected.issuer),
        Some(_) => false,
    };
    if !verified {
        return Err(IdTokenError::EmailUnverified);
    }
    let domain = match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => domain,
        _ => return Err(IdTokenError::Domain),
    };
    if !expected
        .allowed_domains
        .iter()
        .any(|allowed| allowed == domain)
    {
        return Err(IdTokenError::Domain);
    }
    Ok(VerifiedIdentity { email, subject })
}

/// `aud` names this client, alone or with others; with others, `azp` must be this client
/// (Core §3.1.3.7 items 3–5), and an `azp` is never another client.
fn check_audience(claims: &Claims, client_id: &str) -> Result<(), IdTokenError> {
    let audiences: Vec<&str> = match &claims.aud {
        Some(Value::String(audience)) => vec![audience.as_str()],
        Some(Value::Array(audiences)) => audiences
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(IdTokenError::Audience)?,
        _ => return Err(IdTokenError::Audience),
    };
    if !audiences.contains(&client_id) {
        return Err(IdTokenError::Audience);
    }
    match claims.azp.as_deref() {
        Some(party) if party != client_id => Err(IdTokenError::Audience),
        None if audiences.len() > 1 => Err(IdTokenError::Audience),
        _ => Ok(()),
    }
}

/// Whether the issuer is one Entra ID tenant's v2.0 endpoint (see the module's words on
/// `email_verified`).
fn is_single_entra_tenant(issuer: &str) -> bool {
    let Some(tenant) = issuer
        .strip_prefix(ENTRA_ISSUER_PREFIX)
        .and_then(|rest| rest.strip_suffix("/v2.0"))
    else {
        return false;
    };
    let is_guid = tenant.len() == 36
        && tenant.char_indices().all(|(at, c)| {
            if matches!(at, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    is_guid && !tenant.eq_ignore_ascii_case(ENTRA_CONSUMER_TENANT)
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, IdTokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| IdTokenError::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| IdTokenError::Malformed("a part is not JSON"))
}

#[cfg(test)]
mod tests;
