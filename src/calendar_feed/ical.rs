//! iCalendar (RFC 5545) written by hand: content lines ending in CRLF, folded at 75 octets
//! without splitting a UTF-8 character (3.1), TEXT values escaped (3.3.11), times local to
//! the school's zone with a `VTIMEZONE` beside them (3.6.5), or in UTC where a local time
//! would be ambiguous.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::zones;

/// The longest a content line may be, in octets, before it is folded (3.1).
const MAX_LINE_OCTETS: usize = 75;

/// Where an event stands, as calendar apps show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Planned, not yet approved.
    Tentative,
    Confirmed,
    /// Cancelled or declined: calendar apps strike it through or remove it.
    Cancelled,
}

impl EventStatus {
    fn as_str(self) -> &'static str {
        match self {
            EventStatus::Tentative => "TENTATIVE",
            EventStatus::Confirmed => "CONFIRMED",
            EventStatus::Cancelled => "CANCELLED",
        }
    }
}

/// One `VEVENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique within chaperone (`planned-12`); the document adds its domain.
    pub key: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The school's zone, for local times; `None`: times in UTC.
    pub timezone: Option<Tz>,
    pub summary: String,
    pub description: String,
    /// Where to join, when known.
    pub location: Option<String>,
    /// A page of the console about it.
    pub url: String,
    pub status: EventStatus,
    pub created_at: DateTime<Utc>,
    /// When what the event says last changed (`DTSTAMP`, `LAST-MODIFIED`).
    pub revised_at: DateTime<Utc>,
    /// How many times it has been revised (`SEQUENCE`).
    pub sequence: i64,
}

/// A whole feed.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    /// The calendar's name in calendar apps.
    pub name: &'a str,
    /// Makes the events' `UID`s unique worldwide: the host of `server.public_url`.
    pub uid_domain: &'a str,
    /// The span the feed covers, for its timezones' observances.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub events: &'a [Event],
}

/// The document as `text/calendar`.
pub fn render(document: &Document<'_>) -> String {
    let mut out = Lines::default();
    out.raw("BEGIN", "VCALENDAR");
    out.raw("VERSION", "2.0");
    out.raw("PRODID", "-//chaperone//calendar feed//EN");
    out.raw("CALSCALE", "GREGORIAN");
    out.text("X-WR-CALNAME", document.name);
    out.text("NAME", document.name);
    // Calendar apps that honour it read the feed again each hour (RFC 7986).
    out.raw("REFRESH-INTERVAL;VALUE=DURATION", "PT1H");
    out.raw("X-PUBLISHED-TTL", "PT1H");
    let zones: BTreeMap<&str, Tz> = document
        .events
        .iter()
        .filter_map(|event| event.timezone)
        .map(|tz| (tz.name(), tz))
        .collect();
    if zones.len() == 1 {
        if let Some(name) = zones.keys().next() {
            out.raw("X-WR-TIMEZONE", name);
        }
    }
    for tz in zones.values() {
        for (name, value) in zones::vtimezone(*tz, document.from, document.to) {
            out.raw(&name, &value);
        }
    }
    for event in document.events {
        write_event(&mut out, event, document.uid_domain);
    }
    out.raw("END", "VCALENDAR");
    out.text
}

fn write_event(out: &mut Lines, event: &Event, uid_domain: &str) {
    out.raw("BEGIN", "VEVENT");
    out.raw("UID", &format!("{}@{uid_domain}", event.key));
    out.raw("DTSTAMP", &zones::utc_text(event.revised_at));
    out.raw("CREATED", &zones::utc_text(event.created_at));
    out.raw("LAST-MODIFIED", &zones::utc_text(event.revised_at));
    out.raw("SEQUENCE", &event.sequence.max(0).to_string());
    out.time("DTSTART", event.starts_at, event.timezone);
    out.time("DTEND", event.ends_at, event.timezone);
    out.text("SUMMARY", &event.summary);
    out.text("DESCRIPTION", &event.description);
    if let Some(location) = &event.location {
        out.text("LOCATION", location);
    }
    out.raw("URL", &without_controls(&event.url));
    out.raw("STATUS", event.status.as_str());
    // Shared calendars show others only that the time is taken.
    out.raw("CLASS", "PRIVATE");
    out.raw("TRANSP", "OPAQUE");
    out.raw("END", "VEVENT");
}

/// Content lines as they are written.
#[derive(Default)]
struct Lines {
    text: String,
}

impl Lines {
    /// A property whose value is written as given (a date, a number, a URI).
    fn raw(&mut self, name: &str, value: &str) {
        self.text.push_str(&fold(&format!("{name}:{value}")));
        self.text.push_str("\r\n");
    }

    /// A property of type TEXT.
    fn text(&mut self, name: &str, value: &str) {
        self.raw(name, &escape_text(value));
    }

