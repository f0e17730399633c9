//! The provider's signing keys (its JWKS at the discovery document's `jwks_uri`), kept for the
//! `Cache-Control: max-age` they are served with, and fetched again at most once per
//! [`MIN_REFRESH_INTERVAL`] when an ID token names a key not in the set (a rotation), so that
//! forged key ids cannot make chaperone hammer the provider. As `google::push_token` does for
//! Google's push keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::ProviderUnavailable;

/// How long a key set served without a usable `max-age` is kept.
const DEFAULT_KEYS_LIFETIME: Duration = Duration::from_secs(3600);
/// Bounds on a served `max-age`: fresh enough for a rotation, not refetched at every sign-in.
const MIN_KEYS_LIFETIME: Duration = Duration::from_secs(60);
const MAX_KEYS_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The least time between two fetches of a fresh key set for an unknown key id.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the ID token names a key the provider does not publish")]
    Unknown,
    #[error(transparent)]
    Unavailable(#[from] ProviderUnavailable),
}

/// An RSA public key's modulus and exponent, as big-endian bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Default)]
struct Keys {
    /// The `jwks_uri` they were fetched from.
    url: String,
    by_id: HashMap<String, RsaKey>,
    fresh_until: Option<Instant>,
    /// When a fresh set was last fetched again for a key id not in it.
    last_refresh: Option<Instant>,
}

/// The provider's key set; cheap to clone.
#[derive(Clone)]
pub struct KeyCache {
    http: reqwest::Client,
    keys: Arc<Mutex<Keys>>,
}

impl KeyCache {
    pub fn new(http: reqwest::Client) -> Self {
        KeyCache {
            http,
            keys: Arc::default(),
        }
    }

    /// The key `kid` of the set at `url`, from the cache while it is fresh; else fetched (one
    /// fetch at a time, and for a key missing from a fresh set at most once per
    /// [`MIN_REFRESH_INTERVAL`]).
    pub async fn key(&self, url: &str, kid: &str) -> Result<RsaKey, KeyError> {
        let mut keys = self.keys.lock().await;
        if keys.url != url {
            *keys = Keys {
                url: url.to_string(),
                ..Keys::default()
            };
        }
        let fresh = keys.fresh_until.is_some_and(|until| Instant::now() < until);
        if fresh {
            if let Some(key) = keys.by_id.get(kid) {
                return Ok(key.clone());
            }
            let refreshed_lately = keys
                .last_refresh
                .is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL);
            if refreshed_lately {
                return Err(KeyError::Unknown);
            }
            keys.last_refresh = Some(Instant::now());
        }
        let (by_id, lifetime) = match self.fetch(url).await {
            Ok(fetched) => fetched,
            // An expired set still holds the provider's keys of a moment ago.
            Err(error) => match keys.by_id.get(kid) {
                Some(key) if !fresh => {
                    tracing::warn!(%error, "the identity provider's key set could not be refreshed; using the expired set");
                    return Ok(key.clone());
                }
                _ => return Err(error.into()),
            },
        };
        keys.by_id = by_id;
        keys.fresh_until = Some(Instant::now() + lifetime);
        keys.by_id.get(kid).cloned().ok_or(KeyError::Unknown)
    }

    async fn fetch(
        &self,
        url: &str,
    ) -> Result<(HashMap<String, RsaKey>, Duration), ProviderUnavailable> {
        let response =
            self.http.get(url).send().await.map_err(|error| {
                ProviderUnavailable(format!("key set: {}", error.without_url()))
            })?;
        if !response.status().is_success() {
            return Err(ProviderUnavailable(format!(
                "key set: answered {}",
                response.status()
            )));
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
            .map_err(|_| ProviderUnavailable("the key set is not a JSON Web Key Set".into()))?;
        Ok((signing_keys(set), lifetime))
    }
}

/// The RSA keys for RS256 signatures, by key id; others (encryption keys, EC keys, keys
/// without an id) are left out.
fn signing_keys(set: KeySet) -> HashMap<String, RsaKey> {
    set.keys
        .into_iter()
        .filter(|key| key.kty == "RSA")
        .filter(|key| key.usage.as_deref().is_none_or(|usage| usage == "sig"))
        .filter(|key| key.alg.as_deref().is_none_or(|alg| alg == "RS256"))
        .filter_map(|key| {
            let n = URL_SAFE_NO_PAD.decode(key.n?).ok()?;
            let e = URL_SAFE_NO_PAD.decode(key.e?).ok()?;
            Some((key.kid?, RsaKey { n, e }))
        })
        .collect()
}

/// The `max-age` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let seconds = directive.trim().strip_prefix("max-age=")?;
        seconds.trim().parse().ok().map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_signing_keys_with_an_id_are_kept() {
        let set: KeySet = serde_json::from_value(serde_json::json!({"keys": [
            {"kid": "a", "kty": "RSA", "use": "sig", "alg": "RS256", "n": "AQAB", "e": "AQAB"},
            {"kid": "b", "kty": "RSA", "n": "AQAB", "e": "AQAB", "x5t": "abc"},
            {"kid": "c", "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kid": "d", "kty": "RSA", "alg": "RS512", "n": "AQAB", "e": "AQAB"},
            {"kid": "e", "kty": "EC", "crv": "P-256", "x": "AQAB", "y": "AQAB"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kid": "g", "kty": "RSA", "n": "not base64!", "e": "AQAB"},
        ]}))
        .unwrap();
        let mut kept: Vec<String> = signing_keys(set).into_keys().collect();
        kept.sort();
        assert_eq!(kept, ["a", "b"]);
    }

    #[test]
    fn max_age_is_read_among_other_directives() {
        assert_eq!(
            max_age("public, max-age=19800, must-revalidate"),
            Some(Duration::from_secs(19800))
        );
        assert_eq!(max_age("no-cache"), None);
    }
}
