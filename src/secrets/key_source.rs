//! Where the sealing key comes from: `CHAPERONE__SECRETS__KEY`, else the file named by
//! `CHAPERONE__SECRETS__KEY_FILE`, else `secrets.key` beside the SQLite database (or in
//! `data/` on PostgreSQL), made on first start so that a single instance works with no
//! setting. Several instances sharing a database must be given the same key.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

use super::{SecretKeys, KEY_BYTES};
use crate::config::SecretsSettings;

#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    #[error(
        "{setting} is not a 256-bit key: give 32 random bytes in base64 \
         (for example: openssl rand -base64 32)"
    )]
    NotAKey { setting: String },
    #[error("cannot read the secrets key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the secrets key file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

/// Where the current key was found, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

pub fn load_keys(
    settings: &SecretsSettings,
    database_url: &str,
) -> Result<(SecretKeys, KeyOrigin), KeySourceError> {
    let (current, origin) = if !settings.key.is_empty() {
        (
            parse_key(settings.key.expose(), "CHAPERONE__SECRETS__KEY")?,
            KeyOrigin::Environment,
        )
    } else if !settings.key_file.trim().is_empty() {
        let path = PathBuf::from(settings.key_file.trim());
        (read_key_file(&path)?, KeyOrigin::File(path))
    } else {
        let path = default_key_file(database_url);
        if path.exists() {
            (read_key_file(&path)?, KeyOrigin::File(path))
        } else {
            (create_key_file(&path)?, KeyOrigin::Generated(path))
        }
    };
    let previous = settings
        .previous_keys
        .expose()
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| parse_key(key, "CHAPERONE__SECRETS__PREVIOUS_KEYS"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((SecretKeys::new(&current, &previous), origin))
}

/// `secrets.key` in the SQLite database's folder, or `data/secrets.key` for PostgreSQL.
pub fn default_key_file(database_url: &str) -> PathBuf {
    let folder = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|path| path.split('?').next().unwrap_or(path))
        .and_then(|path| Path::new(path).parent().map(Path::to_path_buf))
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("data"));
    folder.join("secrets.key")
}

fn parse_key(text: &str, setting: &str) -> Result<[u8; KEY_BYTES], KeySourceError> {
    let text = text.trim();
    // 64 hex digits are also valid base64 (of 48 bytes): take whichever gives a key.
    [
        STANDARD.decode(text).ok(),
        STANDARD_NO_PAD.decode(text).ok(),
        hex::decode(text).ok(),
    ]
    .into_iter()
    .flatten()
    .find_map(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok())
    .ok_or_else(|| KeySourceError::NotAKey {
        setting: setting.to_string(),
    })
}

fn read_key_file(path: &Path) -> Result<[u8; KEY_BYTES], KeySourceError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeySourceError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_key(&text, &format!("the key file {}", path.display()))
}

fn create_key_file(path: &Path) -> Result<[u8; KEY_BYTES], KeySourceError> {
    let failed = |source| KeySourceError::Create {
        path: path.display().to_string(),
        source,
    };
    if let Some(folder) = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder).map_err(failed)?;
    }
    let mut key = [0u8; KEY_BYTES];
    getrandom::getrandom(&mut key).expect("the operating system provides random bytes");
    write_private(path, format!("{}\n", STANDARD.encode(key)).as_bytes()).map_err(failed)?;
    Ok(key)
}

/// Writes a file only its owner can read; never replaces one that exists.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings(key: &str, key_file: &str, previous: &str) -> SecretsSettings {
        SecretsSettings {
            key: Secret::new(key),
            key_file: key_file.to_string(),
            previous_keys: Secret::new(previous),
        }
    }

    #[test]
    fn the_key_beside_the_sqlite_file_is_made_once_and_then_reused() {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/chaperone.db", folder.path().display());
        let (first, origin) = load_keys(&settings("", "", ""), &url).unwrap();
        let path = folder.path().join("secrets.key");
        assert_eq!(origin, KeyOrigin::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is private: {mode:o}");
        }
        let (second, origin) = load_keys(&settings("", "", ""), &url).unwrap();
        assert_eq!(origin, KeyOrigin::File(path));
        assert_eq!(first.current_key_id(), second.current_key_id());
    }

    #[test]
    fn a_key_in_the_environment_wins_and_previous_keys_open_old_values() {
        let old = STANDARD.encode([7u8; KEY_BYTES]);
        let new = hex::encode([8u8; KEY_BYTES]);
        let (before, _) = load_keys(&settings(&old, "", ""), "postgres://x/y").unwrap();
        let sealed = before.seal(&Secret::new("token"), "c");
        let (after, origin) = load_keys(&settings(&new, "", &old), "postgres://x/y").unwrap();
        assert_eq!(origin, KeyOrigin::Environment);
        assert_eq!(after.open(&sealed, "c").unwrap().expose(), "token");
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused_naming_the_setting() {
        let error = load_keys(&settings("c2hvcnQ=", "", ""), "sqlite://x.db")
            .unwrap_err()
            .to_string();
        assert!(error.contains("CHAPERONE__SECRETS__KEY"), "{error}");
    }

    #[test]
    fn a_named_key_file_that_is_missing_is_an_error_not_a_new_key() {
        let folder = tempfile::tempdir().unwrap();
        let missing = folder.path().join("mounted/secrets.key");
        let error = load_keys(
            &settings("", missing.to_str().unwrap(), ""),
            "sqlite://x.db",
        )
        .unwrap_err();
        assert!(matches!(error, KeySourceError::Read { .. }), "{error}");
        assert!(!missing.exists());
    }

    #[test]
    fn postgres_keeps_its_key_in_the_data_folder() {
        assert_eq!(
            default_key_file("postgres://postgres@127.0.0.1/chaperone"),
            PathBuf::from("data/secrets.key")
        );
        assert_eq!(
            default_key_file("sqlite://data/chaperone.db?mode=rwc"),
            PathBuf::from("data/secrets.key")
        );
    }
}
