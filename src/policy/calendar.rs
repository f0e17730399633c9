//! The school calendar: which days are school days (the school's weekdays, inside its terms,
//! not a closure day, not a bank holiday of its nation) and the hours of each, in the school's
//! own timezone, so the `school_hours` rule can tell whether a call is "within school hours".
//!
//! Times arrive and leave in UTC; the school's local time is used only here and for messages.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The bank holidays shipped with chaperone (GOV.UK's list), compiled in.
const SHIPPED_BANK_HOLIDAYS_TOML: &str = include_str!("../../config/bank-holidays.toml");

/// The longest a clock change can skip. Most skip an hour; Samoa skipped a whole day in 2011.
const MAX_CLOCK_GAP_MINUTES: i64 = 24 * 60;

/// A UK nation with its own bank holidays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Nation {
    EnglandAndWales,
    Scotland,
    NorthernIreland,
}

impl Nation {
    pub const ALL: [Nation; 3] = [
        Nation::EnglandAndWales,
        Nation::Scotland,
        Nation::NorthernIreland,
    ];

    /// The name used in files: `england_and_wales`, `scotland`, `northern_ireland`.
    pub fn key(self) -> &'static str {
        match self {
            Nation::EnglandAndWales => "england_and_wales",
            Nation::Scotland => "scotland",
            Nation::NorthernIreland => "northern_ireland",
        }
    }
}

impl fmt::Display for Nation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Nation::EnglandAndWales => "England and Wales",
            Nation::Scotland => "Scotland",
            Nation::NorthernIreland => "Northern Ireland",
        })
    }
}

/// The school's calendar as an admin writes it, in the school import file (TOML) or the API
/// (JSON). The timezone is not here: it is the school's own.
///
/// ```toml
/// nation = "england_and_wales"
/// days = ["mon", "tue", "wed", "thu", "fri"]
/// opens = "08:30"
/// closes = "16:00"
/// terms = [{ starts = 2025-09-03, ends = 2025-10-24 }, { starts = 2025-11-03, ends = 2025-12-19 }]
/// closures = [2025-11-14]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Whose bank holidays apply. Required in a file, so a school in Scotland or Northern
    /// Ireland is never silently given England's holidays.
    pub nation: Nation,
    /// The days of the week the school is open: `mon` … `sun`. Default Monday to Friday.
    #[serde(default = "default_days", with = "as_text_list")]
    pub days: Vec<Weekday>,
    /// Opening time, local, `HH:MM`. Default 08:30.
    #[serde(default = "default_opens", with = "as_text")]
    pub opens: NaiveTime,
    /// Closing time, local, `HH:MM`, after `opens` on the same day. Default 16:00.
    #[serde(default = "default_closes", with = "as_text")]
    pub closes: NaiveTime,
    /// Term dates. With none, every listed weekday counts (less closures and bank holidays).
    #[serde(default)]
    pub terms: Vec<Term>,
    /// Days the school is closed inside a term: INSET (training) days and other closures.
    #[serde(default, with = "as_text_list")]
    pub closures: Vec<NaiveDate>,
}

impl Default for CalendarSpec {
    fn default() -> Self {
        Self {
            nation: Nation::EnglandAndWales,
            days: default_days(),
            opens: default_opens(),
            closes: default_closes(),
            terms: Vec::new(),
            closures: Vec::new(),
        }
    }
}

fn default_days() -> Vec<Weekday> {
    vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ]
}

fn default_opens() -> NaiveTime {
    NaiveTime::from_hms_opt(8, 30, 0).expect("08:30 is a time of day")
}

fn default_closes() -> NaiveTime {
    NaiveTime::from_hms_opt(16, 0, 0).expect("16:00 is a time of day")
}

/// One term, from its first day to its last, both included.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    /// An optional label for messages, e.g. "Autumn 1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(with = "as_text")]
    pub starts: NaiveDate,
    #[serde(with = "as_text")]
    pub ends: NaiveDate,
}

impl Term {
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.starts <= date && date <= self.ends
    }

    /// How messages name the term: its name, or its place in the list (from 1).
    fn label(&self, index: usize) -> String {
        match &self.name {
            Some(name) => format!("\u{201c}{name}\u{201d}"),
            None => (index + 1).to_string(),
        }
    }

    /// The label with the dates: "2 (2025-11-03 to 2025-12-19)".
    fn describe(&self, index: usize) -> String {
        format!("{} ({} to {})", self.label(index), self.starts, self.ends)
    }
}

