//! Layered, typed settings: compiled-in defaults, then an optional file, then
//! `CHAPERONE__SECTION__KEY` environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::inbox::writer::ACK_DEADLINE;

/// The commented defaults, compiled in so the binary runs with no file beside it.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

const ENV_PREFIX: &str = "CHAPERONE__";
const MIN_ADMIN_TOKEN_CHARS: usize = 32;
const MIN_RETENTION_DAYS: u64 = 8;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {source}")]
    ParseFile {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{variable} is not a setting chaperone knows; check the spelling against config/default.toml")]
    UnknownVariable { variable: String },
    #[error("{variable} must be {expected}, got {value:?}")]
    BadVariable {
        variable: String,
        expected: &'static str,
        value: String,
    },
    #[error("invalid settings: {0}")]
    Invalid(String),
    #[error("{setting} {problem}")]
    Rule {
        setting: &'static str,
        problem: String,
    },
}

/// A value that must never reach a log: `Debug` prints a placeholder.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub inbox: InboxSettings,
    pub processor: ProcessorSettings,
    pub evaluation: EvaluationSettings,
    pub enrichment: EnrichmentSettings,
    pub alerts: AlertSettings,
    pub supervision: SupervisionSettings,
    pub smtp: SmtpSettings,
    pub zoom: ZoomSettings,
    pub google: GoogleSettings,
    #[serde(deserialize_with = "OidcSettings::checked")]
    pub oidc: OidcSettings,
    pub secrets: SecretsSettings,
    pub api: ApiSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port the HTTP server listens on.
    pub bind: SocketAddr,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Serve HTTP on this instance.
    pub api_enabled: bool,
    /// Run the event processor on this instance.
    pub worker_enabled: bool,
    /// Time given to in-flight work after a shutdown signal.
    #[serde(rename = "shutdown_grace_secs", deserialize_with = "secs")]
    pub shutdown_grace: Duration,
    /// Where people reach chaperone, for links in alerts.
    pub public_url: String,
    /// A request not answered within this is answered 503 (`timeout`). Longer than the
    /// webhook's own acknowledgement deadline, so that the webhook answers first.
    #[serde(rename = "request_timeout_ms", deserialize_with = "millis")]
    pub request_timeout: Duration,
    /// How long a connection's endpoint and secrets are remembered between deliveries: a
    /// removed secret is refused at most this long after the change.
    #[serde(rename = "connection_cache_ms", deserialize_with = "millis")]
    pub connection_cache: Duration,
    /// A connection that has not sent a whole request head within this is closed: a client
    /// that sends half a request and waits holds nothing for long.
    #[serde(rename = "header_read_timeout_ms", deserialize_with = "millis")]
    pub header_read_timeout: Duration,
    /// The bytes of webhook bodies read at once (each counted by its `Content-Length`, or as
    /// `max_body_bytes` without one); a delivery that would go over is answered 503 with
    /// `Retry-After` before its body is read, so slow uploads cannot fill the memory.
    pub webhook_body_budget_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://...`; the scheme picks the backend.
    pub url: Secret,
    /// Connections in the pool.
    pub max_connections: u32,
    /// Wait for a connection or a lock at most this long.
    #[serde(rename = "acquire_timeout_secs", deserialize_with = "secs")]
    pub acquire_timeout: Duration,
    /// SQLite only: `full` (every commit on disk before it returns, so "accepted" survives a
    /// power cut) or `normal` (safe from a crash of the process, not of the machine).
    pub sqlite_synchronous: SqliteSynchronous,
}

/// How SQLite makes a commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

