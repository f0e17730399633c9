//! Writes a checked import in one transaction, changing only what differs, and reports
//! what it did, person by person. A preview is the same writes, rolled back.

use std::collections::{BTreeSet, HashSet};

use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use super::connections::add_connection;
use super::people_csv::PeopleCsv;
use super::spec::{
    check_people, check_settings, check_timezone, CheckedPerson, ImportFile, Problem, SchoolSpec,
};
use super::{ImportError, PersonSpec};
use crate::db::decode::{decode_person_kind, decode_staff_role};
use crate::db::time::to_millis;
use crate::db::Db;
use crate::directory::{name_key, people, PersonKind, StaffRole};
use crate::meeting::Platform;
use crate::secrets::SecretKeys;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub schools_created: u32,
    pub schools_updated: u32,
    pub accounts_added: u32,
    pub people_created: u32,
    pub people_updated: u32,
    pub people_unchanged: u32,
    /// Schools whose policy, calendar or alert recipients changed, and connections whose
    /// secrets changed.
    pub settings_updated: u32,
    /// What the admin should know: deprecated sections, connections without a secret.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

impl ImportReport {
    pub fn changed_anything(&self) -> bool {
        self.schools_created
            + self.schools_updated
            + self.settings_updated
            + self.accounts_added
            + self.people_created
            + self.people_updated
            > 0
    }

    fn add_people(&mut self, written: &PeopleWritten) {
        self.people_created += written.count(Outcome::Created);
        self.people_updated += written.count(Outcome::Updated);
        self.people_unchanged += written.count(Outcome::Unchanged);
    }
}

/// What writing a school's people did, or (rolled back) would do: each person's outcome in
/// the file's order, and every problem. With any problem, nothing may be kept.
#[derive(Debug, Default, Clone)]
pub struct PeopleWritten {
    pub people: Vec<PersonOutcome>,
    pub problems: Vec<Problem>,
    /// People of the school the file does not name: kept, since the register refers to them.
    pub not_in_file: u32,
}

impl PeopleWritten {
    pub fn count(&self, outcome: Outcome) -> u32 {
        self.people
            .iter()
            .filter(|person| person.outcome == outcome)
            .count() as u32
    }

    /// A SHA-256 of every outcome and problem (by ref, never by name): equal digests say two
    /// runs of the same file would do the same.
    pub fn digest(&self) -> String {
        let outcomes =
            serde_json::to_vec(&(&self.people, &self.problems)).expect("outcomes serialize");
        hex::encode(Sha256::digest(outcomes))
    }
}

/// One person of the file and what writing them did.
#[derive(Debug, Clone, Serialize)]
pub struct PersonOutcome {
    pub row: Option<u64>,
    #[serde(rename = "ref")]
    pub reference: String,
    /// For the preview page only: never serialized, so never logged or digested.
    #[serde(skip)]
    pub name: String,
    pub kind: PersonKind,
    pub role: Option<StaffRole>,
    pub outcome: Outcome,
    /// What an update changes (empty otherwise).
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// What an update changes about a person. Kinds and roles are shown as they go from and to;
/// names, addresses and ids only as changed, so no personal value is repeated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "field", rename_all = "snake_case")]
pub enum Change {
    Kind {
        from: PersonKind,
        to: PersonKind,
    },
    Role {
        from: Option<StaffRole>,
        to: Option<StaffRole>,
    },
    Name,
    Emails,
    ZoomUserIds,
    Children,
}

impl Change {
    pub fn describe(&self) -> String {
        let role = |role: &Option<StaffRole>| role.map_or("none", StaffRole::as_str);
        match self {
            Change::Kind { from, to } => format!("kind {} → {}", from.as_str(), to.as_str()),
            Change::Role { from, to } => format!("role {} → {}", role(from), role(to)),
            Change::Name => "name".into(),
            Change::Emails => "email addresses".into(),
            Change::ZoomUserIds => "Zoom user ids".into(),
            Change::Children => "children".into(),
        }
    }
}

type Tx = Transaction<'static, Any>;

pub async fn import(
    db: &Db,
    keys: &SecretKeys,
    file: &ImportFile,
) -> Result<ImportReport, ImportError> {
    for school in &file.schools {
        check_timezone(school)?;
        check_settings(school)?;
    }
    let mut report = ImportReport::default();
    let mut tx = db.pool.begin().await?;
    for school in &file.schools {
        let school_id = upsert_school(&mut tx, school, &mut report).await?;
        let (connections, deprecated) = school.all_connections();
        if deprecated {
            report.notices.push(format!(
                "school {}: [[school.zoom_accounts]] is deprecated; write [[school.connections]] \
                 with platform = \"zoom\" and webhook_secret_env (see config/example-school.toml)",
                school.slug
            ));
        }
        for (index, connection) in connections.iter().enumerate() {
            let says_webhook_secrets = index < school.connections.len();
            add_connection(
                &mut tx,
                keys,
                school_id,
                &school.slug,
                connection,
                says_webhook_secrets,
                &mut report,
            )
            .await?;
        }
        let written = write_people(
            &mut tx,
            school_id,
            &school.people,
            &school.people_csv_problems,
        )
        .await?;
        refuse_problems(&school.slug, written.problems.clone())?;
        report.add_people(&written);
        // After the people: alert contacts name them.
        if super::alerts::sync(&mut tx, school_id, school, Utc::now()).await? {
            report.settings_updated += 1;
        }
    }
    tx.commit().await?;
    Ok(report)
}

pub async fn import_people_only(
    db: &Db,
    slug: &str,
    csv: &PeopleCsv,
) -> Result<ImportReport, ImportError> {
    let mut tx = db.pool.begin().await?;
    let row = sqlx::query("SELECT id FROM schools WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            ImportError::Rejected(format!(
                "no school has the slug {slug:?}; import its TOML file first"
            ))
        })?;
    let school_id: i64 = row.try_get("id")?;
    let written = write_people(&mut tx, school_id, &csv.people, &csv.problems).await?;
    refuse_problems(slug, written.problems.clone())?;
    let mut report = ImportReport::default();
    report.add_people(&written);
    tx.commit().await?;
    Ok(report)
}