impl CalendarSpec {
    /// Checks the rules that span fields; the error says what to fix.
    pub fn validate(&self) -> Result<(), CalendarError> {
        if self.days.is_empty() {
            return Err(CalendarError::NoDays);
        }
        for (index, day) in self.days.iter().enumerate() {
            if self.days[..index].contains(day) {
                return Err(CalendarError::DayRepeated(day_key(*day)));
            }
        }
        if self.closes <= self.opens {
            return Err(CalendarError::ClosesNotAfterOpens {
                opens: self.opens,
                closes: self.closes,
            });
        }
        for (index, term) in self.terms.iter().enumerate() {
            if term.ends < term.starts {
                return Err(CalendarError::TermEndsBeforeItStarts {
                    term: term.label(index),
                    starts: term.starts,
                    ends: term.ends,
                });
            }
        }
        let mut by_start: Vec<(usize, &Term)> = self.terms.iter().enumerate().collect();
        by_start.sort_by_key(|(_, term)| term.starts);
        for pair in by_start.windows(2) {
            let ((first_index, first), (second_index, second)) = (pair[0], pair[1]);
            if second.starts <= first.ends {
                return Err(CalendarError::TermsOverlap {
                    first: first.describe(first_index),
                    second: second.describe(second_index),
                });
            }
        }
        Ok(())
    }
}

/// Checks a calendar spec; the same as [`CalendarSpec::validate`].
pub fn validate(spec: &CalendarSpec) -> Result<(), CalendarError> {
    spec.validate()
}

/// What is wrong with a calendar or a bank-holiday file, in words an admin can act on.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown day name \"{0}\": use mon, tue, wed, thu, fri, sat or sun")]
    UnknownDay(String),
    #[error("\"{0}\" is not a time of day: write it as HH:MM, e.g. \"08:30\"")]
    BadTime(String),
    #[error("\"{0}\" is not a date: write it as YYYY-MM-DD, e.g. 2025-09-03")]
    BadDate(String),
    #[error("days is empty: list the days the school is open, e.g. [\"mon\", \"tue\"]")]
    NoDays,
    #[error("{0} is listed twice in days")]
    DayRepeated(&'static str),
    #[error(
        "closes {} is not after opens {}: school hours must open and close on the same day",
        .closes.format("%H:%M"),
        .opens.format("%H:%M")
    )]
    ClosesNotAfterOpens { opens: NaiveTime, closes: NaiveTime },
    #[error("term {term} ends {ends}, before it starts {starts}")]
    TermEndsBeforeItStarts {
        term: String,
        starts: NaiveDate,
        ends: NaiveDate,
    },
    #[error("term {first} overlaps term {second}")]
    TermsOverlap { first: String, second: String },
    #[error("the bank-holiday file is not valid: {0}")]
    BankHolidayFile(#[from] toml::de::Error),
    #[error(
        "bank holiday {date} in [{}] is a {}: list the substitute weekday instead, as GOV.UK does",
        .nation.key(),
        .date.format("%A")
    )]
    BankHolidayOnWeekend { nation: Nation, date: NaiveDate },
}

/// Bank holidays per nation: the days off as GOV.UK lists them (substitute weekdays, not the
/// weekend dates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankHolidays {
    england_and_wales: BTreeSet<NaiveDate>,
    scotland: BTreeSet<NaiveDate>,
    northern_ireland: BTreeSet<NaiveDate>,
}

/// The file as written: one table per nation, all three required, so a nation left out is
/// an error rather than a nation without holidays.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BankHolidaysFile {
    england_and_wales: NationDates,
    scotland: NationDates,
    northern_ireland: NationDates,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NationDates {
    #[serde(deserialize_with = "as_text_list::deserialize")]
    dates: Vec<NaiveDate>,
}

