//! Adding a connection and setting its secrets: the one path `chaperone import` and the
//! console both take, so that a connection is checked and stored the same way whichever
//! made it. Callers bring the secrets in hand (the import reads them from the environment,
//! the console from its forms); they are sealed by [`super::store`].

use sqlx::{AnyConnection, Row};

use super::google::{self, GoogleSettings, MonitoredStaff};
use super::store::{secrets_of, set_secrets};
use super::{new_endpoint_id, ConnectionError, WebhookSecrets};
use crate::config::Secret;
use crate::meeting::Platform;
use crate::secrets::SecretKeys;

/// The longest token, client id or client secret accepted: platforms issue a few dozen
/// characters, so anything longer was pasted by mistake.
const MAX_TOKEN_CHARS: usize = 256;
/// The longest account id accepted (Zoom's are 22 characters, Google customer ids 9).
const MAX_ACCOUNT_ID_CHARS: usize = 128;
const MAX_LABEL_CHARS: usize = 200;

/// A connection as an import file or a form describes it.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub platform: Platform,
    pub account_id: String,
    pub label: Option<String>,
    /// A Google Workspace connection's settings as given; checked and normalised on saving.
    pub google: Option<GoogleSettings>,
}

/// A Server-to-Server OAuth app's credentials, for the platform's API.
#[derive(Debug, Clone)]
pub struct ApiCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// What to set of a connection's secrets; each `None` leaves that secret as it is.
#[derive(Debug, Clone, Default)]
pub struct SecretChanges {
    pub webhook: Option<WebhookSecrets>,
    pub api: Option<ApiCredentials>,
    pub service_account_key: Option<Secret>,
}

/// What saving does when the school already has a connection for the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfConnected {
    /// Bring it to what is given (an import run again).
    Update,
    /// Refuse (a person adding a connection they may think is new).
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// What was given cannot be stored; the text says why, never quoting a secret.
    #[error("{0}")]
    Invalid(String),
    #[error("this {} account is already connected to the school", .0.display_name())]
    AlreadyConnected(Platform),
    #[error("this {} account is already monitored by another school", .0.display_name())]
    ConnectedElsewhere(Platform),
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

impl From<sqlx::Error> for SetupError {
    fn from(error: sqlx::Error) -> Self {
        SetupError::Connection(ConnectionError::Database(error))
    }
}

/// What [`save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub connection_id: i64,
    pub created: bool,
    /// Whether an existing connection's secrets or settings changed.
    pub changed: bool,
}

/// Checks `new` and `changes` and stores them at school `school_id`: the connection made if
/// the account is not connected yet, then its secrets and settings set. Nothing is written
/// when anything is refused.
pub async fn save(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    school_id: i64,
    new: &NewConnection,
    changes: &SecretChanges,
    if_connected: IfConnected,
) -> Result<Saved, SetupError> {
    let google = check_connection(new, changes)?;
    check_secrets(changes)?;
    let existing = sqlx::query(
        "SELECT id, school_id FROM platform_accounts WHERE platform = $1 AND account_id = $2",
    )
    .bind(new.platform.as_str())
    .bind(&new.account_id)
    .fetch_optional(&mut *connection)
    .await?;
    let (connection_id, created) = match existing {
        Some(row) if row.try_get::<i64, _>("school_id")? == school_id => {
            if if_connected == IfConnected::Refuse {
                return Err(SetupError::AlreadyConnected(new.platform));
            }
            (row.try_get::<i64, _>("id")?, false)
        }
        Some(_) => return Err(SetupError::ConnectedElsewhere(new.platform)),
        None => {
            let row = sqlx::query(
                "INSERT INTO platform_accounts (school_id, platform, account_id, label, endpoint_id) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(school_id)
            .bind(new.platform.as_str())
            .bind(&new.account_id)
            .bind(new.label.as_deref())
            .bind(new_endpoint_id())
            .fetch_one(&mut *connection)
            .await?;
            (row.try_get::<i64, _>("id")?, true)
        }
    };
    let mut changed = apply(connection, keys, connection_id, changes).await?;
    if let Some(google) = &google {
        changed |= google::set_settings(connection, connection_id, google).await?;
    }
    Ok(Saved {
        connection_id,
        created,
        changed,
    })
}

/// Sets the secrets `changes` gives of connection `connection_id`; returns whether anything
/// changed.
pub async fn set(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    connection_id: i64,
    changes: &SecretChanges,
) -> Result<bool, SetupError> {
    check_secrets(changes)?;
    Ok(apply(connection, keys, connection_id, changes).await?)
}

/// The connection's webhook secrets once `token` is its Secret Token: the token it had is
/// kept as the previous one, so that deliveries signed before the platform changed over still
/// verify until the rotation is ended. The same token again changes nothing.
pub fn rotated(secrets: &WebhookSecrets, token: Secret) -> WebhookSecrets {
    if token == secrets.current {
        return secrets.clone();
    }
    let previous = if secrets.current.is_empty() {
        secrets.previous.clone()
    } else {
        secrets.current.clone()
    };
    WebhookSecrets {
        current: token,
        previous,
    }
}

/// Which of a connection's webhook secrets are set (what may be said of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSecretsSet {
    pub current: bool,
    pub previous: bool,
}

