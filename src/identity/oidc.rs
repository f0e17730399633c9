//! Sign-in with the school's identity provider (Google Workspace, Microsoft Entra ID, or any
//! OpenID Connect provider by its discovery document): the authorization code flow with PKCE
//! (S256), `state` and `nonce`
//! ([OpenID Connect Core §3.1](https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth)).
//!
//! [`OidcClient::start`] stores a pending sign-in (the state only as its digest, with the
//! nonce, the PKCE verifier and where to go afterwards) and gives the provider's address to
//! send the browser to; [`OidcClient::finish`] claims that sign-in once (a replayed state finds
//! it spent), exchanges the code, verifies the ID token ([`id_token`]) and opens a new session
//! for the user with that address. Signing in never creates a user or gives a role: an admin
//! adds users. The state is also bound to the browser that started (the HTTP layer keeps it
//! in a short-lived cookie), so that nobody can sign someone else's browser in as themselves.
//! Failed callbacks are throttled per instance ([`throttle`]); logs carry ids, never addresses.

pub mod attempts;
pub mod discovery;
pub mod exchange;
pub mod id_token;
pub mod keys;
pub mod pkce;
pub mod throttle;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use reqwest::Url;
use sqlx::AnyPool;
use tracing::field::Empty;

use self::discovery::DiscoveryCache;
use self::id_token::{Expected, IdTokenError};
use self::keys::KeyCache;
use self::throttle::Throttle;
use super::store::{self, IdentityError};
use super::{sessions, tokens};
use crate::config::OidcSettings;

/// The cookie that carries the session secret (`chs_…`) to a browser.
pub const SESSION_COOKIE: &str = "chaperone_session";
/// The cookie that binds a pending sign-in to the browser that started it: its state.
pub const BROWSER_STATE_COOKIE: &str = "chaperone_oidc_state";
/// How long a pending sign-in may take at the provider.
pub const ATTEMPT_LIFETIME: Duration = Duration::minutes(10);
/// Failed callbacks an instance accepts in a burst, and per minute after it.
pub const CALLBACK_FAILURES_PER_MINUTE: u32 = 20;
/// Each call to the provider (discovery, token endpoint, keys) must fit, three of them, in
/// the request deadline (`server.request_timeout_ms`, 10 s by default).
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// The longest `return_to` kept.
const MAX_RETURN_TO_CHARS: usize = 2048;

/// The provider could not be reached or answered nonsense: not the person's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderUnavailable(pub String);

/// Why a sign-in did not happen. The words are for the person signing in (they name no one);
/// [`OidcError::reason`] is for logs.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("sign-in with the school's identity provider is not set up")]
    NotConfigured,
    #[error("too many failed sign-ins: try again in a minute")]
    Throttled,
    #[error("the sign-in request lacks its {0}")]
    Malformed(&'static str),
    #[error("this sign-in is unknown or was used already: start again")]
    NotPending,
    #[error("this sign-in was started in another browser: start again")]
    OtherBrowser,
    #[error("this sign-in took more than ten minutes: start again")]
    Expired,
    #[error("the identity provider did not sign you in")]
    Denied,
    #[error("the answer did not come from the school's identity provider: start again")]
    WrongIssuer,
    #[error("the identity provider refused the sign-in: start again")]
    CodeRefused { status: u16, oauth_error: String },
    #[error("{0}")]
    IdToken(#[from] IdTokenError),
    #[error(
        "you have no chaperone account with that address, or it is disabled: ask an administrator"
    )]
    NoAccount,
    #[error("the school's identity provider could not be reached: try again in a moment")]
    ProviderUnavailable(#[from] ProviderUnavailable),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl OidcError {
    /// A stable label for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            OidcError::NotConfigured => "not_configured",
            OidcError::Throttled => "throttled",
            OidcError::Malformed(_) => "malformed",
            OidcError::NotPending => "state_not_pending",
            OidcError::OtherBrowser => "state_other_browser",
            OidcError::Expired => "state_expired",
            OidcError::Denied => "provider_denied",
            OidcError::WrongIssuer => "callback_issuer",
            OidcError::CodeRefused { .. } => "code_refused",
            OidcError::IdToken(error) => error.reason(),
            OidcError::NoAccount => "no_account",
            OidcError::ProviderUnavailable(_) => "provider_unavailable",
            OidcError::Identity(_) | OidcError::Database(_) => "internal",
        }
    }

    /// Whether the person's request was refused (as opposed to our side or the provider's
    /// failing): what the throttle counts.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            OidcError::NotConfigured
                | OidcError::Throttled
                | OidcError::ProviderUnavailable(_)
                | OidcError::IdToken(IdTokenError::KeysUnavailable(_))
                | OidcError::Identity(_)
                | OidcError::Database(_)
        )
    }
}

