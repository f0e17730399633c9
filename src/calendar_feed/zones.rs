//! A school's timezone as iCalendar writes it: each event's times as local wall-clock times
//! with the zone's name (`DTSTART;TZID=Europe/London:20270329T100000`), and a `VTIMEZONE`
//! listing the zone's offset changes over the span the feed covers, read from the timezone
//! database (chrono-tz), so the document says itself when British Summer Time starts and
//! ends rather than leaving it to each calendar app's own tables.

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

const SECONDS_PER_DAY: i64 = 86_400;

/// One change of a zone's offset from UTC (a `STANDARD` or `DAYLIGHT` observance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The first instant of the new offset.
    pub at: DateTime<Utc>,
    pub offset_before: FixedOffset,
    pub offset_after: FixedOffset,
    /// Whether the new offset is summer time.
    pub daylight: bool,
    /// The new offset's abbreviation (`BST`, `GMT`).
    pub name: String,
}

/// The zone's offset changes from `from` to `to`. A zone without changes then (no summer
/// time) has none.
pub fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Transition> {
    // In whole seconds: the database's changes fall on them.
    let offset_at = |seconds: i64| {
        let at = DateTime::from_timestamp(seconds, 0).unwrap_or_default();
        tz.offset_from_utc_datetime(&at.naive_utc())
    };
    let mut found = Vec::new();
    let mut day_start = from.timestamp();
    while day_start < to.timestamp() {
        let day_end = day_start + SECONDS_PER_DAY;
        let before = offset_at(day_start).fix();
        if offset_at(day_end).fix() != before {
            // The first second of the new offset, by bisecting the day.
            let (mut low, mut high) = (day_start, day_end);
            while high - low > 1 {
                let middle = low + (high - low) / 2;
                if offset_at(middle).fix() == before {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            let after = offset_at(high);
            found.push(Transition {
                at: DateTime::from_timestamp(high, 0).unwrap_or_default(),
                offset_before: before,
                offset_after: after.fix(),
                daylight: !after.dst_offset().is_zero(),
                name: after.abbreviation().unwrap_or_default().to_string(),
            });
        }
        day_start = day_end;
    }
    found
}

/// `at` as a local date-time in `tz` (`20270329T100000`), when that wall-clock time names
/// `at` alone; `None` for the hour that happens twice when the clocks go back, which a local
/// time cannot tell apart (the caller writes such a time in UTC).
pub fn local_text(at: DateTime<Utc>, tz: Tz) -> Option<String> {
    let local = at.with_timezone(&tz).naive_local();
    match tz.from_local_datetime(&local).single() {
        Some(unique) if unique.with_timezone(&Utc) == at => Some(basic_format(local)),
        _ => None,
    }
}

/// `at` in UTC as iCalendar writes it (`20270329T090000Z`).
pub fn utc_text(at: DateTime<Utc>) -> String {
    format!("{}Z", basic_format(at.naive_utc()))
}

fn basic_format(time: NaiveDateTime) -> String {
    time.format("%Y%m%dT%H%M%S").to_string()
}

/// An offset as a `UTC-OFFSET` value: `+0100`, `-0500`, `+0530`.
pub fn offset_text(offset: FixedOffset) -> String {
    let seconds = offset.local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.abs();
    let (hours, minutes, rest) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if rest == 0 {
        format!("{sign}{hours:02}{minutes:02}")
    } else {
        format!("{sign}{hours:02}{minutes:02}{rest:02}")
    }
}

/// The `VTIMEZONE` component of `tz` for events between `from` and `to`, as content lines.
/// Its observances start a year before `from`, so the offset in force at `from` is among
/// them; a zone that did not change then gets one `STANDARD` observance from 1970.
pub fn vtimezone(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(String, String)> {
    let mut lines = vec![
        ("BEGIN".to_string(), "VTIMEZONE".to_string()),
        ("TZID".to_string(), tz.name().to_string()),
    ];
    let changes = transitions(tz, from - Duration::days(366), to);
    if changes.is_empty() {
        let offset = tz.offset_from_utc_datetime(&from.naive_utc());
        let fixed = offset_text(offset.fix());
        lines.extend([
            ("BEGIN".to_string(), "STANDARD".to_string()),
            ("DTSTART".to_string(), "19700101T000000".to_string()),
            ("TZOFFSETFROM".to_string(), fixed.clone()),
            ("TZOFFSETTO".to_string(), fixed),
            (
                "TZNAME".to_string(),
                offset.abbreviation().unwrap_or_default().to_string(),
            ),
            ("END".to_string(), "STANDARD".to_string()),
        ]);
    }
    for change in changes {
        let kind = if change.daylight {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        // An observance starts at the local time the clocks showed just before the change.
        let local_before = (change.at + change.offset_before).naive_utc();
        lines.push(("BEGIN".to_string(), kind.to_string()));
        lines.push(("DTSTART".to_string(), basic_format(local_before)));
        lines.push((
            "TZOFFSETFROM".to_string(),
            offset_text(change.offset_before),
        ));
        lines.push(("TZOFFSETTO".to_string(), offset_text(change.offset_after)));
        if !change.name.is_empty() {
            lines.push(("TZNAME".to_string(), change.name));
        }
        lines.push(("END".to_string(), kind.to_string()));
    }
    lines.push(("END".to_string(), "VTIMEZONE".to_string()));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn london_changes_at_one_in_the_morning_utc_on_the_last_sundays_of_march_and_october() {
        let changes = transitions(
            London,
            utc("2027-01-01T00:00:00Z"),
            utc("2028-01-01T00:00:00Z"),
        );
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].at, utc("2027-03-28T01:00:00Z"));
        assert!(changes[0].daylight);
        assert_eq!(changes[0].name, "BST");
        assert_eq!(offset_text(changes[0].offset_after), "+0100");
        assert_eq!(changes[1].at, utc("2027-10-31T01:00:00Z"));
        assert!(!changes[1].daylight);
        assert_eq!(changes[1].name, "GMT");
        assert_eq!(offset_text(changes[1].offset_before), "+0100");
    }

    #[test]
    fn local_times_follow_the_clocks_on_both_sides_of_a_change() {
        assert_eq!(
            local_text(utc("2027-03-26T10:00:00Z"), London).unwrap(),
            "20270326T100000"
        );
        assert_eq!(
            local_text(utc("2027-03-29T09:00:00Z"), London).unwrap(),
            "20270329T100000"
        );
        assert_eq!(
            local_text(utc("2027-11-01T10:00:00Z"), London).unwrap(),
            "20271101T100000"
        );
    }

    #[test]
    fn the_hour_that_happens_twice_is_left_to_utc() {
        // 01:30 local happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT).
        assert_eq!(local_text(utc("2027-10-31T00:30:00Z"), London), None);
        assert_eq!(local_text(utc("2027-10-31T01:30:00Z"), London), None);
        assert_eq!(
            utc_text(utc("2027-10-31T01:30:00Z")),
            "20271031T013000Z".to_string()
        );
    }

    #[test]
    fn an_observance_starts_at_the_local_time_before_the_change() {
        let lines = vtimezone(
            London,
            utc("2027-03-01T00:00:00Z"),
            utc("2027-12-01T00:00:00Z"),
        );
        let text: Vec<String> = lines.iter().map(|(n, v)| format!("{n}:{v}")).collect();
        let spring = text
            .iter()
            .position(|line| line == "DTSTART:20270328T010000")
            .expect("spring forward at 01:00 GMT");
        assert_eq!(text[spring - 1], "BEGIN:DAYLIGHT");
        assert_eq!(text[spring + 1], "TZOFFSETFROM:+0000");
        let autumn = text
            .iter()
            .position(|line| line == "DTSTART:20271031T020000")
            .expect("fall back at 02:00 BST");
        assert_eq!(text[autumn - 1], "BEGIN:STANDARD");
        assert_eq!(text[autumn + 2], "TZOFFSETTO:+0000");
        // The year before is there too, so the offset at the start is known.
        assert!(text.contains(&"DTSTART:20261025T020000".to_string()));
    }

    #[test]
    fn a_zone_without_summer_time_has_one_standard_observance() {
        let lines = vtimezone(
            chrono_tz::Asia::Kolkata,
            utc("2027-03-01T00:00:00Z"),
            utc("2027-12-01T00:00:00Z"),
        );
        let text: Vec<String> = lines.iter().map(|(n, v)| format!("{n}:{v}")).collect();
        assert!(text.contains(&"TZOFFSETTO:+0530".to_string()), "{text:?}");
        assert_eq!(text.iter().filter(|l| *l == "BEGIN:STANDARD").count(), 1);
    }
}