impl From<&WebhookSecrets> for WebhookSecretsSet {
    fn from(secrets: &WebhookSecrets) -> Self {
        WebhookSecretsSet {
            current: !secrets.current.is_empty(),
            previous: !secrets.previous.is_empty(),
        }
    }
}

/// Makes `token` connection `connection_id`'s Secret Token, keeping the one before as the
/// previous ([`rotated`]). Returns which secrets were set before and after, or `None` when
/// `token` already was the Secret Token.
pub async fn rotate_secret_token(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    connection_id: i64,
    token: Secret,
) -> Result<Option<(WebhookSecretsSet, WebhookSecretsSet)>, SetupError> {
    check_token(token.expose(), "the Secret Token").map_err(SetupError::Invalid)?;
    let before = secrets_of(connection, keys, connection_id).await?.webhook;
    let after = rotated(&before, token);
    if after == before {
        return Ok(None);
    }
    let changes = SecretChanges {
        webhook: Some(after.clone()),
        ..SecretChanges::default()
    };
    set(connection, keys, connection_id, &changes).await?;
    Ok(Some(((&before).into(), (&after).into())))
}

/// Stops accepting the Secret Token before the last rotation; returns whether one was kept.
pub async fn end_rotation(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    connection_id: i64,
) -> Result<bool, SetupError> {
    let secrets = secrets_of(connection, keys, connection_id).await?.webhook;
    if secrets.previous.is_empty() {
        return Ok(false);
    }
    let changes = SecretChanges {
        webhook: Some(WebhookSecrets {
            current: secrets.current,
            previous: Secret::default(),
        }),
        ..SecretChanges::default()
    };
    set(connection, keys, connection_id, &changes).await
}

async fn apply(
    connection: &mut AnyConnection,
    keys: &SecretKeys,
    connection_id: i64,
    changes: &SecretChanges,
) -> Result<bool, ConnectionError> {
    let mut wanted = secrets_of(connection, keys, connection_id).await?;
    if let Some(webhook) = &changes.webhook {
        wanted.webhook = webhook.clone();
    }
    if let Some(api) = &changes.api {
        wanted.client_id = Some(api.client_id.clone());
        wanted.client_secret = api.client_secret.clone();
    }
    if let Some(key) = &changes.service_account_key {
        wanted.service_account_key = key.clone();
    }
    set_secrets(connection, keys, connection_id, &wanted).await
}