impl NationDates {
    /// The dates, refusing a weekend date: GOV.UK lists the substitute weekday, and a weekend
    /// date in an admin's copy means the substitute day was missed.
    fn weekdays(self, nation: Nation) -> Result<BTreeSet<NaiveDate>, CalendarError> {
        let weekend = |date: &&NaiveDate| matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        match self.dates.iter().find(weekend) {
            Some(&date) => Err(CalendarError::BankHolidayOnWeekend { nation, date }),
            None => Ok(self.dates.into_iter().collect()),
        }
    }
}

impl BankHolidays {
    /// The list shipped in `config/bank-holidays.toml`, compiled in.
    pub fn shipped() -> Self {
        Self::from_toml(SHIPPED_BANK_HOLIDAYS_TOML)
            .expect("config/bank-holidays.toml is valid (checked by a unit test)")
    }

    /// Parses a bank-holiday file in the shape of `config/bank-holidays.toml`, e.g. an admin's
    /// updated copy.
    pub fn from_toml(text: &str) -> Result<Self, CalendarError> {
        let file: BankHolidaysFile = toml::from_str(text)?;
        Ok(Self {
            england_and_wales: file.england_and_wales.weekdays(Nation::EnglandAndWales)?,
            scotland: file.scotland.weekdays(Nation::Scotland)?,
            northern_ireland: file.northern_ireland.weekdays(Nation::NorthernIreland)?,
        })
    }

    /// The nation's bank holidays, in date order. The last one shows how far ahead the list
    /// reaches: after it, only weekends, terms and closures limit school days.
    pub fn dates(&self, nation: Nation) -> &BTreeSet<NaiveDate> {
        match nation {
            Nation::EnglandAndWales => &self.england_and_wales,
            Nation::Scotland => &self.scotland,
            Nation::NorthernIreland => &self.northern_ireland,
        }
    }

    pub fn is_bank_holiday(&self, nation: Nation, date: NaiveDate) -> bool {
        self.dates(nation).contains(&date)
    }
}

/// One school's calendar in its timezone: answers "is this a school day" and "is this call
/// inside school hours".
#[derive(Debug, Clone)]
pub struct SchoolCalendar {
    timezone: Tz,
    spec: CalendarSpec,
    closures: BTreeSet<NaiveDate>,
    bank_holidays: BTreeSet<NaiveDate>,
}

impl SchoolCalendar {
    /// Builds the calendar from a spec that has passed [`CalendarSpec::validate`]. With a spec
    /// that has not (closing before opening), no instant is inside school hours.
    pub fn new(timezone: Tz, spec: CalendarSpec, bank_holidays: &BankHolidays) -> Self {
        Self {
            timezone,
            closures: spec.closures.iter().copied().collect(),
            bank_holidays: bank_holidays.dates(spec.nation).clone(),
            spec,
        }
    }

    /// Validates the spec, then builds the calendar.
    pub fn try_new(
        timezone: Tz,
        spec: CalendarSpec,
        bank_holidays: &BankHolidays,
    ) -> Result<Self, CalendarError> {
        spec.validate()?;
        Ok(Self::new(timezone, spec, bank_holidays))
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// A school day: one of the school's days, inside a term (when terms are configured; with
    /// none every listed weekday counts), not a closure day, not a bank holiday of its nation.
    pub fn is_school_day(&self, date: NaiveDate) -> bool {
        self.spec.days.contains(&date.weekday())
            && (self.spec.terms.is_empty() || self.spec.terms.iter().any(|t| t.contains(date)))
            && !self.closures.contains(&date)
            && !self.bank_holidays.contains(&date)
    }

    /// That day's opening and closing instants in UTC, or None if it is not a school day.
    pub fn school_hours_on(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_school_day(date) {
            return None;
        }
        let opens = earliest_instant(self.timezone, date.and_time(self.spec.opens))?;
        let closes = earliest_instant(self.timezone, date.and_time(self.spec.closes))?;
        (opens < closes).then_some((opens, closes))
    }

    /// True when the whole interval `[from, to]` lies inside one school day's hours. The start
    /// must be before closing (a call starting at 16:00 sharp is outside); the end may be
    /// closing itself. `to` may equal `from`; `to` before `from` is never inside.
    pub fn within_school_hours(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        if to < from {
            return false;
        }
        match self.school_hours_on(self.local_date(from)) {
            Some((opens, closes)) => opens <= from && from < closes && to <= closes,
            None => false,
        }
    }

    /// The closing instant (strictly after `at`) when `at` is inside school hours: when a call
    /// still running should be checked again. None when `at` is outside school hours.
    pub fn hours_end_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (opens, closes) = self.school_hours_on(self.local_date(at))?;
        (opens <= at && at < closes).then_some(closes)
    }

