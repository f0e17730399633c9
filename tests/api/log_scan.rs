//! No personal data or secret reaches the log. The real binary runs with JSON logs at debug
//! level through whole scenarios: imports of the example school and of a school of people
//! with unmistakable names, a call on Zoom with a pupil alone with one adult, a named guest
//! and chat, forged and unreadable deliveries, alerts by email (with SMTP credentials), Slack
//! and signed webhook, sign-in through the API and the console, and reads of the register and
//! the findings. Every log line is then searched for every name, email, display name, topic,
//! chat text and secret the service was given.

mod api_client;
mod binary;
mod receivers;
mod zoom_call;

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    eventually, example_school_file, fresh_database_url, ADMIN_TOKEN, SECRETS_KEY, ZOOM_SECRET,
};
use api_client::{
    connection, get, post_zoom, read_everything, sign_in_through_the_api,
    sign_in_through_the_console,
};
use binary::{csv_row, free_port, stop, wait_until_ready, write_school, Run, CSV_HEADER};
use receivers::{plain_auth_holds, AuthSmtpSink, Receiver};
use zoom_call::{call_ends, call_so_far, chat, guest_joins, guest_joins_again, unreadable_bodies};

const ACCOUNT: &str = "LgScNw7QzR2pT5vX8yB1cD";
const MEETING_NUMBER: &str = "93715824601";
const MEETING_UUID: &str = "TG9nU2NhbkNhbGxPbmVYWQ==";
const HOST_ZOOM_ID: &str = "Qf3vLm8NzK1pR6tW0yXs2B";
const DSL_ZOOM_ID: &str = "Wb7nHc2QxJ5mT9vL4pZr8D";

const TOPIC: &str = "Quillfeather essay clinic – Marrowgate set";
const CHAT_TEXT: &str = "Bring the Thistlewick notebook to the bandstand";
const GUEST_NAME: &str = "Octavian Brambleworth";
const PUPIL_DISPLAY_NAME: &str = "Zephy Q-feather";
const USER_NAME: &str = "Isolde Fernsby-Crane";
const USER_EMAIL: &str = "isolde.fernsby-crane@hollowmere.sch.example";
/// An address that belongs to no user, tried at sign-in.
const UNKNOWN_EMAIL: &str = "barnaby.grimsditch@hollowmere.sch.example";

const CONNECTION_SECRET: &str = "connsecret-Vq8mZt3RkP1xLw6N";
const CASES_WEBHOOK_SECRET: &str = "whsec_TG9nU2NhblNlY3JldEZvckNhc2VzMTIzNDU2";
const SLACK_TOKEN: &str = "xoxslackpath4Jf9Kq2Lm7Np";
const SMTP_USERNAME: &str = "alerts-relay-user";
const SMTP_PASSWORD: &str = "smtp-pass-Gh7Tq2Wx9Zk4";
const USER_PASSWORD: &str = "correct horse Pelliwinkle staple";
const WRONG_PASSWORD: &str = "wrong horse Brindleford staple";

/// A person of the scanned school, as the school's MIS export lists them.
struct Person {
    reference: &'static str,
    kind: &'static str,
    role: &'static str,
    forename: &'static str,
    surname: &'static str,
    email: &'static str,
    zoom_user_id: &'static str,
}

/// The scanned school's people: the DSL, the host, the pupil, the pupil's parent, and a
/// pupil imported later from a CSV of their own.
const PEOPLE: [Person; 5] = [
    Person {
        reference: "HM-STAFF-01",
        kind: "staff",
        role: "dsl",
        forename: "Peregrina",
        surname: "Ashcombe-Vell",
        email: "p.ashcombe-vell@hollowmere.sch.example",
        zoom_user_id: DSL_ZOOM_ID,
    },
    Person {
        reference: "HM-STAFF-02",
        kind: "staff",
        role: "staff",
        forename: "Thaddeus",
        surname: "Wrenwhistle",
        email: "t.wrenwhistle@hollowmere.sch.example",
        zoom_user_id: HOST_ZOOM_ID,
    },
    Person {
        reference: "HM-PUPIL-01",
        kind: "pupil",
        role: "",
        forename: "Zephyrine",
        surname: "Quillfeather",
        email: "zephyrine.quillfeather@pupils.hollowmere.sch.example",
        zoom_user_id: "",
    },
    Person {
        reference: "HM-PARENT-01",
        kind: "parent",
        role: "",
        forename: "Leofric",
        surname: "Quillfeather",
        email: "leofric.quillfeather@home.example",
        zoom_user_id: "",
    },
    Person {
        reference: "HM-PUPIL-02",
        kind: "pupil",
        role: "",
        forename: "Ottilie",
        surname: "Marchbanks",
        email: "ottilie.marchbanks@pupils.hollowmere.sch.example",
        zoom_user_id: "",
    },
];

