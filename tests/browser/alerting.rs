//! chaperone serving the example school as its DSL meets it: a policy that checks only that a
//! pupil always has two staff with them, alert emails sent through a local SMTP server, the
//! school's Zoom connection on an endpoint of its own with a Secret Token, and the DSL able to
//! sign in with a password. Zoom's webhooks are posted signed as Zoom signs them.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::harness::Scene;
use crate::smtp_sink::SmtpSink;

/// The school's DSL (STAFF-0001 in the example school, the first alert contact), added with
/// `chaperone users add --role dsl --school greenfield`.
pub const DSL_EMAIL: &str = "dsl@greenfield.sch.example";
pub const DSL_NAME: &str = "Dana Lee";
pub const DSL_PASSWORD: &str = "the dsl keeps this one safe";

/// The example school's Zoom account.
const ZOOM_ACCOUNT_ID: &str = "gA7kQ2xYTvOeW3mN9pLr4A";
/// The variable the school file names for the connection's Secret Token.
const ZOOM_SECRET_VARIABLE: &str = "CHAPERONE_BROWSER_TEST_ZOOM_SECRET";
const ZOOM_SECRET: &str = "browser-test-greenfield-secret-token";
/// The example school's policy preset, whose rules are all turned off but `two_adults`.
const PRESET: &str = "two-staff-code-of-conduct";
/// Longest wait for the alert email: events, evaluation and alerts each wait for a worker
/// that polls every second.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// Someone joining the meeting, as Zoom describes them.
pub struct Participant {
    /// Zoom's id for this stay in the meeting.
    pub session_id: &'static str,
    pub name: &'static str,
    pub zoom_user_id: &'static str,
    pub email: &'static str,
}

/// Ravi Patel (staff), hosting from his school Zoom account.
pub const HOST: Participant = Participant {
    session_id: "16778240",
    name: "Ravi Patel",
    zoom_user_id: "Hs8dK2lPQw6vB1nZ0yXc3E",
    email: "r.patel@greenfield.sch.example",
};

/// Jamie Smith (pupil), signed out of Zoom, known by the school email address.
pub const PUPIL: Participant = Participant {
    session_id: "16779264",
    name: "J S",
    zoom_user_id: "",
    email: "Jamie.Smith@Pupils.Greenfield.sch.example",
};

/// Dana Lee, the DSL, the second member of staff, from her school Zoom account.
pub const SECOND_ADULT: Participant = Participant {
    session_id: "16780288",
    name: "Dana Lee",
    zoom_user_id: "Dk4mQ9zPLw2vB7nX1yTc0A",
    email: "",
};

const MEETING_UUID: &str = "YnJvd3NlclRlc3RDYWxsMQ==";
const MEETING_NUMBER: &str = "84712345678";

/// The running installation, the mail it sent, and where Zoom posts to it.
pub struct AlertingSchool {
    pub scene: Scene,
    pub smtp: SmtpSink,
    /// The connection's own webhook endpoint, as `chaperone import` printed it.
    endpoint: String,
    http: reqwest::Client,
}

