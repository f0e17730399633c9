//! The school the faults are run against: the example school's Zoom account, a policy that
//! checks only the rules a test names, and signed webhooks as its only alert recipients.

use std::path::{Path, PathBuf};

use crate::receiver::WEBHOOK_SECRET;
use crate::zoom::SCHOOL_ACCOUNT;

/// The environment variable `chaperone import` reads the webhooks' secret from.
pub const WEBHOOK_SECRET_VARIABLE: &str = "FAULTS_CASES_WEBHOOK_SECRET";

/// Every rule a school policy has.
const ALL_RULES: [&str; 11] = [
    "school_account",
    "dsl_invited",
    "chat_disabled",
    "school_hours",
    "two_adults",
    "approved_in_advance",
    "recording",
    "parental_consent",
    "invite_via_parent",
    "unknown_participant",
    "outcome_logged",
];

/// Writes the school's import file into `folder`: `rules` switched on, alerts to `webhooks`.
pub fn write_school(folder: &Path, rules: &[&str], webhooks: &[String]) -> PathBuf {
    let mut school = format!(
        r#"[[school]]
slug = "greenfield"
name = "Greenfield Academy"
timezone = "Europe/London"

[[school.connections]]
platform = "zoom"
account_id = "{SCHOOL_ACCOUNT}"
label = "Greenfield staff accounts"

[school.policy]
preset = "two-staff-code-of-conduct"
"#
    );
    for rule in ALL_RULES {
        school.push_str(&format!(
            "[school.policy.overrides.{rule}]\nenabled = {}\n",
            rules.contains(&rule)
        ));
    }
    school.push_str("[school.alerts]\nescalate_after_mins = 600\ndigest_hour = -1\n");
    for url in webhooks {
        school.push_str(&format!(
            "[[school.alerts.webhooks]]\nurl = \"{url}\"\nsecret_env = \"{WEBHOOK_SECRET_VARIABLE}\"\nmin_severity = \"low\"\n"
        ));
    }
    let file = folder.join("school.toml");
    std::fs::write(&file, school).expect("the school file is written");
    file
}

/// What `chaperone import` needs in its environment for [`write_school`]'s file.
pub fn import_env() -> [(&'static str, &'static str); 1] {
    [(WEBHOOK_SECRET_VARIABLE, WEBHOOK_SECRET)]
}
