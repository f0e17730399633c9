//! People from a CSV in the shape an MIS export has: one row per person, columns
//! `ref, kind, role, forename, surname, email, other_emails, zoom_user_id, children`
//! (header names are matched case-insensitively; lists are separated by `;`).
//!
//! Read from a file (`chaperone import`) or from the bytes of an upload (the console); a row
//! that cannot be read is a [`Problem`] of its own, so one bad row never hides the others.

use std::collections::HashMap;
use std::path::Path;

use super::spec::Problem;
use super::{ImportError, PersonSpec};

const REQUIRED: [&str; 4] = ["ref", "kind", "forename", "surname"];

/// Spreadsheet programs start a "CSV UTF-8" file with a byte order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The people a CSV holds, and what is wrong with the rows that could not be read.
#[derive(Debug, Default)]
pub struct PeopleCsv {
    pub people: Vec<PersonSpec>,
    pub problems: Vec<Problem>,
}

pub fn read(path: &Path) -> Result<PeopleCsv, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(parse(&bytes))
}

pub fn parse(bytes: &[u8]) -> PeopleCsv {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let mut parsed = PeopleCsv::default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        parsed
            .problems
            .push(Problem::new(None, None, "the file is empty"));
        return parsed;
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(bytes);
    let header = match reader.byte_headers() {
        Ok(header) => header.clone(),
        Err(error) => {
            parsed.problems.push(Problem::new(
                Some(1),
                None,
                format!("the header cannot be read: {}", describe(&error)),
            ));
            return parsed;
        }
    };
    let mut columns: HashMap<String, usize> = HashMap::new();
    for (index, name) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(name)
            .trim()
            .to_ascii_lowercase()
            .replace(' ', "_");
        columns.entry(name).or_insert(index);
    }
    for missing in REQUIRED.iter().filter(|name| !columns.contains_key(**name)) {
        parsed.problems.push(Problem::new(
            Some(1),
            None,
            format!("the header has no {missing} column"),
        ));
    }
    if !parsed.problems.is_empty() {
        return parsed;
    }
    let mut lines = Lines {
        bytes,
        offset: 0,
        line: 1,
    };
    let mut record = csv::ByteRecord::new();
    loop {
        let before = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            // Spreadsheets write rows of empty cells after the last one that had something.
            Ok(true) if record.iter().all(<[u8]>::is_empty) => {}
            Ok(true) => {
                let row = lines.at(record.position().map_or(before, csv::Position::byte));
                match person(&columns, header.len(), &record, row) {
                    Ok(person) => parsed.people.push(person),
                    Err(problem) => parsed.problems.push(problem),
                }
            }
            Err(error) => {
                let row = lines.at(error.position().map_or(before, csv::Position::byte));
                parsed.problems.push(Problem::new(
                    Some(row),
                    None,
                    format!("the row cannot be read: {}", describe(&error)),
                ));
            }
        }
    }
    if parsed.people.is_empty() && parsed.problems.is_empty() {
        parsed
            .problems
            .push(Problem::new(None, None, "the file has no people in it"));
    }
    parsed
}

/// The line of the file a record starts on. The csv crate's own positions are where the
/// record before it ended, and its line count skips blank lines: a row number from either
/// would point the admin at the wrong row.
struct Lines<'a> {
    bytes: &'a [u8],
    /// How far `line` has been counted.
    offset: usize,
    line: u64,
}

impl Lines<'_> {
    /// The line of the first byte at or after `from` that is not a line break.
    fn at(&mut self, from: u64) -> u64 {
        let from = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        let start = from
            + self.bytes[from..]
                .iter()
                .take_while(|byte| matches!(byte, b'\r' | b'\n'))
                .count();
        if start > self.offset {
            let breaks = self.bytes[self.offset..start]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count();
            self.line += breaks as u64;
            self.offset = start;
        }
        self.line
    }
}

