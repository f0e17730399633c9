//! `chaperone import`: loads schools, their connected platform accounts and their people from a
//! TOML file (which may point at a CSV of people) or a CSV on its own. Importing the same
//! file twice changes nothing; people missing from a later file are kept, since the
//! register still refers to them.

mod alerts;
mod connections;
mod people_csv;
mod spec;
mod store;

use std::path::Path;

pub use spec::{ImportFile, PersonSpec, SchoolSpec};
pub use store::ImportReport;

use crate::db::Db;
use crate::secrets::SecretKeys;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {detail}")]
    Invalid { path: String, detail: String },
    #[error("{0}")]
    Rejected(String),
    #[error("the database refused the import: {0}")]
    Database(#[from] sqlx::Error),
}

/// Imports a `.toml` school file, or a `.csv` of people into the school `school_slug`.
pub async fn import_path(
    db: &Db,
    keys: &SecretKeys,
    path: &Path,
    school_slug: Option<&str>,
) -> Result<ImportReport, ImportError> {
    let is_csv = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    if is_csv {
        let slug = school_slug.ok_or_else(|| {
            ImportError::Rejected(
                "a CSV of people needs --school SLUG to say which school it belongs to".into(),
            )
        })?;
        let people = people_csv::read(path)?;
        store::import_people_only(db, slug, &people).await
    } else {
        let file = spec::read(path)?;
        store::import(db, keys, &file).await
    }
}
