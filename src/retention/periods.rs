//! The periods a school keeps its records for, and the cutoffs they give at a moment: pure,
//! so that the arithmetic is tested on its own.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The register (calls, participants, breakout stays, signals, settings read): The Education
/// (Pupil Registration) (England) Regulations 2006 keep attendance register entries for three
/// years. Three years of days, with a leap day.
pub const DEFAULT_REGISTER_DAYS: u32 = 3 * 365 + 1;
/// Alert deliveries: kept as long as the register they were sent about.
pub const DEFAULT_ALERT_DELIVERIES_DAYS: u32 = DEFAULT_REGISTER_DAYS;
/// Findings, from their resolution: a child-protection record, which the IRMS toolkit for
/// schools keeps until the child's date of birth plus 25 years. chaperone holds no dates of
/// birth, so it keeps 25 years from the record, with every leap day those years can hold.
pub const DEFAULT_FINDINGS_DAYS: u32 = 25 * 365 + 7;
/// Outcomes (what staff wrote after a call), from their writing: as findings.
pub const DEFAULT_OUTCOMES_DAYS: u32 = DEFAULT_FINDINGS_DAYS;

/// The shortest period any class may be given.
pub const MIN_DAYS: u32 = 1;
/// The shortest period for raw inbox events: their de-duplication keys go with them, and a
/// redelivery after that is taken for a new event (the instance's `inbox.retention_days`
/// has the same floor).
pub const MIN_INBOX_DAYS: u32 = 8;

/// What a school chose, in days per class; a class left out keeps its default. Stored as
/// JSON with the school's other settings, and read from `[school.retention]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Raw inbox events, from their arrival, once applied (default: the instance's
    /// `inbox.retention_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_days: Option<u32>,
    /// The register, from a call's end (its start, or when it was first seen, if it has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_days: Option<u32>,
    /// Findings with their history, from their resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_days: Option<u32>,
    /// Outcomes, from their writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes_days: Option<u32>,
    /// Alert deliveries, from their creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_deliveries_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("{setting} = {days}: keep records at least {least} day{}", if *least == 1 { "" } else { "s" })]
    TooShort {
        setting: &'static str,
        days: u32,
        least: u32,
    },
}

impl RetentionSettings {
    /// Refuses a period shorter than its class allows.
    pub fn validate(&self) -> Result<(), RetentionError> {
        let chosen = [
            ("inbox_days", self.inbox_days, MIN_INBOX_DAYS),
            ("register_days", self.register_days, MIN_DAYS),
            ("findings_days", self.findings_days, MIN_DAYS),
            ("outcomes_days", self.outcomes_days, MIN_DAYS),
            (
                "alert_deliveries_days",
                self.alert_deliveries_days,
                MIN_DAYS,
            ),
        ];
        for (setting, days, least) in chosen {
            if let Some(days) = days.filter(|days| *days < least) {
                return Err(RetentionError::TooShort {
                    setting,
                    days,
                    least,
                });
            }
        }
        Ok(())
    }

    /// The periods in force, with `inbox_default_days` (the instance's setting) for raw
    /// events when the school chose none.
    pub fn periods(&self, inbox_default_days: u32) -> Periods {
        Periods {
            inbox_days: self.inbox_days.unwrap_or(inbox_default_days),
            register_days: self.register_days.unwrap_or(DEFAULT_REGISTER_DAYS),
            findings_days: self.findings_days.unwrap_or(DEFAULT_FINDINGS_DAYS),
            outcomes_days: self.outcomes_days.unwrap_or(DEFAULT_OUTCOMES_DAYS),
            alert_deliveries_days: self
                .alert_deliveries_days
                .unwrap_or(DEFAULT_ALERT_DELIVERIES_DAYS),
        }
    }
}

/// One class's period as people read it (the console's school page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodLine {
    /// What is kept: "Raw inbox events", "The register", ...
    pub what: &'static str,
    /// The setting under `[school.retention]`.
    pub setting: &'static str,
    pub days: u32,
    /// What the age is counted from.
    pub counted_from: &'static str,
    /// Whether the school chose it (otherwise it is the default).
    pub chosen: bool,
}

impl RetentionSettings {
    /// Each class's period in force, in the README's order.
    pub fn lines(&self, inbox_default_days: u32) -> Vec<PeriodLine> {
        let periods = self.periods(inbox_default_days);
        let line = |what, setting, chosen: Option<u32>, days, counted_from| PeriodLine {
            what,
            setting,
            days,
            counted_from,
            chosen: chosen.is_some(),
        };
        vec![
            line(
                "Raw inbox events",
                "inbox_days",
                self.inbox_days,
                periods.inbox_days,
                "arrival, once applied",
            ),
            line(
                "The register (calls, participants, breakout stays, signals, settings read)",
                "register_days",
                self.register_days,
                periods.register_days,
                "the call's end",
            ),
            line(
                "Alert deliveries",
                "alert_deliveries_days",
                self.alert_deliveries_days,
                periods.alert_deliveries_days,
                "creation",
            ),
            line(
                "Findings with their history",
                "findings_days",
                self.findings_days,
                periods.findings_days,
                "resolution",
            ),
            line(
                "Outcomes",
                "outcomes_days",
                self.outcomes_days,
                periods.outcomes_days,
                "writing",
            ),
        ]
    }
}

