//! `chaperone import`: loads schools, their connected platform accounts and their people from a
//! TOML file (which may point at a CSV of people) or a CSV on its own. Importing the same
//! file twice changes nothing; people missing from a later file are kept, since the
//! register still refers to them.
//!
//! The console's directory upload goes through the same reading, checks and writes
//! ([`parse_people_csv`], [`write_people`]): a file is refused with every problem it has,
//! by CSV row and `ref`, and a preview is the import itself, rolled back.

mod alerts;
mod connections;
mod people_csv;
mod spec;
mod store;
pub mod uploads;

use std::path::Path;

pub use people_csv::{parse as parse_people_csv, PeopleCsv};
pub use spec::{
    check_people, check_settings, check_timezone, ImportFile, PersonSpec, Problem, SchoolSpec,
};
pub use store::{
    preview_people, write_people, Change, ImportReport, Outcome, PeopleWritten, PersonOutcome,
};

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
    /// The people of a school, with every problem found (never naming a person but by `ref`).
    #[error("school {school}: {}", list(problems))]
    People {
        school: String,
        problems: Vec<Problem>,
    },
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
        let csv = people_csv::read(path)?;
        store::import_people_only(db, slug, &csv).await
    } else {
        let file = spec::read(path)?;
        store::import(db, keys, &file).await
    }
}

/// Problems one to a line, after how many there are.
fn list(problems: &[Problem]) -> String {
    let count = match problems.len() {
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    };
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| format!("\n  {problem}"))
        .collect();
    format!("{count} with its people:{}", lines.concat())
}
