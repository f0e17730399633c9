//! The register as CSV, one row per stay in a call, times in the school's own timezone
//! (with their UTC offset, so the file is unambiguous across the clock changes). Stays in
//! breakout rooms follow a call's stays as rows of their own, named in the `room` column
//! (empty for a stay in the call as a whole).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{MeetingRecord, PersonRef};

const HEADER: [&str; 20] = [
    "meeting_record_id",
    "platform",
    "meeting_id",
    "topic",
    "host",
    "scheduled_start",
    "scheduled_end",
    "started_at",
    "ended_at",
    "participant_role",
    "person_ref",
    "person_name",
    "identity_basis",
    "possibly",
    "display_name_in_call",
    "is_host",
    "joined_at",
    "left_at",
    "left_at_inferred",
    "room",
];

/// Renders `records` with the header; `timezone_of` gives each school's timezone.
pub fn render(
    records: &[MeetingRecord],
    timezone_of: impl Fn(i64) -> Tz,
) -> Result<Vec<u8>, csv::Error> {
    let mut out = header()?;
    write_rows(&mut out, records, timezone_of)?;
    Ok(out)
}

/// The header row: the first line of every export, sent before any call is read.
pub fn header() -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

/// Appends the rows of `records` to `out` (a part of an export, after its header).
pub fn write_rows(
    out: &mut Vec<u8>,
    records: &[MeetingRecord],
    timezone_of: impl Fn(i64) -> Tz,
) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    for record in records {
        write_record(&mut writer, record, timezone_of(record.summary.school_id))?;
    }
    writer.flush()?;
    Ok(())
}

/// One call's rows: its stays in the call, then its stays in breakout rooms.
fn write_record(
    writer: &mut csv::Writer<&mut Vec<u8>>,
    record: &MeetingRecord,
    tz: Tz,
) -> Result<(), csv::Error> {
    let meeting = &record.summary;
    let time = |at: Option<DateTime<Utc>>| {
        at.map(|t| t.with_timezone(&tz).to_rfc3339())
            .unwrap_or_default()
    };
    let host = meeting
        .host
        .as_ref()
        .map(|person| person.name.as_str())
        .unwrap_or_default();
    // The same for every row of the call: made once.
    let meeting_cells: [Cow<str>; 9] = [
        meeting.id.to_string().into(),
        meeting.platform.as_str().into(),
        safe_cell(meeting.meeting_id.as_deref().unwrap_or_default()),
        safe_cell(meeting.topic.as_deref().unwrap_or_default()),
        safe_cell(host),
        time(meeting.scheduled_start).into(),
        time(meeting.scheduled_end).into(),
        time(meeting.started_at).into(),
        time(meeting.ended_at).into(),
    ];
    let mut write_stay = |who: Who, stay: Stay, room: &str| -> Result<(), csv::Error> {
        for cell in &meeting_cells {
            writer.write_field(cell.as_bytes())?;
        }
        writer.write_field(who.role)?;
        writer.write_field(
            who.person
                .map(|p| safe_cell(&p.reference))
                .unwrap_or_default()
                .as_bytes(),
        )?;
        writer.write_field(
            who.person
                .map(|p| safe_cell(&p.name))
                .unwrap_or_default()
                .as_bytes(),
        )?;
        writer.write_field(who.identity_basis)?;
        writer.write_field(possibly(who.possibly))?;
        writer.write_field(safe_cell(who.display_name.unwrap_or_default()).as_bytes())?;
        writer.write_field(if who.is_host { "true" } else { "false" })?;
        writer.write_field(time(stay.joined_at))?;
        writer.write_field(time(stay.left_at))?;
        writer.write_field(if stay.left_at_inferred {
            "true"
        } else {
            "false"
        })?;
        writer.write_field(safe_cell(room).as_bytes())?;
        writer.write_record(None::<&[u8]>)
    };
    for participant in &record.participants {
        for stay in &participant.attendance {
            let who = Who {
                role: &participant.role,
                person: participant.person.as_ref(),
                identity_basis: &participant.identity_basis,
                possibly: participant.possibly.as_ref(),
                display_name: participant.display_name.as_deref(),
                is_host: participant.is_host,
            };
            let times = Stay {
                joined_at: stay.joined_at,
                left_at: stay.left_at,
                left_at_inferred: stay.left_at_inferred,
            };
            write_stay(who, times, "")?;
        }
    }
    for stay in &record.room_stays {
        let who = Who {
            role: &stay.role,
            person: stay.person.as_ref(),
            identity_basis: &stay.identity_basis,
            possibly: stay.possibly.as_ref(),
            display_name: stay.display_name.as_deref(),
            is_host: stay.is_host,
        };
        let times = Stay {
            joined_at: stay.joined_at,
            left_at: stay.left_at,
            left_at_inferred: stay.left_at_inferred,
        };
        write_stay(who, times, &stay.room_label)?;
    }
    Ok(())
}

/// Who a row is about, from a participant or a breakout-room stay.
struct Who<'a> {
    role: &'a str,
    person: Option<&'a PersonRef>,
    identity_basis: &'a str,
    possibly: Option<&'a PersonRef>,
    display_name: Option<&'a str>,
    is_host: bool,
}

/// When a row's stay began and ended.
struct Stay {
    joined_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
    left_at_inferred: bool,
}

/// Who an unproven participant is thought to be: "Dara Finch (pupil)".
fn possibly(person: Option<&PersonRef>) -> String {
    person
        .map(|p| safe_cell(&format!("{} ({})", p.name, p.kind)).into_owned())
        .unwrap_or_default()
}

/// Display names, topics, room names and the platform's meeting ids arrive from outside; a leading `=`, `+`, `-` or `@` would make a
/// spreadsheet run them as a formula, so such cells are prefixed with an apostrophe.
fn safe_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_are_neutralised() {
        assert_eq!(safe_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_cell("Ravi"), "Ravi");
        assert_eq!(safe_cell("-2+3"), "'-2+3");
        assert_eq!(safe_cell("84712345678"), "84712345678");
    }
}
