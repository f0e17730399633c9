//! The documented import file (see config/example-school.toml), read and checked before
//! anything is written; and the check of a school's people that the console's upload shares.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{people_csv, ImportError};
use crate::connections::google::MonitoredStaff;
use crate::directory::{PersonKind, StaffRole};
use crate::policy::calendar::CalendarSpec;
use crate::policy::edit;
use crate::policy::settings::PolicyChoice;
use crate::policy::Severity;
use crate::retention::RetentionSettings;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    #[serde(default, rename = "school")]
    pub schools: Vec<SchoolSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolSpec {
    /// A short, stable name for the school (`greenfield`), used by `--school`.
    pub slug: String,
    pub name: String,
    /// An IANA timezone such as `Europe/London`.
    pub timezone: String,
    /// The platform accounts whose calls chaperone watches for this school.
    #[serde(default)]
    pub connections: Vec<ConnectionSpec>,
    /// Deprecated: the name of `connections` before there were other platforms. Still read,
    /// as Zoom connections without webhook secrets of their own.
    #[serde(default)]
    pub zoom_accounts: Vec<ZoomAccountSpec>,
    #[serde(default)]
    pub people: Vec<PersonSpec>,
    /// A CSV of people beside the TOML file (relative paths are from the TOML file's folder).
    #[serde(default)]
    pub people_csv: Option<PathBuf>,
    /// What was wrong with rows of `people_csv`, reported with the people's own problems.
    #[serde(skip)]
    pub people_csv_problems: Vec<Problem>,
    /// The policy: a preset and the rules the school overrides. Default: remote-send-pastoral.
    #[serde(default)]
    pub policy: Option<PolicyChoice>,
    /// School days, hours, terms and closures. Default: Monday to Friday 08:30–16:00 in
    /// England and Wales, every week.
    #[serde(default)]
    pub calendar: Option<CalendarSpec>,
    /// Who is alerted, how, and when alerts escalate.
    #[serde(default)]
    pub alerts: Option<AlertsSpec>,
    /// Days kept per class of record (`inbox_days`, `register_days`, `findings_days`,
    /// `outcomes_days`, `alert_deliveries_days`); a class left out keeps its default (see
    /// README.md, "Retention").
    #[serde(default)]
    pub retention: Option<RetentionSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSpec {
    /// Minutes an alert may go unacknowledged before the next contact is told (default 10).
    #[serde(default)]
    pub escalate_after_mins: Option<i64>,
    /// Local hour of the daily digest email, 0 to 23 (default 17); -1 for no digest. Any
    /// other value is refused.
    #[serde(default)]
    pub digest_hour: Option<i64>,
    /// In escalation order.
    #[serde(default)]
    pub contacts: Vec<ContactSpec>,
    #[serde(default)]
    pub webhooks: Vec<WebhookSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    /// The contact's directory ref (a member of staff).
    pub person: String,
    /// The lowest severity this contact is told of (default low: everything).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Email the person (default true), at the alphabetically first of their directory
    /// addresses: the directory keeps a person's addresses as a set, not in the file's order.
    #[serde(default)]
    pub email: Option<bool>,
    /// The environment variable holding the contact's Teams Workflows webhook URL.
    #[serde(default)]
    pub teams_url_env: Option<String>,
    /// The environment variable holding the contact's Slack incoming webhook URL.
    #[serde(default)]
    pub slack_url_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: String,
    /// The environment variable holding the signing secret (`whsec_...`); never the secret itself.
    pub secret_env: String,
    #[serde(default)]
    pub min_severity: Option<Severity>,
}

/// One platform account connected to the school. Secrets are named by environment
/// variable, read at import time and stored sealed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// `zoom` or `google_meet`.
    pub platform: String,
    /// The platform's account id (Zoom: on the app's page and in every event as
    /// `payload.account_id`; Google: the Workspace customer id, `C0…`).
    pub account_id: String,
    #[serde(default)]
    pub label: Option<String>,
    /// The variable holding the webhook Secret Token of the account's app. Without it, the
    /// connection's own endpoint refuses every delivery (the shared endpoint still works).
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// The variable holding the token before a rotation, accepted as well while set.
    #[serde(default)]
    pub previous_webhook_secret_env: Option<String>,
    /// The Server-to-Server OAuth app's client id, for the platform's API.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The variable holding that app's client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A Google Workspace connection's settings (required for `google_meet`, refused for
    /// other platforms).
    #[serde(default)]
    pub google: Option<GoogleConnectionSpec>,
}