impl SqliteSynchronous {
    pub fn pragma_value(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Normal => "NORMAL",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxSettings {
    /// Days a processed event and its de-duplication key are kept, at schools that set no
    /// period of their own (`[school.retention] inbox_days`).
    pub retention_days: u64,
    /// Most events committed in one transaction.
    pub max_batch: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorSettings {
    /// Idle polling interval, for events inserted by other instances.
    #[serde(rename = "poll_interval_ms", deserialize_with = "millis")]
    pub poll_interval: Duration,
    /// Attempts before an event is set aside as failed.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSettings {
    /// Idle polling interval, for timers and other instances' changes.
    #[serde(rename = "poll_interval_ms", deserialize_with = "millis")]
    pub poll_interval: Duration,
    /// A bank-holiday file replacing the shipped one; empty for the shipped list.
    pub bank_holidays_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentSettings {
    #[serde(rename = "retry_base_secs", deserialize_with = "secs")]
    pub retry_base: Duration,
    #[serde(rename = "retry_max_delay_secs", deserialize_with = "secs")]
    pub retry_max_delay: Duration,
    pub max_attempts: u32,
    #[serde(rename = "poll_interval_ms", deserialize_with = "millis")]
    pub poll_interval: Duration,
    /// First request for a call's participant report, after its end.
    #[serde(rename = "reconcile_after_secs", deserialize_with = "secs")]
    pub reconcile_after: Duration,
    /// Give up on a call's participant report this long after its end.
    #[serde(rename = "reconcile_deadline_mins", deserialize_with = "minutes")]
    pub reconcile_deadline: Duration,
    /// No events for this long in school hours prompts the silence check.
    #[serde(rename = "silence_after_mins", deserialize_with = "minutes")]
    pub silence_after: Duration,
    #[serde(rename = "silence_check_interval_secs", deserialize_with = "secs")]
    pub silence_check_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionSettings {
    /// Pause before restarting a role after its first panic within the window; it doubles
    /// with each further panic.
    #[serde(rename = "restart_backoff_first_ms", deserialize_with = "millis")]
    pub restart_backoff_first: Duration,
    /// The longest pause before a restart.
    #[serde(rename = "restart_backoff_max_ms", deserialize_with = "millis")]
    pub restart_backoff_max: Duration,
    /// Restarts allowed within the window; the next panic stops the process.
    pub max_restarts: u32,
    #[serde(rename = "restart_window_secs", deserialize_with = "secs")]
    pub restart_window: Duration,
    /// A running role whose loop has not come round for this long makes `/readyz` 503.
    #[serde(rename = "heartbeat_stale_after_secs", deserialize_with = "secs")]
    pub heartbeat_stale_after: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Wait before the second attempt; doubles with each attempt.
    #[serde(rename = "retry_base_ms", deserialize_with = "millis")]
    pub retry_base: Duration,
    /// Longest wait between attempts.
    #[serde(rename = "retry_max_delay_secs", deserialize_with = "secs")]
    pub retry_max_delay: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// The longest wait a receiver's `Retry-After` can impose before the next attempt.
    #[serde(rename = "max_retry_after_secs", deserialize_with = "secs")]
    pub max_retry_after: Duration,
    /// Idle polling interval for due deliveries and escalations.
    #[serde(rename = "poll_interval_ms", deserialize_with = "millis")]
    pub poll_interval: Duration,
    /// Timeout of one outgoing webhook request.
    #[serde(rename = "http_timeout_secs", deserialize_with = "secs")]
    pub http_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Mail server; empty disables email alerts.
    pub host: String,
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: String,
    pub username: String,
    pub password: Secret,
    /// The From address of alerts.
    pub from: String,
    #[serde(rename = "timeout_secs", deserialize_with = "secs")]
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted for the relay besides the public roots (a relay
    /// signed by the school's own CA); empty: the public roots only.
    pub ca_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// The 256-bit key (base64) that seals platform secrets in the database.
    pub key: Secret,
    /// A file holding that key, when `key` is not set.
    pub key_file: String,
    /// Keys before a rotation, comma-separated: they still open, never seal.
    pub previous_keys: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoomSettings {
    /// Serve `POST /webhooks/zoom`, verified with `webhook_secret_token`: the single
    /// endpoint of installations made before connections had endpoints of their own.
    pub shared_endpoint: bool,
    /// The Zoom app's webhook Secret Token, for the shared endpoint.
    pub webhook_secret_token: Secret,
    /// The token before a rotation, still accepted while set.
    pub previous_webhook_secret_token: Secret,
    /// How far in the future a signature timestamp may be.
    #[serde(rename = "max_clock_skew_secs", deserialize_with = "secs")]
    pub max_clock_skew: Duration,
    /// How old a signature timestamp may be.
    #[serde(rename = "max_signature_age_secs", deserialize_with = "secs")]
    pub max_signature_age: Duration,
    /// Zoom's REST API base, e.g. `https://api.zoom.us/v2`.
    pub api_base_url: String,
    /// Zoom's OAuth token endpoint.
    pub oauth_token_url: String,
    /// Requests per second chaperone allows itself per Zoom account.
    pub api_requests_per_second: u32,
    /// Requests in flight chaperone allows itself per Zoom account.
    pub api_concurrency: usize,
}

/// Google's endpoints (see `config/default.toml`) and how push tokens are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleSettings {
    pub keys_url: String,
    /// Empty: the service account key's `token_uri`, else Google's.
    pub token_url: String,
    pub meet_api_base_url: String,
    pub calendar_api_base_url: String,
    pub directory_api_base_url: String,
    pub events_api_base_url: String,
    #[serde(rename = "push_token_leeway_secs", deserialize_with = "secs")]
    pub push_token_leeway: Duration,
    #[serde(rename = "keys_min_refresh_secs", deserialize_with = "secs")]
    pub keys_min_refresh: Duration,
}

/// Sign-in with the school's identity provider by OpenID Connect (see `config/default.toml`).
/// One provider per installation, which serves one trust.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer, exactly as its ID tokens name it, and the base of its discovery
    /// document (`{issuer}/.well-known/openid-configuration`). Empty: OIDC sign-in is off.
    pub issuer: String,
    /// The OAuth client registered with the provider for chaperone.
    pub client_id: String,
    /// The client's secret, sent in the token request's body; empty for a public client.
    pub client_secret: Secret,
    /// The full callback address as registered with the provider; an `https://` address makes
    /// the cookies `Secure`.
    pub redirect_url: String,
    /// The scopes asked for, separated by spaces; `openid` among them.
    pub scopes: String,
    /// Email domains (lower case) whose people may sign in. In a file a list; in
    /// `CHAPERONE__OIDC__ALLOWED_DOMAINS` comma-separated.
    #[serde(deserialize_with = "OidcSettings::domains")]
    pub allowed_domains: Vec<String>,
    /// Clock difference allowed for an ID token's `iat` and `exp`.
    #[serde(rename = "clock_leeway_secs", deserialize_with = "secs")]
    pub clock_leeway: Duration,
}

impl OidcSettings {
    /// Whether sign-in with the identity provider is on.
    pub fn enabled(&self) -> bool {
        !self.issuer.is_empty()
    }

    /// Reads the section and checks the rules across its fields, so that a half-configured
    /// provider stops the start with the setting to fix rather than failing at sign-in.
    fn checked<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OidcSettings, D::Error> {
        let settings = OidcSettings::deserialize(deserializer)?;
        match settings.problem() {
            Some(problem) => Err(serde::de::Error::custom(problem)),
            None => Ok(settings),
        }
    }

    fn problem(&self) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
        if !(self.issuer.starts_with("https://")
            || loopback.iter().any(|local| self.issuer.starts_with(local)))
        {
            return Some(
                "CHAPERONE__OIDC__ISSUER must be an https:// address (http:// only on this machine)"
                    .into(),
            );
        }
        if self.client_id.trim().is_empty() {
            return Some("CHAPERONE__OIDC__CLIENT_ID must be set when CHAPERONE__OIDC__ISSUER is: copy the client id of the app registered with the identity provider".into());
        }
        if !(self.redirect_url.starts_with("https://") || self.redirect_url.starts_with("http://"))
        {
            return Some("CHAPERONE__OIDC__REDIRECT_URL must be the callback address registered with the identity provider, such as https://chaperone.example.org/sign-in/oidc/callback".into());
        }
        if !self
            .scopes
            .split_whitespace()
            .any(|scope| scope == "openid")
        {
            return Some("CHAPERONE__OIDC__SCOPES must include openid".into());
        }
        if self.allowed_domains.is_empty() {
            return Some("CHAPERONE__OIDC__ALLOWED_DOMAINS must name the email domains of the trust's schools (comma-separated), or anyone with an account at the provider could try".into());
        }
        None
    }

    /// A list in a file; a comma-separated string from the environment. Lower-cased, a
    /// leading `@` dropped.
    fn domains<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Domains {
            List(Vec<String>),
            Text(String),
        }
        let domains = match Domains::deserialize(deserializer)? {
            Domains::List(list) => list,
            Domains::Text(text) => text.split(',').map(str::to_string).collect(),
        };
        Ok(domains
            .iter()
            .map(|domain| domain.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|domain| !domain.is_empty())
            .collect())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Bootstrap bearer token for the admin API.
    pub admin_token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

fn secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

fn minutes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(|minutes| Duration::from_secs(minutes * 60))
}

fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

impl Settings {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut table: toml::Table = DEFAULT_TOML.parse().expect("config/default.toml is valid");
        if let Some(path) = file {
            let display = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                path: display.clone(),
                source,
            })?;
            let overlay: toml::Table = text.parse().map_err(|source| ConfigError::ParseFile {
                path: display,
                source: Box::new(source),
            })?;
            merge(&mut table, overlay);
        }
        let env = env
            .into_iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX));
        for (name, value) in env {
            apply_env(&mut table, &name, value)?;
        }
        toml::Value::Table(table)
            .try_into::<Settings>()
            .map_err(|error| ConfigError::Invalid(error.to_string()))
    }

    /// Rules every command needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.inbox.retention_days < MIN_RETENTION_DAYS {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__INBOX__RETENTION_DAYS",
                problem: format!(
                    "must be at least {MIN_RETENTION_DAYS} days so that redelivered events are recognised"
                ),
            });
        }
        if self.inbox.max_batch == 0 {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__INBOX__MAX_BATCH",
                problem: "must be at least 1".into(),
            });
        }
        if !["starttls", "tls", "none"].contains(&self.smtp.security.as_str()) {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__SMTP__SECURITY",
                problem: format!(
                    "must be starttls, tls or none (got {:?})",
                    self.smtp.security
                ),
            });
        }
        if self.smtp.security == "none" && !self.smtp.ca_file.trim().is_empty() {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__SMTP__CA_FILE",
                problem: "trusts a CA for TLS, but CHAPERONE__SMTP__SECURITY is none: set it to \
                          starttls or tls, or leave the CA file empty"
                    .into(),
            });
        }
        if !(self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__SERVER__PUBLIC_URL",
                problem: "must be an http:// or https:// address people can open".into(),
            });
        }
        if self.server.request_timeout <= ACK_DEADLINE {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__SERVER__REQUEST_TIMEOUT_MS",
                problem: format!(
                    "must be more than the webhook acknowledgement deadline ({} ms), so that a \
                     webhook answers with its own deadline first",
                    ACK_DEADLINE.as_millis()
                ),
            });
        }
        if self.database.max_connections < 2 {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__DATABASE__MAX_CONNECTIONS",
                problem: "must be at least 2 (the inbox writer holds one)".into(),
            });
        }
        self.validate_supervision()
    }

    fn validate_supervision(&self) -> Result<(), ConfigError> {
        let supervision = &self.supervision;
        if supervision.restart_backoff_first.is_zero() {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__SUPERVISION__RESTART_BACKOFF_FIRST_MS",
                problem: "must be at least 1 ms, so that a role that panics at once cannot spin"
                    .into(),
            });
        }
        if supervision.restart_backoff_max < supervision.restart_backoff_first {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__SUPERVISION__RESTART_BACKOFF_MAX_MS",
                problem: "must be at least CHAPERONE__SUPERVISION__RESTART_BACKOFF_FIRST_MS".into(),
            });
        }
        // An idle role comes round once per poll interval (the inbox writer once a second).
        let longest_idle_wait = [
            self.processor.poll_interval,
            self.evaluation.poll_interval,
            self.enrichment.poll_interval,
            self.alerts.poll_interval,
            crate::inbox::writer::IDLE_BEAT_INTERVAL,
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        if supervision.heartbeat_stale_after < longest_idle_wait * 2 {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__SUPERVISION__HEARTBEAT_STALE_AFTER_SECS",
                problem: format!(
                    "must be at least twice the longest poll interval ({} ms), or idle workers would look stuck",
                    longest_idle_wait.as_millis()
                ),
            });
        }
        Ok(())
    }

    /// Rules for `serve`: the secrets that let it verify and answer anyone.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        self.validate()?;
        if self.server.api_enabled
            && self.zoom.shared_endpoint
            && self.zoom.webhook_secret_token.is_empty()
        {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN",
                problem: "is not set: copy the Secret Token from your Zoom app's Event Subscriptions page into this variable, \
                          or set CHAPERONE__ZOOM__SHARED_ENDPOINT=false when every connection has a secret of its own".into(),
            });
        }
        if self.server.api_enabled
            && self.api.admin_token.expose().chars().count() < MIN_ADMIN_TOKEN_CHARS
        {
            return Err(ConfigError::Rule {
                setting: "CHAPERONE__API__ADMIN_TOKEN",
                problem: format!(
                    "must be set to a random string of at least {MIN_ADMIN_TOKEN_CHARS} characters (for example: openssl rand -hex 32)"
                ),
            });
        }
        Ok(())
    }
}

