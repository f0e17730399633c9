//! The ways an alert reaches a person or a system: email, Microsoft Teams, Slack and a signed
//! JSON webhook. One call delivers one message to one target and says whether a failure is worth
//! retrying; the retry schedule belongs to the alert outbox.

mod email;
mod http;
mod slack;
mod teams;
mod webhook;

#[cfg(test)]
mod test_smtp;

use std::fmt;
use std::time::Duration;

use crate::alerts::message::AlertMessage;
use crate::config::Secret;

pub use email::{SmtpSecurity, SmtpSettings};
pub use webhook::{
    check_secret as check_webhook_secret, standard_webhook_signature, verify_standard_webhook,
    InvalidWebhookSecret, WebhookVerifyError, SIGNATURE_TOLERANCE_SECS, WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};

/// Where one alert goes. The URLs of Teams and Slack webhooks are bearer secrets and an email
/// address is personal data, so `Debug` shows only the kind of channel.
#[derive(Clone, PartialEq, Eq)]
pub enum ChannelTarget {
    Email {
        to: String,
    },
    /// Microsoft Teams through a Workflows webhook URL (the old Office 365 connectors are
    /// retired): an Adaptive Card is posted.
    Teams {
        url: String,
    },
    /// A Slack incoming webhook.
    Slack {
        url: String,
    },
    /// A generic JSON webhook signed the Standard Webhooks way, for case-management systems.
    /// The secret is `whsec_<base64 key>`; without the prefix its raw bytes are the key.
    Webhook {
        url: String,
        secret: Secret,
    },
}

impl ChannelTarget {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelTarget::Email { .. } => "email",
            ChannelTarget::Teams { .. } => "teams",
            ChannelTarget::Slack { .. } => "slack",
            ChannelTarget::Webhook { .. } => "webhook",
        }
    }
}

impl fmt::Debug for ChannelTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelTarget::{}(<redacted>)", self.kind())
    }
}

/// Why a delivery failed. Reasons never carry addresses, URLs or message text, so they can be
/// logged and stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying: timeouts, connection errors, 408, 429, 5xx, SMTP transient 4xx.
    /// `retry_after` comes from a `Retry-After` header (429 and 503) when the receiver sent one.
    #[error("delivery failed, worth retrying: {reason}")]
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will not succeed by retrying: other 4xx, SMTP permanent 5xx, a bad address or bad
    /// configuration.
    #[error("delivery failed permanently: {reason}")]
    Permanent { reason: String },
}

impl DeliveryError {
    pub(crate) fn retryable(reason: impl Into<String>) -> Self {
        DeliveryError::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub(crate) fn permanent(reason: impl Into<String>) -> Self {
        DeliveryError::Permanent {
            reason: reason.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Retryable { .. })
    }

    /// The wait the receiver asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Retryable { retry_after, .. } => *retry_after,
            DeliveryError::Permanent { .. } => None,
        }
    }
}

/// Why the channels could not be set up; each says which setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    #[error("the SMTP sender address is not a valid mailbox (expected e.g. \"chaperone <alerts@school.example>\")")]
    InvalidFrom,
    #[error("an SMTP username needs a password")]
    UsernameWithoutPassword,
    #[error("cannot set up TLS for the SMTP relay: {0}")]
    SmtpTls(#[source] lettre::transport::smtp::Error),
    #[error("cannot read the SMTP CA file {path} (CHAPERONE__SMTP__CA_FILE)")]
    UnreadableCaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the SMTP CA file {path} is not a PEM file of CA certificates (CHAPERONE__SMTP__CA_FILE): {problem}")]
    InvalidCaFile { path: String, problem: String },
}

/// The outgoing channels: one shared HTTP client and, when email is configured, one pooled SMTP
/// transport. Cheap to share behind an `Arc`.
pub struct Channels {
    http: reqwest::Client,
    smtp: Option<email::Mailer>,
}

impl Channels {
    /// Sets up the channels. With SMTP settings it must run inside a Tokio runtime (the SMTP
    /// connection pool starts a background task).
    pub fn new(http: reqwest::Client, smtp: Option<SmtpSettings>) -> Result<Self, ChannelsError> {
        let smtp = smtp.map(email::Mailer::new).transpose()?;
        Ok(Channels { http, smtp })
    }

    /// Opens a connection to the SMTP relay and says whether it answers, for a start-up or
    /// readiness check.
    pub async fn check_smtp(&self) -> Result<(), DeliveryError> {
        self.mailer()?.check().await
    }

    /// Sends one message to one target. Logs ids only, never addresses, names or text. A
    /// failure is returned, not logged: the caller logs it once, with its retry decision.
    #[tracing::instrument(
        skip_all,
        fields(
            channel = target.kind(),
            message_id = %message.message_id,
            finding_id = message.finding_id,
        )
    )]
    pub async fn deliver(
        &self,
        target: &ChannelTarget,
        message: &AlertMessage,
    ) -> Result<(), DeliveryError> {
        let started = std::time::Instant::now();
        match target {
            ChannelTarget::Email { to } => self.mailer()?.send(to, message).await,
            ChannelTarget::Teams { url } => {
                let body = teams::payload(message);
                http::post_json(&self.http, url, &body, &[]).await
            }
            ChannelTarget::Slack { url } => {
                let body = slack::payload(message);
                http::post_json(&self.http, url, &body, &[]).await
            }
            ChannelTarget::Webhook { url, secret } => {
                webhook::post(&self.http, url, secret, message).await
            }
        }?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "alert delivered"
        );
        Ok(())
    }

    /// Sends a plain-text email that is not about one finding (the daily digest).
    pub async fn send_text_email(
        &self,
        to: &str,
        subject: &str,
        text: &str,
    ) -> Result<(), DeliveryError> {
        self.mailer()?.send_text(to, subject, text).await
    }

    fn mailer(&self) -> Result<&email::Mailer, DeliveryError> {
        self.smtp.as_ref().ok_or_else(|| {
            DeliveryError::permanent("email is not configured: set the SMTP settings")
        })
    }
}

