//! A PostgreSQL server of the test's own, in a temporary folder (initdb, pg_ctl), that the
//! test can stop and start again. PostgreSQL refuses to run as root: as root, its folder
//! belongs to the `postgres` user and its commands run as that user (runuser).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::chaperone_process::free_port;

/// The system user PostgreSQL runs as when the test runs as root.
const SERVER_USER: &str = "postgres";

pub struct PrivatePostgres {
    _folder: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    as_root: bool,
}

impl PrivatePostgres {
    /// Makes a cluster with trust authentication and starts it on a free port.
    pub fn start() -> PrivatePostgres {
        let folder = tempfile::Builder::new()
            .prefix("chaperone-faults-pg")
            .tempdir()
            .expect("a folder for PostgreSQL");
        let as_root = std::fs::metadata("/proc/self")
            .map(|process| process.uid() == 0)
            .unwrap_or(false);
        if as_root {
            run(Command::new("chown").args([
                "-R",
                &format!("{SERVER_USER}:"),
                &folder.path().display().to_string(),
            ]));
        }
        let server = PrivatePostgres {
            data: folder.path().join("data"),
            log: folder.path().join("server.log"),
            port: free_port(),
            _folder: folder,
            as_root,
        };
        server.run_tool(
            "initdb",
            &[
                "-D",
                &server.data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        server.start_again();
        server
    }

    /// A URL for a new database on this server.
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// `pg_ctl stop -m immediate`: every server process ends at once, as in a crash.
    pub fn stop_immediately(&self) {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }

    /// `pg_ctl start`, waiting until it accepts connections (after crash recovery).
    pub fn start_again(&self) {
        let socket_folder = self.data.parent().unwrap_or(Path::new("/tmp"));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            socket_folder.display()
        );
        self.pg_ctl(&["start", "-w", "-t", "60", "-o", &options]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut all = vec![
            "-D".to_string(),
            self.data.display().to_string(),
            "-l".to_string(),
            self.log.display().to_string(),
        ];
        all.extend(args.iter().map(|arg| arg.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run_tool("pg_ctl", &all);
    }

    fn run_tool(&self, tool: &str, args: &[&str]) {
        let mut command = if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVER_USER, "--", tool]);
            command
        } else {
            Command::new(tool)
        };
        command.args(args).current_dir(self.data.parent().unwrap());
        run(&mut command);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let mut command = if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVER_USER, "--", "pg_ctl"]);
            command
        } else {
            Command::new("pg_ctl")
        };
        let _ = command
            .args(["-D", &data, "stop", "-m", "immediate"])
            .output();
    }
}

/// Runs `command`; a missing program or a failure fails the test, saying which.
fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|error| {
        panic!("cannot run {command:?} (is PostgreSQL installed?): {error}")
    });
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
