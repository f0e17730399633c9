//! The real binary, run with JSON logs at debug level, each run's stderr kept: the
//! service's in one file, the commands' (imports, adding a user) in another.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{eventually, ADMIN_TOKEN, SECRETS_KEY, ZOOM_SECRET};

use super::{
    Person, ACCOUNT, CASES_WEBHOOK_SECRET, CONNECTION_SECRET, PEOPLE, SMTP_PASSWORD, SMTP_USERNAME,
    USER_PASSWORD,
};

/// How the binary is run for this test.
pub(super) struct Run<'a> {
    pub(super) database_url: &'a str,
    pub(super) port: u16,
    pub(super) smtp_port: u16,
    /// The service's log: everything `serve` writes.
    pub(super) log: &'a Path,
    /// What the commands (imports, adding a user) write to stderr: their log lines, and
    /// reports for the operator.
    pub(super) commands_log: &'a Path,
    pub(super) folder: &'a Path,
    pub(super) slack_url: &'a str,
    pub(super) cases_url: &'a str,
}

impl Run<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.commands_log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaperone"));
        command
            .args(args)
            .env_remove("RUST_LOG")
            .env("CHAPERONE__LOG__FORMAT", "json")
            .env("CHAPERONE__LOG__LEVEL", "debug")
            .env("CHAPERONE__DATABASE__URL", self.database_url)
            .env(
                "CHAPERONE__SERVER__BIND",
                format!("127.0.0.1:{}", self.port),
            )
            .env(
                "CHAPERONE__SERVER__PUBLIC_URL",
                format!("http://127.0.0.1:{}", self.port),
            )
            .env("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", ZOOM_SECRET)
            .env("CHAPERONE__API__ADMIN_TOKEN", ADMIN_TOKEN)
            .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
            .env("CHAPERONE__SMTP__HOST", "127.0.0.1")
            .env("CHAPERONE__SMTP__PORT", self.smtp_port.to_string())
            .env("CHAPERONE__SMTP__SECURITY", "none")
            .env("CHAPERONE__SMTP__USERNAME", SMTP_USERNAME)
            .env("CHAPERONE__SMTP__PASSWORD", SMTP_PASSWORD)
            .env("CHAPERONE__ALERTS__RETRY_BASE_MS", "50")
            .env("CHAPERONE__PROCESSOR__POLL_INTERVAL_MS", "100")
            .env("CHAPERONE__EVALUATION__POLL_INTERVAL_MS", "100")
            .env("CHAPERONE__ALERTS__POLL_INTERVAL_MS", "100")
            .env("LOG_SCAN_CONNECTION_SECRET", CONNECTION_SECRET)
            .env("LOG_SCAN_CASES_SECRET", CASES_WEBHOOK_SECRET)
            .env("LOG_SCAN_SLACK_URL", self.slack_url)
            .env("LOG_SCAN_USER_PASSWORD", USER_PASSWORD)
            // Command output (an import's report) is for the operator.
            .stdout(Stdio::null())
            .stderr(log);
        command
    }

    pub(super) fn succeeds(&self, args: &[&str]) {
        let status = self.command(args).status().unwrap();
        if !status.success() {
            let output = std::fs::read_to_string(self.commands_log).unwrap_or_default();
            let last: Vec<&str> = output.lines().rev().take(5).collect();
            panic!(
                "chaperone {args:?} failed; its last words:\n{}",
                last.join("\n")
            );
        }
    }

    /// `serve`, with its standard output in the log too: nothing but log lines belongs there.
    pub(super) fn serve(&self) -> Server {
        let log = || {
            File::options()
                .create(true)
                .append(true)
                .open(self.log)
                .unwrap()
        };
        Server(
            self.command(&["serve"])
                .stdout(log())
                .stderr(log())
                .current_dir(self.folder)
                .spawn()
                .unwrap(),
        )
    }
}

/// The running service, killed if the test fails before stopping it.
pub(super) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub(super) const CSV_HEADER: &str =
    "ref,kind,role,forename,surname,email,other_emails,zoom_user_id,children";

/// `person` as a row of the MIS export; the parent is the pupil's.
pub(super) fn csv_row(person: &Person) -> String {
    let Person {
        reference,
        kind,
        role,
        forename,
        surname,
        email,
        zoom_user_id,
    } = person;
    let children = if *kind == "parent" { "HM-PUPIL-01" } else { "" };
    format!("{reference},{kind},{role},{forename},{surname},{email},,{zoom_user_id},{children}")
}

/// A school like the example one, alerting its DSL by email and Slack and a case system by
/// signed webhook, with a connection endpoint of its own.
pub(super) fn write_school(folder: &Path, run: &Run) -> PathBuf {
    let csv: Vec<String> = PEOPLE[..4].iter().map(csv_row).collect();
    std::fs::write(
        folder.join("hollowmere-people.csv"),
        format!("{CSV_HEADER}\n{}\n", csv.join("\n")),
    )
    .unwrap();
    let file = folder.join("hollowmere.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[school]]
slug = "hollowmere"
name = "Hollowmere School"
timezone = "Europe/London"
people_csv = "hollowmere-people.csv"

[[school.connections]]
platform = "zoom"
account_id = "{ACCOUNT}"
label = "Hollowmere staff accounts"
webhook_secret_env = "LOG_SCAN_CONNECTION_SECRET"

[school.policy]
preset = "two-staff-code-of-conduct"

[school.alerts]
escalate_after_mins = 10

[[school.alerts.contacts]]
person = "HM-STAFF-01"
min_severity = "low"
slack_url_env = "LOG_SCAN_SLACK_URL"

[[school.alerts.webhooks]]
url = "{cases_url}"
secret_env = "LOG_SCAN_CASES_SECRET"
min_severity = "low"
"#,
            cases_url = run.cases_url,
        ),
    )
    .unwrap();
    file
}

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap()
}

pub(super) async fn wait_until_ready(client: &reqwest::Client, base: &str) {
    let ready = eventually(Duration::from_secs(30), || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    })
    .await;
    assert!(ready, "chaperone serve did not become ready");
}

/// SIGTERM, and the exit it asks for.
pub(super) async fn stop(server: &mut Server) {
    let server = &mut server.0;
    let terminated = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let stopped = eventually(Duration::from_secs(20), || {
        let exited = server.try_wait().unwrap().is_some();
        async move { exited }
    })
    .await;
    if !stopped {
        let _ = server.kill();
    }
    assert!(stopped, "chaperone did not stop on SIGTERM");
}