/// A Google Workspace connection in the school's file; see `connections::google`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConnectionSpec {
    pub domains: Vec<String>,
    pub admin_user: String,
    pub pubsub_topic: String,
    pub push_audience: String,
    pub push_service_account: String,
    /// The variable holding the service account's JSON key (never the key itself).
    pub service_account_key_env: String,
    #[serde(default)]
    pub monitored: MonitoredStaff,
}

impl SchoolSpec {
    /// Every connection in the file, the deprecated `zoom_accounts` included; and whether
    /// the deprecated section was used.
    pub fn all_connections(&self) -> (Vec<ConnectionSpec>, bool) {
        let mut all = self.connections.clone();
        all.extend(self.zoom_accounts.iter().map(|account| ConnectionSpec {
            platform: "zoom".into(),
            account_id: account.account_id.clone(),
            label: account.label.clone(),
            webhook_secret_env: None,
            previous_webhook_secret_env: None,
            client_id: account.client_id.clone(),
            client_secret_env: account.client_secret_env.clone(),
            google: None,
        }));
        (all, !self.zoom_accounts.is_empty())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoomAccountSpec {
    pub account_id: String,
    #[serde(default)]
    pub label: Option<String>,
    /// The Server-to-Server OAuth app's client id, for Zoom's API (settings, attendance reports).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The environment variable holding that app's client secret; never the secret itself.
    #[serde(default)]
    pub client_secret_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonSpec {
    /// The school's own identifier for the person (MIS id, UPN, staff code): stable across imports.
    #[serde(rename = "ref")]
    pub reference: String,
    /// `staff`, `pupil` or `parent`.
    pub kind: String,
    /// For staff: `staff`, `dsl`, `deputy_dsl` or `senior_leader`.
    #[serde(default)]
    pub role: Option<String>,
    pub name: String,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub zoom_user_ids: Vec<String>,
    /// For parents and carers: the `ref`s of their children.
    #[serde(default)]
    pub children: Vec<String>,
    /// The CSV line the person was read from (the header is line 1); none in a TOML file.
    #[serde(skip)]
    pub row: Option<u64>,
}

/// A person after checking: kinds and roles parsed, emails lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPerson {
    pub row: Option<u64>,
    pub reference: String,
    pub kind: PersonKind,
    pub role: Option<StaffRole>,
    pub name: String,
    pub emails: Vec<String>,
    pub zoom_user_ids: Vec<String>,
    pub children: Vec<String>,
}

pub fn read(path: &Path) -> Result<ImportFile, ImportError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: display.clone(),
        source,
    })?;
    let mut file: ImportFile = toml::from_str(&text).map_err(|error| ImportError::Invalid {
        path: display.clone(),
        detail: error.to_string(),
    })?;
    let folder = path.parent().unwrap_or(Path::new("."));
    for school in &mut file.schools {
        if let Some(csv) = school.people_csv.take() {
            let csv = if csv.is_relative() {
                folder.join(csv)
            } else {
                csv
            };
            let read = people_csv::read(&csv)?;
            school.people.extend(read.people);
            school.people_csv_problems.extend(read.problems);
        }
    }
    Ok(file)
}

/// Checks the policy resolves and the calendar is valid, naming the school on failure.
pub fn check_settings(school: &SchoolSpec) -> Result<(), ImportError> {
    if let Some(policy) = &school.policy {
        edit::resolve_policy(policy).map_err(|error| {
            ImportError::Rejected(format!("school {}: policy: {error}", school.slug))
        })?;
    }
    if let Some(calendar) = &school.calendar {
        edit::check_calendar(calendar).map_err(|error| {
            ImportError::Rejected(format!("school {}: calendar: {error}", school.slug))
        })?;
    }
    if let Some(retention) = &school.retention {
        retention.validate().map_err(|error| {
            ImportError::Rejected(format!("school {}: retention: {error}", school.slug))
        })?;
    }
    Ok(())
}

pub fn check_timezone(school: &SchoolSpec) -> Result<(), ImportError> {
    edit::parse_timezone(&school.timezone)
        .map(|_| ())
        .map_err(|error| ImportError::Rejected(format!("school {}: {error}", school.slug)))
}

