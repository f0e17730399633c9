//! The OIDC token Pub/Sub puts in `Authorization: Bearer …` of every authenticated push
//! (google-meet.md §2.3), verified before anything else is read: RS256 only, signed by a key of
//! Google's key set, issued by Google, for this endpoint's audience, as the push subscription's
//! own service account with a verified email, and current. The checks are written here rather
//! than left to a JWT library, so that each is strict (an `aud` array, a missing `iat`) and
//! visible; the signature is checked with `ring`, already the TLS stack's.
//!
//! Google's keys are fetched from `keys_url`, kept for the `Cache-Control: max-age` they are
//! served with, and fetched again at most once per `min_refresh_interval` when a token names a
//! key not in the set (a rotation), so forged key ids cannot make chaperone hammer Google.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use tokio::sync::Mutex;

/// Issuers Google signs push tokens as.
const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];
/// How long a key set served without a usable `max-age` is kept.
const DEFAULT_KEYS_LIFETIME: Duration = Duration::from_secs(3600);
/// Bounds on a served `max-age`: fresh enough for a rotation, not refetched on every push.
const MIN_KEYS_LIFETIME: Duration = Duration::from_secs(60);
const MAX_KEYS_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a push token must say, and where Google's keys are.
#[derive(Debug, Clone)]
pub struct PushTokenSettings {
    pub keys_url: String,
    pub audience: String,
    pub service_account_email: String,
    /// Allowed clock difference for `iat` and `exp`.
    pub leeway: Duration,
    /// The least time between two fetches of the key set for an unknown key id.
    pub min_refresh_interval: Duration,
}

/// Why a push token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushTokenError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a JWT: {0}")]
    Malformed(&'static str),
    #[error("the token is signed with {0}, not RS256")]
    Algorithm(String),
    #[error("the token names a key Google does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token is not issued by Google")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token is not the push subscription's service account")]
    Account,
    #[error("the token's email is not verified")]
    EmailUnverified,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("Google's keys could not be read: {0}")]
    KeysUnavailable(String),
}

impl PushTokenError {
    /// A failure on our side or Google's, not the sender's: answered so that Pub/Sub
    /// delivers the push again (5xx), where every other refusal is a 401.
    pub fn is_transient(&self) -> bool {
        matches!(self, PushTokenError::KeysUnavailable(_))
    }

    /// A stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            PushTokenError::Missing => "token_missing",
            PushTokenError::Malformed(_) => "token_malformed",
            PushTokenError::Algorithm(_) => "token_algorithm",
            PushTokenError::UnknownKey => "token_unknown_key",
            PushTokenError::Signature => "token_signature",
            PushTokenError::Issuer => "token_issuer",
            PushTokenError::Audience => "token_audience",
            PushTokenError::Account => "token_account",
            PushTokenError::EmailUnverified => "token_email_unverified",
            PushTokenError::Expired => "token_expired",
            PushTokenError::NotYetValid => "token_not_yet_valid",
            PushTokenError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<serde_json::Value>,
    email: Option<String>,
    email_verified: Option<bool>,
    iat: Option<i64>,
    exp: Option<i64>,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    n: String,
    e: String,
}

/// An RSA public key's modulus and exponent, as big-endian bytes.
#[derive(Clone)]
struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, RsaKey>,
    fresh_until: Option<Instant>,
    /// When a fresh set was last fetched again for a key id not in it.
    last_refresh: Option<Instant>,
}

/// Google's key set, fetched and cached once for the whole process and shared by every
/// connection's verifier; cheap to clone.
#[derive(Clone)]
pub struct GoogleKeys {
    keys_url: String,
    min_refresh_interval: Duration,
    http: reqwest::Client,
    keys: Arc<Mutex<Keys>>,
}

impl GoogleKeys {
    pub fn new(http: reqwest::Client, keys_url: String, min_refresh_interval: Duration) -> Self {
        GoogleKeys {
            keys_url,
            min_refresh_interval,
            http,
            keys: Arc::default(),
        }
    }
}

/// Verifies push tokens against one connection's settings; cheap to clone.
#[derive(Clone)]
pub struct PushTokenVerifier {
    settings: PushTokenSettings,
    keys: GoogleKeys,
}

impl PushTokenVerifier {
    /// A verifier with a key cache of its own.
    pub fn new(http: reqwest::Client, settings: PushTokenSettings) -> Self {
        let keys = GoogleKeys::new(
            http,
            settings.keys_url.clone(),
            settings.min_refresh_interval,
        );
        PushTokenVerifier { settings, keys }
    }

    /// A verifier for one connection's audience and push account, sharing `keys`.
    pub fn with_keys(
        keys: GoogleKeys,
        audience: &str,
        service_account_email: &str,
        leeway: Duration,
    ) -> Self {
        PushTokenVerifier {
            settings: PushTokenSettings {
                keys_url: keys.keys_url.clone(),
                audience: audience.to_string(),
                service_account_email: service_account_email.to_string(),
                leeway,
                min_refresh_interval: keys.min_refresh_interval,
            },
            keys,
        }
    }

