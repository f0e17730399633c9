//! The documented import file (see config/example-school.toml), read and checked before
//! anything is written.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;

use super::{people_csv, ImportError};
use crate::connections::google::MonitoredStaff;
use crate::directory::{PersonKind, StaffRole};
use crate::policy::calendar::CalendarSpec;
use crate::policy::settings::PolicyChoice;
use crate::policy::Severity;

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
}

/// A person after checking: kinds and roles parsed, emails lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPerson {
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
            school.people.extend(people_csv::read(&csv)?);
        }
    }
    Ok(file)
}

/// Checks the policy resolves and the calendar is valid, naming the school on failure.
pub fn check_settings(school: &SchoolSpec) -> Result<(), ImportError> {
    if let Some(policy) = &school.policy {
        policy.resolve().map_err(|error| {
            ImportError::Rejected(format!("school {}: policy: {error}", school.slug))
        })?;
    }
    if let Some(calendar) = &school.calendar {
        crate::policy::calendar::validate(calendar).map_err(|error| {
            ImportError::Rejected(format!("school {}: calendar: {error}", school.slug))
        })?;
    }
    Ok(())
}

pub fn check_timezone(school: &SchoolSpec) -> Result<(), ImportError> {
    school.timezone.parse::<Tz>().map(|_| ()).map_err(|_| {
        ImportError::Rejected(format!(
            "school {}: timezone {:?} is not an IANA timezone such as Europe/London",
            school.slug, school.timezone
        ))
    })
}

/// Checks every person; errors name the person by `ref`, never by name or email.
pub fn check_people(
    school_slug: &str,
    people: &[PersonSpec],
) -> Result<Vec<CheckedPerson>, ImportError> {
    let reject = |reference: &str, problem: String| {
        ImportError::Rejected(format!(
            "school {school_slug}, person {reference}: {problem}"
        ))
    };
    let mut seen_refs = HashSet::new();
    let mut seen_emails = HashSet::new();
    let mut checked = Vec::with_capacity(people.len());
    for person in people {
        let reference = person.reference.trim().to_string();
        if reference.is_empty() {
            return Err(ImportError::Rejected(format!(
                "school {school_slug}: a person has an empty ref"
            )));
        }
        if !seen_refs.insert(reference.clone()) {
            return Err(reject(&reference, "appears more than once".into()));
        }
        let kind = PersonKind::parse(&person.kind).ok_or_else(|| {
            reject(
                &reference,
                format!(
                    "kind {:?} is not staff, pupil, parent or external_adult",
                    person.kind
                ),
            )
        })?;
        let role = match (kind, person.role.as_deref()) {
            (PersonKind::Staff, role) => {
                Some(StaffRole::parse(role.unwrap_or("staff")).ok_or_else(|| {
                    reject(
                        &reference,
                        "role must be staff, dsl, deputy_dsl or senior_leader".into(),
                    )
                })?)
            }
            (_, None) | (_, Some("")) => None,
            (_, Some(_)) => return Err(reject(&reference, "only staff have a role".into())),
        };
        if person.name.trim().is_empty() {
            return Err(reject(&reference, "has no name".into()));
        }
        let mut emails = Vec::new();
        for email in &person.emails {
            let email = email.trim().to_lowercase();
            if email.is_empty() {
                continue;
            }
            if !email.contains('@') {
                return Err(reject(&reference, "has an email address without @".into()));
            }
            if !seen_emails.insert(email.clone()) {
                return Err(reject(
                    &reference,
                    "shares an email address with another person in this file".into(),
                ));
            }
            emails.push(email);
        }
        if kind != PersonKind::Parent && !person.children.is_empty() {
            return Err(reject(
                &reference,
                "only parents and carers have children".into(),
            ));
        }
        checked.push(CheckedPerson {
            reference,
            kind,
            role,
            name: person.name.trim().to_string(),
            emails,
            zoom_user_ids: person
                .zoom_user_ids
                .iter()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty())
                .collect(),
            children: person
                .children
                .iter()
                .map(|c| c.trim().to_string())
                .collect(),
        });
    }
    Ok(checked)
}