    /// `at` in the school's local time, for messages: "19:40 on Tuesday 11 March".
    pub fn describe_local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.timezone)
            .format("%H:%M on %A %-d %B")
            .to_string()
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.timezone).date_naive()
    }
}

/// The instant a local wall-clock time names in `timezone`. When the clocks go back the time
/// happens twice and the first is taken; when they go forward it does not happen at all, and
/// the first whole minute after the gap is taken (the moment the clocks changed).
fn earliest_instant(timezone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    (0..=MAX_CLOCK_GAP_MINUTES).find_map(|minutes| {
        let candidate = local.checked_add_signed(TimeDelta::minutes(minutes))?;
        timezone
            .from_local_datetime(&candidate)
            .earliest()
            .map(|instant| instant.with_timezone(&Utc))
    })
}

/// How days are written: `mon` … `sun`.
fn day_key(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// A value an admin writes as text: a day name, a time of day or a date.
trait AsText: Sized {
    fn parse(text: &str) -> Result<Self, CalendarError>;
    fn write(&self) -> String;
}

impl AsText for Weekday {
    /// `mon` … `sun`; full names and any case are accepted too.
    fn parse(text: &str) -> Result<Self, CalendarError> {
        let day = match text.trim().to_ascii_lowercase().as_str() {
            "mon" | "monday" => Weekday::Mon,
            "tue" | "tuesday" => Weekday::Tue,
            "wed" | "wednesday" => Weekday::Wed,
            "thu" | "thursday" => Weekday::Thu,
            "fri" | "friday" => Weekday::Fri,
            "sat" | "saturday" => Weekday::Sat,
            "sun" | "sunday" => Weekday::Sun,
            _ => return Err(CalendarError::UnknownDay(text.to_string())),
        };
        Ok(day)
    }

    fn write(&self) -> String {
        day_key(*self).to_string()
    }
}

impl AsText for NaiveTime {
    /// `HH:MM`, or `HH:MM:SS` (a native TOML time is written with seconds).
    fn parse(text: &str) -> Result<Self, CalendarError> {
        NaiveTime::parse_from_str(text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
            .map_err(|_| CalendarError::BadTime(text.to_string()))
    }

    fn write(&self) -> String {
        self.format("%H:%M").to_string()
    }
}

impl AsText for NaiveDate {
    fn parse(text: &str) -> Result<Self, CalendarError> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| CalendarError::BadDate(text.to_string()))
    }

    fn write(&self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
}

/// Serde for one [`AsText`] value. It reads a string (JSON, or quoted in TOML) or a native
/// TOML date or time (`2025-09-03`, `08:30:00`), which the `toml` crate hands over as a
/// one-entry map holding its text; it writes a string.
struct Text<T>(T);

impl<'de, T: AsText> Deserialize<'de> for Text<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextOrTomlDatetime;

        impl<'de> serde::de::Visitor<'de> for TextOrTomlDatetime {
            type Value = String;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a TOML date or time")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<String, E> {
                Ok(text.to_string())
            }

            fn visit_map<A>(self, mut map: A) -> Result<String, A::Error>
            where
                A: serde::de::MapAccess<'de>,
            {
                match map.next_entry::<String, String>()? {
                    Some((_, text)) => Ok(text),
                    None => Err(serde::de::Error::custom("expected a TOML date or time")),
                }
            }
        }

        let text = deserializer.deserialize_any(TextOrTomlDatetime)?;
        T::parse(&text).map(Text).map_err(serde::de::Error::custom)
    }
}

impl<T: AsText> Serialize for Text<&T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.write())
    }
}

/// `#[serde(with = "as_text")]` for a field holding one [`AsText`] value.
mod as_text {
    use super::{AsText, Deserialize, Deserializer, Serialize, Serializer, Text};

    pub fn serialize<T: AsText, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Text(value).serialize(serializer)
    }

    pub fn deserialize<'de, T: AsText, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        Ok(Text::<T>::deserialize(deserializer)?.0)
    }
}