/// Checks what the connection is; returns its Google settings normalised, for a Google one.
fn check_connection(
    new: &NewConnection,
    changes: &SecretChanges,
) -> Result<Option<GoogleSettings>, SetupError> {
    let invalid = |problem: &str| Err(SetupError::Invalid(problem.to_string()));
    let account_id = new.account_id.as_str();
    if account_id.is_empty() {
        return invalid("the account id is empty");
    }
    if account_id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return invalid("the account id has a space in it");
    }
    if account_id.chars().count() > MAX_ACCOUNT_ID_CHARS {
        return invalid("the account id is too long to be one");
    }
    if new
        .label
        .as_ref()
        .is_some_and(|label| label.chars().count() > MAX_LABEL_CHARS)
    {
        return Err(SetupError::Invalid(format!(
            "the label is longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    match (new.platform, &new.google) {
        (Platform::GoogleMeet, Some(google)) => {
            if changes.service_account_key.is_none() {
                return invalid("a Google Meet connection needs its service account's JSON key");
            }
            Ok(Some(
                checked_google_settings(google).map_err(SetupError::Invalid)?,
            ))
        }
        (Platform::GoogleMeet, None) => {
            invalid("a Google Meet connection needs its Google Workspace settings")
        }
        (platform, Some(_)) => Err(SetupError::Invalid(format!(
            "Google Workspace settings are for Google Meet connections, not {}",
            platform.display_name()
        ))),
        (platform, None) => {
            if changes.service_account_key.is_some() {
                return Err(SetupError::Invalid(format!(
                    "a service account key is for Google Meet connections, not {}",
                    platform.display_name()
                )));
            }
            Ok(None)
        }
    }
}

fn check_secrets(changes: &SecretChanges) -> Result<(), SetupError> {
    if let Some(webhook) = &changes.webhook {
        for (secret, what) in [
            (&webhook.current, "the Secret Token"),
            (&webhook.previous, "the previous Secret Token"),
        ] {
            if !secret.is_empty() {
                check_token(secret.expose(), what).map_err(SetupError::Invalid)?;
            }
        }
    }
    if let Some(api) = &changes.api {
        check_token(&api.client_id, "the client id").map_err(SetupError::Invalid)?;
        check_token(api.client_secret.expose(), "the client secret")
            .map_err(SetupError::Invalid)?;
    }
    if let Some(key) = &changes.service_account_key {
        check_service_account_key(key)
            .map_err(|problem| SetupError::Invalid(format!("the service account key {problem}")))?;
    }
    Ok(())
}

/// A token as a platform issues it: one word of printable characters. The value is never
/// quoted back.
pub fn check_token(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{what} has a space or line break in it"));
    }
    if value.chars().count() > MAX_TOKEN_CHARS {
        return Err(format!("{what} is too long to be one"));
    }
    Ok(())
}

/// A service account's JSON key has what chaperone signs with; the key itself is never said.
pub fn check_service_account_key(key: &Secret) -> Result<(), &'static str> {
    let json: serde_json::Value =
        serde_json::from_str(key.expose()).map_err(|_| "is not a JSON key file")?;
    let has = |field: &str| json.get(field).and_then(|value| value.as_str()).is_some();
    if json.get("type").and_then(|value| value.as_str()) != Some("service_account") {
        return Err("is not a service account key (its type is not service_account)");
    }
    if !(has("client_email") && has("private_key")) {
        return Err("lacks client_email or private_key");
    }
    Ok(())
}

/// A Google Workspace connection's settings, trimmed and with addresses and domains in lower
/// case, or why they cannot be used.
pub fn checked_google_settings(given: &GoogleSettings) -> Result<GoogleSettings, String> {
    let lower = |values: &[String]| -> Vec<String> {
        values
            .iter()
            .map(|value| value.trim().to_lowercase())
            .filter(|value| !value.is_empty())
            .collect()
    };
    let settings = GoogleSettings {
        domains: lower(&given.domains),
        admin_user: given.admin_user.trim().to_lowercase(),
        pubsub_topic: given.pubsub_topic.trim().to_string(),
        push_audience: given.push_audience.trim().to_string(),
        push_service_account: given.push_service_account.trim().to_lowercase(),
        monitored: MonitoredStaff {
            org_units: given
                .monitored
                .org_units
                .iter()
                .map(|unit| unit.trim().to_string())
                .filter(|unit| !unit.is_empty())
                .collect(),
            groups: lower(&given.monitored.groups),
            users: lower(&given.monitored.users),
        },
    };
    if settings.domains.is_empty() {
        return Err("a Google Meet connection needs at least one domain".into());
    }
    if let Some(domain) = settings
        .domains
        .iter()
        .find(|domain| domain.contains('@') || domain.contains(char::is_whitespace))
    {
        return Err(format!(
            "{domain:?} is not a domain (write greenfield.sch.uk, without an address)"
        ));
    }
    if !is_address(&settings.admin_user) {
        return Err("the admin user must be an address, such as it-admin@greenfield.sch.uk".into());
    }
    let topic: Vec<&str> = settings.pubsub_topic.split('/').collect();
    if !matches!(topic.as_slice(), ["projects", project, "topics", name] if !project.is_empty() && !name.is_empty())
    {
        return Err("the Pub/Sub topic must be written projects/{project}/topics/{topic}".into());
    }
    if settings.push_audience.is_empty() {
        return Err("the push audience is empty (Google's default is the endpoint URL)".into());
    }
    if !is_address(&settings.push_service_account) {
        return Err("the push service account must be an address, such as push@project.iam.gserviceaccount.com".into());
    }
    if settings.monitored.is_empty() {
        return Err("say who is monitored: organisational units, groups or users ([google.monitored] in an import file)".into());
    }
    if let Some(unit) = settings
        .monitored
        .org_units
        .iter()
        .find(|unit| !unit.starts_with('/'))
    {
        return Err(format!(
            "the organisational unit {unit:?} must be a path starting with /"
        ));
    }
    let not_addresses = settings
        .monitored
        .groups
        .iter()
        .chain(&settings.monitored.users)
        .any(|address| !is_address(address));
    if not_addresses {
        return Err("monitored groups and users must be addresses".into());
    }
    Ok(settings)
}

