//! `chaperone backup --to FILE`: a consistent copy of the SQLite database, taken while the
//! service runs. PostgreSQL is backed up with its own tools (`pg_dump -Fc`); see the README's
//! "Backups and restore".
//!
//! The copy is made by `VACUUM INTO`, which reads one snapshot of the database in a single
//! read transaction: under WAL it neither waits for nor blocks the service's writer, and it
//! includes every commit the WAL holds. It is written beside the target under another name,
//! flushed to disk, checked, and only then given the target's name, so a file with that name
//! is always a whole backup.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::config::DatabaseSettings;
use crate::db::{Backend, DbError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the database is PostgreSQL: back it up with pg_dump -Fc (see \"Backups and restore\" \
         in the README); chaperone backup copies SQLite databases only"
    )]
    Postgres,
    #[error(transparent)]
    Scheme(#[from] DbError),
    #[error("{0} already exists: give a new file name, a backup never replaces a file")]
    TargetExists(String),
    #[error("cannot open the SQLite database {path} (it must exist)")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot copy the database into {path}")]
    Copy { path: String, source: sqlx::Error },
    #[error("cannot write the backup {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the copy in {path} does not pass SQLite's integrity check: {problem}")]
    Corrupt { path: String, problem: String },
}

/// What was written, for the command's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// The newest migration the copy holds: the release it can be restored under.
    pub schema_version: Option<i64>,
}

/// Copies the SQLite database named by `settings` into `target`, which must not exist.
pub async fn backup_sqlite(
    settings: &DatabaseSettings,
    target: &Path,
) -> Result<BackupReport, BackupError> {
    let url = settings.url.expose();
    if url.parse::<Backend>()? == Backend::Postgres {
        return Err(BackupError::Postgres);
    }
    if target.exists() {
        return Err(BackupError::TargetExists(target.display().to_string()));
    }
    let mut source = open(url, settings, false)
        .await
        .map_err(|source| BackupError::Open {
            path: sqlite_path(url).to_string(),
            source,
        })?;
    let partial = partial_path(target);
    let copied = copy_into(&mut source, &partial).await;
    let _ = source.close().await;
    let finished = match copied {
        Ok(()) => finish(settings, &partial, target).await,
        Err(error) => Err(error),
    };
    if finished.is_err() {
        let _ = remove_if_present(&partial);
    }
    finished
}

/// Writes one snapshot of the database into `partial`.
async fn copy_into(source: &mut SqliteConnection, partial: &Path) -> Result<(), BackupError> {
    // Left by an interrupted backup: never a whole copy, and ours by its name. The copy holds
    // personal data: its file is made private before anything is written into it (VACUUM INTO
    // fills an empty file).
    remove_if_present(partial)
        .and_then(|()| create_private(partial))
        .map_err(|source| BackupError::Write {
            path: partial.display().to_string(),
            source,
        })?;
    sqlx::query("VACUUM INTO ?")
        .bind(partial.to_string_lossy().into_owned())
        .execute(source)
        .await
        .map_err(|source| BackupError::Copy {
            path: partial.display().to_string(),
            source,
        })?;
    Ok(())
}

/// Flushes and checks the copy, then gives it the target's name without replacing anything.
async fn finish(
    settings: &DatabaseSettings,
    partial: &Path,
    target: &Path,
) -> Result<BackupReport, BackupError> {
    let write_error = |source| BackupError::Write {
        path: target.display().to_string(),
        source,
    };
    // VACUUM INTO does not fsync what it wrote.
    std::fs::File::open(partial)
        .and_then(|file| file.sync_all())
        .map_err(write_error)?;
    let schema_version = check_copy(settings, partial, target).await?;
    // A hard link fails when the name is taken, where a rename would silently replace it.
    std::fs::hard_link(partial, target).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::TargetExists(target.display().to_string())
        } else {
            write_error(source)
        }
    })?;
    std::fs::remove_file(partial).map_err(write_error)?;
    sync_folder(target).map_err(write_error)?;
    let bytes = std::fs::metadata(target).map_err(write_error)?.len();
    Ok(BackupReport {
        path: target.to_path_buf(),
        bytes,
        schema_version,
    })
}

/// Runs SQLite's integrity check on the copy and reads its newest migration.
async fn check_copy(
    settings: &DatabaseSettings,
    partial: &Path,
    target: &Path,
) -> Result<Option<i64>, BackupError> {
    let corrupt = |problem: String| BackupError::Corrupt {
        path: target.display().to_string(),
        problem,
    };
    let url = format!("sqlite://{}", partial.display());
    let mut copy = open(&url, settings, true)
        .await
        .map_err(|error| corrupt(error.to_string()))?;
    let checked: Result<(String, Option<i64>), sqlx::Error> = async {
        let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut copy)
            .await?;
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut copy)
            .await?;
        Ok((verdict, version))
    }
    .await;
    let _ = copy.close().await;
    match checked {
        Ok((verdict, version)) if verdict == "ok" => Ok(version),
        Ok((verdict, _)) => Err(corrupt(verdict)),
        Err(error) => Err(corrupt(error.to_string())),
    }
}

/// One connection of our own, never creating the file: the service's pool settings (WAL,
/// one connection) are for serving, not for reading a snapshot.
async fn open(
    url: &str,
    settings: &DatabaseSettings,
    read_only: bool,
) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .read_only(read_only)
        .busy_timeout(settings.acquire_timeout)
        .connect()
        .await
}

/// `FILE` becomes `.FILE.partial` in the same folder, so the final link stays on one file system.
fn partial_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chaperone-backup".to_string());
    target.with_file_name(format!(".{name}.partial"))
}

fn sqlite_path(url: &str) -> &str {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    path.split('?').next().unwrap_or(path)
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Makes the new name itself durable, not only the file's contents.
fn sync_folder(file: &Path) -> std::io::Result<()> {
    let folder = file
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_written_under_a_hidden_name_beside_the_target() {
        assert_eq!(
            partial_path(Path::new("/backups/chaperone-2025-03-11.db")),
            PathBuf::from("/backups/.chaperone-2025-03-11.db.partial")
        );
        assert_eq!(
            partial_path(Path::new("copy.db")),
            PathBuf::from(".copy.db.partial")
        );
    }

    #[test]
    fn the_database_path_is_read_from_either_url_form() {
        assert_eq!(
            sqlite_path("sqlite://data/chaperone.db"),
            "data/chaperone.db"
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/chaperone/chaperone.db?mode=rwc"),
            "/var/lib/chaperone/chaperone.db"
        );
    }
}
