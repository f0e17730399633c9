//! Backups restore: a copy taken while the real binary serves (`chaperone backup` on SQLite,
//! `pg_dump -Fc` on PostgreSQL), restored as the README says and served again, shows the
//! register as it was when the copy was taken.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use chaperone::config::Secret;
use chaperone::zoom::signature;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{
    eventually, example_school_file, fresh_database_url, now_secs, ADMIN_TOKEN,
    POSTGRES_URL_VARIABLE, SECRETS_KEY, ZOOM_SECRET,
};
use crate::zoom_events::{started, whole_call};

/// A second call, started after the backup: in the service it was taken from, never in the
/// restored one.
fn a_later_call_started() -> String {
    let mut event: Value = serde_json::from_str(&started()).unwrap();
    event["payload"]["object"]["uuid"] = json!("bGF0ZXJDYWxsQUJDREVGRw==");
    event["payload"]["object"]["id"] = json!("84799999999");
    event.to_string()
}

fn chaperone(database_url: &str, port: u16, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chaperone"));
    command
        .args(args)
        .env("CHAPERONE__DATABASE__URL", database_url)
        .env("CHAPERONE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", ZOOM_SECRET)
        .env("CHAPERONE__API__ADMIN_TOKEN", ADMIN_TOKEN)
        .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
        // Settings reads fail at once instead of waiting on the network.
        .env("CHAPERONE__ZOOM__API_BASE_URL", "http://127.0.0.1:9/v2")
        .env(
            "CHAPERONE__ZOOM__OAUTH_TOKEN_URL",
            "http://127.0.0.1:9/oauth/token",
        )
        // No SMTP server here: the failed alert emails are expected.
        .env(
            "CHAPERONE__LOG__LEVEL",
            "warn,chaperone::alerts::dispatcher=off",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

fn run(command: &mut Command) -> Output {
    let output = command
        .stderr(Stdio::piped())
        .output()
        .expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// `chaperone serve`, killed if the test ends before stopping it.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    async fn start(database_url: &str, client: &reqwest::Client) -> Server {
        let port = free_port();
        let child = chaperone(database_url, port, &["serve"])
            .spawn()
            .expect("chaperone starts");
        let server = Server { child, port };
        let ready = eventually(Duration::from_secs(30), || async {
            client
                .get(server.url("/readyz"))
                .send()
                .await
                .is_ok_and(|response| response.status() == 200)
        })
        .await;
        assert!(ready, "chaperone serve did not become ready");
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGTERM, as systemd and container runtimes stop it, and a clean exit.
    async fn stop(mut self) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success());
        let child = &mut self.child;
        let exited = eventually(Duration::from_secs(20), || {
            let status = child.try_wait().unwrap();
            async move { status.is_some_and(|status| status.success()) }
        })
        .await;
        assert!(exited, "chaperone did not exit cleanly on SIGTERM");
    }

    async fn deliver(&self, client: &reqwest::Client, body: String) {
        let timestamp = now_secs();
        let signature = signature::sign(&Secret::new(ZOOM_SECRET), timestamp, body.as_bytes());
        let response = client
            .post(self.url("/webhooks/zoom"))
            .header("x-zm-request-timestamp", timestamp.to_string())
            .header("x-zm-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the webhook is answered");
        assert_eq!(response.status(), 200);
    }

    /// The register, call by call, without what later reads from the platform change
    /// (settings, reconciliation).
    async fn register(&self, client: &reqwest::Client) -> Vec<Value> {
        let get = |path: String| async move {
            client
                .get(self.url(&path))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .and_then(|response| response.error_for_status())
                .expect("the register answers")
                .json::<Value>()
                .await
                .expect("the register is JSON")
        };
        let mut calls = Vec::new();
        for summary in get("/api/v1/meetings".into()).await.as_array().unwrap() {
            let record = get(format!("/api/v1/meetings/{}", summary["id"])).await;
            let participants: Vec<Value> = record["participants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| json!([p["display_name"], p["role"], p["person"], p["attendance"]]))
                .collect();
            calls.push(json!({
                "id": summary["id"],
                "meeting_id": summary["meeting_id"],
                "topic": summary["topic"],
                "started_at": summary["started_at"],
                "ended_at": summary["ended_at"],
                "participant_count": summary["participant_count"],
                "unknown_participant_count": summary["unknown_participant_count"],
                "participants": participants,
            }));
        }
        calls
    }

    /// Waits until the register shows what `settled` looks for: the events delivered so far
    /// have all been applied.
    async fn wait_for_register(
        &self,
        client: &reqwest::Client,
        settled: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let applied = eventually(Duration::from_secs(30), || async {
            settled(&self.register(client).await)
        })
        .await;
        let calls = self.register(client).await;
        assert!(applied, "the register never settled: {calls:?}");
        calls
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_the_register_as_it_was() {
    let folder = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(folder.path()).await;
    let client = reqwest::Client::new();
    run(&mut chaperone(
        &database_url,
        free_port(),
        &["import", example_school_file().to_str().unwrap()],
    ));
    let server = Server::start(&database_url, &client).await;
    for body in whole_call() {
        server.deliver(&client, body).await;
    }
    // The whole call: ended, four people in it, each of their stays ended.
    let register = server
        .wait_for_register(&client, |calls| {
            let participants = calls
                .first()
                .and_then(|call| call["participants"].as_array().cloned())
                .unwrap_or_default();
            calls.len() == 1
                && !calls[0]["ended_at"].is_null()
                && participants.len() == 4
                && participants
                    .iter()
                    .flat_map(|p| p[3].as_array().cloned().unwrap_or_default())
                    .all(|stay| !stay["left_at"].is_null())
        })
        .await;

    let restore = if database_url.starts_with("postgres") {
        pg_dump(&database_url, folder.path())
    } else {
        let backup = folder.path().join("backups/chaperone.db");
        std::fs::create_dir(backup.parent().unwrap()).unwrap();
        run(&mut chaperone(
            &database_url,
            server.port,
            &["backup", "--to", backup.to_str().unwrap()],
        ));
        Restore::Sqlite { backup }
    };
    // Still serving, and taking events that the backup does not hold.
    server.deliver(&client, a_later_call_started()).await;
    server
        .wait_for_register(&client, |calls| calls.len() == 2)
        .await;
    server.stop().await;

    let restored_url = restore.apply(&database_url).await;
    let restored = Server::start(&restored_url, &client).await;
    assert_eq!(restored.register(&client).await, register);
    restored.stop().await;
}

#[tokio::test]
async fn a_backup_never_replaces_a_file_and_postgres_is_pointed_at_pg_dump() {
    let folder = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/chaperone.db", folder.path().display());
    run(&mut chaperone(&database_url, free_port(), &["migrate"]));
    let existing = folder.path().join("existing.db");
    std::fs::write(&existing, b"an earlier backup").unwrap();

    let refused = chaperone(
        &database_url,
        free_port(),
        &["backup", "--to", existing.to_str().unwrap()],
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    let on_postgres = chaperone(
        "postgres://chaperone@127.0.0.1:1/chaperone",
        free_port(),
        &[
            "backup",
            "--to",
            folder.path().join("new.db").to_str().unwrap(),
        ],
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();

    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"an earlier backup");
    assert!(!on_postgres.status.success());
    assert!(String::from_utf8_lossy(&on_postgres.stderr).contains("pg_dump -Fc"));
    assert!(!folder.path().join("new.db").exists());
}

/// A backup, and how the README restores it.
enum Restore {
    /// Stop the service, move the database's files aside, put the copy in their place.
    Sqlite { backup: std::path::PathBuf },
    /// `pg_restore` into a new database, which the service is then pointed at.
    Postgres { dump: std::path::PathBuf },
}

fn pg_dump(database_url: &str, folder: &Path) -> Restore {
    let dump = folder.join("chaperone.dump");
    run(Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(database_url));
    Restore::Postgres { dump }
}

impl Restore {
    /// Returns the URL the restored service runs on.
    async fn apply(self, database_url: &str) -> String {
        match self {
            Restore::Sqlite { backup } => {
                let database = Path::new(database_url.trim_start_matches("sqlite://"));
                let aside = database.with_file_name("before-restore");
                std::fs::create_dir(&aside).unwrap();
                for suffix in ["", "-wal", "-shm"] {
                    let file = format!("{}{suffix}", database.display());
                    if Path::new(&file).exists() {
                        let name = Path::new(&file).file_name().unwrap();
                        std::fs::rename(&file, aside.join(name)).unwrap();
                    }
                }
                std::fs::copy(&backup, database).unwrap();
                database_url.to_string()
            }
            Restore::Postgres { dump } => {
                let server = std::env::var(POSTGRES_URL_VARIABLE).unwrap();
                let server = server.trim_end_matches('/');
                let name = format!("{}_restored", database_url.rsplit('/').next().unwrap());
                let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .unwrap();
                sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .unwrap();
                let restored = format!("{server}/{name}");
                run(Command::new("pg_restore")
                    .args(["--no-owner", "--exit-on-error", "--dbname", &restored])
                    .arg(&dump));
                restored
            }
        }
    }
}
