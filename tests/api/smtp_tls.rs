//! Email alerts over TLS, from signed Zoom webhooks to the relay: a relay whose certificate is
//! signed by a CA made in the test, as a school's internal relay is signed by its own CA and
//! trusted through `smtp.ca_file`. STARTTLS and TLS from the first byte deliver encrypted; a
//! certificate from another CA or for another name, and a relay that does not offer STARTTLS,
//! get nothing, and the alert's delivery says why while it waits to be retried.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chaperone::config::Settings;
use chaperone::startup::Application;
use chrono::Utc;
use tempfile::TempDir;

use crate::alerts::{findings, pupil_alone_with_one_adult, scenario_configured, DSL_EMAIL};
use crate::helpers::{fresh_database_url, test_settings, TestApp};
use crate::smtp_sink::{SinkSecurity, SmtpSink, TestCa};

const WAIT: Duration = Duration::from_secs(5);
const RELAY_NAME: &str = "localhost";

/// The school's own CA, with its certificate written where `smtp.ca_file` can name it.
struct SchoolCa {
    ca: TestCa,
    file: PathBuf,
    _folder: TempDir,
}

impl SchoolCa {
    fn new() -> SchoolCa {
        let ca = TestCa::new("Greenfield Academy CA");
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("greenfield-ca.pem");
        std::fs::write(&file, ca.pem()).unwrap();
        SchoolCa {
            ca,
            file,
            _folder: folder,
        }
    }
}

/// The example school, checking that two adults are present, whose email goes to `relay` at
/// `localhost` with `security`, trusting the CA certificates in `ca_file` besides the public
/// roots. (The scenario's own plain relay is left unused.)
async fn school_mailing_through(
    relay: &SmtpSink,
    security: &str,
    ca_file: Option<&Path>,
) -> TestApp {
    let port = relay.port().to_string();
    let ca_file = ca_file
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    let overrides = [
        ("CHAPERONE__SMTP__HOST", RELAY_NAME),
        ("CHAPERONE__SMTP__PORT", port.as_str()),
        ("CHAPERONE__SMTP__SECURITY", security),
        ("CHAPERONE__SMTP__CA_FILE", ca_file.as_str()),
    ];
    scenario_configured(&["two_adults"], "", &overrides)
        .await
        .app
}

/// A pupil alone with one adult, raised from signed webhooks, and one round of alerts.
async fn raise_an_alert(app: &TestApp) {
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(Utc::now()).await;
}

/// The alert's email delivery to the DSL as the API shows it.
async fn email_delivery(app: &TestApp) -> serde_json::Value {
    let findings = findings(app).await;
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let id = findings[0]["id"].as_i64().unwrap();
    let detail = app.get_json(&format!("/api/v1/findings/{id}")).await;
    detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|delivery| delivery["channel"] == "email")
        .unwrap_or_else(|| panic!("no email delivery: {detail:#}"))
        .clone()
}

/// The delivery failed, is waiting to be tried again, and its reason contains `why`.
fn assert_waiting_to_retry(delivery: &serde_json::Value, why: &[&str]) {
    assert_eq!(delivery["status"], "pending", "{delivery:#}");
    assert_eq!(delivery["attempts"], 1, "{delivery:#}");
    let reason = delivery["last_error"].as_str().unwrap_or_default();
    for words in why {
        assert!(reason.contains(words), "{words:?} not in {reason:?}");
    }
    assert!(!reason.contains(DSL_EMAIL), "{reason}");
}

fn assert_nothing_sent_in_clear(relay: &SmtpSink) {
    let verbs = relay.verbs_in_clear();
    for verb in ["AUTH", "MAIL", "RCPT", "DATA"] {
        assert!(
            !verbs.iter().any(|sent| sent == verb),
            "{verb} in clear: {verbs:?}"
        );
    }
}

#[tokio::test]
async fn an_alert_reaches_a_starttls_relay_signed_by_the_schools_own_ca_encrypted() {
    let school_ca = SchoolCa::new();
    let relay_tls = school_ca.ca.relay_tls(&[RELAY_NAME]);
    let relay = SmtpSink::start_secured(SinkSecurity::StartTls(relay_tls)).await;
    let app = school_mailing_through(&relay, "starttls", Some(&school_ca.file)).await;

    raise_an_alert(&app).await;

    let mail = relay.wait_for_mail(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].encrypted, "the message went over TLS");
    assert_eq!(mail[0].recipients, [DSL_EMAIL]);
    assert!(mail[0].subject().unwrap().contains("CRITICAL"));
    assert_eq!(relay.verbs_in_clear(), ["EHLO", "STARTTLS"]);
    let delivery = email_delivery(&app).await;
    assert_eq!(delivery["status"], "sent", "{delivery:#}");
}

#[tokio::test]
async fn an_alert_reaches_a_relay_speaking_tls_from_the_first_byte() {
    let school_ca = SchoolCa::new();
    let relay_tls = school_ca.ca.relay_tls(&[RELAY_NAME]);
    let relay = SmtpSink::start_secured(SinkSecurity::ImplicitTls(relay_tls)).await;
    let app = school_mailing_through(&relay, "tls", Some(&school_ca.file)).await;

    raise_an_alert(&app).await;

    let mail = relay.wait_for_mail(1, WAIT).await;
    assert!(mail[0].encrypted);
    assert_eq!(mail[0].recipients, [DSL_EMAIL]);
    assert!(relay.verbs_in_clear().is_empty(), "nothing at all in clear");
    assert_eq!(email_delivery(&app).await["status"], "sent");
}