/// Deep-merges `overlay` into `base`: tables merge key by key, other values replace.
pub(crate) fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => {
                merge(existing, incoming)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `CHAPERONE__SECTION__KEY=value`, typed after the default it overrides.
fn apply_env(table: &mut toml::Table, variable: &str, value: String) -> Result<(), ConfigError> {
    let unknown = || ConfigError::UnknownVariable {
        variable: variable.to_string(),
    };
    let path: Vec<String> = variable[ENV_PREFIX.len()..]
        .split("__")
        .map(|part| part.to_ascii_lowercase())
        .collect();
    let [section, key] = path.as_slice() else {
        return Err(unknown());
    };
    let slot = table
        .get_mut(section)
        .and_then(toml::Value::as_table_mut)
        .and_then(|section| section.get_mut(key))
        .ok_or_else(unknown)?;
    let bad = |expected| ConfigError::BadVariable {
        variable: variable.to_string(),
        expected,
        value: if key.contains("token") || key == "url" || key == "password" {
            "<redacted>".into()
        } else {
            value.clone()
        },
    };
    *slot = match slot {
        toml::Value::Integer(_) => {
            toml::Value::Integer(value.trim().parse().map_err(|_| bad("a whole number"))?)
        }
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(value.trim().parse().map_err(|_| bad("true or false"))?)
        }
        _ => toml::Value::String(value),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn google_endpoints_default_to_googles_and_can_be_pointed_elsewhere() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(
            settings.google.keys_url,
            "https://www.googleapis.com/oauth2/v3/certs"
        );
        assert_eq!(
            settings.google.events_api_base_url,
            "https://workspaceevents.googleapis.com/v1"
        );
        assert_eq!(settings.google.token_url, "");
        assert_eq!(settings.google.push_token_leeway, Duration::from_secs(60));
        let local = Settings::load_from(
            None,
            env(&[
                ("CHAPERONE__GOOGLE__KEYS_URL", "http://127.0.0.1:9100/certs"),
                (
                    "CHAPERONE__GOOGLE__MEET_API_BASE_URL",
                    "http://127.0.0.1:9100/v2",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(local.google.keys_url, "http://127.0.0.1:9100/certs");
        assert_eq!(local.google.meet_api_base_url, "http://127.0.0.1:9100/v2");
    }

    #[test]
    fn oidc_is_off_by_default_and_takes_its_domains_from_the_environment() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert!(!settings.oidc.enabled());
        assert_eq!(settings.oidc.scopes, "openid email profile");
        assert_eq!(settings.oidc.clock_leeway, Duration::from_secs(60));
        assert!(settings.oidc.allowed_domains.is_empty());
        let google = Settings::load_from(
            None,
            env(&[
                ("CHAPERONE__OIDC__ISSUER", "https://accounts.google.com"),
                (
                    "CHAPERONE__OIDC__CLIENT_ID",
                    "1234.apps.googleusercontent.com",
                ),
                ("CHAPERONE__OIDC__CLIENT_SECRET", "do-not-print"),
                (
                    "CHAPERONE__OIDC__REDIRECT_URL",
                    "https://chaperone.example.org/sign-in/oidc/callback",
                ),
                (
                    "CHAPERONE__OIDC__ALLOWED_DOMAINS",
                    "Greenfield.sch.uk, @hillside.sch.uk",
                ),
            ]),
        )
        .unwrap();
        assert!(google.oidc.enabled());
        assert_eq!(
            google.oidc.allowed_domains,
            ["greenfield.sch.uk", "hillside.sch.uk"]
        );
        assert_eq!(google.oidc.client_secret.expose(), "do-not-print");
        assert!(!format!("{google:?}").contains("do-not-print"));
    }

    #[test]
    fn an_oidc_issuer_without_a_client_or_domains_says_which_setting_to_set() {
        let issuer = ("CHAPERONE__OIDC__ISSUER", "https://accounts.google.com");
        let error = Settings::load_from(None, env(&[issuer]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("CHAPERONE__OIDC__CLIENT_ID"), "{error}");
        let error = Settings::load_from(
            None,
            env(&[
                issuer,
                ("CHAPERONE__OIDC__CLIENT_ID", "client"),
                (
                    "CHAPERONE__OIDC__REDIRECT_URL",
                    "https://chaperone.example.org/sign-in/oidc/callback",
                ),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("CHAPERONE__OIDC__ALLOWED_DOMAINS"),
            "{error}"
        );
        let error = Settings::load_from(
            None,
            env(&[("CHAPERONE__OIDC__ISSUER", "http://idp.example.org")]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("CHAPERONE__OIDC__ISSUER"), "{error}");
    }

    #[test]
    fn defaults_load_and_bind_to_localhost() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(settings.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.zoom.max_clock_skew, Duration::from_secs(300));
        assert!(settings.database.url.expose().starts_with("sqlite://"));
    }

    #[test]
    fn a_request_timeout_not_longer_than_the_webhook_deadline_is_refused() {
        let settings = Settings::load_from(
            None,
            env(&[("CHAPERONE__SERVER__REQUEST_TIMEOUT_MS", "2500")]),
        )
        .unwrap();
        let error = settings.validate().unwrap_err().to_string();
        assert!(
            error.contains("CHAPERONE__SERVER__REQUEST_TIMEOUT_MS"),
            "{error}"
        );
        let default = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(default.server.request_timeout, Duration::from_secs(10));
        assert!(default.validate().is_ok());
    }

    #[test]
    fn environment_overrides_are_typed_after_the_default() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("CHAPERONE__SERVER__BIND", "0.0.0.0:9000"),
                ("CHAPERONE__SERVER__WORKER_ENABLED", "false"),
                ("CHAPERONE__INBOX__MAX_BATCH", "17"),
                ("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", "12345"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.server.bind.port(), 9000);
        assert!(!settings.server.worker_enabled);
        assert_eq!(settings.inbox.max_batch, 17);
        assert_eq!(settings.zoom.webhook_secret_token.expose(), "12345");
    }

    #[test]
    fn an_unknown_variable_is_named_in_the_error() {
        let error = Settings::load_from(None, env(&[("CHAPERONE__SERVER__BINDD", "x")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("CHAPERONE__SERVER__BINDD"), "{error}");
    }

    #[test]
    fn a_non_numeric_number_is_refused_with_the_variable_name() {
        let error = Settings::load_from(None, env(&[("CHAPERONE__INBOX__MAX_BATCH", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("CHAPERONE__INBOX__MAX_BATCH"), "{error}");
        assert!(error.contains("whole number"), "{error}");
    }

    #[test]
    fn serve_without_a_zoom_secret_says_which_setting_to_set() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        let error = settings.validate_for_serve().unwrap_err().to_string();
        assert!(
            error.contains("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN"),
            "{error}"
        );
    }

    #[test]
    fn a_short_admin_token_is_refused() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", "secret"),
                ("CHAPERONE__API__ADMIN_TOKEN", "short"),
            ]),
        )
        .unwrap();
        let error = settings.validate_for_serve().unwrap_err().to_string();
        assert!(error.contains("CHAPERONE__API__ADMIN_TOKEN"), "{error}");
    }

    #[test]
    fn a_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.toml");
        std::fs::write(
            &path,
            "[server]\nbind = \"127.0.0.1:7000\"\nmax_body_bytes = 10\n",
        )
        .unwrap();
        let settings = Settings::load_from(
            Some(&path),
            env(&[("CHAPERONE__SERVER__BIND", "127.0.0.1:7001")]),
        )
        .unwrap();
        assert_eq!(settings.server.bind.port(), 7001);
        assert_eq!(settings.server.max_body_bytes, 10);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let settings = Settings::load_from(
            None,
            env(&[("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", "do-not-print")]),
        )
        .unwrap();
        assert!(!format!("{settings:?}").contains("do-not-print"));
    }

    #[test]
    fn a_heartbeat_shorter_than_twice_a_poll_interval_is_refused_by_name() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("CHAPERONE__ALERTS__POLL_INTERVAL_MS", "5000"),
                ("CHAPERONE__SUPERVISION__HEARTBEAT_STALE_AFTER_SECS", "9"),
            ]),
        )
        .unwrap();
        let error = settings.validate().unwrap_err().to_string();
        assert!(
            error.contains("CHAPERONE__SUPERVISION__HEARTBEAT_STALE_AFTER_SECS"),
            "{error}"
        );
        assert!(error.contains("5000 ms"), "{error}");
    }

    #[test]
    fn a_restart_backoff_that_cannot_double_up_to_its_maximum_is_refused() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("CHAPERONE__SUPERVISION__RESTART_BACKOFF_FIRST_MS", "2000"),
                ("CHAPERONE__SUPERVISION__RESTART_BACKOFF_MAX_MS", "1000"),
            ]),
        )
        .unwrap();
        let error = settings.validate().unwrap_err().to_string();
        assert!(
            error.contains("CHAPERONE__SUPERVISION__RESTART_BACKOFF_MAX_MS"),
            "{error}"
        );
    }
}