    /// Checks the `Authorization` header's value of a push received at `now`.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), PushTokenError> {
        let token = authorization
            .and_then(|value| value.trim_start().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(PushTokenError::Missing)?;
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PushTokenError::Malformed("it does not have three parts"));
        };
        let header: Header = decode_part(header_part)?;
        if header.alg != "RS256" {
            return Err(PushTokenError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(PushTokenError::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| PushTokenError::Malformed("its signature is not base64url"))?;
        let key = self.keys.key(&kid).await?;
        let signed = &token[..header_part.len() + 1 + claims_part.len()];
        RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
        .map_err(|_| PushTokenError::Signature)?;
        let claims: Claims = decode_part(claims_part)?;
        self.check_claims(&claims, now)
    }

    fn check_claims(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), PushTokenError> {
        if !claims
            .iss
            .as_deref()
            .is_some_and(|issuer| ISSUERS.contains(&issuer))
        {
            return Err(PushTokenError::Issuer);
        }
        // One audience, exactly ours: an array naming ours among others is not for us alone.
        if claims.aud.as_ref().and_then(|aud| aud.as_str()) != Some(self.settings.audience.as_str())
        {
            return Err(PushTokenError::Audience);
        }
        let expected = &self.settings.service_account_email;
        if !claims
            .email
            .as_deref()
            .is_some_and(|email| email.eq_ignore_ascii_case(expected))
        {
            return Err(PushTokenError::Account);
        }
        if claims.email_verified != Some(true) {
            return Err(PushTokenError::EmailUnverified);
        }
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(i64::MAX);
        let now = now.timestamp();
        let (Some(issued), Some(expires)) = (claims.iat, claims.exp) else {
            return Err(PushTokenError::Malformed("it lacks iat or exp"));
        };
        if issued > now.saturating_add(leeway) {
            return Err(PushTokenError::NotYetValid);
        }
        if expires.saturating_add(leeway) < now {
            return Err(PushTokenError::Expired);
        }
        Ok(())
    }
}

impl GoogleKeys {
    /// The key `kid`, from the cached set while it is fresh; else fetched (one fetch at a time,
    /// and for a key missing from a fresh set at most once per `min_refresh_interval`).
    async fn key(&self, kid: &str) -> Result<RsaKey, PushTokenError> {
        let mut keys = self.keys.lock().await;
        let fresh = keys.fresh_until.is_some_and(|until| Instant::now() < until);
        if fresh {
            if let Some(key) = keys.by_id.get(kid) {
                return Ok(key.clone());
            }
            let refreshed_lately = keys
                .last_refresh
                .is_some_and(|at| at.elapsed() < self.min_refresh_interval);
            if refreshed_lately {
                return Err(PushTokenError::UnknownKey);
            }
            keys.last_refresh = Some(Instant::now());
        }
        let (by_id, lifetime) = match self.fetch().await {
            Ok(fetched) => fetched,
            // An expired set still holds Google's keys of a moment ago: while Google cannot be
            // reached, a token signed with one of them is checked against it rather than every
            // push being answered 5xx. A key id it lacks still waits for Google.
            Err(error) => match keys.by_id.get(kid) {
                Some(key) if !fresh => {
                    tracing::warn!(%error, "Google's key set could not be refreshed; using the expired set");
                    return Ok(key.clone());
                }
                _ => return Err(error),
            },
        };
        keys.by_id = by_id;
        keys.fresh_until = Some(Instant::now() + lifetime);
        keys.by_id
            .get(kid)
            .cloned()
            .ok_or(PushTokenError::UnknownKey)
    }

    async fn fetch(&self) -> Result<(HashMap<String, RsaKey>, Duration), PushTokenError> {
        let unavailable = |error: String| PushTokenError::KeysUnavailable(error);
        let response = self
            .http
            .get(&self.keys_url)
            .send()
            .await
            .map_err(|error| unavailable(error.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("answered {}", response.status())));
        }
        let lifetime = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age)
            .map_or(DEFAULT_KEYS_LIFETIME, |age| {
                age.clamp(MIN_KEYS_LIFETIME, MAX_KEYS_LIFETIME)
            });
        let set: KeySet = response
            .json()
            .await
            .map_err(|_| unavailable("the key set is not JSON Web Keys".into()))?;
        let mut by_id = HashMap::new();
        for key in set.keys.into_iter().filter(|key| key.kty == "RSA") {
            let (Ok(n), Ok(e)) = (
                URL_SAFE_NO_PAD.decode(&key.n),
                URL_SAFE_NO_PAD.decode(&key.e),
            ) else {
                continue;
            };
            by_id.insert(key.kid, RsaKey { n, e });
        }
        Ok((by_id, lifetime))
    }
}

/// A header or claims part: base64url of UTF-8 JSON (RFC 7519 §7.2). The text is checked as a
/// whole, since `serde_json` skips the claims it does not read without checking their bytes.
fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, PushTokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| PushTokenError::Malformed("a part is not base64url"))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| PushTokenError::Malformed("a part is not UTF-8"))?;
    serde_json::from_str(text).map_err(|_| PushTokenError::Malformed("a part is not JSON"))
}

/// The `max-age` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let seconds = directive.trim().strip_prefix("max-age=")?;
        seconds.trim().parse().ok().map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests;
