//! Alert contacts as people set them, from the school file or the console.
//!
//! One check and one way of storing serve both ways in: a contact is a member of the school's
//! staff, told of findings at or above a severity, by email at their directory address and
//! by a Teams or Slack webhook. The import replaces a school's whole list; the console adds,
//! edits, removes and reorders one contact at a time, keeping each contact's row (and so its
//! delivery history) as it moves.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::decode::decode;
use crate::directory::{people, PersonKind};
use crate::policy::Severity;
use crate::timetable::{person_by_ref, TimetableError};

/// A contact as given, before it is checked.
#[derive(Debug, Clone, Copy)]
pub struct ContactInput<'a> {
    /// The person's directory ref.
    pub person: &'a str,
    pub min_severity: Severity,
    /// Email them at the alphabetically first of their directory addresses.
    pub email: bool,
    pub teams_url: Option<&'a str>,
    pub slack_url: Option<&'a str>,
}

/// A contact checked against the directory: what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedContact {
    pub person_id: i64,
    pub name: String,
    pub min_severity: Severity,
    pub email: Option<String>,
    pub teams_url: Option<String>,
    pub slack_url: Option<String>,
}

/// Why a contact cannot be stored; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("{0}")]
    Person(String),
    #[error("has no email address in the directory: add one there, or send this contact's alerts by Teams or Slack only")]
    NoEmail,
    #[error("the {channel} webhook URL must be an http:// or https:// address")]
    NotAUrl { channel: &'static str },
    #[error("would be told by no channel: keep email on, or give a Teams or Slack webhook URL")]
    NoChannel,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Checks `input` against the school's directory.
pub async fn check_contact(
    connection: &mut AnyConnection,
    school_id: i64,
    input: &ContactInput<'_>,
) -> Result<CheckedContact, ContactError> {
    let person_id = person_by_ref(
        connection,
        school_id,
        input.person.trim(),
        Some(PersonKind::Staff),
    )
    .await
    .map_err(|error| match error {
        TimetableError::Database(error) => ContactError::Database(error),
        other => ContactError::Person(other.to_string()),
    })?;
    let person = people::by_id(&mut *connection, person_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let email = if input.email {
        Some(
            people::first_email(&mut *connection, person_id)
                .await?
                .ok_or(ContactError::NoEmail)?,
        )
    } else {
        None
    };
    let teams_url = input
        .teams_url
        .map(|url| webhook_url(url, "Teams"))
        .transpose()?;
    let slack_url = input
        .slack_url
        .map(|url| webhook_url(url, "Slack"))
        .transpose()?;
    if email.is_none() && teams_url.is_none() && slack_url.is_none() {
        return Err(ContactError::NoChannel);
    }
    Ok(CheckedContact {
        person_id,
        name: person.display_name,
        min_severity: input.min_severity,
        email,
        teams_url,
        slack_url,
    })
}

/// A chat webhook URL: an http(s) address with a host, nothing else.
fn webhook_url(url: &str, channel: &'static str) -> Result<String, ContactError> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) =>
        {
            Ok(url.to_string())
        }
        _ => Err(ContactError::NotAUrl { channel }),
    }
}

/// A member of staff who could be a contact, for the console's list to choose from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaffMember {
    pub reference: String,
    pub name: String,
}

/// The school's staff, by name.
pub async fn staff_of_school(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<StaffMember>, sqlx::Error> {
    sqlx::query(
        "SELECT external_ref, display_name FROM people WHERE school_id = $1 AND kind = $2 \
         ORDER BY display_name, external_ref",
    )
    .bind(school_id)
    .bind(PersonKind::Staff.as_str())
    .fetch_all(connection)
    .await?
    .iter()
    .map(|row| {
        Ok(StaffMember {
            reference: row.try_get("external_ref")?,
            name: row.try_get("display_name")?,
        })
    })
    .collect()
}

/// A contact as stored, in its place in the escalation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContact {
    pub id: i64,
    pub school_id: i64,
    pub position: i64,
    pub person_id: Option<i64>,
    /// The person's directory ref, while they are in the directory.
    pub person_ref: Option<String>,
    pub name: String,
    pub min_severity: Severity,
    pub email: Option<String>,
    pub teams_url: Option<String>,
    pub slack_url: Option<String>,
}

impl StoredContact {
    /// The channels the contact is told by.
    pub fn channels(&self) -> Vec<&'static str> {
        [
            ("email", self.email.is_some()),
            ("teams", self.teams_url.is_some()),
            ("slack", self.slack_url.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(channel, _)| channel)
        .collect()
    }