/// `#[serde(with = "as_text_list")]` for a field holding a list of [`AsText`] values.
mod as_text_list {
    use super::{AsText, Deserialize, Deserializer, Serializer, Text};

    pub fn serialize<T: AsText, S: Serializer>(
        values: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(values.iter().map(Text))
    }

    pub fn deserialize<'de, T: AsText, D>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
    {
        let values = Vec::<Text<T>>::deserialize(deserializer)?;
        Ok(values.into_iter().map(|value| value.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse(text).expect("a test date")
    }

    fn time(text: &str) -> NaiveTime {
        NaiveTime::parse(text).expect("a test time")
    }

    /// "2025-06-10 07:45" as an instant in UTC.
    fn utc(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .expect("a test instant")
            .and_utc()
    }

    /// "2025-03-11 19:40" on a London clock, as an instant in UTC.
    fn london(text: &str) -> DateTime<Utc> {
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a test time");
        let instant = London
            .from_local_datetime(&local)
            .single()
            .expect("unambiguous");
        instant.with_timezone(&Utc)
    }

    fn term(starts: &str, ends: &str) -> Term {
        Term {
            name: None,
            starts: date(starts),
            ends: date(ends),
        }
    }

    /// A school open 08:30–16:00 Monday to Friday, with terms around the test dates and an
    /// INSET day on Friday 14 November 2025.
    fn spec(nation: Nation) -> CalendarSpec {
        CalendarSpec {
            nation,
            terms: vec![
                term("2025-02-24", "2025-04-04"),
                term("2025-04-21", "2025-07-22"),
                term("2025-09-03", "2025-12-19"),
            ],
            closures: vec![date("2025-11-14")],
            ..CalendarSpec::default()
        }
    }

    fn calendar(spec: CalendarSpec) -> SchoolCalendar {
        SchoolCalendar::try_new(London, spec, &BankHolidays::shipped()).expect("a valid spec")
    }

    #[test]
    fn a_call_is_inside_school_hours_only_between_opening_and_closing_of_a_school_day() {
        let school = calendar(spec(Nation::EnglandAndWales));
        #[rustfmt::skip]
        let cases = [
            ("a Tuesday in term at 10:00", "2025-03-11 10:00", "2025-03-11 10:30", true),
            ("from the moment of opening", "2025-03-11 08:30", "2025-03-11 09:00", true),
            ("up to the moment of closing", "2025-03-11 15:00", "2025-03-11 16:00", true),
            ("from a minute before opening", "2025-03-11 08:29", "2025-03-11 09:00", false),
            ("at 19:40", "2025-03-11 19:40", "2025-03-11 19:40", false),
            ("from 15:30 to 16:30, across closing", "2025-03-11 15:30", "2025-03-11 16:30", false),
            ("starting at the moment of closing", "2025-03-11 16:00", "2025-03-11 16:00", false),
            ("into the next school day", "2025-03-11 10:00", "2025-03-12 10:00", false),
            ("ending before it starts", "2025-03-11 11:00", "2025-03-11 10:00", false),
            ("a Saturday in term", "2025-03-15 10:00", "2025-03-15 10:30", false),
            ("Easter Monday, in term", "2025-04-21 10:00", "2025-04-21 10:30", false),
            ("the early May bank holiday", "2025-05-05 10:00", "2025-05-05 10:30", false),
            ("an INSET day", "2025-11-14 10:00", "2025-11-14 10:30", false),
            ("a Tuesday in the summer holiday", "2025-08-12 10:00", "2025-08-12 10:30", false),
        ];
        for (case, from, to, inside) in cases {
            let actual = school.within_school_hours(london(from), london(to));
            assert_eq!(actual, inside, "{case}");
        }
    }

    #[test]
    fn each_nation_closes_on_its_own_bank_holidays() {
        let school = |nation| {
            calendar(CalendarSpec {
                nation,
                ..CalendarSpec::default()
            })
        };
        let schools = Nation::ALL.map(school);
        // Open in England and Wales, Scotland, Northern Ireland.
        #[rustfmt::skip]
        let cases = [
            ("Easter Monday", "2025-04-21", [false, true, false]),
            ("Scotland's summer bank holiday", "2025-08-04", [true, false, true]),
            ("the summer bank holiday elsewhere", "2025-08-25", [false, true, false]),
            ("St Andrew's Day (substitute day)", "2025-12-01", [true, false, true]),
            ("St Patrick's Day", "2025-03-17", [true, true, false]),
            ("Battle of the Boyne (substitute day)", "2025-07-14", [true, true, false]),
            ("the early May bank holiday", "2025-05-05", [false, false, false]),
            ("an ordinary Tuesday", "2025-06-10", [true, true, true]),
        ];
        for (case, day, open) in cases {
            let actual = schools
                .each_ref()
                .map(|school| school.is_school_day(date(day)));
            assert_eq!(actual, open, "{case}");
        }
    }

    #[test]
    fn with_no_terms_every_listed_weekday_is_a_school_day() {
        let school = calendar(CalendarSpec::default());
        assert!(school.is_school_day(date("2025-08-12")));
        assert!(!school.is_school_day(date("2025-08-16")), "a Saturday");
    }

    #[test]
    fn in_british_summer_time_school_hours_are_an_hour_earlier_in_utc() {
        let school = calendar(spec(Nation::EnglandAndWales));
        let (bst_0845, bst_0745) = (utc("2025-06-10 07:45"), utc("2025-06-10 06:45"));
        assert!(school.within_school_hours(bst_0845, bst_0845));
        assert!(!school.within_school_hours(bst_0745, bst_0745));
    }

    #[test]
    fn on_the_monday_after_the_clocks_go_forward_school_hours_are_0730_to_1500_utc() {
        let school = calendar(spec(Nation::EnglandAndWales));
        let hours = |from, to| Some((utc(from), utc(to)));
        let monday = school.school_hours_on(date("2025-03-31"));
        assert_eq!(monday, hours("2025-03-31 07:30", "2025-03-31 15:00"));
        let friday_before = school.school_hours_on(date("2025-03-28"));
        assert_eq!(friday_before, hours("2025-03-28 08:30", "2025-03-28 16:00"));
        assert_eq!(
            school.school_hours_on(date("2025-03-29")),
            None,
            "a Saturday"
        );
    }

    #[test]
    fn hours_end_after_gives_the_closing_instant_only_while_school_hours_last() {
        let school = calendar(spec(Nation::EnglandAndWales));
        let closing = Some(utc("2025-03-31 15:00"));
        #[rustfmt::skip]
        let cases = [
            ("10:00 BST on Monday 31 March", "2025-03-31 09:00", closing),
            ("at opening", "2025-03-31 07:30", closing),
            ("at closing", "2025-03-31 15:00", None),
            ("in the evening", "2025-03-31 18:40", None),
            ("before opening", "2025-03-31 07:00", None),
            ("on a Saturday", "2025-03-29 10:00", None),
        ];
        for (case, at, expected) in cases {
            assert_eq!(school.hours_end_after(utc(at)), expected, "{case}");
        }
    }

    #[test]
    fn a_local_time_the_clocks_skip_or_repeat_takes_the_earliest_instant() {
        let sundays_0130_to_0300 = CalendarSpec {
            days: vec![Weekday::Sun],
            opens: time("01:30"),
            closes: time("03:00"),
            ..CalendarSpec::default()
        };
        let school = calendar(sundays_0130_to_0300);
        // 30 March 2025: at 01:00 GMT the clocks jump to 02:00 BST, so 01:30 never happens.
        assert_eq!(
            school.school_hours_on(date("2025-03-30")),
            Some((utc("2025-03-30 01:00"), utc("2025-03-30 02:00")))
        );
        // 26 October 2025: at 02:00 BST the clocks go back to 01:00 GMT; 01:30 happens twice.
        assert_eq!(
            school.school_hours_on(date("2025-10-26")),
            Some((utc("2025-10-26 00:30"), utc("2025-10-26 03:00")))
        );
    }

    #[test]
    fn describe_local_gives_the_time_and_day_at_the_school() {
        let school = calendar(spec(Nation::EnglandAndWales));
        #[rustfmt::skip]
        let cases = [
            ("2025-03-11 19:40", "19:40 on Tuesday 11 March"),
            ("2025-06-10 07:45", "08:45 on Tuesday 10 June"),
        ];
        for (at, described) in cases {
            assert_eq!(school.describe_local(utc(at)), described);
        }
    }

    #[test]
    fn the_shipped_bank_holiday_file_lists_every_nation_for_2024_to_2027() {
        let holidays = BankHolidays::shipped();
        // Scotland has 10 in 2026 with the extra World Cup bank holiday on 15 June.
        #[rustfmt::skip]
        let per_year = [
            (Nation::EnglandAndWales, [8, 8, 8, 8]),
            (Nation::Scotland, [9, 9, 10, 9]),
            (Nation::NorthernIreland, [10, 10, 10, 10]),
        ];
        for (nation, counts) in per_year {
            for (year, count) in (2024..=2027).zip(counts) {
                let listed = holidays.dates(nation).iter().filter(|d| d.year() == year);
                assert_eq!(listed.count(), count, "{nation} in {year}");
            }
        }
        let england = holidays.dates(Nation::EnglandAndWales);
        let england_2025: Vec<NaiveDate> = england
            .iter()
            .filter(|d| d.year() == 2025)
            .copied()
            .collect();
        let expected = [
            "2025-01-01",
            "2025-04-18",
            "2025-04-21",
            "2025-05-05",
            "2025-05-26",
            "2025-08-25",
            "2025-12-25",
            "2025-12-26",
        ];
        assert_eq!(england_2025, expected.map(date));
        for substitute in ["2026-12-28", "2027-12-27", "2027-12-28"] {
            let everywhere = Nation::ALL.map(|n| holidays.is_bank_holiday(n, date(substitute)));
            assert_eq!(everywhere, [true; 3], "{substitute}");
        }
        assert!(holidays.is_bank_holiday(Nation::Scotland, date("2027-01-04")));
        assert!(holidays.is_bank_holiday(Nation::NorthernIreland, date("2024-03-18")));
    }

    #[test]
    fn an_admins_calendar_reads_from_toml_with_native_dates_and_defaults() {
        let text = r#"
            nation = "scotland"
            closes = "15:30"
            terms = [
                { starts = 2025-08-13, ends = 2025-10-10 },
                { name = "Winter", starts = 2025-10-20, ends = 2025-12-19 },
            ]
            closures = [2025-11-17, "2025-11-18"]
        "#;
        let parsed: CalendarSpec = toml::from_str(text).expect("a valid calendar");
        let winter = Term {
            name: Some("Winter".into()),
            ..term("2025-10-20", "2025-12-19")
        };
        let expected = CalendarSpec {
            nation: Nation::Scotland,
            closes: time("15:30"),
            terms: vec![term("2025-08-13", "2025-10-10"), winter],
            closures: vec![date("2025-11-17"), date("2025-11-18")],
            ..CalendarSpec::default()
        };
        assert_eq!(parsed, expected);
        assert_eq!((parsed.days, parsed.opens), (default_days(), time("08:30")));
    }

    #[test]
    fn a_calendar_round_trips_through_toml_and_json() {
        let original = CalendarSpec {
            days: vec![Weekday::Mon, Weekday::Wed, Weekday::Sat],
            ..spec(Nation::NorthernIreland)
        };
        let as_toml = toml::to_string(&original).expect("serialises to TOML");
        assert!(
            as_toml.contains(r#"days = ["mon", "wed", "sat"]"#),
            "{as_toml}"
        );
        assert!(as_toml.contains(r#"opens = "08:30""#), "{as_toml}");
        assert_eq!(
            toml::from_str::<CalendarSpec>(&as_toml).expect("reads back"),
            original
        );
        let as_json = serde_json::to_string(&original).expect("serialises to JSON");
        assert_eq!(
            serde_json::from_str::<CalendarSpec>(&as_json).expect("reads back"),
            original
        );
    }

    #[test]
    fn a_calendar_file_with_a_mistake_is_refused_naming_it() {
        #[rustfmt::skip]
        let cases = [
            (r#"days = ["mon", "funday"]"#, "unknown day name \"funday\""),
            (r#"opens = "8.30""#, "\"8.30\" is not a time of day"),
            (r#"closures = ["2025-02-30"]"#, "\"2025-02-30\" is not a date"),
            (r#"closure = [2025-11-14]"#, "unknown field `closure`"),
        ];
        for (line, message) in cases {
            let text = format!("nation = \"scotland\"\n{line}");
            let error = toml::from_str::<CalendarSpec>(&text)
                .expect_err(line)
                .to_string();
            assert!(error.contains(message), "{line}: {error}");
        }
        let no_nation = toml::from_str::<CalendarSpec>(r#"days = ["mon"]"#).expect_err("no nation");
        assert!(
            no_nation.to_string().contains("missing field `nation`"),
            "{no_nation}"
        );
        let wales = toml::from_str::<CalendarSpec>(r#"nation = "wales""#).expect_err("wales");
        assert!(
            wales.to_string().contains("unknown variant `wales`"),
            "{wales}"
        );
    }

    #[test]
    fn an_invalid_calendar_is_rejected_with_a_message_naming_the_problem() {
        let named = |name: &str, starts, ends| Term {
            name: Some(name.into()),
            ..term(starts, ends)
        };
        let default = CalendarSpec::default;
        #[rustfmt::skip]
        let cases = [
            (
                CalendarSpec { opens: time("16:00"), closes: time("08:00"), ..default() },
                "closes 08:00 is not after opens 16:00",
            ),
            (
                CalendarSpec {
                    terms: vec![term("2025-09-03", "2025-10-24"), term("2025-11-03", "2025-09-19")],
                    ..default()
                },
                "term 2 ends 2025-09-19, before it starts 2025-11-03",
            ),
            (
                CalendarSpec {
                    terms: vec![
                        named("Autumn 2", "2025-10-20", "2025-12-19"),
                        named("Autumn 1", "2025-09-03", "2025-10-24"),
                    ],
                    ..default()
                },
                "term \u{201c}Autumn 1\u{201d} (2025-09-03 to 2025-10-24) overlaps \
                 term \u{201c}Autumn 2\u{201d} (2025-10-20 to 2025-12-19)",
            ),
            (CalendarSpec { days: Vec::new(), ..default() }, "days is empty"),
            (
                CalendarSpec { days: vec![Weekday::Mon, Weekday::Tue, Weekday::Mon], ..default() },
                "mon is listed twice in days",
            ),
        ];
        for (spec, message) in cases {
            let error = validate(&spec).expect_err(message).to_string();
            assert!(
                error.contains(message),
                "expected \"{message}\" in \"{error}\""
            );
            assert!(SchoolCalendar::try_new(London, spec, &BankHolidays::shipped()).is_err());
        }
        assert!(validate(&default()).is_ok());
        assert!(validate(&spec(Nation::EnglandAndWales)).is_ok());
    }

    #[test]
    fn a_calendar_built_from_an_invalid_spec_is_never_inside_school_hours() {
        let backwards = CalendarSpec {
            opens: time("16:00"),
            closes: time("08:00"),
            ..CalendarSpec::default()
        };
        let school = SchoolCalendar::new(London, backwards, &BankHolidays::shipped());
        let noon = london("2025-06-10 12:00");
        assert_eq!(school.school_hours_on(date("2025-06-10")), None);
        assert!(!school.within_school_hours(noon, noon));
    }

    #[test]
    fn a_bank_holiday_file_with_a_mistake_is_refused_naming_it() {
        let file = |scotland: &str| {
            format!(
                "[england_and_wales]\ndates = [2025-01-01]\n\
                 [scotland]\ndates = [{scotland}]\n\
                 [northern_ireland]\ndates = []\n"
            )
        };
        assert!(BankHolidays::from_toml(&file("2025-01-02")).is_ok());
        #[rustfmt::skip]
        let cases = [
            (file("2027-01-02"), "bank holiday 2027-01-02 in [scotland] is a Saturday"),
            (file("\"2025-13-01\""), "\"2025-13-01\" is not a date"),
            (file("") + "[wales]\ndates = []\n", "unknown field `wales`"),
            ("[scotland]\ndates = []\n".to_string(), "missing field `england_and_wales`"),
        ];
        for (text, message) in cases {
            let error = BankHolidays::from_toml(&text)
                .expect_err(message)
                .to_string();
            assert!(
                error.contains(message),
                "expected \"{message}\" in \"{error}\""
            );
        }
    }
}
