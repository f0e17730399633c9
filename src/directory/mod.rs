//! The school directory: schools, the platform accounts they monitor, and their people
//! (staff with their safeguarding roles, pupils, parents and carers).

pub mod accounts;
pub mod people;
pub mod settings;

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::db::Db;
use crate::meeting::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    Staff,
    Pupil,
    Parent,
    /// An adult the school lists who is not staff: a visiting professional, a social worker,
    /// an agency tutor. Never counted as staff; never a possible pupil once identified.
    ExternalAdult,
}

impl PersonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonKind::Staff => "staff",
            PersonKind::Pupil => "pupil",
            PersonKind::Parent => "parent",
            PersonKind::ExternalAdult => "external_adult",
        }
    }

    pub fn parse(text: &str) -> Option<PersonKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "staff" => Some(PersonKind::Staff),
            "pupil" | "student" => Some(PersonKind::Pupil),
            "parent" | "carer" | "guardian" | "parent/carer" => Some(PersonKind::Parent),
            "external_adult" | "external adult" | "external" | "visitor" => {
                Some(PersonKind::ExternalAdult)
            }
            _ => None,
        }
    }
}

/// A member of staff's safeguarding role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Staff,
    Dsl,
    DeputyDsl,
    SeniorLeader,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Staff => "staff",
            StaffRole::Dsl => "dsl",
            StaffRole::DeputyDsl => "deputy_dsl",
            StaffRole::SeniorLeader => "senior_leader",
        }
    }

    pub fn parse(text: &str) -> Option<StaffRole> {
        match text
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "" | "staff" => Some(StaffRole::Staff),
            "dsl" => Some(StaffRole::Dsl),
            "deputy_dsl" | "ddsl" => Some(StaffRole::DeputyDsl),
            "senior_leader" | "slt" => Some(StaffRole::SeniorLeader),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct School {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub timezone: String,
}

pub async fn list_schools(db: &Db) -> Result<Vec<School>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, slug, name, timezone FROM schools ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(school_from_row).collect()
}

pub async fn find_school(db: &Db, id: i64) -> Result<Option<School>, sqlx::Error> {
    let row = sqlx::query("SELECT id, slug, name, timezone FROM schools WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(school_from_row).transpose()
}

fn school_from_row(row: &sqlx::any::AnyRow) -> Result<School, sqlx::Error> {
    Ok(School {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        timezone: row.try_get("timezone")?,
    })
}

/// Finds the directory person a platform identity belongs to: by the platform's user id,
/// else by email (case-insensitive). A display name is never used.
pub async fn resolve_person(
    connection: &mut AnyConnection,
    school_id: i64,
    platform: Platform,
    platform_user_id: Option<&str>,
    email: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    if let Some(user_id) = platform_user_id {
        let found =
            person_with_platform_id(connection, school_id, platform.as_str(), user_id).await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match email {
        Some(email) => person_with_email(connection, school_id, email).await,
        None => Ok(None),
    }
}

/// The person whose account on `platform` is `user_id`: filed under it in the directory,
/// else with the address the platform's API gave for that account (a Meet participant is
/// named only by an id, which the school's directory does not list).
pub async fn person_with_platform_id(
    connection: &mut AnyConnection,
    school_id: i64,
    platform: &str,
    user_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let filed = sqlx::query(
        "SELECT person_id FROM person_platform_ids \
         WHERE school_id = $1 AND platform = $2 AND platform_user_id = $3",
    )
    .bind(school_id)
    .bind(platform)
    .bind(user_id)
    .fetch_optional(&mut *connection)
    .await?
    .map(|row| row.try_get("person_id"))
    .transpose()?;
    if filed.is_some() {
        return Ok(filed);
    }
    sqlx::query(
        "SELECT e.person_id FROM platform_users u JOIN person_emails e ON e.email = u.email \
         WHERE e.school_id = $1 AND u.platform = $2 AND u.platform_user_id = $3",
    )
    .bind(school_id)
    .bind(platform)
    .bind(user_id)
    .fetch_optional(connection)
    .await?
    .map(|row| row.try_get("person_id"))
    .transpose()
}

/// The person with the address `email`, whatever its case.
pub async fn person_with_email(
    connection: &mut AnyConnection,
    school_id: i64,
    email: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT person_id FROM person_emails WHERE school_id = $1 AND email = $2")
        .bind(school_id)
        .bind(email.trim().to_lowercase())
        .fetch_optional(connection)
        .await?
        .map(|row| row.try_get("person_id"))
        .transpose()
}

/// A name folded for comparing a guest's display name with the directory: lower case, accents
/// removed, spaces ignored ("  Dára  Finch" and "dara finch" fold alike). A match makes a guest
/// *probably* that person, never proves it.
pub fn name_key(name: &str) -> String {
    use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};
    name.nfkd()
        .filter(|c| !is_combining_mark(*c) && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Fills the folded names of people imported before names were folded.
pub async fn fill_missing_name_keys(db: &Db) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query("SELECT id, display_name FROM people WHERE name_key IS NULL")
        .fetch_all(&db.pool)
        .await?;
    let mut tx = db.pool.begin().await?;
    for row in &rows {
        let name: String = row.try_get("display_name")?;
        sqlx::query("UPDATE people SET name_key = $1 WHERE id = $2")
            .bind(name_key(&name))
            .bind(row.try_get::<i64, _>("id")?)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::name_key;

    #[test]
    fn names_fold_alike_whatever_their_case_accents_and_spacing() {
        for (a, b) in [
            ("Dara Finch", "dara finch"),
            ("  Dára   Finch ", "DARA FINCH"),
            ("Zoë O'Neill", "zoe o'neill"),
            ("Siobhán", "siobhan"),
            ("DaraFinch", "dara finch"),
        ] {
            assert_eq!(name_key(a), name_key(b), "{a} vs {b}");
        }
        assert_ne!(name_key("Dara Finch"), name_key("Dara Fitch"));
    }
}
