//! Email through the school's (or trust's) SMTP relay: a plain-text alert with an HTML
//! alternative. lettre encodes non-ASCII names and subjects (RFC 2047) and bodies
//! (quoted-printable or base64), so the message is 7-bit clean for any relay.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
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
    /// A PEM file of CA certificates trusted for the relay besides the public roots, for a
    /// relay signed by the school's own CA. `None`: the public roots only.
    pub ca_file: Option<PathBuf>,
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
            // Required, not opportunistic: a relay that does not offer STARTTLS (or a
            // connection stripped of it on the way) gets nothing, not the alert in clear.
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
                    .tls(Tls::Required(tls_parameters(&settings)?))
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
                    .tls(Tls::Wrapper(tls_parameters(&settings)?))
            }
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

/// Certificate checks for the relay's name (a DNS name or an IP address): the public roots,
/// plus the CAs of `ca_file`. Nothing here can turn the checks off.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, ChannelsError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(path) = &settings.ca_file {
        builder = builder.add_root_certificate(extra_roots(path)?);
    }
    builder.build().map_err(|error| match &settings.ca_file {
        // All the file adds is its certificates to the trust store, which fails on a PEM
        // block that is not a certificate.
        Some(path) => ChannelsError::InvalidCaFile {
            path: path.display().to_string(),
            problem: error.to_string(),
        },
        None => ChannelsError::SmtpTls(error),
    })
}

/// The CA certificates of a PEM file. lettre reads a file without any PEM block as no
/// certificate at all, which would leave the setting silently doing nothing: refused here.
fn extra_roots(path: &std::path::Path) -> Result<Certificate, ChannelsError> {
    let path_text = || path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| ChannelsError::UnreadableCaFile {
        path: path_text(),
        source,
    })?;
    let holds_a_certificate = String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----");
    if !holds_a_certificate {
        return Err(ChannelsError::InvalidCaFile {
            path: path_text(),
            problem: "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Certificate::from_pem(&pem).map_err(|error| ChannelsError::InvalidCaFile {
        path: path_text(),
        problem: error.to_string(),
    })
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
    } else if let Some(reason) = tls_refusal(&error.to_string()) {
        // Retried: a certificate being renewed, or STARTTLS stripped by something on the
        // way, may be put right before the alert is due again; until then nothing is sent.
        DeliveryError::retryable(reason)
    } else if error.is_client() {
        // lettre's own fixed messages, e.g. no authentication mechanism in common.
        DeliveryError::permanent(format!("check the SMTP settings: {error}"))
    } else {
        // Network, connection, TLS or a garbled reply: the relay may be back soon.
        DeliveryError::retryable(format!("could not talk to the SMTP server: {error}"))
    }
}

