//! A school's policy: one setting per rule (on/off, severity, the clause it enforces,
//! parameters), built from a shipped preset with the school's overrides on top.

use serde::{Deserialize, Serialize};

use super::Severity;

/// The shipped presets, by name.
pub const PRESETS: [(&str, &str); 3] = [
    (
        "two-staff-code-of-conduct",
        include_str!("../../config/policies/two-staff-code-of-conduct.toml"),
    ),
    (
        "remote-send-pastoral",
        include_str!("../../config/policies/remote-send-pastoral.toml"),
    ),
    (
        "in-school-one-to-one",
        include_str!("../../config/policies/in-school-one-to-one.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown policy preset {0:?}; the presets are two-staff-code-of-conduct, remote-send-pastoral and in-school-one-to-one")]
    UnknownPreset(String),
    #[error("the policy overrides are not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetting<P> {
    pub enabled: bool,
    pub severity: Severity,
    /// The clause of the school's policy this rule enforces, shown with every finding.
    pub clause: String,
    #[serde(flatten)]
    pub params: P,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoParams {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchoolAccountParams {
    /// Pupils are to sign in (to a school account) to join: a scheduled meeting that lets
    /// participants join without signing in is found before the call. Off unless the school's
    /// policy says so: most pupils join as guests from a link sent to a parent.
    #[serde(default)]
    pub require_sign_in: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoAdultsParams {
    /// Staff who must be present whenever a pupil is.
    pub min_staff: u32,
    /// Whether the pupil's own parent or carer counts towards the adults present.
    pub parent_counts: bool,
    /// A shortfall shorter than this (a join order at the start, a rejoin) is not a breach.
    pub grace_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalParams {
    /// The planned session must be approved (by SLT).
    pub require_approval: bool,
    /// The planned session must carry a risk assessment reference.
    pub require_risk_assessment: bool,
    /// A call matches a planned session of its host starting this close to it.
    pub match_window_mins: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingMode {
    Required,
    Forbidden,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingParams {
    pub mode: RecordingMode,
    /// For `required`: how long recordings are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeParams {
    /// Hours after the call's end by which the outcome must be logged.
    pub within_hours: i64,
}

/// Every rule of a school's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Whether a call with a *possible* pupil — anyone not identified as staff or as an adult
    /// the school lists, such as a guest who joined from the link sent to a parent — is
    /// checked like a call with a known pupil. Off: only calls with a proven pupil are checked.
    pub check_possible_pupils: bool,
    pub school_account: RuleSetting<SchoolAccountParams>,
    pub dsl_invited: RuleSetting<NoParams>,
    pub chat_disabled: RuleSetting<NoParams>,
    pub school_hours: RuleSetting<NoParams>,
    pub two_adults: RuleSetting<TwoAdultsParams>,
    pub approved_in_advance: RuleSetting<ApprovalParams>,
    pub recording: RuleSetting<RecordingParams>,
    pub parental_consent: RuleSetting<NoParams>,
    pub invite_via_parent: RuleSetting<NoParams>,
    pub unknown_participant: RuleSetting<NoParams>,
    pub outcome_logged: RuleSetting<OutcomeParams>,
}

/// What a school chose: a preset and the rules it overrides (TOML tables by rule name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyChoice {
    pub preset: String,
    #[serde(default)]
    pub overrides: toml::Table,
}

impl Default for PolicyChoice {
    fn default() -> Self {
        PolicyChoice {
            preset: "remote-send-pastoral".into(),
            overrides: toml::Table::new(),
        }
    }
}

impl PolicyChoice {
    /// The preset with the overrides applied.
    pub fn resolve(&self) -> Result<Policy, PolicyError> {
        let text = PRESETS
            .iter()
            .find(|(name, _)| *name == self.preset)
            .map(|(_, text)| *text)
            .ok_or_else(|| PolicyError::UnknownPreset(self.preset.clone()))?;
        let mut table: toml::Table = text.parse().expect("shipped presets are valid TOML");
        crate::config::merge(&mut table, self.overrides.clone());
        toml::Value::Table(table)
            .try_into()
            .map_err(|error: toml::de::Error| PolicyError::Invalid(error.message().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_preset_resolves_and_names_a_clause_for_every_rule() {
        for (name, _) in PRESETS {
            let policy = PolicyChoice {
                preset: name.into(),
                overrides: toml::Table::new(),
            }
            .resolve()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
            assert!(
                policy.check_possible_pupils,
                "{name}: possible pupils unchecked"
            );
            let value = serde_json::to_value(&policy).unwrap();
            let rules = value
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| v.is_object());
            for (rule, setting) in rules {
                assert!(
                    !setting["clause"].as_str().unwrap_or_default().is_empty(),
                    "{name}: {rule} has no clause"
                );
            }
        }
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let overrides: toml::Table = "[two_adults]\nparent_counts = true\nseverity = \"high\"\n"
            .parse()
            .unwrap();
        let policy = PolicyChoice {
            preset: "two-staff-code-of-conduct".into(),
            overrides,
        }
        .resolve()
        .unwrap();
        assert!(policy.two_adults.params.parent_counts);
        assert!(
            policy.check_possible_pupils,
            "not named, so as the preset says"
        );
        assert_eq!(policy.two_adults.severity, Severity::High);
        assert_eq!(policy.two_adults.params.min_staff, 2);
        assert!(policy.two_adults.enabled);
    }

    #[test]
    fn a_school_can_check_only_proven_pupils() {
        let policy = PolicyChoice {
            preset: "remote-send-pastoral".into(),
            overrides: "check_possible_pupils = false\n".parse().unwrap(),
        }
        .resolve()
        .unwrap();
        assert!(!policy.check_possible_pupils);
    }

    #[test]
    fn an_unknown_preset_or_rule_is_refused_with_its_name() {
        let unknown = PolicyChoice {
            preset: "lenient".into(),
            overrides: toml::Table::new(),
        };
        assert!(unknown
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("lenient"));
        let typo = PolicyChoice {
            preset: "two-staff-code-of-conduct".into(),
            overrides: "[two_adult]\nenabled = false\n".parse().unwrap(),
        };
        assert!(typo
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("two_adult"));
    }
}
