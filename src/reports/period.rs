//! The time a report covers: one month, or an academic year (September to August), read in
//! the school's own timezone and cut into calendar months.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The first month of the academic year.
const ACADEMIC_YEAR_FIRST_MONTH: u32 = 9;

/// A calendar month, as the school reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|_| Month { year, month })
    }

    /// The month `at` falls in, in `timezone`.
    pub fn containing(at: DateTime<Utc>, timezone: Tz) -> Month {
        let local = at.with_timezone(&timezone);
        Month {
            year: local.year(),
            month: local.month(),
        }
    }

    /// Reads `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.trim().split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        Month::new(year.parse().ok()?, month.parse().ok()?)
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a month's first day exists")
    }

    pub fn last_day(self) -> NaiveDate {
        self.next()
            .first_day()
            .pred_opt()
            .expect("a month's last day exists")
    }

    /// `YYYY-MM`, as addresses carry it.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// "March 2025".
    pub fn title(self) -> String {
        self.first_day().format("%B %Y").to_string()
    }

    /// "Mar", where the period says the year.
    pub fn short_title(self) -> String {
        self.first_day().format("%b").to_string()
    }

    /// The academic year the month belongs to, by the calendar year it starts in.
    pub fn academic_year(self) -> i32 {
        if self.month >= ACADEMIC_YEAR_FIRST_MONTH {
            self.year
        } else {
            self.year - 1
        }
    }
}

/// A month with its bounds as instants: from local midnight on its first day until local
/// midnight on the next month's first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthSpan {
    pub month: Month,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month(Month),
    /// September of `starting` to August of the year after.
    AcademicYear {
        starting: i32,
    },
}

impl Period {
    /// "March 2025", or "the academic year 2024 to 2025".
    pub fn title(self) -> String {
        match self {
            Period::Month(month) => month.title(),
            Period::AcademicYear { starting } => {
                format!("the academic year {starting} to {}", starting + 1)
            }
        }
    }

    /// The period's months, from its first to its last that has begun by `now`.
    pub fn months(self, timezone: Tz, now: DateTime<Utc>) -> Vec<MonthSpan> {
        let (first, count) = match self {
            Period::Month(month) => (month, 1),
            Period::AcademicYear { starting } => (
                Month {
                    year: starting,
                    month: ACADEMIC_YEAR_FIRST_MONTH,
                },
                12,
            ),
        };
        let current = Month::containing(now, timezone);
        let mut spans = Vec::new();
        let mut month = first;
        for _ in 0..count {
            if month > current {
                break;
            }
            spans.push(MonthSpan {
                month,
                from: local_midnight(timezone, month.first_day()),
                until: local_midnight(timezone, month.next().first_day()),
            });
            month = month.next();
        }
        spans
    }
}

/// Midnight at the start of `date` in `timezone` (the earlier one when the clocks go back;
/// where midnight does not exist, the first hour that does).
fn local_midnight(timezone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    (0..3)
        .find_map(|hours| {
            timezone
                .from_local_datetime(&(midnight + chrono::Duration::hours(hours)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_month_starts_at_the_school_s_midnight() {
        let london: Tz = "Europe/London".parse().unwrap();
        let may = Period::Month(Month::new(2025, 5).unwrap());
        let spans = may.months(london, at("2026-01-01T00:00:00Z"));
        assert_eq!(spans.len(), 1);
        // British Summer Time: local midnight is 23:00 UTC the day before.
        assert_eq!(spans[0].from, at("2025-04-30T23:00:00Z"));
        assert_eq!(spans[0].until, at("2025-05-31T23:00:00Z"));
    }

    #[test]
    fn an_academic_year_runs_from_september_to_august_and_stops_at_the_current_month() {
        let london: Tz = "Europe/London".parse().unwrap();
        let year = Period::AcademicYear { starting: 2024 };
        let whole = year.months(london, at("2026-01-01T00:00:00Z"));
        let keys: Vec<String> = whole.iter().map(|span| span.month.key()).collect();
        assert_eq!(keys.first().unwrap(), "2024-09");
        assert_eq!(keys.last().unwrap(), "2025-08");
        assert_eq!(keys.len(), 12);
        let so_far = year.months(london, at("2024-11-15T12:00:00Z"));
        assert_eq!(so_far.len(), 3);
        assert!(year.months(london, at("2024-08-31T12:00:00Z")).is_empty());
    }

    #[test]
    fn months_read_back_and_belong_to_their_academic_year() {
        assert_eq!(Month::parse("2025-03"), Month::new(2025, 3));
        assert_eq!(Month::parse("2025-13"), None);
        assert_eq!(Month::parse("25-03"), None);
        assert_eq!(Month::new(2025, 3).unwrap().academic_year(), 2024);
        assert_eq!(Month::new(2025, 9).unwrap().academic_year(), 2025);
        assert_eq!(
            Month::new(2024, 2).unwrap().last_day(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
    }
}
