//! The database: one pool over SQLite (embedded default) or PostgreSQL, chosen by the
//! URL's scheme, and the migrations for each.

pub mod claim;
pub mod decode;
pub mod marks;
pub mod time;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::config::DatabaseSettings;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which server is behind the pool; a few statements differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "CHAPERONE__DATABASE__URL must start with sqlite:// or postgres:// (got a URL starting with {scheme:?})"
    )]
    UnknownScheme { scheme: String },
    #[error("cannot create the folder for the SQLite database at {path}: {source}")]
    CreateFolder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("the migrations left rows that refer to missing rows (PRAGMA foreign_key_check)")]
    ForeignKeysBroken,
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Backend {
    /// The server behind a connection, for code handed a connection rather than the pool.
    pub fn of(connection: &sqlx::AnyConnection) -> Backend {
        if connection.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

impl FromStr for Backend {
    type Err = DbError;
    fn from_str(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnknownScheme {
                scheme: url.split(':').next().unwrap_or_default().to_string(),
            })
        }
    }
}

/// How many ids one `IN (…)` list holds when a batch is read in one query per chunk: well
/// under every backend's limit on a statement's size.
pub const IDS_PER_QUERY: usize = 500;

/// A cheap, cloneable handle on the pool and the backend behind it.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    ingestion: Arc<IngestionPriority>,
}

/// On SQLite's one connection, committing accepted webhooks goes first: a platform is
/// waiting for the answer, the workers are not. Workers step aside while the inbox writer
/// waits, for a bounded time so that they are never starved.
#[derive(Debug, Default)]
struct IngestionPriority {
    waiting: AtomicUsize,
    finished: Notify,
}

/// The longest a worker steps aside for the inbox writer before taking its turn anyway.
const MAX_YIELD: Duration = Duration::from_millis(25);

/// Held by the inbox writer from before it asks for the connection until it has committed.
pub struct IngestionTurn(Arc<IngestionPriority>);

impl Drop for IngestionTurn {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.finished.notify_waiters();
    }
}

impl Db {
    /// Connects; for SQLite, creates the file (and its folder) when missing and turns on WAL.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbError> {
        install_default_drivers();
        let url = settings.url.expose();
        let backend: Backend = url.parse()?;
        // SQLite has one writer. Several connections contending for it wait in SQLite's busy
        // handler, which sleeps (1, 2, 5 … 100 ms) instead of queueing, and refuses a read
        // that turns into a write outright. One connection makes every caller queue in order
        // in the pool instead, with no sleeping and no "database is locked".
        let max_connections = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => settings.max_connections,
        };
        let options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(settings.acquire_timeout);
        let pool = match backend {
            Backend::Sqlite => {
                let url = prepare_sqlite_url(url)?;
                let busy_timeout_ms = settings.acquire_timeout.as_millis();
                let synchronous = settings.sqlite_synchronous.pragma_value();
                options
                    .after_connect(move |connection, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the single writer; FULL fsyncs the WAL
                            // at every commit, so what was acknowledged is on disk (NORMAL would
                            // leave it to the next checkpoint: safe from a crash, not a power cut).
                            connection
                                .execute(
                                    format!(
                                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_timeout_ms};"
                                    )
                                    .as_str(),
                                )
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
            }
            Backend::Postgres => options.connect(url).await,
        }
        .map_err(DbError::Connect)?;
        Ok(Db {
            pool,
            backend,
            ingestion: Arc::default(),
        })
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => {
                // A table whose constraints change is rebuilt (SQLite cannot alter them), which
                // SQLite allows only with foreign keys off; they are checked before going on.
                let mut connection = self.pool.acquire().await.map_err(DbError::Connect)?;
                connection
                    .execute("PRAGMA foreign_keys = OFF")
                    .await
                    .map_err(DbError::Connect)?;
                let migrated = SQLITE_MIGRATIONS.run(&mut *connection).await;
                let violations = sqlx::query("PRAGMA foreign_key_check")
                    .fetch_all(&mut *connection)
                    .await;
                connection
                    .execute("PRAGMA foreign_keys = ON")
                    .await
                    .map_err(DbError::Connect)?;
                migrated?;
                if !violations.map_err(DbError::Connect)?.is_empty() {
                    return Err(DbError::ForeignKeysBroken);
                }
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Marks the inbox writer as waiting for (then using) the database until dropped.
    pub fn ingestion_turn(&self) -> IngestionTurn {
        self.ingestion.waiting.fetch_add(1, Ordering::SeqCst);
        IngestionTurn(self.ingestion.clone())
    }

    /// Called by workers before a step: on SQLite, waits (up to a bound) while the inbox
    /// writer wants the connection.
    pub async fn yield_to_ingestion(&self) {
        if self.backend != Backend::Sqlite {
            return;
        }
        let deadline = tokio::time::Instant::now() + MAX_YIELD;
        loop {
            let finished = self.ingestion.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            if self.ingestion.waiting.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, finished).await.is_err() {
                return;
            }
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn is_reachable(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Whether the database answers a trivial query within `limit`: a server that is down
    /// makes the pool wait its whole acquire timeout, longer than a probe waits.
    pub async fn is_reachable_within(&self, limit: std::time::Duration) -> bool {
        tokio::time::timeout(limit, self.is_reachable())
            .await
            .unwrap_or(false)
    }
}

/// Makes sure the SQLite file can be created: its folder exists and the URL asks for creation.
fn prepare_sqlite_url(url: &str) -> Result<String, DbError> {
    let without_scheme = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = without_scheme.split('?').next().unwrap_or_default();
    if let Some(folder) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder).map_err(|source| DbError::CreateFolder {
            path: folder.display().to_string(),
            source,
        })?;
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// True when the error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A private in-memory SQLite database holding `schema` (statements separated by `;`), for
/// unit tests of SQL that does not need the whole schema.
#[cfg(test)]
pub(crate) async fn memory_database(schema: &str) -> AnyPool {
    install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("an in-memory SQLite database");
    pool.execute(schema).await.expect("the test schema");
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_migrations() {
        let versions = |migrator: &Migrator| {
            migrator
                .iter()
                .map(|migration| (migration.version, migration.description.to_string()))
                .collect::<Vec<_>>()
        };
        let sqlite = versions(&SQLITE_MIGRATIONS);
        assert!(sqlite.len() >= 9, "{sqlite:?}");
        assert_eq!(sqlite, versions(&POSTGRES_MIGRATIONS));
    }

    #[test]
    fn the_scheme_selects_the_backend() {
        assert_eq!(
            "sqlite://data/x.db".parse::<Backend>().unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            "postgres://u@h/db".parse::<Backend>().unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            "postgresql://u@h/db".parse::<Backend>().unwrap(),
            Backend::Postgres
        );
    }

    #[test]
    fn an_unknown_scheme_is_an_error_never_a_file() {
        let error = "mysql://h/db".parse::<Backend>().unwrap_err().to_string();
        assert!(error.contains("CHAPERONE__DATABASE__URL"), "{error}");
        assert!(error.contains("mysql"), "{error}");
    }

    #[test]
    fn sqlite_urls_ask_for_the_file_to_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/x.db", dir.path().display());
        assert!(prepare_sqlite_url(&url).unwrap().ends_with("?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
    }
}