/// The person on one row, or why the row cannot be read.
fn person(
    columns: &HashMap<String, usize>,
    width: usize,
    record: &csv::ByteRecord,
    row: u64,
) -> Result<PersonSpec, Problem> {
    let cell = |name: &str| -> Result<String, ()> {
        let bytes = columns
            .get(name)
            .and_then(|index| record.get(*index))
            .unwrap_or_default();
        String::from_utf8(bytes.to_vec()).map_err(|_| ())
    };
    let reference = cell("ref").ok();
    if record.len() != width {
        return Err(Problem::new(
            Some(row),
            reference.as_deref(),
            format!(
                "the row has {} cells where the header has {width}",
                record.len()
            ),
        ));
    }
    let not_text = || {
        Problem::new(
            Some(row),
            reference.as_deref(),
            "the row is not UTF-8 text (save the file as \"CSV UTF-8\")",
        )
    };
    let text = |name: &str| cell(name).map_err(|()| not_text());
    let list = |name: &str| -> Result<Vec<String>, Problem> {
        Ok(text(name)?
            .split(';')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(String::from)
            .collect())
    };
    let mut emails = list("email")?;
    emails.extend(list("other_emails")?);
    let role = text("role")?;
    Ok(PersonSpec {
        reference: text("ref")?,
        kind: text("kind")?,
        role: (!role.is_empty()).then_some(role),
        name: format!("{} {}", text("forename")?, text("surname")?)
            .trim()
            .to_string(),
        emails,
        zoom_user_ids: list("zoom_user_id")?,
        children: list("children")?,
        row: Some(row),
    })
}

/// A CSV error in words, without the cell values some of its kinds carry.
fn describe(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("it has {len} cells where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "it is not UTF-8 text".into(),
        _ => "it is not in CSV form".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "ref,kind,role,forename,surname,email,other_emails,zoom_user_id,children\n";

    #[test]
    fn rows_are_read_with_their_line_numbers() {
        let text = format!(
            "\u{FEFF}{HEADER}S-1,staff,dsl,Ravi,Patel,r@x.example,R2@x.example; ,Z1,\n\
             \n\
             PA-1,parent,,Sam,Smith,s@x.example,,,P-1;P-2\n"
        );
        let csv = parse(text.as_bytes());
        assert!(csv.problems.is_empty(), "{:?}", csv.problems);
        assert_eq!(csv.people.len(), 2);
        assert_eq!(csv.people[0].row, Some(2));
        assert_eq!(csv.people[0].emails, ["r@x.example", "R2@x.example"]);
        assert_eq!(csv.people[0].role.as_deref(), Some("dsl"));
        assert_eq!(csv.people[1].row, Some(4));
        assert_eq!(csv.people[1].name, "Sam Smith");
        assert_eq!(csv.people[1].children, ["P-1", "P-2"]);
    }

    #[test]
    fn row_numbers_count_windows_line_ends_and_lines_inside_quotes() {
        let text = HEADER.replace('\n', "\r\n")
            + "P-1,pupil,,Ada,Hill,,,,\r\n\r\n\"P-2\",pupil,,\"Bo\r\nBea\",Hill,,,,\r\nP-3,pupil,,Cy,Hill,,,,\r\n";
        let csv = parse(text.as_bytes());
        let rows: Vec<Option<u64>> = csv.people.iter().map(|p| p.row).collect();
        assert_eq!(rows, [Some(2), Some(4), Some(6)]);
    }

    #[test]
    fn a_bad_row_is_a_problem_and_the_others_are_still_read() {
        let mut bytes = format!("{HEADER}P-1,pupil,,Ada,Hill,,,,\nP-2,pupil,,Bo\n").into_bytes();
        bytes.extend_from_slice(b"P-3,pupil,,Jos\xE9,Hill,,,,\nP-4,pupil,,Cy,Hill,,,,\n");
        let csv = parse(&bytes);
        let said: Vec<String> = csv.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "row 3, ref P-2: the row has 4 cells where the header has 9",
                "row 4, ref P-3: the row is not UTF-8 text (save the file as \"CSV UTF-8\")",
            ]
        );
        let read: Vec<&str> = csv.people.iter().map(|p| p.reference.as_str()).collect();
        assert_eq!(read, ["P-1", "P-4"]);
    }

    #[test]
    fn a_header_without_the_required_columns_names_each() {
        let csv = parse(b"ref,name,email\nP-1,Ada Hill,a@x.example\n");
        let said: Vec<String> = csv.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "row 1: the header has no kind column",
                "row 1: the header has no forename column",
                "row 1: the header has no surname column",
            ]
        );
        assert!(csv.people.is_empty());
    }

    #[test]
    fn an_empty_file_is_a_problem() {
        assert_eq!(parse(b"").problems[0].message, "the file is empty");
        assert_eq!(
            parse(HEADER.as_bytes()).problems[0].message,
            "the file has no people in it"
        );
    }
}