    fn checked(&self) -> CheckedContact {
        CheckedContact {
            person_id: self.person_id.unwrap_or_default(),
            name: self.name.clone(),
            min_severity: self.min_severity,
            email: self.email.clone(),
            teams_url: self.teams_url.clone(),
            slack_url: self.slack_url.clone(),
        }
    }
}

const CONTACT_COLUMNS: &str =
    "c.id, c.school_id, c.position, c.person_id, p.external_ref, c.name, \
     c.min_severity, c.email, c.teams_url, c.slack_url \
     FROM alert_contacts c LEFT JOIN people p ON p.id = c.person_id";

fn contact_from_row(row: &AnyRow) -> Result<StoredContact, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let severity: String = row.try_get("min_severity")?;
    Ok(StoredContact {
        id,
        school_id: row.try_get("school_id")?,
        position: row.try_get("position")?,
        person_id: row.try_get("person_id")?,
        person_ref: row.try_get("external_ref")?,
        name: row.try_get("name")?,
        min_severity: decode(
            "alert_contacts",
            id,
            "min_severity",
            "severity",
            &severity,
            Severity::parse,
        )?,
        email: row.try_get("email")?,
        teams_url: row.try_get("teams_url")?,
        slack_url: row.try_get("slack_url")?,
    })
}

/// The school's contacts in escalation order.
pub async fn contacts_of_school(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<StoredContact>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} WHERE c.school_id = $1 ORDER BY c.position"
    ))
    .bind(school_id)
    .fetch_all(connection)
    .await?
    .iter()
    .map(contact_from_row)
    .collect()
}

pub async fn contact_by_id(
    connection: &mut AnyConnection,
    contact_id: i64,
) -> Result<Option<StoredContact>, sqlx::Error> {
    sqlx::query(&format!("SELECT {CONTACT_COLUMNS} WHERE c.id = $1"))
        .bind(contact_id)
        .fetch_optional(connection)
        .await?
        .as_ref()
        .map(contact_from_row)
        .transpose()
}

/// Makes `desired` the school's contacts, in that order (the import file's way); returns
/// whether anything changed. Positions are rewritten in place, so deliveries keep pointing
/// at a contact row.
pub async fn replace_contacts(
    connection: &mut AnyConnection,
    school_id: i64,
    desired: &[CheckedContact],
) -> Result<bool, sqlx::Error> {
    let existing: Vec<CheckedContact> = contacts_of_school(connection, school_id)
        .await?
        .iter()
        .map(StoredContact::checked)
        .collect();
    if existing == desired {
        return Ok(false);
    }
    for (position, contact) in desired.iter().enumerate() {
        sqlx::query(
            "INSERT INTO alert_contacts (school_id, position, person_id, name, min_severity, email, teams_url, slack_url) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (school_id, position) DO UPDATE SET person_id = excluded.person_id, name = excluded.name, \
               min_severity = excluded.min_severity, email = excluded.email, teams_url = excluded.teams_url, \
               slack_url = excluded.slack_url",
        )
        .bind(school_id)
        .bind(position as i64)
        .bind(contact.person_id)
        .bind(&contact.name)
        .bind(contact.min_severity.as_str())
        .bind(contact.email.as_deref())
        .bind(contact.teams_url.as_deref())
        .bind(contact.slack_url.as_deref())
        .execute(&mut *connection)
        .await?;
    }
    sqlx::query("DELETE FROM alert_contacts WHERE school_id = $1 AND position >= $2")
        .bind(school_id)
        .bind(desired.len() as i64)
        .execute(&mut *connection)
        .await?;
    Ok(true)
}

/// Adds `contact` last in the school's escalation order; returns its id.
pub async fn add_contact(
    connection: &mut AnyConnection,
    school_id: i64,
    contact: &CheckedContact,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO alert_contacts (school_id, position, person_id, name, min_severity, email, teams_url, slack_url) \
         VALUES ($1, (SELECT COALESCE(MAX(position), -1) + 1 FROM alert_contacts WHERE school_id = $1), \
           $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(school_id)
    .bind(contact.person_id)
    .bind(&contact.name)
    .bind(contact.min_severity.as_str())
    .bind(contact.email.as_deref())
    .bind(contact.teams_url.as_deref())
    .bind(contact.slack_url.as_deref())
    .fetch_one(connection)
    .await?;
    row.try_get("id")
}

/// Changes contact `contact_id` in its place.
pub async fn update_contact(
    connection: &mut AnyConnection,
    contact_id: i64,
    contact: &CheckedContact,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alert_contacts SET person_id = $1, name = $2, min_severity = $3, email = $4, \
           teams_url = $5, slack_url = $6 WHERE id = $7",
    )
    .bind(contact.person_id)
    .bind(&contact.name)
    .bind(contact.min_severity.as_str())
    .bind(contact.email.as_deref())
    .bind(contact.teams_url.as_deref())
    .bind(contact.slack_url.as_deref())
    .bind(contact_id)
    .execute(connection)
    .await?;
    Ok(())
}