#[tokio::test]
async fn json_logs_at_debug_level_carry_no_name_email_topic_chat_text_or_secret() {
    let folder = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(folder.path()).await;
    let log_path = folder.path().join("chaperone.log");
    let smtp = AuthSmtpSink::start().await;
    let receiver = Receiver::start().await;
    let slack_url = format!("{}/services/T0HOLLOW/B0ALERTS/{SLACK_TOKEN}", receiver.url);
    let port = free_port();
    let run = Run {
        database_url: &database_url,
        port,
        smtp_port: smtp.port,
        log: &log_path,
        commands_log: &folder.path().join("commands.log"),
        folder: folder.path(),
        slack_url: &slack_url,
        cases_url: &format!("{}/hooks/cases", receiver.url),
    };

    // Arrange: the example school, a school of our own and its people, a password user.
    run.succeeds(&["import", example_school_file().to_str().unwrap()]);
    let school_file = write_school(folder.path(), &run);
    run.succeeds(&["import", school_file.to_str().unwrap()]);
    let late_joiners = folder.path().join("late-joiners.csv");
    std::fs::write(
        &late_joiners,
        format!("{CSV_HEADER}\n{}\n", csv_row(&PEOPLE[4])),
    )
    .unwrap();
    run.succeeds(&[
        "import",
        "--school",
        "hollowmere",
        late_joiners.to_str().unwrap(),
    ]);
    run.succeeds(&[
        "users",
        "add",
        "--email",
        USER_EMAIL,
        "--name",
        USER_NAME,
        "--role",
        "dsl",
        "--school",
        "hollowmere",
        "--password-env",
        "LOG_SCAN_USER_PASSWORD",
    ]);

    // Act: the call, refused deliveries, alerts, sign-ins and reads, against the server.
    let mut server = run.serve();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&client, &base).await;
    let (connection_id, endpoint) = connection(&client, &base).await;
    let mut signed_in_secrets = Vec::new();

    for body in call_so_far() {
        assert_eq!(
            post_zoom(&client, &base, "/webhooks/zoom", &body, ZOOM_SECRET).await,
            200
        );
    }
    for body in [guest_joins(), chat()] {
        assert_eq!(
            post_zoom(&client, &base, &endpoint, &body, CONNECTION_SECRET).await,
            200
        );
    }
    let forged = guest_joins_again();
    assert_eq!(
        post_zoom(&client, &base, "/webhooks/zoom", &forged, "not-the-secret").await,
        401
    );
    for unreadable in unreadable_bodies() {
        let status = post_zoom(&client, &base, "/webhooks/zoom", &unreadable, ZOOM_SECRET).await;
        assert!(
            status < 500,
            "an unreadable body is no server error: {status}"
        );
    }

    let alerted = eventually(Duration::from_secs(60), || async {
        !smtp.messages.lock().unwrap().is_empty() && receiver.paths().len() >= 2
    })
    .await;
    assert!(
        alerted,
        "alerts did not arrive: {} mail, deliveries to {:?}",
        smtp.messages.lock().unwrap().len(),
        receiver.paths()
    );
    assert!(
        smtp.auth_lines
            .lock()
            .unwrap()
            .iter()
            .any(|line| plain_auth_holds(line, SMTP_PASSWORD)),
        "the SMTP password was used, so the scan below means something"
    );

    read_everything(&client, &base, ADMIN_TOKEN).await;
    signed_in_secrets.extend(sign_in_through_the_api(&client, &base).await);
    signed_in_secrets.push(sign_in_through_the_console(&client, &base).await);

    for body in call_ends() {
        assert_eq!(
            post_zoom(&client, &base, "/webhooks/zoom", &body, ZOOM_SECRET).await,
            200
        );
    }
    let ended = eventually(Duration::from_secs(30), || async {
        let meetings = get(&client, &base, "/api/v1/meetings", ADMIN_TOKEN).await;
        meetings[0]["ended_at"].is_string()
    })
    .await;
    assert!(ended, "the call's end was applied");
    stop(&mut server).await;

    // Assert: the log is JSON lines at debug level about this call, and carries nothing else.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_tells_of_the_call(&log, connection_id);
    // The commands' log lines, without the reports they write for the operator.
    let commands_log = std::fs::read_to_string(run.commands_log).unwrap();
    let command_lines = commands_log
        .lines()
        .filter(|line| serde_json::from_str::<serde_json::Map<String, Value>>(line).is_ok());

    let mut sensitive = sensitive_values(&run);
    sensitive.extend(
        signed_in_secrets
            .into_iter()
            .map(|secret| ("session or API token", secret)),
    );
    let leaks = leaks(log.lines().chain(command_lines), &sensitive);
    assert!(
        leaks.is_empty(),
        "the log carries personal data or secrets:\n{}",
        leaks.join("\n")
    );
}