impl AlertingSchool {
    /// Starts it, the browser not signed in; `flow` names the screenshots.
    pub async fn start(flow: &'static str) -> AlertingSchool {
        let smtp = SmtpSink::start().await;
        let mut endpoint = None;
        let scene = Scene::start(flow, |installation| {
            installation.set("CHAPERONE__SMTP__HOST", &smtp.host());
            installation.set("CHAPERONE__SMTP__PORT", &smtp.port().to_string());
            installation.set("CHAPERONE__SMTP__SECURITY", "none");
            installation.set(ZOOM_SECRET_VARIABLE, ZOOM_SECRET);
            let imported = installation.import_file("two-adults.toml", &school_file());
            endpoint = String::from_utf8_lossy(&imported.stderr)
                .lines()
                .filter(|line| line.contains(ZOOM_ACCOUNT_ID))
                .find_map(|line| line.split(" -> ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string);
            installation.add_user(
                DSL_EMAIL,
                DSL_NAME,
                "dsl",
                Some("greenfield"),
                Some(DSL_PASSWORD),
            );
        })
        .await;
        let endpoint = endpoint.expect("chaperone import prints the Zoom connection's endpoint");
        assert!(
            endpoint.starts_with(&format!("{}/webhooks/zoom/", scene.server.address)),
            "{endpoint}"
        );
        AlertingSchool {
            scene,
            smtp,
            endpoint,
            http: reqwest::Client::new(),
        }
    }

    /// Posts each event to the connection's endpoint, signed with its Secret Token, and
    /// checks each is acknowledged.
    pub async fn deliver(&self, events: &[String]) {
        for body in events {
            let timestamp = Utc::now().timestamp();
            let signed = zoom_signature(timestamp, body);
            let answer = self
                .http
                .post(&self.endpoint)
                .header("content-type", "application/json; charset=utf-8")
                .header("x-zm-request-timestamp", timestamp.to_string())
                .header("x-zm-signature", signed)
                .body(body.clone())
                .send()
                .await
                .expect("chaperone answers the webhook");
            let status = answer.status();
            assert_eq!(
                status,
                200,
                "the webhook was refused: {}",
                answer.text().await.unwrap_or_default()
            );
        }
    }

    /// Waits for the alert email (the daily digest may come first, after the school's digest
    /// hour) and returns the address its "Open the finding" line gives.
    pub async fn finding_link_in_alert(&self) -> String {
        let deadline = tokio::time::Instant::now() + MAIL_TIMEOUT;
        loop {
            let alert = self.smtp.received().into_iter().find(|mail| {
                mail.text()
                    .lines()
                    .any(|line| line.starts_with("Open the finding: "))
            });
            if let Some(mail) = alert {
                assert!(
                    mail.recipients.iter().any(|to| to == DSL_EMAIL),
                    "the alert goes to the DSL: {:?}",
                    mail.recipients
                );
                let text = mail.text();
                return text
                    .lines()
                    .find_map(|line| line.strip_prefix("Open the finding: "))
                    .map(|link| link.trim().to_string())
                    .expect("the line was found");
            }
            if tokio::time::Instant::now() >= deadline {
                let texts: Vec<String> = self
                    .smtp
                    .received()
                    .iter()
                    .map(|mail| mail.text())
                    .collect();
                panic!("no alert email with a link to the finding arrived: {texts:#?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A school file for the example school that leaves only `two_adults` of its preset checked
/// and gives its Zoom connection a Secret Token; what it leaves out keeps what
/// `config/example-school.toml` imported.
fn school_file() -> String {
    let preset_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("config/policies/{PRESET}.toml"));
    let preset = std::fs::read_to_string(&preset_file)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", preset_file.display()));
    let rules: Vec<&str> = preset
        .lines()
        .filter_map(|line| line.strip_prefix('[')?.strip_suffix(']'))
        .collect();
    assert!(rules.contains(&"two_adults"), "{PRESET} has two_adults");
    let mut file = format!(
        "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\n\
         timezone = \"Europe/London\"\n\n\
         [[school.connections]]\nplatform = \"zoom\"\naccount_id = \"{ZOOM_ACCOUNT_ID}\"\n\
         label = \"Greenfield staff accounts\"\nwebhook_secret_env = \"{ZOOM_SECRET_VARIABLE}\"\n\n\
         [school.policy]\npreset = \"{PRESET}\"\n"
    );
    for rule in rules {
        file.push_str(&format!(
            "[school.policy.overrides.{rule}]\nenabled = {}\n",
            rule == "two_adults"
        ));
    }
    file
}

/// `x-zm-signature` as Zoom computes it, independently of chaperone's own code:
/// `v0=` and the hex HMAC-SHA256, keyed with the Secret Token, of `v0:{timestamp}:{body}`
/// (<https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events>).
fn zoom_signature(timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(ZOOM_SECRET.as_bytes()).expect("any key length will do");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn zoom_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One Zoom meeting of the school's, hosted by [`HOST`], started at `started`.
pub struct Meeting {
    pub started: DateTime<Utc>,
}

impl Meeting {
    /// `meeting.started`.
    pub fn start_event(&self) -> String {
        self.event("meeting.started", self.started, json!({}))
    }

    /// `meeting.participant_joined`: `who` joined at `at`.
    pub fn joined_event(&self, who: &Participant, at: DateTime<Utc>) -> String {
        self.event(
            "meeting.participant_joined",
            at,
            json!({"participant": {
                "user_id": who.session_id,
                "user_name": who.name,
                "registrant_id": "",
                "participant_user_id": who.zoom_user_id,
                "id": who.zoom_user_id,
                "participant_uuid": format!("5A1C09E2-7B3D-4C11-9F20-{:0>12}", who.session_id),
                "join_time": zoom_time(at),
                "email": who.email,
            }}),
        )
    }

    /// An event about the meeting at `at`, as Zoom posts it, with `extra` in its object.
    fn event(&self, event: &str, at: DateTime<Utc>, extra: serde_json::Value) -> String {
        let mut meeting = json!({
            "uuid": MEETING_UUID,
            "id": MEETING_NUMBER,
            "host_id": HOST.zoom_user_id,
            "topic": "Y9 mentoring",
            "type": 2,
            "start_time": zoom_time(self.started),
            "timezone": "Europe/London",
            "duration": 30,
        });
        if let (Some(meeting), Some(extra)) = (meeting.as_object_mut(), extra.as_object()) {
            meeting.extend(extra.clone());
        }
        json!({
            "event": event,
            "event_ts": at.timestamp_millis(),
            "payload": {"account_id": ZOOM_ACCOUNT_ID, "object": meeting},
        })
        .to_string()
    }
}

/// Now, to the second: what the page's `datetime` and `data-*` attributes show.
pub fn now_to_the_second() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("a time")
}
