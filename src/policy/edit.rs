//! The checks on what an admin writes for a school, whether it arrives in the import file or
//! from the console: the timezone, the policy and the calendar. Both ways in call these, so a
//! setting one of them refuses is refused by the other too.

use chrono_tz::Tz;

use super::calendar::{self, CalendarError, CalendarSpec};
use super::settings::{
    ApprovalParams, NoParams, OutcomeParams, Policy, PolicyChoice, PolicyError, RecordingParams,
    RuleSetting, SchoolAccountParams, TwoAdultsParams, PRESETS,
};

/// A school's timezone that is not an IANA name.
#[derive(Debug, thiserror::Error)]
#[error("timezone {0:?} is not an IANA timezone such as Europe/London")]
pub struct UnknownTimezone(pub String);

/// The school's timezone, by its IANA name (`Europe/London`).
pub fn parse_timezone(name: &str) -> Result<Tz, UnknownTimezone> {
    name.parse::<Tz>()
        .map_err(|_| UnknownTimezone(name.to_string()))
}

/// Checks a calendar: the rules that span its fields.
pub fn check_calendar(spec: &CalendarSpec) -> Result<(), CalendarError> {
    calendar::validate(spec)
}

/// The policy a school chose, resolved from its preset and overrides, with parameters no rule
/// can work with refused: resolving checks names and types, this checks the values.
pub fn resolve_policy(choice: &PolicyChoice) -> Result<Policy, PolicyError> {
    let policy = choice.resolve().map_err(|error| match error {
        PolicyError::Invalid(message) => match rule_refused(choice) {
            Some(named) => PolicyError::Invalid(named),
            None => PolicyError::Invalid(message),
        },
        other => other,
    })?;
    check_values(&policy)?;
    Ok(policy)
}

/// Which rule a policy that does not resolve fails on, and why: the whole policy's error
/// says what is wrong ("expected i64") but not where.
fn rule_refused(choice: &PolicyChoice) -> Option<String> {
    fn read<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<(), String> {
        value
            .try_into::<T>()
            .map(|_| ())
            .map_err(|error: toml::de::Error| error.message().to_string())
    }
    let (_, text) = PRESETS.iter().find(|(name, _)| *name == choice.preset)?;
    let mut table: toml::Table = text.parse().ok()?;
    crate::config::merge(&mut table, choice.overrides.clone());
    table.into_iter().find_map(|(rule, value)| {
        let read = match rule.as_str() {
            "school_account" => read::<RuleSetting<SchoolAccountParams>>(value),
            "two_adults" => read::<RuleSetting<TwoAdultsParams>>(value),
            "approved_in_advance" => read::<RuleSetting<ApprovalParams>>(value),
            "recording" => read::<RuleSetting<RecordingParams>>(value),
            "outcome_logged" => read::<RuleSetting<OutcomeParams>>(value),
            "check_possible_pupils" => read::<bool>(value),
            "dsl_invited"
            | "chat_disabled"
            | "school_hours"
            | "parental_consent"
            | "invite_via_parent"
            | "unknown_participant" => read::<RuleSetting<NoParams>>(value),
            // Not a rule: the whole policy's error names it.
            _ => return None,
        };
        read.err().map(|message| format!("{rule}: {message}"))
    })
}

fn check_values(policy: &Policy) -> Result<(), PolicyError> {
    let invalid = |message: String| Err(PolicyError::Invalid(message));
    let clauses = [
        ("school_account", &policy.school_account.clause),
        ("dsl_invited", &policy.dsl_invited.clause),
        ("chat_disabled", &policy.chat_disabled.clause),
        ("school_hours", &policy.school_hours.clause),
        ("two_adults", &policy.two_adults.clause),
        ("approved_in_advance", &policy.approved_in_advance.clause),
        ("recording", &policy.recording.clause),
        ("parental_consent", &policy.parental_consent.clause),
        ("invite_via_parent", &policy.invite_via_parent.clause),
        ("unknown_participant", &policy.unknown_participant.clause),
        ("outcome_logged", &policy.outcome_logged.clause),
    ];
    if let Some((rule, _)) = clauses.iter().find(|(_, clause)| clause.trim().is_empty()) {
        // Every finding quotes its rule's clause: without one a DSL cannot tell why it matters.
        return invalid(format!(
            "{rule}.clause is empty: write the words of the school's policy this rule enforces"
        ));
    }
    let two_adults = &policy.two_adults.params;
    if two_adults.min_staff < 1 {
        return invalid(
            "two_adults.min_staff is 0: at least one member of staff must be present".into(),
        );
    }
    if two_adults.grace_secs < 0 {
        return invalid(format!(
            "two_adults.grace_secs is {}: a grace period cannot be negative",
            two_adults.grace_secs
        ));
    }
    let window = policy.approved_in_advance.params.match_window_mins;
    if window < 0 {
        return invalid(format!(
            "approved_in_advance.match_window_mins is {window}: a window cannot be negative"
        ));
    }
    let within = policy.outcome_logged.params.within_hours;
    if within < 1 {
        return invalid(format!(
            "outcome_logged.within_hours is {within}: allow at least one hour to log an outcome"
        ));
    }
    if policy.recording.params.retention_days == Some(0) {
        return invalid(
            "recording.retention_days is 0: keep recordings at least a day, or leave it out".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(overrides: &str) -> PolicyChoice {
        PolicyChoice {
            preset: "two-staff-code-of-conduct".into(),
            overrides: overrides.parse().unwrap(),
        }
    }

    #[test]
    fn every_shipped_preset_passes_the_checks() {
        for (name, _) in crate::policy::settings::PRESETS {
            let preset = PolicyChoice {
                preset: name.into(),
                overrides: toml::Table::new(),
            };
            resolve_policy(&preset).unwrap_or_else(|error| panic!("{name}: {error}"));
        }
    }

    #[test]
    fn a_parameter_no_rule_can_work_with_is_refused_naming_it() {
        #[rustfmt::skip]
        let cases = [
            ("[two_adults]\nmin_staff = 0", "two_adults.min_staff is 0"),
            ("[two_adults]\ngrace_secs = -5", "two_adults.grace_secs is -5"),
            ("[approved_in_advance]\nmatch_window_mins = -1", "match_window_mins is -1"),
            ("[outcome_logged]\nwithin_hours = 0", "outcome_logged.within_hours is 0"),
            ("[recording]\nretention_days = 0", "recording.retention_days is 0"),
            ("[dsl_invited]\nclause = \"  \"", "dsl_invited.clause is empty"),
            ("[two_adults]\ngrace_secs = \"soon\"", "two_adults: invalid type: string \"soon\""),
            ("[recording]\nmode = \"sometimes\"", "recording: unknown variant `sometimes`"),
            ("[two_adult]\nenabled = false", "unknown field `two_adult`"),
        ];
        for (overrides, message) in cases {
            let error = resolve_policy(&choice(overrides))
                .expect_err(overrides)
                .to_string();
            assert!(error.contains(message), "{overrides}: {error}");
        }
        assert!(resolve_policy(&choice("[two_adults]\ngrace_secs = 0")).is_ok());
    }

    #[test]
    fn a_timezone_is_an_iana_name() {
        assert_eq!(parse_timezone("Europe/London").unwrap(), Tz::Europe__London);
        let error = parse_timezone("Mars/Olympus").unwrap_err().to_string();
        assert!(error.contains("\"Mars/Olympus\""), "{error}");
        assert!(parse_timezone("GMT+1").is_err());
    }
}
