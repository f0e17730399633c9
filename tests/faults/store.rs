//! What the store holds, read straight from the database the instances use: the inbox rows
//! of acknowledged events, whether they were processed into the register, and the findings.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Row};

/// Set to a PostgreSQL server URL without a database to run the suite on PostgreSQL.
pub const POSTGRES_URL_VARIABLE: &str = "CHAPERONE_TEST_POSTGRES_URL";

/// A database for one test on the suite's backend: a SQLite file in `folder`, or a new
/// database on the server in CHAPERONE_TEST_POSTGRES_URL.
pub async fn fresh_database_url(folder: &Path) -> String {
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(server) if !server.is_empty() => fresh_postgres_database(&server).await,
        _ => format!("sqlite://{}/chaperone.db", folder.display()),
    }
}

/// A new, empty database on the PostgreSQL server at `server` (a URL without a database).
pub async fn fresh_postgres_database(server: &str) -> String {
    let name = format!(
        "chaperone_test_faults_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let server = server.trim_end_matches('/');
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {server} cannot be reached: {error}"));
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create a test database");
    format!("{server}/{name}")
}

pub struct Store {
    pool: AnyPool,
}

/// The acknowledged events checked against the store.
#[derive(Debug, Default, Clone, Copy)]
pub struct Audit {
    pub acknowledged: usize,
    /// Acknowledged and in the inbox.
    pub stored: usize,
    /// Acknowledged, in the inbox and processed (not set aside as failed).
    pub processed: usize,
    /// Acknowledged and their participant in the register.
    pub in_register: usize,
    /// Acknowledged and not in the inbox.
    pub lost: usize,
    /// Inbox rows set aside as failed.
    pub failed: usize,
}

impl Audit {
    pub fn complete(&self) -> bool {
        self.lost == 0
            && self.processed == self.acknowledged
            && self.in_register == self.acknowledged
    }
}

impl Store {
    pub async fn connect(database_url: &str) -> Store {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(database_url)
            .await
            .expect("the test reads the store");
        Store { pool }
    }

    /// Checks every acknowledged (dedup key, session key) against the inbox and register.
    pub async fn audit(&self, acknowledged: &[(String, String)]) -> Result<Audit, sqlx::Error> {
        let inbox: HashMap<String, (bool, bool)> =
            sqlx::query("SELECT dedup_key, processed_at, failed_at FROM inbox")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| {
                    let processed = row.try_get::<Option<i64>, _>("processed_at")?.is_some();
                    let failed = row.try_get::<Option<i64>, _>("failed_at")?.is_some();
                    Ok((row.try_get("dedup_key")?, (processed, failed)))
                })
                .collect::<Result<_, sqlx::Error>>()?;
        let sessions: HashSet<String> = sqlx::query("SELECT session_key FROM participant_sessions")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|row| row.try_get("session_key"))
            .collect::<Result<_, _>>()?;
        let mut audit = Audit {
            acknowledged: acknowledged.len(),
            failed: inbox.values().filter(|(_, failed)| *failed).count(),
            ..Audit::default()
        };
        for (dedup_key, session_key) in acknowledged {
            match inbox.get(dedup_key) {
                None => audit.lost += 1,
                Some((processed, failed)) => {
                    audit.stored += 1;
                    if *processed && !*failed {
                        audit.processed += 1;
                    }
                }
            }
            if sessions.contains(session_key) {
                audit.in_register += 1;
            }
        }
        Ok(audit)
    }

    /// Audits until every acknowledged event is processed into the register, or `timeout`.
    pub async fn audit_when_settled(
        &self,
        acknowledged: &[(String, String)],
        timeout: Duration,
    ) -> Audit {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let audit = self.audit(acknowledged).await;
            if let Ok(audit) = audit {
                if audit.complete() || tokio::time::Instant::now() >= deadline {
                    return audit;
                }
            } else if tokio::time::Instant::now() >= deadline {
                return audit.expect("the store can be read");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Unknown-participant findings: (finding id, session key), one row per finding.
    pub async fn unknown_participant_findings(&self) -> Result<Vec<(i64, String)>, sqlx::Error> {
        sqlx::query(
            "SELECT id, subject FROM findings WHERE rule = 'unknown_participant' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            let subject: String = row.try_get("subject")?;
            let session = subject
                .strip_prefix("session:")
                .unwrap_or(&subject)
                .to_string();
            Ok((row.try_get("id")?, session))
        })
        .collect()
    }

    /// Webhook alert deliveries by status (`sent`, `pending`, `failed`, ...).
    pub async fn webhook_deliveries_by_status(&self) -> Result<HashMap<String, i64>, sqlx::Error> {
        sqlx::query(
            "SELECT status, COUNT(*) AS deliveries FROM alert_deliveries \
             WHERE channel = 'webhook' GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get("status")?, row.try_get("deliveries")?)))
        .collect()
    }
}
