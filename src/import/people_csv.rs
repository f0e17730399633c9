//! People from a CSV in the shape an MIS export has: one row per person, columns
//! `ref, kind, role, forename, surname, email, other_emails, zoom_user_id, children`
//! (header names are matched case-insensitively; lists are separated by `;`).

use std::collections::HashMap;
use std::path::Path;

use super::{ImportError, PersonSpec};

const REQUIRED: [&str; 4] = ["ref", "kind", "forename", "surname"];

pub fn read(path: &Path) -> Result<Vec<PersonSpec>, ImportError> {
    let display = path.display().to_string();
    let invalid = |detail: String| ImportError::Invalid {
        path: display.clone(),
        detail,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(path)
        .map_err(|error| match error.kind() {
            csv::ErrorKind::Io(_) => ImportError::Read {
                path: display.clone(),
                source: std::io::Error::other(error.to_string()),
            },
            _ => invalid(error.to_string()),
        })?;
    let columns: HashMap<String, usize> = reader
        .headers()
        .map_err(|error| invalid(error.to_string()))?
        .iter()
        .enumerate()
        .map(|(index, name)| (name.trim().to_ascii_lowercase().replace(' ', "_"), index))
        .collect();
    if let Some(missing) = REQUIRED.iter().find(|name| !columns.contains_key(**name)) {
        return Err(invalid(format!("the header has no {missing} column")));
    }
    let mut people = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|error| invalid(format!("row {}: {error}", line + 2)))?;
        let cell = |name: &str| {
            columns
                .get(name)
                .and_then(|index| record.get(*index))
                .unwrap_or_default()
                .to_string()
        };
        let list = |name: &str| -> Vec<String> {
            cell(name)
                .split(';')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(String::from)
                .collect()
        };
        let mut emails = list("email");
        emails.extend(list("other_emails"));
        let role = cell("role");
        people.push(PersonSpec {
            reference: cell("ref"),
            kind: cell("kind"),
            role: (!role.is_empty()).then_some(role),
            name: format!("{} {}", cell("forename"), cell("surname"))
                .trim()
                .to_string(),
            emails,
            zoom_user_ids: list("zoom_user_id"),
            children: list("children"),
        });
    }
    Ok(people)
}
