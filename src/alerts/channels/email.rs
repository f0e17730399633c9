//! Email through the school's (or trust's) SMTP relay: a plain-text alert with an HTML
//! alternative. lettre encodes non-ASCII names and subjects (RFC 2047) and bodies
//! (quoted-printable or base64), so the message is 7-bit clean for any relay.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{headline, notice, occurred_at_text, offers_acknowledge, ChannelsError, DeliveryError};
use crate::alerts::message::AlertMessage;
use crate::config::Secret;

const SUBJECT_PREFIX: &str = "[chaperone]";

/// How to reach the SMTP relay.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The sender, e.g. `chaperone <safeguarding-alerts@school.example>`.
    pub from: String,
    /// Longest wait for any one SMTP command.
    pub timeout: Duration,
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text: only for a relay on the same host or a test server.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// The pooled SMTP transport and the sender address, parsed once.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub(crate) fn new(settings: SmtpSettings) -> Result<Self, ChannelsError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| ChannelsError::InvalidFrom)?;
        let builder = match settings.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(ChannelsError::SmtpTls)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(ChannelsError::SmtpTls)?,
        }
        .port(settings.port)
        .timeout(Some(settings.timeout));
        let builder = match (settings.username, settings.password) {
            (Some(username), Some(password)) => {
                builder.credentials(Credentials::new(username, password.expose().to_owned()))
            }
            (Some(_), None) => return Err(ChannelsError::UsernameWithoutPassword),
            (None, _) => builder,
        };
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    pub(crate) async fn check(&self) -> Result<(), DeliveryError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DeliveryError::retryable(
                "the SMTP server did not answer NOOP",
            )),
            Err(error) => Err(smtp_error(error)),
        }
    }

    pub(crate) async fn send(&self, to: &str, message: &AlertMessage) -> Result<(), DeliveryError> {
        let email = compose(self.from.clone(), mailbox(to)?, message)?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(smtp_error)
    }

    /// A plain-text message that is not about one finding (the daily digest).
    pub(crate) async fn send_text(
        &self,
        to: &str,
        subject: &str,
        text: &str,
    ) -> Result<(), DeliveryError> {
        let email = Message::builder()
            .from(self.from.clone())
            .to(mailbox(to)?)
            .subject(subject)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ))
            .body(text.to_string())
            .map_err(|error| {
                DeliveryError::permanent(format!("cannot build the email: {error}"))
            })?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(smtp_error)
    }
}

fn mailbox(address: &str) -> Result<Mailbox, DeliveryError> {
    address
        .parse()
        .map_err(|_| DeliveryError::permanent("the email address is not valid"))
}

fn compose(from: Mailbox, to: Mailbox, message: &AlertMessage) -> Result<Message, DeliveryError> {
    // The delivery's own id at the sender's domain (not the machine's name): the same on
    // every retry, so a mail system that sees it twice keeps one.
    let message_id = format!("<{}@{}>", message.message_id, from.email.domain());
    Message::builder()
        .from(from)
        .to(to)
        .subject(format!("{SUBJECT_PREFIX} {}", headline(message)))
        .message_id(Some(message_id))
        // RFC 3834: out-of-office replies must not answer an automatic alert.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        .multipart(MultiPart::alternative_plain_html(
            plain_text(message),
            html(message),
        ))
        .map_err(|error| DeliveryError::permanent(format!("cannot build the email: {error}")))
}

fn plain_text(message: &AlertMessage) -> String {
    let mut text = headline(message);
    if let Some(notice) = notice(message) {
        text.push_str(&format!("\n{notice}"));
    }
    text.push_str(&format!(
        "\n\n{}\n\nWhen: {}\n{}Severity: {}\nRule: {}\n\n",
        message.summary,
        occurred_at_text(message),
        message
            .platform
            .as_ref()
            .map(|platform| format!("Platform: {platform}\n"))
            .unwrap_or_default(),
        message.severity,
        message.rule,
    ));
    if offers_acknowledge(message) {
        text.push_str(&format!("Acknowledge: {}\n", message.acknowledge_url));
    }
    text.push_str(&format!("Open the finding: {}\n", message.finding_url));
    if let Some(join_url) = &message.join_url {
        text.push_str(&format!("Join the call: {join_url}\n"));
    }
    text.push_str(
        "\n-- \nSent by chaperone. Acknowledging stops the alert going to the next contact.\n",
    );
    text
}

fn html(message: &AlertMessage) -> String {
    let link = |url: &str, label: &str| format!("<a href=\"{}\">{label}</a>", escape_html(url));
    let mut links = Vec::new();
    if offers_acknowledge(message) {
        links.push(link(&message.acknowledge_url, "Acknowledge"));
    }
    links.push(link(&message.finding_url, "Open the finding"));
    if let Some(join_url) = &message.join_url {
        links.push(link(join_url, "Join the call"));
    }
    let escalation = notice(message)
        .map(|notice| format!("<p><strong>{}</strong></p>", escape_html(&notice)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html><body>\n<p><strong>{}</strong></p>\n{escalation}\n<p>{}</p>\n\
         <p>When: {}<br>{}Severity: {}<br>Rule: {}</p>\n<p>{}</p>\n\
         <p style=\"color:#666\">Sent by chaperone. Acknowledging stops the alert going to the next contact.</p>\n\
         </body></html>\n",
        escape_html(&headline(message)),
        escape_html(&message.summary),
        escape_html(&occurred_at_text(message)),
        message
            .platform
            .as_ref()
            .map(|platform| format!("Platform: {}<br>", escape_html(platform)))
            .unwrap_or_default(),
        message.severity,
        escape_html(&message.rule),
        links.join(" · "),
    )
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(ch),
        }
    }
    escaped
}