    /// A date-time: local to `tz` where that names the instant alone, else in UTC.
    fn time(&mut self, name: &str, at: DateTime<Utc>, tz: Option<Tz>) {
        match tz.and_then(|tz| zones::local_text(at, tz).map(|local| (tz, local))) {
            Some((tz, local)) => self.raw(&format!("{name};TZID={}", tz.name()), &local),
            None => self.raw(name, &zones::utc_text(at)),
        }
    }
}

/// A TEXT value escaped (3.3.11): backslash, semicolon and comma behind a backslash, line
/// breaks as `\n`, other control characters (which TEXT may not hold) left out.
pub fn escape_text(value: &str) -> String {
    let value = value.replace("\r\n", "\n");
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ';' => escaped.push_str("\\;"),
            ',' => escaped.push_str("\\,"),
            '\n' | '\r' => escaped.push_str("\\n"),
            '\t' => escaped.push(' '),
            c if c.is_control() => {}
            c => escaped.push(c),
        }
    }
    escaped
}

fn without_controls(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// A content line folded (3.1): no line longer than 75 octets, each continuation starting
/// with one space, and never inside a multi-octet character.
pub fn fold(line: &str) -> String {
    let mut folded = String::with_capacity(line.len() + line.len() / MAX_LINE_OCTETS * 3);
    let mut octets_on_line = 0;
    for c in line.chars() {
        if octets_on_line + c.len_utf8() > MAX_LINE_OCTETS {
            folded.push_str("\r\n ");
            octets_on_line = 1;
        }
        folded.push(c);
        octets_on_line += c.len_utf8();
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn event(starts_at: &str, ends_at: &str) -> Event {
        Event {
            key: "planned-12".into(),
            starts_at: utc(starts_at),
            ends_at: utc(ends_at),
            timezone: Some(London),
            summary: "1:1 with J.S.".into(),
            description: "Purpose: maths; reading, writing\nApproval: approved".into(),
            location: None,
            url: "https://chaperone.example/timetable".into(),
            status: EventStatus::Confirmed,
            created_at: utc("2026-12-01T09:00:00Z"),
            revised_at: utc("2026-12-02T09:00:00Z"),
            sequence: 1,
        }
    }

    fn document(events: &[Event]) -> String {
        render(&Document {
            name: "1:1 calls",
            uid_domain: "chaperone.example",
            from: utc("2027-03-01T00:00:00Z"),
            to: utc("2027-12-01T00:00:00Z"),
            events,
        })
    }

    #[test]
    fn text_values_escape_backslashes_separators_and_line_breaks() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\u{7}"),
            "a\\\\b\\;c\\,d\\ne\\nf"
        );
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let line = format!("SUMMARY:{}", "é".repeat(60));
        let folded = fold(&line);
        for part in folded.split("\r\n") {
            assert!(part.len() <= MAX_LINE_OCTETS, "{} octets", part.len());
        }
        let unfolded = folded.replace("\r\n ", "");
        assert_eq!(unfolded, line);
        assert_eq!(fold("SHORT:x"), "SHORT:x");
    }

    #[test]
    fn every_line_ends_in_crlf_and_the_calendar_is_whole() {
        let text = document(&[event("2027-03-29T09:00:00Z", "2027-03-29T09:30:00Z")]);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
        assert!(text.contains("UID:planned-12@chaperone.example\r\n"));
        assert!(text.contains("DESCRIPTION:Purpose: maths\\; reading\\, writing\\nApproval"));
        assert!(text.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/London\r\n"));
    }

    #[test]
    fn times_are_local_to_the_school_on_both_sides_of_the_clock_change() {
        let text = document(&[
            event("2027-03-26T10:00:00Z", "2027-03-26T10:30:00Z"),
            event("2027-03-29T09:00:00Z", "2027-03-29T09:30:00Z"),
        ]);
        assert!(text.contains("DTSTART;TZID=Europe/London:20270326T100000\r\n"));
        assert!(text.contains("DTSTART;TZID=Europe/London:20270329T100000\r\n"));
        assert!(text.contains("DTEND;TZID=Europe/London:20270329T103000\r\n"));
    }

    #[test]
    fn a_time_in_the_repeated_hour_is_written_in_utc() {
        let text = document(&[event("2027-10-31T01:30:00Z", "2027-10-31T02:00:00Z")]);
        assert!(text.contains("DTSTART:20271031T013000Z\r\n"), "{text}");
        assert!(text.contains("DTEND;TZID=Europe/London:20271031T020000\r\n"));
    }

    #[test]
    fn a_feed_without_events_is_still_a_calendar() {
        let text = document(&[]);
        assert!(!text.contains("VTIMEZONE"));
        assert!(text.contains("X-WR-CALNAME:1:1 calls\r\n"));
    }
}