/// What importing `csv` into school `school_id` would do: the import's own writes, rolled back.
pub async fn preview_people(
    db: &Db,
    school_id: i64,
    csv: &PeopleCsv,
) -> Result<PeopleWritten, ImportError> {
    let mut tx = db.pool.begin().await?;
    let written = write_people(&mut tx, school_id, &csv.people, &csv.problems).await?;
    tx.rollback().await?;
    Ok(written)
}

fn refuse_problems(slug: &str, problems: Vec<Problem>) -> Result<(), ImportError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ImportError::People {
            school: slug.to_string(),
            problems,
        })
    }
}

/// Writes a school's people in the caller's transaction, changing only what differs, and
/// says what it did to each. `earlier` are the problems found reading the file. With any
/// problem (those, or found here) the caller must roll back; every person without one is
/// still written, so that a preview shows what the rest of the file would do.
pub async fn write_people(
    tx: &mut Tx,
    school_id: i64,
    people: &[PersonSpec],
    earlier: &[Problem],
) -> Result<PeopleWritten, ImportError> {
    let (checked, found) = check_people(people);
    let mut problems: Vec<Problem> = earlier.iter().cloned().chain(found).collect();
    let refused: HashSet<String> = problems
        .iter()
        .filter_map(|problem| problem.reference.clone())
        .collect();
    let people = upsert_people(tx, school_id, &checked, &refused, &mut problems).await?;
    // Rows in the file's order; a problem of the file itself (no row) first.
    problems.sort_by_key(|problem| problem.row);
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM people WHERE school_id = $1")
        .bind(school_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    let not_in_file = u32::try_from(total)
        .unwrap_or(u32::MAX)
        .saturating_sub(people.len() as u32);
    Ok(PeopleWritten {
        people,
        problems,
        not_in_file,
    })
}

async fn upsert_school(
    tx: &mut Tx,
    school: &SchoolSpec,
    report: &mut ImportReport,
) -> Result<i64, ImportError> {
    let existing = sqlx::query("SELECT id, name, timezone FROM schools WHERE slug = $1")
        .bind(&school.slug)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = existing {
        let id: i64 = row.try_get("id")?;
        let name: String = row.try_get("name")?;
        let timezone: String = row.try_get("timezone")?;
        if name != school.name || timezone != school.timezone {
            sqlx::query("UPDATE schools SET name = $1, timezone = $2 WHERE id = $3")
                .bind(&school.name)
                .bind(&school.timezone)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            report.schools_updated += 1;
        }
        return Ok(id);
    }
    let row = sqlx::query("INSERT INTO schools (slug, name, timezone, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(&school.slug)
        .bind(&school.name)
        .bind(&school.timezone)
        .bind(to_millis(Utc::now()))
        .fetch_one(&mut **tx)
        .await?;
    report.schools_created += 1;
    Ok(row.try_get("id")?)
}

/// A person on their way through the writes.
struct Progress {
    id: i64,
    outcome: Outcome,
    changes: Vec<Change>,
}

impl Progress {
    fn changed(&mut self, change: Change) {
        if self.outcome == Outcome::Created {
            return;
        }
        self.outcome = Outcome::Updated;
        if !self.changes.contains(&change) {
            self.changes.push(change);
        }
    }
}

/// Writes `people` (all checked), adding to `problems` what the directory refuses: an
/// address or id that is someone else's, a child who is not a pupil. A problem that only
/// follows from a person in `refused` (already reported on their own row) is not repeated.
async fn upsert_people(
    tx: &mut Tx,
    school_id: i64,
    people: &[CheckedPerson],
    refused: &HashSet<String>,
    problems: &mut Vec<Problem>,
) -> Result<Vec<PersonOutcome>, ImportError> {
    let mut progress = Vec::with_capacity(people.len());
    for person in people {
        progress.push(upsert_person(tx, school_id, person).await?);
    }
    // Removals first, so an address or account that moves between two people in one file
    // is free by the time it is added to its new owner.
    for (person, progress) in people.iter().zip(progress.iter_mut()) {
        if remove_missing(tx, "person_emails", "email", progress.id, &person.emails).await? > 0 {
            progress.changed(Change::Emails);
        }
        let ids = &person.zoom_user_ids;
        if remove_missing(
            tx,
            "person_platform_ids",
            "platform_user_id",
            progress.id,
            ids,
        )
        .await?
            > 0
        {
            progress.changed(Change::ZoomUserIds);
        }
    }
    for (person, progress) in people.iter().zip(progress.iter_mut()) {
        let mut problem = |message: String| {
            problems.push(Problem::new(person.row, Some(&person.reference), message));
        };
        let identifiers = person
            .emails
            .iter()
            .map(|email| Identifier::Email(email))
            .chain(
                person
                    .zoom_user_ids
                    .iter()
                    .map(|id| Identifier::PlatformUser(Platform::Zoom, id)),
            );
        for identifier in identifiers {
            match add_identifier(tx, school_id, progress.id, &identifier).await? {
                Added::Already => {}
                Added::New => progress.changed(match identifier {
                    Identifier::Email(_) => Change::Emails,
                    Identifier::PlatformUser(..) => Change::ZoomUserIds,
                }),
                Added::Taken { owner } if refused.contains(&owner) => {}
                Added::Taken { owner } => problem(format!(
                    "{} already belongs to ref {owner}",
                    identifier.what()
                )),
            }
        }
        let changes = sync_children(tx, school_id, person, progress.id, refused, problem).await?;
        if changes > 0 {
            progress.changed(Change::Children);
        }
    }
    Ok(people
        .iter()
        .zip(progress)
        .map(|(person, progress)| PersonOutcome {
            row: person.row,
            reference: person.reference.clone(),
            name: person.name.clone(),
            kind: person.kind,
            role: person.role,
            outcome: progress.outcome,
            changes: progress.changes,
        })
        .collect())
}

async fn upsert_person(
    tx: &mut Tx,
    school_id: i64,
    person: &CheckedPerson,
) -> Result<Progress, ImportError> {
    let kind = person.kind.as_str();
    let role = person.role.map(|role| role.as_str());
    let existing = sqlx::query("SELECT id, kind, staff_role, display_name FROM people WHERE school_id = $1 AND external_ref = $2")
        .bind(school_id)
        .bind(&person.reference)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = existing {
        let id: i64 = row.try_get("id")?;
        let mut progress = Progress {
            id,
            outcome: Outcome::Unchanged,
            changes: Vec::new(),
        };
        let stored_kind: String = row.try_get("kind")?;
        let stored_role: Option<String> = row.try_get("staff_role")?;
        if stored_kind != kind {
            progress.changed(Change::Kind {
                from: decode_person_kind("people", id, &stored_kind).map_err(sqlx::Error::from)?,
                to: person.kind,
            });
        }
        if stored_role.as_deref() != role {
            let from = stored_role
                .as_deref()
                .map(|stored| decode_staff_role("people", id, stored))
                .transpose()
                .map_err(sqlx::Error::from)?;
            progress.changed(Change::Role {
                from,
                to: person.role,
            });
        }
        if row.try_get::<String, _>("display_name")? != person.name {
            progress.changed(Change::Name);
        }
        if progress.outcome == Outcome::Updated {
            sqlx::query(
                "UPDATE people SET kind = $1, staff_role = $2, display_name = $3, name_key = $5 WHERE id = $4",
            )
            .bind(kind)
            .bind(role)
            .bind(&person.name)
            .bind(id)
            .bind(name_key(&person.name))
            .execute(&mut **tx)
            .await?;
        }
        return Ok(progress);
    }
    let row = sqlx::query(
        "INSERT INTO people (school_id, external_ref, kind, staff_role, display_name, name_key) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(school_id)
    .bind(&person.reference)
    .bind(kind)
    .bind(role)
    .bind(&person.name)
    .bind(name_key(&person.name))
    .fetch_one(&mut **tx)
    .await?;
    Ok(Progress {
        id: row.try_get("id")?,
        outcome: Outcome::Created,
        changes: Vec::new(),
    })
}

async fn remove_missing(
    tx: &mut Tx,
    table: &'static str,
    column: &'static str,
    person_id: i64,
    keep: &[String],
) -> Result<u64, ImportError> {
    let rows = sqlx::query(&format!(
        "SELECT {column} FROM {table} WHERE person_id = $1"
    ))
    .bind(person_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut removed = 0;
    for row in rows {
        let value: String = row.try_get(column)?;
        if !keep.contains(&value) {
            removed += sqlx::query(&format!(
                "DELETE FROM {table} WHERE person_id = $1 AND {column} = $2"
            ))
            .bind(person_id)
            .bind(&value)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        }
    }
    Ok(removed)
}

enum Identifier<'a> {
    Email(&'a str),
    /// An account id on a platform (the file's `zoom_user_ids`).
    PlatformUser(Platform, &'a str),
}

impl Identifier<'_> {
    fn what(&self) -> &'static str {
        match self {
            Identifier::Email(_) => "an email address",
            Identifier::PlatformUser(Platform::Zoom, _) => "a Zoom user id",
            Identifier::PlatformUser(Platform::GoogleMeet, _) => "a Google user id",
        }
    }
}

enum Added {
    Already,
    New,
    /// Someone else's, by `ref`.
    Taken {
        owner: String,
    },
}

/// Adds an email or platform id unless the person has it already or it is someone else's.
async fn add_identifier(
    tx: &mut Tx,
    school_id: i64,
    person_id: i64,
    identifier: &Identifier<'_>,
) -> Result<Added, ImportError> {
    let lookup = match *identifier {
        Identifier::Email(email) => sqlx::query("SELECT p.external_ref, p.id FROM person_emails e JOIN people p ON p.id = e.person_id WHERE e.school_id = $1 AND e.email = $2")
            .bind(school_id)
            .bind(email),
        Identifier::PlatformUser(platform, user_id) => sqlx::query("SELECT p.external_ref, p.id FROM person_platform_ids x JOIN people p ON p.id = x.person_id WHERE x.school_id = $1 AND x.platform = $2 AND x.platform_user_id = $3")
            .bind(school_id)
            .bind(platform.as_str())
            .bind(user_id),
    };
    if let Some(row) = lookup.fetch_optional(&mut **tx).await? {
        let owner_id: i64 = row.try_get("id")?;
        if owner_id == person_id {
            return Ok(Added::Already);
        }
        return Ok(Added::Taken {
            owner: row.try_get("external_ref")?,
        });
    }
    match *identifier {
        Identifier::Email(email) => {
            sqlx::query("INSERT INTO person_emails (school_id, email, person_id) VALUES ($1, $2, $3)")
                .bind(school_id)
                .bind(email)
                .bind(person_id)
                .execute(&mut **tx)
                .await?
        }
        Identifier::PlatformUser(platform, user_id) => {
            sqlx::query("INSERT INTO person_platform_ids (school_id, platform, platform_user_id, person_id) VALUES ($1, $2, $3, $4)")
                .bind(school_id)
                .bind(platform.as_str())
                .bind(user_id)
                .bind(person_id)
                .execute(&mut **tx)
                .await?
        }
    };
    Ok(Added::New)
}

/// Makes the parent's children exactly those listed that are pupils of the school; any
/// other is a `problem` (unless it is a person of the file `refused` already).
async fn sync_children(
    tx: &mut Tx,
    school_id: i64,
    person: &CheckedPerson,
    parent_id: i64,
    refused: &HashSet<String>,
    mut problem: impl FnMut(String),
) -> Result<u32, ImportError> {
    if person.kind != PersonKind::Parent {
        return Ok(0);
    }
    let mut wanted = BTreeSet::new();
    for child in &person.children {
        match people::by_reference(tx, school_id, child).await? {
            Some(child_row) if child_row.kind == PersonKind::Pupil => {
                wanted.insert(child_row.id);
            }
            _ if refused.contains(child) => {}
            Some(_) => problem(format!("child {child} is not a pupil")),
            None => problem(format!("child {child} is not in the directory or the file")),
        }
    }
    let existing: BTreeSet<i64> =
        sqlx::query("SELECT pupil_id FROM guardianships WHERE parent_id = $1")
            .bind(parent_id)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|row| row.try_get("pupil_id"))
            .collect::<Result<_, _>>()?;
    let mut changes = 0;
    for gone in existing.difference(&wanted) {
        sqlx::query("DELETE FROM guardianships WHERE parent_id = $1 AND pupil_id = $2")
            .bind(parent_id)
            .bind(gone)
            .execute(&mut **tx)
            .await?;
        changes += 1;
    }
    for new in wanted.difference(&existing) {
        sqlx::query("INSERT INTO guardianships (parent_id, pupil_id) VALUES ($1, $2)")
            .bind(parent_id)
            .bind(new)
            .execute(&mut **tx)
            .await?;
        changes += 1;
    }
    Ok(changes)
}