/// The service's log is JSON lines, debug ones among them, telling by their ids of the events
/// stored and refused, the alerts sent and the pages read: a scan of it is not vacuous.
fn assert_tells_of_the_call(log: &str, connection_id: i64) {
    let lines: Vec<Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("a log line is not JSON: {line}"))
        })
        .collect();
    assert!(lines.len() > 100, "only {} log lines", lines.len());
    assert!(
        lines.iter().any(|line| line["level"] == "DEBUG"),
        "no debug line in the log"
    );
    let told = |message: &str, field: &str, value: &Value| {
        lines.iter().any(|line| {
            line["message"] == message && (&line[field] == value || &line["span"][field] == value)
        })
    };
    for (message, field, value) in [
        ("event stored", "event", json!("participant_joined")),
        ("event stored", "event", json!("signal")),
        ("event stored", "connection_id", json!(connection_id)),
        ("webhook refused", "reason", json!("signature_mismatch")),
        ("webhook refused", "reason", json!("malformed_body")),
        ("alert delivered", "channel", json!("email")),
        ("alert delivered", "channel", json!("slack")),
        ("alert delivered", "channel", json!("webhook")),
        ("request finished", "route", json!("/sign-in")),
        ("request finished", "route", json!("/api/v1/findings/{id}")),
    ] {
        assert!(
            told(message, field, &value),
            "no \"{message}\" line with {field} {value}: the scan would not cover it"
        );
    }
}

/// Each line holding a sensitive value (in any case), with its class and the value redacted.
fn leaks<'a>(
    lines: impl Iterator<Item = &'a str>,
    sensitive: &[(&'static str, String)],
) -> Vec<String> {
    lines
        .flat_map(|line| {
            let lowered = line.to_lowercase();
            sensitive
                .iter()
                .filter(move |(_, value)| lowered.contains(&value.to_lowercase()))
                .map(move |(class, value)| format!("{class}: {}", redact(line, value, class)))
        })
        .collect()
}

/// Everything the service was given that must never be logged, by class.
fn sensitive_values(run: &Run) -> Vec<(&'static str, String)> {
    let mut values = vec![
        ("meeting topic", TOPIC.to_string()),
        ("chat text", CHAT_TEXT.to_string()),
        ("guest display name", GUEST_NAME.to_string()),
        ("pupil display name", PUPIL_DISPLAY_NAME.to_string()),
        ("user name", USER_NAME.to_string()),
        ("user email", USER_EMAIL.to_string()),
        ("email tried", UNKNOWN_EMAIL.to_string()),
        ("Zoom secret token", ZOOM_SECRET.to_string()),
        ("connection secret token", CONNECTION_SECRET.to_string()),
        ("admin token", ADMIN_TOKEN.to_string()),
        ("secrets key", SECRETS_KEY.to_string()),
        ("webhook signing secret", CASES_WEBHOOK_SECRET.to_string()),
        ("Slack URL", run.slack_url.to_string()),
        ("Slack URL token", SLACK_TOKEN.to_string()),
        ("SMTP username", SMTP_USERNAME.to_string()),
        ("SMTP password", SMTP_PASSWORD.to_string()),
        ("user password", USER_PASSWORD.to_string()),
        ("password tried", WRONG_PASSWORD.to_string()),
    ];
    for Person {
        forename,
        surname,
        email,
        ..
    } in PEOPLE
    {
        values.push(("person name", format!("{forename} {surname}")));
        values.push(("person forename", forename.to_string()));
        values.push(("person surname", surname.to_string()));
        values.push(("person email", email.to_string()));
    }
    values.extend(example_school_people());
    values
}

/// The names and emails of the example school's people, from its file and its CSV.
fn example_school_people() -> Vec<(&'static str, String)> {
    let mut values = vec![
        ("person name", "Dana Lee".to_string()),
        ("person email", "dsl@greenfield.sch.example".to_string()),
    ];
    let csv = std::fs::read_to_string(example_school_file().with_file_name("example-people.csv"))
        .unwrap();
    for row in csv.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        values.push(("person name", format!("{} {}", fields[3], fields[4])));
        for email in [fields[5], fields[6]] {
            if !email.is_empty() {
                values.push(("person email", email.to_string()));
            }
        }
    }
    values
}

/// The line with `value` replaced, so the failure message does not repeat it.
fn redact(line: &str, value: &str, class: &str) -> String {
    let lowered = line.to_lowercase();
    let needle = value.to_lowercase();
    let mut redacted = String::new();
    let mut rest = 0;
    // Lowercasing can change byte lengths only outside ASCII; fall back to a bare notice.
    if lowered.len() != line.len() {
        return format!("(a line of {} bytes)", line.len());
    }
    for (at, _) in lowered.match_indices(&needle) {
        redacted.push_str(&line[rest..at]);
        redacted.push_str(&format!("[{class}]"));
        rest = at + needle.len();
    }
    redacted.push_str(&line[rest..]);
    redacted
}
