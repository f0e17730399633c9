//! The provider's discovery document
//! ([OpenID Connect Discovery 1.0 §4](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig)):
//! where to send the browser, where to exchange the code, where the keys are, and the issuer
//! its ID tokens carry. Fetched from `{issuer}/.well-known/openid-configuration`, kept for
//! [`DISCOVERY_LIFETIME`]; while the provider cannot be reached, the last document is used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::ProviderUnavailable;

/// How long a discovery document is used before it is fetched again.
pub const DISCOVERY_LIFETIME: Duration = Duration::from_secs(3600);

/// What chaperone uses of a discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

struct Cached {
    /// The configured issuer it was fetched for.
    issuer: String,
    document: Discovery,
    fresh_until: Instant,
}

/// The discovery document, fetched once an hour; cheap to clone.
#[derive(Clone)]
pub struct DiscoveryCache {
    http: reqwest::Client,
    cached: Arc<Mutex<Option<Cached>>>,
}

impl DiscoveryCache {
    pub fn new(http: reqwest::Client) -> Self {
        DiscoveryCache {
            http,
            cached: Arc::default(),
        }
    }

    /// The document of `issuer`, from the cache while it is fresh.
    pub async fn get(&self, issuer: &str) -> Result<Discovery, ProviderUnavailable> {
        let mut cached = self.cached.lock().await;
        let usable = cached.as_ref().filter(|cached| cached.issuer == issuer);
        if let Some(fresh) = usable.filter(|cached| Instant::now() < cached.fresh_until) {
            return Ok(fresh.document.clone());
        }
        let document = match self.fetch(issuer).await {
            Ok(document) => document,
            Err(error) => match usable {
                Some(stale) => {
                    tracing::warn!(%error, "the identity provider's discovery document could not be refreshed; using the last one");
                    return Ok(stale.document.clone());
                }
                None => return Err(error),
            },
        };
        *cached = Some(Cached {
            issuer: issuer.to_string(),
            document: document.clone(),
            fresh_until: Instant::now() + DISCOVERY_LIFETIME,
        });
        Ok(document)
    }

    async fn fetch(&self, issuer: &str) -> Result<Discovery, ProviderUnavailable> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let response = self.http.get(&url).send().await.map_err(|error| {
            ProviderUnavailable(format!("discovery document: {}", error.without_url()))
        })?;
        if !response.status().is_success() {
            return Err(ProviderUnavailable(format!(
                "discovery document: answered {}",
                response.status()
            )));
        }
        let document: Discovery = response.json().await.map_err(|_| {
            ProviderUnavailable("the discovery document lacks an endpoint or is not JSON".into())
        })?;
        check(&document, issuer)?;
        Ok(document)
    }
}

/// The document must be the configured issuer's (Discovery §4.3: identical, so that one
/// provider cannot stand in for another), with endpoints that are addresses, over TLS when
/// the issuer is.
fn check(document: &Discovery, issuer: &str) -> Result<(), ProviderUnavailable> {
    if document.issuer != issuer {
        return Err(ProviderUnavailable(format!(
            "the discovery document names the issuer {:?}, not CHAPERONE__OIDC__ISSUER {issuer:?}",
            document.issuer
        )));
    }
    let secure = issuer.starts_with("https://");
    for (name, endpoint) in [
        ("authorization_endpoint", &document.authorization_endpoint),
        ("token_endpoint", &document.token_endpoint),
        ("jwks_uri", &document.jwks_uri),
    ] {
        let url = Url::parse(endpoint).map_err(|_| {
            ProviderUnavailable(format!("the discovery document's {name} is not an address"))
        })?;
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => !secure,
            _ => false,
        };
        if !scheme_ok {
            return Err(ProviderUnavailable(format!(
                "the discovery document's {name} is not an https:// address"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn google() -> Discovery {
        Discovery {
            issuer: "https://accounts.google.com".into(),
            authorization_endpoint: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_endpoint: "https://oauth2.googleapis.com/token".into(),
            jwks_uri: "https://www.googleapis.com/oauth2/v3/certs".into(),
        }
    }

    #[test]
    fn a_document_for_another_issuer_is_refused() {
        assert!(check(&google(), "https://accounts.google.com").is_ok());
        assert!(check(&google(), "https://accounts.google.com/").is_err());
        assert!(check(&google(), "https://login.microsoftonline.com/x/v2.0").is_err());
    }

    #[test]
    fn an_https_issuer_may_not_send_anyone_to_plain_http() {
        let mut document = google();
        document.token_endpoint = "http://oauth2.googleapis.com/token".into();
        assert!(check(&document, "https://accounts.google.com").is_err());
        document.token_endpoint = "javascript:alert(1)".into();
        assert!(check(&document, "https://accounts.google.com").is_err());
    }
}