/// Removes contact `contact_id`; the others keep their order (positions may leave a gap).
pub async fn remove_contact(
    connection: &mut AnyConnection,
    contact_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM alert_contacts WHERE id = $1")
        .bind(contact_id)
        .execute(connection)
        .await?;
    Ok(())
}

/// Which way a contact moves in the escalation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Told sooner.
    Up,
    /// Told later.
    Down,
}

/// Swaps `contact` with its neighbour in `direction`; false when it is already first (or
/// last). Each contact keeps its row.
pub async fn move_contact(
    connection: &mut AnyConnection,
    contact: &StoredContact,
    direction: Direction,
) -> Result<bool, sqlx::Error> {
    let neighbour = match direction {
        Direction::Up => {
            "SELECT id, position FROM alert_contacts WHERE school_id = $1 AND position < $2 \
             ORDER BY position DESC LIMIT 1"
        }
        Direction::Down => {
            "SELECT id, position FROM alert_contacts WHERE school_id = $1 AND position > $2 \
             ORDER BY position LIMIT 1"
        }
    };
    let Some(neighbour) = sqlx::query(neighbour)
        .bind(contact.school_id)
        .bind(contact.position)
        .fetch_optional(&mut *connection)
        .await?
    else {
        return Ok(false);
    };
    let neighbour_id: i64 = neighbour.try_get("id")?;
    let neighbour_position: i64 = neighbour.try_get("position")?;
    // Through a position no contact holds (they are never negative), as (school, position)
    // is unique at every statement.
    let set_position = |id: i64, position: i64| {
        sqlx::query("UPDATE alert_contacts SET position = $1 WHERE id = $2")
            .bind(position)
            .bind(id)
    };
    set_position(contact.id, -1 - contact.position)
        .execute(&mut *connection)
        .await?;
    set_position(neighbour_id, contact.position)
        .execute(&mut *connection)
        .await?;
    set_position(contact.id, neighbour_position)
        .execute(&mut *connection)
        .await?;
    Ok(true)
}

/// A signed webhook of the school (a case-management system), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWebhook {
    pub id: i64,
    pub school_id: i64,
    pub url: String,
    pub min_severity: Severity,
}

fn webhook_from_row(row: &AnyRow) -> Result<StoredWebhook, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let severity: String = row.try_get("min_severity")?;
    Ok(StoredWebhook {
        id,
        school_id: row.try_get("school_id")?,
        url: row.try_get("url")?,
        min_severity: decode(
            "alert_webhooks",
            id,
            "min_severity",
            "severity",
            &severity,
            Severity::parse,
        )?,
    })
}

pub async fn webhooks_of_school(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<StoredWebhook>, sqlx::Error> {
    sqlx::query(
        "SELECT id, school_id, url, min_severity FROM alert_webhooks WHERE school_id = $1 ORDER BY id",
    )
    .bind(school_id)
    .fetch_all(connection)
    .await?
    .iter()
    .map(webhook_from_row)
    .collect()
}

pub async fn webhook_by_id(
    connection: &mut AnyConnection,
    webhook_id: i64,
) -> Result<Option<StoredWebhook>, sqlx::Error> {
    sqlx::query("SELECT id, school_id, url, min_severity FROM alert_webhooks WHERE id = $1")
        .bind(webhook_id)
        .fetch_optional(connection)
        .await?
        .as_ref()
        .map(webhook_from_row)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_webhook_is_an_http_address_with_a_host() {
        for good in [
            "https://hooks.slack.com/services/T0/B0/abc",
            "  http://127.0.0.1:9000/teams ",
        ] {
            assert_eq!(webhook_url(good, "Slack").unwrap(), good.trim());
        }
        for bad in [
            "hooks.slack.com/services/T0",
            "https://",
            "https:///path",
            "ftp://example.com",
            "https://example.com/a b",
            "",
        ] {
            assert!(
                matches!(
                    webhook_url(bad, "Teams"),
                    Err(ContactError::NotAUrl { channel: "Teams" })
                ),
                "{bad}"
            );
        }
    }
}
