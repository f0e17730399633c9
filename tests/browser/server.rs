//! The real `chaperone` binary, configured by `CHAPERONE__` variables as an operator would:
//! a fresh database (a SQLite file, or a new PostgreSQL database when
//! `CHAPERONE_TEST_POSTGRES_URL` is set), a free port, its commands run before `serve`.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Connection;

pub const ADMIN_TOKEN: &str = "browser-test-admin-token-0123456789abcdef";
/// The key that seals stored secrets (32 bytes, base64).
pub const SECRETS_KEY: &str = "YnJvd3Nlci10ZXN0cy1zZWNyZXRzLWtleS0zMmJ5dGU=";
/// Set to a server URL without a database (postgres://postgres@127.0.0.1:5432) to run on
/// PostgreSQL; each test then gets a database of its own.
pub const POSTGRES_URL_VARIABLE: &str = "CHAPERONE_TEST_POSTGRES_URL";

/// Longest wait for `serve` to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A database URL for one test: a file in `folder`, or a new PostgreSQL database.
async fn fresh_database_url(folder: &Path) -> String {
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(server) if !server.is_empty() => {
            let name = format!(
                "chaperone_test_browser_{}_{}_{}",
                std::process::id(),
                NEXT_DATABASE.fetch_add(1, Ordering::Relaxed),
                chrono::Utc::now().timestamp_micros()
            );
            let server = server.trim_end_matches('/');
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "{POSTGRES_URL_VARIABLE} is set but PostgreSQL cannot be reached: {error}"
                    )
                });
            sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create a test database");
            format!("{server}/{name}")
        }
        _ => format!("sqlite://{}/chaperone.db", folder.display()),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// An installation not yet serving: its settings, database and port are chosen, and its
/// commands can be run.
pub struct Installation {
    folder: tempfile::TempDir,
    port: u16,
    env: Vec<(String, String)>,
}

impl Installation {
    pub async fn new() -> Installation {
        let folder = tempfile::tempdir().expect("a temp folder");
        let database_url = fresh_database_url(folder.path()).await;
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let env = [
            ("CHAPERONE__DATABASE__URL", database_url.as_str()),
            ("CHAPERONE__SERVER__BIND", &format!("127.0.0.1:{port}")),
            ("CHAPERONE__SERVER__PUBLIC_URL", &address),
            ("CHAPERONE__API__ADMIN_TOKEN", ADMIN_TOKEN),
            ("CHAPERONE__SECRETS__KEY", SECRETS_KEY),
            ("CHAPERONE__ZOOM__SHARED_ENDPOINT", "false"),
            ("CHAPERONE__LOG__LEVEL", "warn"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        Installation { folder, port, env }
    }

    /// Where a browser reaches it once it serves, such as `http://127.0.0.1:41234`.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sets a `CHAPERONE__` variable (or one an import file names) for its commands and `serve`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(existing, _)| existing != name);
        self.env.push((name.to_string(), value.to_string()));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaperone"));
        command
            .args(args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .current_dir(self.folder.path());
        command
    }

    /// Runs `chaperone ARGS` with `extra_env`, which must succeed.
    pub fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let output = self
            .command(args)
            .envs(extra_env.iter().copied())
            .output()
            .expect("the chaperone binary runs");
        assert!(
            output.status.success(),
            "chaperone {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Loads `config/example-school.toml`: Greenfield Academy (slug `greenfield`), its Zoom
    /// connection, policy, calendar, contacts and people.
    pub fn import_example_school(&self) {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example-school.toml");
        self.run(&["import", file.to_str().expect("a UTF-8 path")], &[]);
    }

    /// Writes `text` as the school file `name` in the installation's folder and runs
    /// `chaperone import` on it; the output says each connection's endpoint (on stderr).
    pub fn import_file(&self, name: &str, text: &str) -> Output {
        let file = self.folder.path().join(name);
        std::fs::write(&file, text)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", file.display()));
        self.run(&["import", file.to_str().expect("a UTF-8 path")], &[])
    }

    /// `chaperone users add`: a user holding `role` at `school` (a slug) or every school, with
    /// a local password when one is given.
    pub fn add_user(
        &self,
        email: &str,
        name: &str,
        role: &str,
        school: Option<&str>,
        password: Option<&str>,
    ) {
        let mut args = vec![
            "users", "add", "--email", email, "--name", name, "--role", role,
        ];
        if let Some(school) = school {
            args.extend(["--school", school]);
        }
        let mut env = Vec::new();
        if let Some(password) = password {
            args.extend(["--password-env", "CHAPERONE_BROWSER_TEST_PASSWORD"]);
            env.push(("CHAPERONE_BROWSER_TEST_PASSWORD", password));
        }
        self.run(&args, &env);
    }

    /// Starts `chaperone serve` and waits until `/readyz` answers 200.
    pub async fn serve(self) -> Server {
        let log_path = self.folder.path().join("serve.log");
        let log = std::fs::File::create(&log_path).expect("a log file");
        let process = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("chaperone serve starts");
        let mut server = Server {
            address: self.address(),
            _installation: self,
            process,
            log_path,
        };
        let client = reqwest::Client::new();
        let ready = format!("{}/readyz", server.address);
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let answered = client
                .get(&ready)
                .send()
                .await
                .is_ok_and(|response| response.status() == 200);
            if answered {
                return server;
            }
            if let Ok(Some(status)) = server.process.try_wait() {
                panic!(
                    "chaperone serve exited ({status}) before it was ready:\n{}",
                    server.log_tail()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chaperone serve did not answer /readyz within {READY_TIMEOUT:?}:\n{}",
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `chaperone serve`, killed when dropped; its log is printed when the test failed.
pub struct Server {
    pub address: String,
    /// Holds the folder of its database and log.
    _installation: Installation,
    process: Child,
    log_path: PathBuf,
}

impl Server {
    /// The last part of what it logged.
    pub fn log_tail(&self) -> String {
        const TAIL_BYTES: u64 = 8_000;
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log_path) {
            let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(length.saturating_sub(TAIL_BYTES)));
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if std::thread::panicking() {
            let log = self.log_tail();
            if !log.trim().is_empty() {
                eprintln!("--- chaperone serve's log ---\n{log}");
            }
        }
    }
}