/// Something wrong with one person (or the file), named by CSV row and `ref` and never by
/// the person's name or email: messages go to the terminal and the console, and from there
/// into logs and tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The CSV line (the header is line 1); none for a person in a TOML file.
    pub row: Option<u64>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(row: Option<u64>, reference: Option<&str>, message: impl Into<String>) -> Self {
        Problem {
            row,
            reference: reference
                .map(str::trim)
                .filter(|reference| !reference.is_empty())
                .map(String::from),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.row, &self.reference) {
            (Some(row), Some(reference)) => write!(f, "row {row}, ref {reference}: ")?,
            (Some(row), None) => write!(f, "row {row}: ")?,
            (None, Some(reference)) => write!(f, "ref {reference}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

/// Where a value was first seen in the file, to name it in a later row's problem.
fn first_seen(row: Option<u64>, reference: &str) -> String {
    match row {
        Some(row) if reference.is_empty() => format!("row {row}"),
        Some(row) => format!("row {row} (ref {reference})"),
        None => format!("ref {reference}"),
    }
}

/// Checks every person, reporting every problem rather than the first; a person with a
/// problem is left out of what is returned. Values from the file are never quoted back
/// (a shifted column puts a name where a kind should be), only the `ref`.
pub fn check_people(people: &[PersonSpec]) -> (Vec<CheckedPerson>, Vec<Problem>) {
    let mut seen_refs: HashMap<String, Option<u64>> = HashMap::new();
    let mut seen_emails: HashMap<String, (Option<u64>, String)> = HashMap::new();
    let mut seen_zoom_ids: HashMap<String, (Option<u64>, String)> = HashMap::new();
    let mut checked = Vec::with_capacity(people.len());
    let mut problems = Vec::new();
    for person in people {
        let row = person.row;
        let reference = person.reference.trim().to_string();
        let before = problems.len();
        let mut problem = |message: String| {
            problems.push(Problem::new(row, Some(&reference), message));
        };
        if reference.is_empty() {
            problem("the ref is empty".into());
        } else if let Some(first) = seen_refs.get(&reference) {
            problem(match first {
                Some(first) => format!("the ref appears more than once (first on row {first})"),
                None => "the ref appears more than once".into(),
            });
        } else {
            seen_refs.insert(reference.clone(), row);
        }
        let kind = PersonKind::parse(&person.kind);
        if kind.is_none() {
            problem(if person.kind.trim().is_empty() {
                "the kind is empty (staff, pupil, parent or external_adult)".into()
            } else {
                "the kind is not staff, pupil, parent or external_adult".into()
            });
        }
        let given_role = person.role.as_deref().map(str::trim).unwrap_or_default();
        let role = match kind {
            Some(PersonKind::Staff) => {
                let role = StaffRole::parse(given_role);
                if role.is_none() {
                    problem("the role is not staff, dsl, deputy_dsl or senior_leader".into());
                }
                role
            }
            Some(_) if !given_role.is_empty() => {
                problem("only staff have a role".into());
                None
            }
            _ => None,
        };
        let name = person.name.trim().to_string();
        if name.is_empty() {
            problem("the name is empty".into());
        }
        let mut emails: Vec<String> = Vec::new();
        for email in &person.emails {
            let email = email.trim().to_lowercase();
            if email.is_empty() || emails.contains(&email) {
                continue;
            }
            if !email.contains('@') {
                problem("an email address has no @".into());
            } else if let Some((first_row, first_ref)) = seen_emails.get(&email) {
                problem(format!(
                    "shares an email address with {}",
                    first_seen(*first_row, first_ref)
                ));
            } else {
                seen_emails.insert(email.clone(), (row, reference.clone()));
            }
            emails.push(email);
        }
        let mut zoom_user_ids: Vec<String> = Vec::new();
        for id in &person.zoom_user_ids {
            let id = id.trim().to_string();
            if id.is_empty() || zoom_user_ids.contains(&id) {
                continue;
            }
            if let Some((first_row, first_ref)) = seen_zoom_ids.get(&id) {
                problem(format!(
                    "shares a Zoom user id with {}",
                    first_seen(*first_row, first_ref)
                ));
            } else {
                seen_zoom_ids.insert(id.clone(), (row, reference.clone()));
            }
            zoom_user_ids.push(id);
        }
        let mut children: Vec<String> = Vec::new();
        for child in &person.children {
            let child = child.trim().to_string();
            if !child.is_empty() && !children.contains(&child) {
                children.push(child);
            }
        }
        if !children.is_empty() && kind.is_some_and(|kind| kind != PersonKind::Parent) {
            problem("only parents and carers have children".into());
        }
        let texts = [&reference, &name]
            .into_iter()
            .chain(&emails)
            .chain(&zoom_user_ids)
            .chain(&children);
        if texts
            .into_iter()
            .any(|text| text.chars().any(char::is_control))
        {
            problem("a cell holds a control character (a tab, a line break or worse)".into());
        }
        if problems.len() > before {
            continue;
        }
        let Some(kind) = kind else { continue };
        checked.push(CheckedPerson {
            row,
            reference,
            kind,
            role,
            name,
            emails,
            zoom_user_ids,
            children,
        });
    }
    (checked, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(row: u64, reference: &str, kind: &str, name: &str, emails: &[&str]) -> PersonSpec {
        PersonSpec {
            reference: reference.into(),
            kind: kind.into(),
            role: None,
            name: name.into(),
            emails: emails.iter().map(|email| email.to_string()).collect(),
            zoom_user_ids: Vec::new(),
            children: Vec::new(),
            row: Some(row),
        }
    }

    #[test]
    fn the_import_refuses_what_the_console_refuses() {
        let file: ImportFile = toml::from_str(
            r#"
[[school]]
slug = "greenfield"
name = "Greenfield"
timezone = "Europe/London"
[school.policy]
preset = "two-staff-code-of-conduct"
[school.policy.overrides.two_adults]
min_staff = 0
"#,
        )
        .unwrap();
        let refused = check_settings(&file.schools[0]).unwrap_err().to_string();
        assert!(
            refused.contains("greenfield") && refused.contains("min_staff"),
            "{refused}"
        );
        let mut file = file;
        file.schools[0].timezone = "Europe/Londres".into();
        assert!(check_timezone(&file.schools[0]).is_err());
    }

    #[test]
    fn every_problem_is_reported_by_row_and_ref_without_names_or_emails() {
        let people = [
            person(2, "P-1", "pupil", "Ada Hill", &["ada@school.example"]),
            person(3, "P-2", "teacher", "", &["ADA@school.example"]),
            person(4, "P-1", "pupil", "Bo Hill", &["bo-at-school.example"]),
            person(5, "P-3", "pupil", "Cy Hill", &[]),
        ];
        let (checked, problems) = check_people(&people);
        assert_eq!(
            checked
                .iter()
                .map(|p| p.reference.as_str())
                .collect::<Vec<_>>(),
            ["P-1", "P-3"]
        );
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "row 3, ref P-2: the kind is not staff, pupil, parent or external_adult",
                "row 3, ref P-2: the name is empty",
                "row 3, ref P-2: shares an email address with row 2 (ref P-1)",
                "row 4, ref P-1: the ref appears more than once (first on row 2)",
                "row 4, ref P-1: an email address has no @",
            ]
        );
        for line in &said {
            assert!(!line.contains("ada@") && !line.contains("Hill"), "{line}");
        }
    }

    #[test]
    fn roles_belong_to_staff_and_children_to_parents() {
        let mut staff = person(2, "S-1", "staff", "Ravi Patel", &[]);
        staff.role = Some("head".into());
        let mut pupil = person(3, "P-1", "pupil", "Ada Hill", &[]);
        pupil.role = Some("dsl".into());
        pupil.children = vec!["P-2".into()];
        let mut dsl = person(4, "S-2", "staff", "Morgan Shaw", &[]);
        dsl.role = Some("Deputy DSL".into());
        let (checked, problems) = check_people(&[staff, pupil, dsl]);
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "row 2, ref S-1: the role is not staff, dsl, deputy_dsl or senior_leader",
                "row 3, ref P-1: only staff have a role",
                "row 3, ref P-1: only parents and carers have children",
            ]
        );
        assert_eq!(checked.len(), 1);
        assert_eq!(checked[0].role, Some(StaffRole::DeputyDsl));
    }

    #[test]
    fn a_person_may_list_the_same_address_twice() {
        let people = [person(
            2,
            "P-1",
            "pupil",
            "Ada Hill",
            &["a@x.example", "A@x.example"],
        )];
        let (checked, problems) = check_people(&people);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(checked[0].emails, ["a@x.example"]);
    }
}