/// The periods in force for a school, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Periods {
    pub inbox_days: u32,
    pub register_days: u32,
    pub findings_days: u32,
    pub outcomes_days: u32,
    pub alert_deliveries_days: u32,
}

/// Records older than these (by their own measure of age) are due for purging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub inbox: DateTime<Utc>,
    pub register: DateTime<Utc>,
    pub findings: DateTime<Utc>,
    pub outcomes: DateTime<Utc>,
    pub alert_deliveries: DateTime<Utc>,
}

/// The cutoffs `periods` give at `now`. A period too long to count back from now keeps
/// everything.
pub fn cutoffs(periods: &Periods, now: DateTime<Utc>) -> Cutoffs {
    let back = |days: u32| {
        now.checked_sub_signed(Duration::days(i64::from(days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    Cutoffs {
        inbox: back(periods.inbox_days),
        register: back(periods.register_days),
        findings: back(periods.findings_days),
        outcomes: back(periods.outcomes_days),
        alert_deliveries: back(periods.alert_deliveries_days),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_school_that_chose_nothing_keeps_the_register_three_years_and_findings_twenty_five() {
        let periods = RetentionSettings::default().periods(30);
        let now = at(2030, 9, 1);
        let due = cutoffs(&periods, now);
        assert_eq!(due.inbox, at(2030, 8, 2));
        // Never shorter than the calendar years the guidance speaks of.
        assert!(due.register <= at(2027, 9, 1), "{}", due.register);
        assert!(due.register > at(2027, 8, 29), "{}", due.register);
        assert_eq!(due.alert_deliveries, due.register);
        assert!(due.findings <= at(2005, 9, 1), "{}", due.findings);
        assert!(due.findings > at(2005, 8, 25), "{}", due.findings);
        assert_eq!(due.outcomes, due.findings);
    }

    #[test]
    fn a_schools_own_periods_replace_the_defaults_class_by_class() {
        let chosen = RetentionSettings {
            register_days: Some(10),
            findings_days: Some(20),
            ..RetentionSettings::default()
        };
        let periods = chosen.periods(14);
        assert_eq!(periods.inbox_days, 14);
        assert_eq!(periods.register_days, 10);
        assert_eq!(periods.findings_days, 20);
        assert_eq!(periods.outcomes_days, DEFAULT_OUTCOMES_DAYS);
        let due = cutoffs(&periods, at(2030, 1, 31));
        assert_eq!(due.register, at(2030, 1, 21));
        assert_eq!(due.findings, at(2030, 1, 11));
    }

    #[test]
    fn a_period_longer_than_time_itself_keeps_everything() {
        let periods = RetentionSettings {
            findings_days: Some(u32::MAX),
            ..RetentionSettings::default()
        }
        .periods(u32::MAX);
        let due = cutoffs(&periods, at(2030, 1, 1));
        assert_eq!(due.findings, DateTime::<Utc>::MIN_UTC);
        assert_eq!(due.inbox, DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn a_day_is_the_least_any_class_keeps_and_raw_events_keep_eight() {
        let nothing = RetentionSettings {
            outcomes_days: Some(0),
            ..RetentionSettings::default()
        };
        assert_eq!(
            nothing.validate().unwrap_err().to_string(),
            "outcomes_days = 0: keep records at least 1 day"
        );
        let short_inbox = RetentionSettings {
            inbox_days: Some(7),
            ..RetentionSettings::default()
        };
        assert!(short_inbox
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 8 days"));
        let fine = RetentionSettings {
            inbox_days: Some(8),
            register_days: Some(1),
            ..RetentionSettings::default()
        };
        assert_eq!(fine.validate(), Ok(()));
    }

    #[test]
    fn the_lines_say_which_periods_the_school_chose() {
        let chosen = RetentionSettings {
            findings_days: Some(400),
            ..RetentionSettings::default()
        };
        let lines = chosen.lines(30);
        assert_eq!(lines.len(), 5);
        let findings = lines
            .iter()
            .find(|line| line.setting == "findings_days")
            .unwrap();
        assert_eq!((findings.days, findings.chosen), (400, true));
        assert_eq!((lines[0].days, lines[0].chosen), (30, false));
    }

    #[test]
    fn stored_settings_name_only_what_the_school_chose() {
        let chosen = RetentionSettings {
            register_days: Some(400),
            ..RetentionSettings::default()
        };
        let json = serde_json::to_string(&chosen).unwrap();
        assert_eq!(json, r#"{"register_days":400}"#);
        assert_eq!(
            serde_json::from_str::<RetentionSettings>(&json).unwrap(),
            chosen
        );
        assert_eq!(
            serde_json::from_str::<RetentionSettings>("{}").unwrap(),
            RetentionSettings::default()
        );
        assert!(serde_json::from_str::<RetentionSettings>(r#"{"register":1}"#).is_err());
    }
}