/// Where the browser goes to sign in.
#[derive(Debug, Clone)]
pub struct Started {
    /// The provider's authorization endpoint with this sign-in's parameters.
    pub authorization_url: String,
    /// The state, for the browser's binding cookie.
    pub state: String,
}

/// What the provider sent the browser back with (the callback's query).
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set when the provider did not sign the person in (`access_denied`, ...).
    pub error: Option<String>,
    /// The issuer, from providers that add it (RFC 9207), checked against ours.
    pub iss: Option<String>,
}

/// A finished sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The new session's secret, shown once (in the cookie).
    pub session: String,
    pub user_id: i64,
    /// The local path to go to.
    pub return_to: String,
}

/// The provider's documents (discovery, keys) as cached, and the throttle of failed callbacks;
/// cheap to clone.
#[derive(Clone)]
pub struct OidcClient {
    http: reqwest::Client,
    discovery: DiscoveryCache,
    keys: KeyCache,
    throttle: Throttle,
}

impl OidcClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            // The provider's endpoints are where its discovery document says, not elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(OidcClient {
            discovery: DiscoveryCache::new(http.clone()),
            keys: KeyCache::new(http.clone()),
            throttle: Throttle::new(
                CALLBACK_FAILURES_PER_MINUTE,
                std::time::Duration::from_secs(60),
            ),
            http,
        })
    }

    /// Stores a pending sign-in that will go to `return_to` (a local path; anything else
    /// goes to `/`), and says where to send the browser.
    #[tracing::instrument(skip_all, fields(attempt_id = Empty))]
    pub async fn start(
        &self,
        pool: &AnyPool,
        settings: &OidcSettings,
        return_to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Started, OidcError> {
        let started = self.start_checked(pool, settings, return_to, now).await;
        if let Err(error) = &started {
            log_failure(error, "sign-in with the identity provider could not start");
        }
        started
    }

    async fn start_checked(
        &self,
        pool: &AnyPool,
        settings: &OidcSettings,
        return_to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Started, OidcError> {
        if !settings.enabled() {
            return Err(OidcError::NotConfigured);
        }
        let discovery = self.discovery.get(&settings.issuer).await?;
        let state = pkce::random_secret();
        let nonce = pkce::random_secret();
        let verifier = pkce::random_secret();
        let mut tx = pool.begin().await?;
        attempts::delete_made_before(&mut tx, now - ATTEMPT_LIFETIME).await?;
        let attempt_id = attempts::insert(
            &mut tx,
            &tokens::digest(&state),
            &nonce,
            &verifier,
            local_path(return_to),
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::Span::current().record("attempt_id", attempt_id);
        // Checked when the discovery document was read.
        let mut url = Url::parse(&discovery.authorization_endpoint).map_err(|_| {
            ProviderUnavailable("the authorization endpoint is not an address".into())
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &settings.client_id)
            .append_pair("redirect_uri", &settings.redirect_url)
            .append_pair("scope", &settings.scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce::challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(Started {
            authorization_url: url.into(),
            state,
        })
    }

    /// Finishes the sign-in the browser came back to: `browser_state` is the state its
    /// binding cookie carries. Refused with 429 ([`OidcError::Throttled`]) while the failed
    /// callbacks allowed are used up. Logs the outcome.
    #[tracing::instrument(skip_all, fields(attempt_id = Empty, user_id = Empty))]
    pub async fn finish(
        &self,
        pool: &AnyPool,
        settings: &OidcSettings,
        callback: &Callback,
        browser_state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, OidcError> {
        if !settings.enabled() {
            return Err(OidcError::NotConfigured);
        }
        if self.throttle.exhausted(Instant::now()) {
            tracing::warn!(
                reason = "throttled",
                "sign-in with the identity provider refused"
            );
            return Err(OidcError::Throttled);
        }
        let finished = self
            .finish_checked(pool, settings, callback, browser_state, now)
            .await;
        match &finished {
            Ok(_) => tracing::info!("signed in with the identity provider"),
            Err(error) => {
                if error.is_refusal() {
                    self.throttle.record_failure(Instant::now());
                }
                log_failure(error, "sign-in with the identity provider refused");
            }
        }
        finished
    }

    async fn finish_checked(
        &self,
        pool: &AnyPool,
        settings: &OidcSettings,
        callback: &Callback,
        browser_state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, OidcError> {
        let state = callback
            .state
            .as_deref()
            .filter(|state| !state.is_empty())
            .ok_or(OidcError::Malformed("state"))?;
        // Spent first, in a transaction of its own, whatever happens next.
        let mut tx = pool.begin().await?;
        let attempt = attempts::claim(&mut tx, &tokens::digest(state), now).await?;
        tx.commit().await?;
        let attempt = attempt.ok_or(OidcError::NotPending)?;
        tracing::Span::current().record("attempt_id", attempt.id);
        let same_browser =
            browser_state.is_some_and(|browser| tokens::digest(browser) == tokens::digest(state));
        if !same_browser {
            return Err(OidcError::OtherBrowser);
        }
        if now - attempt.created_at > ATTEMPT_LIFETIME {
            return Err(OidcError::Expired);
        }
        if callback.error.is_some() {
            return Err(OidcError::Denied);
        }
        let code = callback
            .code
            .as_deref()
            .filter(|code| !code.is_empty())
            .ok_or(OidcError::Malformed("code"))?;
        let discovery = self.discovery.get(&settings.issuer).await?;
        if callback
            .iss
            .as_deref()
            .is_some_and(|issuer| issuer != discovery.issuer)
        {
            return Err(OidcError::WrongIssuer);
        }
        let id_token = exchange::exchange_code(
            &self.http,
            &discovery.token_endpoint,
            settings,
            code,
            &attempt.pkce_verifier,
        )
        .await?;
        let expected = Expected {
            issuer: &discovery.issuer,
            client_id: &settings.client_id,
            nonce: &attempt.nonce,
            leeway: settings.clock_leeway,
            allowed_domains: &settings.allowed_domains,
        };
        let identity =
            id_token::verify(&id_token, &discovery.jwks_uri, &self.keys, &expected, now).await?;
        let mut connection = pool.acquire().await?;
        let (user, _) = store::user_by_email(&mut connection, &identity.email)
            .await?
            .filter(|(user, _)| !user.disabled)
            .ok_or(OidcError::NoAccount)?;
        tracing::Span::current().record("user_id", user.id);
        let session = sessions::open(&mut connection, user.id, now).await?;
        Ok(SignedIn {
            session,
            user_id: user.id,
            return_to: attempt.return_to,
        })
    }
}

/// Logs a failure once: our side's with its cause, the person's and the provider's by reason.
fn log_failure(error: &OidcError, message: &'static str) {
    match error {
        OidcError::Identity(_) | OidcError::Database(_) => {
            tracing::error!(error = format!("{error:#}"), "{message}");
        }
        OidcError::ProviderUnavailable(ProviderUnavailable(detail))
        | OidcError::IdToken(IdTokenError::KeysUnavailable(detail)) => {
            tracing::warn!(reason = error.reason(), detail, "{message}");
        }
        OidcError::CodeRefused {
            status,
            oauth_error,
        } => {
            tracing::warn!(reason = error.reason(), status, oauth_error, "{message}");
        }
        _ => tracing::warn!(reason = error.reason(), "{message}"),
    }
}

/// `return_to` if it is a path on this site, else `/`: never `//host` or `/\host` (which
/// browsers read as another site), an address, or anything that is not plain printable ASCII.
pub fn local_path(return_to: Option<&str>) -> &str {
    match return_to {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.len() <= MAX_RETURN_TO_CHARS
                && path
                    .bytes()
                    .all(|byte| byte.is_ascii_graphic() && byte != b'\\') =>
        {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_local_path_is_a_place_to_return_to() {
        for path in ["/", "/findings/12", "/register?school=1&from=2026-01-01"] {
            assert_eq!(local_path(Some(path)), path);
        }
        for path in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "",
            "/a b",
            "/\u{e9}",
            "/\nLocation: x",
        ] {
            assert_eq!(local_path(Some(path)), "/", "{path:?}");
        }
        assert_eq!(local_path(None), "/");
        assert_eq!(local_path(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }

    #[test]
    fn failures_of_our_side_or_the_provider_s_are_not_counted_against_people() {
        assert!(OidcError::NotPending.is_refusal());
        assert!(OidcError::IdToken(IdTokenError::Signature).is_refusal());
        assert!(!OidcError::ProviderUnavailable(ProviderUnavailable("down".into())).is_refusal());
        assert!(!OidcError::IdToken(IdTokenError::KeysUnavailable("down".into())).is_refusal());
    }
}