/// A refusal's text can echo the recipient's address, so reasons keep only the reply code.
fn smtp_error(error: lettre::transport::smtp::Error) -> DeliveryError {
    if let Some(code) = error.status() {
        if error.is_permanent() {
            return DeliveryError::permanent(format!(
                "the SMTP server refused the message ({code})"
            ));
        }
        return DeliveryError::retryable(format!("the SMTP server deferred the message ({code})"));
    }
    if error.is_timeout() {
        DeliveryError::retryable("the SMTP server did not answer in time")
    } else if error.is_client() {
        // lettre's own fixed messages, e.g. no authentication mechanism in common.
        DeliveryError::permanent(format!("check the SMTP settings: {error}"))
    } else {
        // Network, connection, TLS or a garbled reply: the relay may be back soon.
        DeliveryError::retryable(format!("could not talk to the SMTP server: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_smtp::SmtpSink;
    use super::*;
    use crate::alerts::channels::test_support::{alert, ACKNOWLEDGE_URL, SUMMARY};
    use crate::alerts::channels::{ChannelTarget, Channels};

    const DSL: &str = "Mrs Zoë Ó Briain <dsl@school.example>";
    const WAIT: Duration = Duration::from_secs(5);

    fn settings(port: u16) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "chaperone <alerts@chaperone.example>".into(),
            timeout: WAIT,
        }
    }

    fn channels(port: u16) -> Channels {
        Channels::new(reqwest::Client::new(), Some(settings(port))).unwrap()
    }

    fn email_to(to: &str) -> ChannelTarget {
        ChannelTarget::Email { to: to.into() }
    }

    #[tokio::test]
    async fn an_email_reaches_the_relay_with_the_subject_summary_and_acknowledge_link() {
        let sink = SmtpSink::start().await;
        let settings = SmtpSettings {
            host: sink.host(),
            ..settings(sink.port())
        };
        let channels = Channels::new(reqwest::Client::new(), Some(settings)).unwrap();

        channels.deliver(&email_to(DSL), &alert()).await.unwrap();

        let mail = sink.wait_for_mail(1, WAIT).await.remove(0);
        assert_eq!(mail.mail_from, "alerts@chaperone.example");
        assert_eq!(mail.recipients, ["dsl@school.example"]);
        assert_eq!(
            mail.subject().as_deref(),
            Some("[chaperone] HIGH: Pupil alone with one adult — Greenfield Academy")
        );
        assert_eq!(mail.header("To").as_deref(), Some(DSL));
        assert_eq!(
            mail.header("Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        let text = mail.text();
        assert!(text.contains(SUMMARY), "{text}");
        assert!(
            text.contains(&format!("Acknowledge: {ACKNOWLEDGE_URL}")),
            "{text}"
        );
        assert!(
            text.contains(
                "href=\"https://chaperone.example/ack/7f3a9c?token=ab12cd&amp;finding=42\""
            ),
            "the HTML part links to acknowledge: {text}"
        );
        assert!(mail.data.is_ascii(), "7-bit clean for any relay");
    }

    #[tokio::test]
    async fn the_relay_check_passes_against_a_listening_relay_and_fails_without_one() {
        let sink = SmtpSink::start().await;
        channels(sink.port()).check_smtp().await.unwrap();
        drop(sink);
        let unconfigured = Channels::new(reqwest::Client::new(), None).unwrap();
        assert!(unconfigured.check_smtp().await.is_err());
    }

    #[tokio::test]
    async fn a_transient_refusal_of_the_recipient_is_retryable_and_names_only_the_code() {
        let sink = SmtpSink::refusing_recipients("451 4.3.0 <dsl@school.example> try later").await;

        let error = channels(sink.port())
            .deliver(&email_to(DSL), &alert())
            .await
            .unwrap_err();

        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("451"), "{error}");
        assert!(!error.to_string().contains("dsl@"), "{error}");
        assert!(sink.received().is_empty());
    }

    #[tokio::test]
    async fn a_permanent_refusal_of_the_recipient_is_permanent() {
        let sink = SmtpSink::refusing_recipients("550 5.1.1 no such user").await;

        let error = channels(sink.port())
            .deliver(&email_to(DSL), &alert())
            .await
            .unwrap_err();

        assert!(!error.is_retryable(), "{error}");
        assert!(error.to_string().contains("550"), "{error}");
    }

    #[tokio::test]
    async fn a_relay_that_is_not_listening_is_retryable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();

        let error = channels(port)
            .deliver(&email_to(DSL), &alert())
            .await
            .unwrap_err();

        assert!(error.is_retryable(), "{error}");
    }

    #[tokio::test]
    async fn an_invalid_address_is_permanent_and_not_repeated_in_the_reason() {
        let error = channels(25)
            .deliver(&email_to("not-an-address"), &alert())
            .await
            .unwrap_err();

        assert!(!error.is_retryable(), "{error}");
        assert!(!error.to_string().contains("not-an-address"), "{error}");
    }

    #[tokio::test]
    async fn an_invalid_sender_or_a_username_without_password_is_refused_at_start() {
        let bad_from = SmtpSettings {
            from: "chaperone".into(),
            ..settings(25)
        };
        let no_password = SmtpSettings {
            username: Some("alerts".into()),
            ..settings(25)
        };
        for settings in [bad_from, no_password] {
            assert!(Channels::new(reqwest::Client::new(), Some(settings)).is_err());
        }
    }

    #[test]
    fn the_html_alternative_escapes_the_summary() {
        let html = html(&alert());
        assert!(
            html.contains("&amp; no second adult joined &lt;in time&gt;."),
            "{html}"
        );
        assert!(html.contains("O&#39;Brien"), "{html}");
    }
}