/// Why no secure connection was made, in words an administrator can act on. Read from the
/// fixed texts of lettre and rustls, which name the relay's certificate, never a recipient.
fn tls_refusal(error: &str) -> Option<String> {
    if error.contains("STARTTLS is not supported") {
        return Some(
            "the SMTP server does not offer STARTTLS, which smtp.security = \"starttls\" \
             requires; nothing was sent"
                .into(),
        );
    }
    let at = error.find("invalid peer certificate")?;
    let hint = if error.contains("UnknownIssuer") {
        " (not signed by a CA chaperone trusts: the public roots, and those in smtp.ca_file)"
    } else {
        ""
    };
    Some(format!(
        "the SMTP server's certificate was refused, nothing was sent: {}{hint}",
        &error[at..]
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_smtp::{SinkSecurity, SmtpSink, TestCa};
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
            ca_file: None,
        }
    }

    /// The relay at `localhost:port`, trusted through the CA certificates in `ca_file`.
    fn tls_settings(port: u16, security: SmtpSecurity, ca_file: &std::path::Path) -> SmtpSettings {
        SmtpSettings {
            host: "localhost".into(),
            security,
            ca_file: Some(ca_file.to_owned()),
            ..settings(port)
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

    #[tokio::test]
    async fn a_relay_signed_by_the_ca_in_the_ca_file_gets_the_email_over_starttls_or_tls() {
        let school_ca = TestCa::new("Greenfield Academy CA");
        let folder = tempfile::tempdir().unwrap();
        let ca_file = folder.path().join("school-ca.pem");
        std::fs::write(&ca_file, school_ca.pem()).unwrap();
        let relay_tls = school_ca.relay_tls(&["localhost"]);
        let modes = [
            (
                SmtpSecurity::StartTls,
                SinkSecurity::StartTls(relay_tls.clone()),
            ),
            (SmtpSecurity::Tls, SinkSecurity::ImplicitTls(relay_tls)),
        ];
        for (security, relay_security) in modes {
            let sink = SmtpSink::start_secured(relay_security).await;
            let settings = tls_settings(sink.port(), security, &ca_file);
            let channels = Channels::new(reqwest::Client::new(), Some(settings)).unwrap();

            channels.deliver(&email_to(DSL), &alert()).await.unwrap();

            let mail = sink.wait_for_mail(1, WAIT).await.remove(0);
            assert!(mail.encrypted, "{security:?}: sent under TLS");
            assert_eq!(mail.recipients, ["dsl@school.example"]);
            let expected_in_clear: &[&str] = match security {
                SmtpSecurity::StartTls => &["EHLO", "STARTTLS"],
                _ => &[],
            };
            assert_eq!(sink.verbs_in_clear(), expected_in_clear);
        }
    }

    #[tokio::test]
    async fn a_certificate_from_another_ca_is_refused_as_worth_retrying_and_says_so() {
        let school_ca = TestCa::new("Greenfield Academy CA");
        let folder = tempfile::tempdir().unwrap();
        let ca_file = folder.path().join("school-ca.pem");
        std::fs::write(&ca_file, school_ca.pem()).unwrap();
        let impostor = TestCa::new("Someone Else CA").relay_tls(&["localhost"]);
        let sink = SmtpSink::start_secured(SinkSecurity::ImplicitTls(impostor)).await;
        let settings = tls_settings(sink.port(), SmtpSecurity::Tls, &ca_file);
        let channels = Channels::new(reqwest::Client::new(), Some(settings)).unwrap();

        let error = channels
            .deliver(&email_to(DSL), &alert())
            .await
            .unwrap_err();

        assert!(error.is_retryable(), "{error}");
        let reason = error.to_string();
        assert!(reason.contains("certificate was refused"), "{reason}");
        assert!(reason.contains("UnknownIssuer"), "{reason}");
        assert!(reason.contains("smtp.ca_file"), "{reason}");
        assert!(!reason.contains("dsl@"), "{reason}");
        sink.wait_for_failed_handshakes(1, WAIT).await;
        assert!(sink.received().is_empty());
    }

    #[tokio::test]
    async fn a_ca_file_that_cannot_be_read_or_holds_no_certificate_is_refused_at_start() {
        let folder = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = folder.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let key =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let not_a_certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let files = [
            (folder.path().join("missing.pem"), "cannot read"),
            (write("empty.pem", ""), "no PEM certificate"),
            (write("key.pem", key), "no PEM certificate"),
            (write("garbled.pem", not_a_certificate), "not a PEM file"),
        ];
        for (ca_file, problem) in files {
            for security in [SmtpSecurity::StartTls, SmtpSecurity::Tls] {
                let settings = tls_settings(25, security, &ca_file);
                let error = Channels::new(reqwest::Client::new(), Some(settings))
                    .err()
                    .unwrap_or_else(|| panic!("{} accepted", ca_file.display()));
                let message = error.to_string();
                assert!(message.contains("CHAPERONE__SMTP__CA_FILE"), "{message}");
                assert!(message.contains(problem), "{message}");
            }
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
