//! Google Meet end to end: Pub/Sub pushes signed by a key Google's (fake) key set serves,
//! received at the connection's own endpoint, who joined asked of Meet and the Directory as
//! the call's organiser, and the calls checked and alerted exactly as Zoom's.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::alerts::{ago, findings, scenario_configured, Scenario, DSL_EMAIL};
use crate::fake_google::{anonymous, signed_in, FakeGoogle, PUBSUB_TOPIC, PUSH_SERVICE_ACCOUNT};
use crate::helpers::TestApp;

pub(crate) const AUDIENCE: &str = "https://chaperone.greenfield.sch.example/webhooks/google_meet";
pub(crate) const SPACE: &str = "spaces/kT9pQx2LmW4r";
pub(crate) const TEACHER_ID: &str = "108274650391827364512";
pub(crate) const TEACHER_EMAIL: &str = "r.patel@greenfield.sch.example";
pub(crate) const TA_ID: &str = "108274650391827364777";
pub(crate) const TA_EMAIL: &str = "m.shaw@greenfield.sch.example";

const JOINED: &str = "google.workspace.meet.participant.v2.joined";
const LEFT: &str = "google.workspace.meet.participant.v2.left";
const STARTED: &str = "google.workspace.meet.conference.v2.started";
const ENDED: &str = "google.workspace.meet.conference.v2.ended";

const DARA: &str = r#"
[[school.people]]
ref = "PUPIL-1003"
kind = "pupil"
name = "Dara Finch"
emails = ["dara.finch@home.example"]
"#;

/// The example school with a Google Workspace connection monitoring the teacher, and Google
/// (faked) knowing the teacher and the teaching assistant.
pub(crate) struct MeetSchool {
    pub(crate) app: TestApp,
    pub(crate) smtp: crate::smtp_sink::SmtpSink,
    pub(crate) google: FakeGoogle,
    pub(crate) endpoint: String,
    /// The teacher's subscription, as Google named it.
    pub(crate) subscription: String,
    /// The variable holding the connection's service account key, for a later import.
    pub(crate) key_variable: String,
}

pub(crate) async fn meet_school(rules: &[&str]) -> MeetSchool {
    meet_school_with(rules, &[]).await
}

/// As [`meet_school`], with settings of the test's own (later ones win).
pub(crate) async fn meet_school_with(rules: &[&str], settings: &[(&str, &str)]) -> MeetSchool {
    let monitored =
        format!("[school.connections.google.monitored]\nusers = [\"{TEACHER_EMAIL}\"]\n");
    let google = FakeGoogle::start().await;
    meet_school_monitoring(google, rules, &monitored, settings).await
}

/// The school with its Google connection's `monitored` section as given, against `google`.
pub(crate) async fn meet_school_monitoring(
    google: FakeGoogle,
    rules: &[&str],
    monitored: &str,
    settings: &[(&str, &str)],
) -> MeetSchool {
    google.add_user(TEACHER_ID, TEACHER_EMAIL, "/Staff");
    google.add_user(TA_ID, TA_EMAIL, "/Staff");
    google.add_user(
        "100000000000000000001",
        "it-admin@greenfield.sch.example",
        "/IT",
    );
    google.add_space(
        "kT9pQx2LmW4r",
        "abc-mnop-xyz",
        TEACHER_EMAIL,
        json!({"accessType": "TRUSTED", "moderation": "ON",
               "moderationRestrictions": {"chatRestriction": "HOSTS_ONLY"}}),
    );
    let key_variable = format!(
        "CHAPERONE_TEST_GOOGLE_KEY_{}_{}",
        std::process::id(),
        fastrand::u64(..)
    );
    std::env::set_var(&key_variable, &google.service_account_key_json);
    let connection = format!(
        r#"{DARA}
[[school.connections]]
platform = "google_meet"
account_id = "C0greenfield"
label = "Greenfield Workspace"
[school.connections.google]
domains = ["greenfield.sch.example"]
admin_user = "it-admin@greenfield.sch.example"
pubsub_topic = "{PUBSUB_TOPIC}"
push_audience = "{AUDIENCE}"
push_service_account = "{PUSH_SERVICE_ACCOUNT}"
service_account_key_env = "{key_variable}"
{monitored}"#
    );
    let overrides = google.overrides();
    let mut overrides: Vec<(&str, &str)> = overrides
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    overrides.extend_from_slice(settings);
    let Scenario { app, smtp, .. } = scenario_configured(rules, &connection, &overrides).await;
    let endpoint = app
        .get_json("/api/v1/connections")
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|connection| connection["platform"] == "google_meet")
        .expect("the Google connection")["endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    app.enricher.keep_platforms(Utc::now()).await;
    let subscriptions = app.get_json("/api/v1/subscriptions").await;
    let subscription = subscriptions
        .as_array()
        .unwrap()
        .iter()
        .find(|subscription| subscription["user_email"] == TEACHER_EMAIL)
        .and_then(|subscription| subscription["name"].as_str())
        .unwrap_or_else(|| panic!("the teacher is subscribed: {subscriptions:#}"))
        .to_string();
    MeetSchool {
        app,
        smtp,
        google,
        endpoint,
        subscription,
        key_variable,
    }
}

/// One event of a call, as Google would push it.
pub(crate) struct Push {
    pub(crate) event_type: &'static str,
    pub(crate) resource: String,
    pub(crate) at: String,
}

impl MeetSchool {
    pub(crate) fn source(&self) -> String {
        format!("//workspaceevents.googleapis.com/{}", self.subscription)
    }

