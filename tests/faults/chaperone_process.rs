//! The real `chaperone` binary as a child process, configured through CHAPERONE__ variables,
//! started, killed with SIGKILL and started again on the same port and database.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::zoom::ZOOM_SECRET;

pub const ADMIN_TOKEN: &str = "faults-admin-token-0123456789abcdef0123";
/// The key that seals stored secrets (32 bytes, base64).
pub const SECRETS_KEY: &str = "ZmF1bHRzLWtleS10aGF0LXNlYWxzLXNlY3JldHMtMzI=";
/// How long a start may take before the test gives up on it.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// How to run one instance: its database, its port and settings of the test's own.
#[derive(Clone)]
pub struct Chaperone {
    pub database_url: String,
    pub port: u16,
    pub settings: Vec<(String, String)>,
}

impl Chaperone {
    pub fn new(database_url: &str, settings: &[(&str, &str)]) -> Self {
        Chaperone {
            database_url: database_url.to_string(),
            port: free_port(),
            settings: settings
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        }
    }

    /// Another instance on the same database, with the same settings, on a port of its own.
    pub fn another(&self) -> Self {
        Chaperone {
            port: free_port(),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaperone"));
        command
            .args(args)
            .env("CHAPERONE__DATABASE__URL", &self.database_url)
            .env(
                "CHAPERONE__SERVER__BIND",
                format!("127.0.0.1:{}", self.port),
            )
            .env("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", ZOOM_SECRET)
            .env("CHAPERONE__API__ADMIN_TOKEN", ADMIN_TOKEN)
            .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
            .env("CHAPERONE__LOG__LEVEL", "error")
            .envs(self.settings.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command
    }

    /// `chaperone import FILE`, with `env` (webhook secrets named by the file) set for it.
    pub fn import(&self, school_file: &Path, env: &[(&str, &str)]) {
        let status = self
            .command(&["import", &school_file.display().to_string()])
            .envs(env.iter().copied())
            .status()
            .expect("chaperone import runs");
        assert!(status.success(), "chaperone import failed: {status}");
    }

    /// Starts `chaperone serve` without waiting for it.
    pub fn spawn(&self) -> Running {
        let child = self
            .command(&["serve"])
            .spawn()
            .expect("chaperone serve starts");
        Running {
            child,
            base_url: self.base_url(),
        }
    }

    /// Starts `chaperone serve` and waits until `/readyz` answers 200.
    pub async fn start(&self) -> Running {
        let mut running = self.spawn();
        let became_ready = running.wait_ready(START_DEADLINE).await;
        assert!(
            became_ready.is_some(),
            "chaperone serve did not become ready"
        );
        running
    }
}

/// A `chaperone serve` process; dropping it kills it.
pub struct Running {
    child: Child,
    base_url: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed process is reaped");
    }

    /// Whether the process is still running (it has not exited or been restarted).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("process state").is_none()
    }

    /// The status of `GET /readyz`, or `None` when nothing answered within a probe's
    /// patience (two seconds; readiness bounds its own wait for the database below one).
    pub async fn readiness(&self, client: &reqwest::Client) -> Option<u16> {
        client
            .get(format!("{}/readyz", self.base_url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()
            .map(|response| response.status().as_u16())
    }

    /// Polls `/readyz` until 200; how long that took, or `None` past `deadline` or when the
    /// process exited.
    pub async fn wait_ready(&mut self, deadline: Duration) -> Option<Duration> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        while started.elapsed() < deadline {
            if self.readiness(&client).await == Some(200) {
                return Some(started.elapsed());
            }
            if !self.is_running() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// The resident set size (VmRSS), in KiB.
    pub fn resident_kib(&self) -> u64 {
        resident_kib(self.pid()).expect("VmRSS in /proc/PID/status")
    }
}

/// The resident set size of process `pid` from /proc/PID/status (VmRSS), in KiB; `None` once
/// it has exited.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