fn is_address(text: &str) -> bool {
    matches!(text.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn google() -> GoogleSettings {
        GoogleSettings {
            domains: vec![" Greenfield.sch.uk ".into()],
            admin_user: "IT-Admin@greenfield.sch.uk".into(),
            pubsub_topic: "projects/greenfield-meet/topics/meet-events".into(),
            push_audience: "https://chaperone.example/webhooks/google_meet".into(),
            push_service_account: "push@greenfield-meet.iam.gserviceaccount.com".into(),
            monitored: MonitoredStaff {
                org_units: vec!["/Staff".into()],
                groups: vec!["Pastoral@greenfield.sch.uk".into()],
                users: Vec::new(),
            },
        }
    }

    #[test]
    fn google_settings_are_trimmed_and_lower_cased() {
        let checked = checked_google_settings(&google()).unwrap();
        assert_eq!(checked.domains, ["greenfield.sch.uk"]);
        assert_eq!(checked.admin_user, "it-admin@greenfield.sch.uk");
        assert_eq!(checked.monitored.groups, ["pastoral@greenfield.sch.uk"]);
    }

    #[test]
    fn incomplete_google_settings_are_refused_with_the_reason() {
        type Spoil = fn(&mut GoogleSettings);
        let cases: [(Spoil, &str); 6] = [
            (|g| g.domains = vec![" ".into()], "at least one domain"),
            (|g| g.admin_user = "it-admin".into(), "admin user"),
            (|g| g.pubsub_topic = "meet-events".into(), "Pub/Sub topic"),
            (|g| g.push_audience = String::new(), "push audience"),
            (
                |g| g.monitored = MonitoredStaff::default(),
                "who is monitored",
            ),
            (
                |g| g.monitored.org_units = vec!["Staff".into()],
                "starting with /",
            ),
        ];
        for (spoil, reason) in cases {
            let mut settings = google();
            spoil(&mut settings);
            let refused = checked_google_settings(&settings).unwrap_err();
            assert!(refused.contains(reason), "{reason}: {refused}");
        }
    }

    #[test]
    fn a_token_with_a_space_or_nothing_is_refused_without_quoting_it() {
        assert!(check_token("Kq3vB8nX1yTc0A-_zP", "the Secret Token").is_ok());
        let refused = check_token("Kq3vB8 nX1yTc0A", "the Secret Token").unwrap_err();
        assert!(!refused.contains("Kq3vB8"), "{refused}");
        assert!(check_token("", "the Secret Token")
            .unwrap_err()
            .contains("empty"));
        assert!(check_token(&"x".repeat(MAX_TOKEN_CHARS + 1), "the client secret").is_err());
    }

    #[test]
    fn a_new_token_keeps_the_one_before_until_the_rotation_ends() {
        let none = WebhookSecrets::default();
        let first = rotated(&none, Secret::new("first"));
        assert_eq!(first.current, Secret::new("first"));
        assert!(first.previous.is_empty());
        let second = rotated(&first, Secret::new("second"));
        assert_eq!(second.current, Secret::new("second"));
        assert_eq!(second.previous, Secret::new("first"));
        assert_eq!(rotated(&second, Secret::new("second")), second);
    }
}