/// The one-line headline every channel leads with, e.g.
/// "HIGH: Pupil alone with one adult — Greenfield Academy"; escalations and closure notices
/// say so.
fn headline(message: &AlertMessage) -> String {
    let severity = message.severity.as_str().to_ascii_uppercase();
    let escalated = if message.is_closure() {
        "CLOSED "
    } else if is_escalation(message) {
        "ESCALATED "
    } else {
        ""
    };
    format!(
        "{escalated}{severity}: {} — {}",
        message.title, message.school_name
    )
}

fn is_escalation(message: &AlertMessage) -> bool {
    !message.is_closure() && (message.kind == "escalation" || message.escalation_level > 0)
}

/// The line under the headline that says what kind of message this is, if not a first alert.
fn notice(message: &AlertMessage) -> Option<String> {
    if message.is_closure() {
        let because = message.closed_because.as_deref().unwrap_or_default();
        return Some(format!("This finding has closed by itself. {because}"));
    }
    is_escalation(message).then(|| "Not yet acknowledged: you are the next contact.".to_string())
}

/// A closed finding has nothing left to acknowledge.
fn offers_acknowledge(message: &AlertMessage) -> bool {
    !message.is_closure()
}

/// When it happened, as the DSL reads it. The summary carries the school's local time.
fn occurred_at_text(message: &AlertMessage) -> String {
    message
        .occurred_at
        .format("%a %-d %b %Y, %H:%M UTC")
        .to_string()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! One alert, shaped like a real one, for the channel tests.

    use chrono::TimeZone;

    use crate::alerts::message::AlertMessage;
    use crate::policy::Severity;

    pub const SUMMARY: &str =
        "Zoë O'Brien-Łukasz (Year 9) was alone with Mr Ádám Smith from 10:02 to 10:09 & no second adult joined <in time>.";
    pub const ACKNOWLEDGE_URL: &str =
        "https://chaperone.example/ack/7f3a9c?token=ab12cd&finding=42";

    pub fn alert() -> AlertMessage {
        AlertMessage {
            message_id: "msg_42_0".into(),
            finding_id: 42,
            school_name: "Greenfield Academy".into(),
            platform: Some("Zoom".into()),
            severity: Severity::High,
            rule: "two_adults".into(),
            title: "Pupil alone with one adult".into(),
            summary: SUMMARY.into(),
            occurred_at: chrono::Utc.with_ymd_and_hms(2025, 3, 4, 10, 2, 0).unwrap(),
            finding_url: "https://chaperone.example/findings/42".into(),
            join_url: Some("https://zoom.us/j/123456789".into()),
            acknowledge_url: ACKNOWLEDGE_URL.into(),
            escalation_level: 0,
            kind: "alert".into(),
            closed_because: None,
        }
    }

    pub const CLOSED_BECAUSE: &str = "A DSL or senior leader is now invited to the meeting.";

    pub fn closure() -> AlertMessage {
        AlertMessage {
            kind: "closed".into(),
            closed_because: Some(CLOSED_BECAUSE.into()),
            ..alert()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::alert;
    use super::*;

    #[test]
    fn the_headline_names_severity_title_and_school() {
        assert_eq!(
            headline(&alert()),
            "HIGH: Pupil alone with one adult — Greenfield Academy"
        );
    }

    #[test]
    fn an_escalation_says_so_in_the_headline() {
        let message = AlertMessage {
            kind: "escalation".into(),
            escalation_level: 1,
            ..alert()
        };
        assert!(headline(&message).starts_with("ESCALATED HIGH: "));
    }

    #[test]
    fn a_closure_notice_says_closed_in_the_headline_and_why_beneath_it() {
        let message = test_support::closure();
        assert!(headline(&message).starts_with("CLOSED HIGH: "));
        let notice = notice(&message).unwrap();
        assert!(notice.contains(test_support::CLOSED_BECAUSE), "{notice}");
        assert!(!offers_acknowledge(&message));
    }

    #[test]
    fn debug_output_of_a_target_hides_urls_addresses_and_secrets() {
        let targets = [
            ChannelTarget::Email {
                to: "dsl@school.example".into(),
            },
            ChannelTarget::Slack {
                url: "https://hooks.slack.com/services/T0/B0/secretpath".into(),
            },
            ChannelTarget::Webhook {
                url: "https://cases.example/hook".into(),
                secret: Secret::new("whsec_c2VjcmV0"),
            },
        ];
        for target in targets {
            let debug = format!("{target:?}");
            for leak in ["dsl@", "secretpath", "cases.example", "whsec_"] {
                assert!(!debug.contains(leak), "{debug}");
            }
        }
    }

    #[tokio::test]
    async fn email_without_smtp_settings_is_a_permanent_failure() {
        let channels = Channels::new(reqwest::Client::new(), None).unwrap();
        let target = ChannelTarget::Email {
            to: "dsl@school.example".into(),
        };
        let error = channels.deliver(&target, &alert()).await.unwrap_err();
        assert!(!error.is_retryable(), "{error}");
    }
}
