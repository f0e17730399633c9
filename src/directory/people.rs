//! People as stored in the directory, read in one place with their kind and role decoded:
//! a row whose kind or role this release does not know is an error naming the row, never
//! taken for staff.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{PersonKind, StaffRole};
use crate::db::decode::{decode_person_kind, decode_staff_role};

/// A person of a school's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPerson {
    pub id: i64,
    /// The school's own reference for the person (from its MIS export).
    pub reference: String,
    pub kind: PersonKind,
    pub staff_role: Option<StaffRole>,
    pub display_name: String,
}

const COLUMNS: &str = "id, external_ref, kind, staff_role, display_name";

/// The person with directory id `id`.
pub async fn by_id(
    connection: &mut AnyConnection,
    id: i64,
) -> Result<Option<StoredPerson>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM people WHERE id = $1"))
        .bind(id)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The person the school refers to as `reference`.
pub async fn by_reference(
    connection: &mut AnyConnection,
    school_id: i64,
    reference: &str,
) -> Result<Option<StoredPerson>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM people WHERE school_id = $1 AND external_ref = $2"
    ))
    .bind(school_id)
    .bind(reference)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The first of the person's email addresses, in address order (the directory keeps them
/// lower-cased).
pub async fn first_email(
    connection: &mut AnyConnection,
    person_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT email FROM person_emails WHERE person_id = $1 ORDER BY email LIMIT 1")
        .bind(person_id)
        .fetch_optional(connection)
        .await?
        .map(|row| row.try_get("email"))
        .transpose()
}

fn from_row(row: &AnyRow) -> Result<StoredPerson, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    Ok(StoredPerson {
        id,
        reference: row.try_get("external_ref")?,
        kind: decode_person_kind("people", id, &row.try_get::<String, _>("kind")?)?,
        staff_role: row
            .try_get::<Option<String>, _>("staff_role")?
            .map(|role| decode_staff_role("people", id, &role))
            .transpose()?,
        display_name: row.try_get("display_name")?,
    })
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::db::memory_database;

    async fn directory() -> sqlx::AnyConnection {
        // Without the real schema's CHECK, to stand for a row written by another release.
        memory_database(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, school_id BIGINT, external_ref TEXT, \
             kind TEXT, staff_role TEXT, display_name TEXT); \
             INSERT INTO people VALUES (1, 7, 'S1', 'staff', 'dsl', 'Ada'), \
             (2, 7, 'X1', 'governor', NULL, 'Bo');",
        )
        .await
        .acquire()
        .await
        .unwrap()
        .detach()
    }

    #[tokio::test]
    async fn a_person_is_read_with_kind_and_role_decoded() {
        let mut connection = directory().await;
        let person = by_reference(&mut connection, 7, "S1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(person.kind, PersonKind::Staff);
        assert_eq!(person.staff_role, Some(StaffRole::Dsl));
        assert_eq!(by_id(&mut connection, 1).await.unwrap(), Some(person));
        assert_eq!(by_reference(&mut connection, 8, "S1").await.unwrap(), None);
        connection.close().await.unwrap();
    }

    #[tokio::test]
    async fn an_unknown_kind_is_an_error_naming_the_row_never_staff() {
        let mut connection = directory().await;
        let error = by_id(&mut connection, 2).await.unwrap_err().to_string();
        assert!(
            error.contains("people") && error.contains('2') && error.contains("governor"),
            "{error}"
        );
    }
}
