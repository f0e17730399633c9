//! The register as CSV, one row per stay in a call, times in the school's own timezone
//! (with their UTC offset, so the file is unambiguous across the clock changes). Stays in
//! breakout rooms follow a call's stays as rows of their own, named in the `room` column
//! (empty for a stay in the call as a whole).

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

/// Renders `records`; `timezone_of` gives each school's timezone.
pub fn render(
    records: &[MeetingRecord],
    timezone_of: impl Fn(i64) -> Tz,
) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for record in records {
        let meeting = &record.summary;
        let tz = timezone_of(meeting.school_id);
        let time = |at: Option<DateTime<Utc>>| {
            at.map(|t| t.with_timezone(&tz).to_rfc3339())
                .unwrap_or_default()
        };
        let host = meeting
            .host
            .as_ref()
            .map(|person| person.name.clone())
            .unwrap_or_default();
        let meeting_cells = [
            meeting.id.to_string(),
            meeting.platform.clone(),
            safe_cell(meeting.meeting_id.as_deref().unwrap_or_default()),
            safe_cell(meeting.topic.as_deref().unwrap_or_default()),
            safe_cell(&host),
            time(meeting.scheduled_start),
            time(meeting.scheduled_end),
            time(meeting.started_at),
            time(meeting.ended_at),
        ];
        let mut write_stay = |who: Who, stay: Stay, room: &str| {
            let mut row = meeting_cells.to_vec();
            row.extend([
                who.role.to_string(),
                who.person
                    .map(|p| safe_cell(&p.reference))
                    .unwrap_or_default(),
                who.person.map(|p| safe_cell(&p.name)).unwrap_or_default(),
                who.identity_basis.to_string(),
                possibly(who.possibly),
                safe_cell(who.display_name.unwrap_or_default()),
                who.is_host.to_string(),
                time(stay.joined_at),
                time(stay.left_at),
                stay.left_at_inferred.to_string(),
                safe_cell(room),
            ]);
            writer.write_record(row)
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
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
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
        .map(|p| safe_cell(&format!("{} ({})", p.name, p.kind)))
        .unwrap_or_default()
}

/// Display names, topics, room names and the platform's meeting ids arrive from outside; a leading `=`, `+`, `-` or `@` would make a
/// spreadsheet run them as a formula, so such cells are prefixed with an apostrophe.
fn safe_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
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