#[tokio::test]
async fn a_relay_certificate_from_another_ca_is_refused_and_the_delivery_retries_then_fails_saying_why(
) {
    let school_ca = SchoolCa::new();
    let impostor = TestCa::new("Someone Else CA").relay_tls(&[RELAY_NAME]);
    let relay = SmtpSink::start_secured(SinkSecurity::StartTls(impostor)).await;
    let app = school_mailing_through(&relay, "starttls", Some(&school_ca.file)).await;

    raise_an_alert(&app).await;

    relay.wait_for_failed_handshakes(1, WAIT).await;
    assert!(relay.received().is_empty());
    assert_nothing_sent_in_clear(&relay);
    assert_waiting_to_retry(
        &email_delivery(&app).await,
        &["certificate was refused", "UnknownIssuer", "smtp.ca_file"],
    );

    // Retried on the schedule (five attempts in these tests), then failed for good, visibly.
    for minutes in 1..=5 {
        app.settle_at(Utc::now() + chrono::Duration::minutes(minutes))
            .await;
    }
    relay.wait_for_failed_handshakes(5, WAIT).await;
    assert!(relay.received().is_empty());
    let delivery = email_delivery(&app).await;
    assert_eq!(delivery["status"], "failed", "{delivery:#}");
    assert_eq!(delivery["attempts"], 5, "{delivery:#}");
    let reason = delivery["last_error"].as_str().unwrap();
    assert!(
        reason.starts_with("delivery failed after 5 attempts") && reason.contains("UnknownIssuer"),
        "{reason}"
    );
}

#[tokio::test]
async fn without_a_ca_file_a_relay_signed_by_a_private_ca_is_refused() {
    let school_ca = SchoolCa::new();
    let relay_tls = school_ca.ca.relay_tls(&[RELAY_NAME]);
    let relay = SmtpSink::start_secured(SinkSecurity::ImplicitTls(relay_tls)).await;
    let app = school_mailing_through(&relay, "tls", None).await;

    raise_an_alert(&app).await;

    relay.wait_for_failed_handshakes(1, WAIT).await;
    assert!(relay.received().is_empty());
    assert_waiting_to_retry(
        &email_delivery(&app).await,
        &["certificate was refused", "UnknownIssuer"],
    );
}

#[tokio::test]
async fn a_relay_certificate_for_another_name_is_refused() {
    let school_ca = SchoolCa::new();
    let elsewhere = school_ca.ca.relay_tls(&["mail.elsewhere.example"]);
    let relay = SmtpSink::start_secured(SinkSecurity::ImplicitTls(elsewhere)).await;
    let app = school_mailing_through(&relay, "tls", Some(&school_ca.file)).await;

    raise_an_alert(&app).await;

    relay.wait_for_failed_handshakes(1, WAIT).await;
    assert!(relay.received().is_empty());
    assert_waiting_to_retry(
        &email_delivery(&app).await,
        &["certificate was refused", "not valid for name"],
    );
}

#[tokio::test]
async fn with_starttls_required_a_relay_that_does_not_offer_it_gets_nothing_in_clear() {
    let school_ca = SchoolCa::new();
    let relay = SmtpSink::start().await;
    let app = school_mailing_through(&relay, "starttls", Some(&school_ca.file)).await;

    raise_an_alert(&app).await;

    let delivery = email_delivery(&app).await;
    assert_waiting_to_retry(&delivery, &["does not offer STARTTLS", "nothing was sent"]);
    assert!(relay.received().is_empty());
    let verbs = relay.verbs_in_clear();
    assert_eq!(verbs.first().map(String::as_str), Some("EHLO"), "{verbs:?}");
    assert_nothing_sent_in_clear(&relay);
}

#[tokio::test]
async fn a_ca_file_that_cannot_be_read_stops_the_start_naming_the_setting() {
    let folder = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(folder.path()).await;
    let missing = folder.path().join("missing-ca.pem").display().to_string();
    let settings = test_settings(
        &database_url,
        &[
            ("CHAPERONE__SMTP__HOST", RELAY_NAME),
            ("CHAPERONE__SMTP__SECURITY", "tls"),
            ("CHAPERONE__SMTP__CA_FILE", &missing),
        ],
    );

    let error = Application::build(settings)
        .await
        .err()
        .expect("the start is refused");

    let message = format!("{error:#}");
    assert!(
        message.contains("cannot read the SMTP CA file")
            && message.contains("CHAPERONE__SMTP__CA_FILE"),
        "{message}"
    );
}

#[test]
fn a_ca_file_without_tls_is_refused_when_settings_load() {
    let env = [
        ("CHAPERONE__SMTP__SECURITY", "none"),
        ("CHAPERONE__SMTP__CA_FILE", "/etc/chaperone/school-ca.pem"),
    ]
    .map(|(name, value)| (name.to_string(), value.to_string()));

    let error = Settings::load_from(None, env)
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();

    assert!(error.contains("CHAPERONE__SMTP__CA_FILE"), "{error}");
}
