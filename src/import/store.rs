//! Writes a checked import in one transaction, changing only what differs, and reports
//! what it did.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::connections::add_connection;
use super::spec::{
    check_people, check_settings, check_timezone, CheckedPerson, ImportFile, SchoolSpec,
};
use super::{ImportError, PersonSpec};
use crate::db::time::to_millis;
use crate::db::Db;
use crate::directory::{name_key, people, PersonKind};
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
}

type Tx = Transaction<'static, Any>;

pub async fn import(
    db: &Db,
    keys: &SecretKeys,
    file: &ImportFile,
) -> Result<ImportReport, ImportError> {
    let mut checked = Vec::with_capacity(file.schools.len());
    for school in &file.schools {
        check_timezone(school)?;
        check_settings(school)?;
        checked.push((school, check_people(&school.slug, &school.people)?));
    }
    let mut report = ImportReport::default();
    let mut tx = db.pool.begin().await?;
    for (school, people) in checked {
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
        upsert_people(&mut tx, school_id, &school.slug, &people, &mut report).await?;
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
    people: &[PersonSpec],
) -> Result<ImportReport, ImportError> {
    let checked = check_people(slug, people)?;
    let mut report = ImportReport::default();
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
    upsert_people(&mut tx, school_id, slug, &checked, &mut report).await?;
    tx.commit().await?;
    Ok(report)
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

async fn upsert_people(
    tx: &mut Tx,
    school_id: i64,
    slug: &str,
    people: &[CheckedPerson],
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let mut ids: HashMap<&str, (i64, Written)> = HashMap::new();
    for person in people {
        let written = upsert_person(tx, school_id, person).await?;
        ids.insert(&person.reference, written);
    }
    // Removals first, so an address or account that moves between two people in one file
    // is free by the time it is added to its new owner.
    for person in people {
        let (id, _) = ids[person.reference.as_str()];
        let removed = remove_missing(tx, "person_emails", "email", id, &person.emails).await?
            + remove_missing(
                tx,
                "person_platform_ids",
                "platform_user_id",
                id,
                &person.zoom_user_ids,
            )
            .await?;
        if removed > 0 {
            ids.get_mut(person.reference.as_str())
                .expect("inserted above")
                .1
                .mark_updated();
        }
    }
    for person in people {
        let (id, _) = ids[person.reference.as_str()];
        let mut added = 0;
        for email in &person.emails {
            added +=
                add_identifier(tx, school_id, slug, person, id, Identifier::Email(email)).await?;
        }
        for user_id in &person.zoom_user_ids {
            added += add_identifier(
                tx,
                school_id,
                slug,
                person,
                id,
                Identifier::PlatformUser(Platform::Zoom, user_id),
            )
            .await?;
        }
        added += sync_children(tx, school_id, slug, person, id).await?;
        if added > 0 {
            ids.get_mut(person.reference.as_str())
                .expect("inserted above")
                .1
                .mark_updated();
        }
    }
    for (_, written) in ids.values() {
        match written {
            Written::Created => report.people_created += 1,
            Written::Updated => report.people_updated += 1,
            Written::Unchanged => report.people_unchanged += 1,
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Created,
    Updated,
    Unchanged,
}

impl Written {
    fn mark_updated(&mut self) {
        if *self == Written::Unchanged {
            *self = Written::Updated;
        }
    }
}

async fn upsert_person(
    tx: &mut Tx,
    school_id: i64,
    person: &CheckedPerson,
) -> Result<(i64, Written), ImportError> {
    let kind = person.kind.as_str();
    let role = person.role.map(|role| role.as_str());
    let existing = sqlx::query("SELECT id, kind, staff_role, display_name FROM people WHERE school_id = $1 AND external_ref = $2")
        .bind(school_id)
        .bind(&person.reference)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = existing {
        let id: i64 = row.try_get("id")?;
        let same = row.try_get::<String, _>("kind")? == kind
            && row.try_get::<Option<String>, _>("staff_role")?.as_deref() == role
            && row.try_get::<String, _>("display_name")? == person.name;
        if !same {
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
        return Ok((
            id,
            if same {
                Written::Unchanged
            } else {
                Written::Updated
            },
        ));
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
    Ok((row.try_get("id")?, Written::Created))
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

/// Adds an email or platform id unless the person has it already; one that belongs to
/// someone else is an error naming both refs.
async fn add_identifier(
    tx: &mut Tx,
    school_id: i64,
    slug: &str,
    person: &CheckedPerson,
    person_id: i64,
    identifier: Identifier<'_>,
) -> Result<u32, ImportError> {
    let (lookup, what) = match identifier {
        Identifier::Email(email) => (
            sqlx::query("SELECT p.external_ref, p.id FROM person_emails e JOIN people p ON p.id = e.person_id WHERE e.school_id = $1 AND e.email = $2")
                .bind(school_id)
                .bind(email),
            "an email address",
        ),
        Identifier::PlatformUser(platform, user_id) => (
            sqlx::query("SELECT p.external_ref, p.id FROM person_platform_ids x JOIN people p ON p.id = x.person_id WHERE x.school_id = $1 AND x.platform = $2 AND x.platform_user_id = $3")
                .bind(school_id)
                .bind(platform.as_str())
                .bind(user_id),
            match platform {
                Platform::Zoom => "a Zoom user id",
                Platform::GoogleMeet => "a Google user id",
            },
        ),
    };
    if let Some(row) = lookup.fetch_optional(&mut **tx).await? {
        let owner_id: i64 = row.try_get("id")?;
        if owner_id == person_id {
            return Ok(0);
        }
        let owner: String = row.try_get("external_ref")?;
        return Err(ImportError::Rejected(format!(
            "school {slug}, person {}: {what} already belongs to person {owner}",
            person.reference
        )));
    }
    match identifier {
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
    Ok(1)
}

/// Makes the parent's children exactly those listed; each must be a pupil of the school.
async fn sync_children(
    tx: &mut Tx,
    school_id: i64,
    slug: &str,
    person: &CheckedPerson,
    parent_id: i64,
) -> Result<u32, ImportError> {
    if person.kind != PersonKind::Parent {
        return Ok(0);
    }
    let mut wanted = BTreeSet::new();
    for child in &person.children {
        let child_row = people::by_reference(tx, school_id, child)
            .await?
            .ok_or_else(|| {
                ImportError::Rejected(format!(
                    "school {slug}, person {}: child {child} is not in the directory",
                    person.reference
                ))
            })?;
        if child_row.kind != PersonKind::Pupil {
            return Err(ImportError::Rejected(format!(
                "school {slug}, person {}: child {child} is not a pupil",
                person.reference
            )));
        }
        wanted.insert(child_row.id);
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