    /// The body Pub/Sub would deliver for `push`, with event id `ce_id`.
    pub(crate) fn body(&self, push: &Push, ce_id: &str) -> Value {
        let field = match push.event_type {
            STARTED | ENDED => "conferenceRecord",
            JOINED | LEFT => "participantSession",
            _ => "recording",
        };
        let data = json!({ field: { "name": push.resource } });
        let mut body = self
            .google
            .push_body(push.event_type, ce_id, &self.source(), &data);
        body["message"]["attributes"]["ce-time"] = json!(push.at);
        body
    }

    pub(crate) async fn post(&self, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .post(format!("{}{}", self.app.address, self.endpoint))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// Pushes each event, signed as the push subscription signs, and asserts it was taken.
    pub(crate) async fn push(&self, pushes: &[Push]) {
        for (index, push) in pushes.iter().enumerate() {
            let ce_id = format!("evt-{}-{index}", fastrand::u64(..));
            let body = self.body(push, &ce_id);
            let response = self
                .post(&body, Some(&self.google.push_token(AUDIENCE)))
                .await;
            assert_eq!(
                response.status(),
                200,
                "push refused: {}",
                response.text().await.unwrap_or_default()
            );
        }
    }

    /// Applies everything received, asks Google what the events did not say, applies its
    /// answers, evaluates and alerts, as the workers would.
    pub(crate) async fn settle(&self) {
        for _ in 0..3 {
            self.app.settle_at(Utc::now()).await;
        }
    }
}

/// A call in the teacher's space that started at `start`; its conference record's name.
pub(crate) fn call(google: &FakeGoogle, id: &str, start: &str, end: Option<&str>) -> String {
    google.add_conference(id, SPACE, start, end)
}

/// Someone in `conference` from `start` (to `end`); their one session's name.
pub(crate) fn attendee(
    google: &FakeGoogle,
    conference: &str,
    id: &str,
    who: Value,
    start: &str,
    end: Option<&str>,
) -> String {
    let participant = google.add_participant(conference, id, who, start, end);
    google.add_session(&participant, &format!("{id}-s1"), start, end)
}

pub(crate) fn started(conference: &str, at: &str) -> Push {
    Push {
        event_type: STARTED,
        resource: conference.to_string(),
        at: at.to_string(),
    }
}

pub(crate) fn ended(conference: &str, at: &str) -> Push {
    Push {
        event_type: ENDED,
        resource: conference.to_string(),
        at: at.to_string(),
    }
}

pub(crate) fn joined(session: &str, at: &str) -> Push {
    Push {
        event_type: JOINED,
        resource: session.to_string(),
        at: at.to_string(),
    }
}

pub(crate) fn left(session: &str, at: &str) -> Push {
    Push {
        event_type: LEFT,
        resource: session.to_string(),
        at: at.to_string(),
    }
}

async fn open_findings_of(app: &TestApp, rule: &str) -> Vec<Value> {
    findings(app)
        .await
        .into_iter()
        .filter(|f| f["rule"] == rule && f["status"] == "open")
        .collect()
}

fn participant_shown_as(meeting: &Value, name: &str) -> Value {
    meeting["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == name)
        .unwrap_or_else(|| panic!("no participant shown as {name}: {meeting:#}"))
        .clone()
}

#[tokio::test]
async fn a_pupil_alone_with_one_teacher_on_meet_reaches_the_dsl_as_on_zoom() {
    let school = meet_school(&["two_adults"]).await;
    let google = &school.google;
    let conference = call(google, "aB3xQ9mZwL2p", &ago(700), None);
    let teacher = attendee(
        google,
        &conference,
        "p-teacher",
        signed_in(TEACHER_ID, "Ravi Patel"),
        &ago(660),
        None,
    );
    let guest = attendee(
        google,
        &conference,
        "p-guest",
        anonymous("Dara Finch"),
        &ago(660),
        None,
    );

    school
        .push(&[
            started(&conference, &ago(700)),
            joined(&teacher, &ago(660)),
            joined(&guest, &ago(660)),
        ])
        .await;
    school.settle().await;

    let alone = open_findings_of(&school.app, "two_adults").await;
    assert_eq!(alone.len(), 1, "{:#?}", findings(&school.app).await);
    let summary = alone[0]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "A participant who is not identified as staff, shown as \u{201c}Dara Finch\u{201d} \
             (probably the pupil Dara Finch, by display name \u{2014} not verified), was in the call"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("with only one member of staff (Ravi Patel) since"),
        "{summary}"
    );
    let mail = school.smtp.wait_for_mail(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].recipients, vec![DSL_EMAIL.to_string()]);
    assert!(mail[0].text().contains("Dara Finch"), "{}", mail[0].text());
    assert!(
        mail[0].text().contains("Platform: Google Meet"),
        "{}",
        mail[0].text()
    );
    assert_eq!(alone[0]["platform"], "google_meet");

    let meeting = school.app.only_meeting().await;
    assert_eq!(meeting["platform"], "google_meet", "{meeting:#}");
    let teacher = participant_shown_as(&meeting, "Ravi Patel");
    assert_eq!(teacher["identity_basis"], "verified", "{teacher:#}");
    let dara = participant_shown_as(&meeting, "Dara Finch");
    assert_eq!(dara["identity_basis"], "display_name", "{dara:#}");
    assert_eq!(dara["person"], Value::Null, "a name proves nothing");
    // Meet was asked as the organiser, whose subscription sent the events.
    let asked_as: Vec<String> = google.with(|state| {
        state
            .requests
            .iter()
            .filter(|request| request.path.contains("/participants/"))
            .filter_map(|request| request.subject.clone())
            .collect()
    });
    assert!(!asked_as.is_empty());
    assert!(
        asked_as.iter().all(|subject| subject == TEACHER_EMAIL),
        "{asked_as:?}"
    );
}
