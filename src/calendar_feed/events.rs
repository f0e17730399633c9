//! Which calls a person's feed holds, and how each is worded.
//!
//! At each school where the owner records sessions: as its DSL or deputy DSL (who see every
//! call of the school in the console anyway) every planned session and scheduled meeting;
//! as staff, the planned sessions they host or are on and the meetings their platform
//! accounts host. A planned session linked to a scheduled meeting is one event (with the
//! meeting's join link), not two. Pupils, parents and visiting adults appear as initials
//! ("1:1 with J.S."): the feed is copied to calendar apps and their servers. Free text (a
//! session's purpose, a meeting's topic) is the school's own wording, shown to people who
//! see it in the console too.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::ical::{Event, EventStatus};
use crate::db::time::{from_millis, to_millis};
use crate::directory::PersonKind;
use crate::identity::{Capability, Principal};

/// The length shown for a scheduled meeting whose platform gave none.
const ASSUMED_MEETING_MINUTES: i64 = 30;

/// What the feed is read for.
pub struct Reader<'a> {
    pub principal: &'a Principal,
    /// `server.public_url` without its trailing slash, for links to the console.
    pub public_url: &'a str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A school the reader records sessions at.
struct School {
    id: i64,
    name: String,
    timezone: Option<Tz>,
    /// Whether the reader sees every call there (DSL, deputy DSL).
    sees_everything: bool,
}

/// The events of the reader's feed, earliest first.
pub async fn collect(
    connection: &mut AnyConnection,
    reader: &Reader<'_>,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut events = Vec::new();
    for school in schools_of(connection, reader.principal).await? {
        let me = reader.principal.person_id();
        if !school.sees_everything && me.is_none() {
            // Without a directory person nothing at the school is theirs.
            continue;
        }
        let planned = planned_sessions(connection, reader, &school).await?;
        let linked: HashSet<String> = planned
            .iter()
            .filter_map(|(_, meeting_id)| meeting_id.clone())
            .collect();
        events.extend(planned.into_iter().map(|(event, _)| event));
        events.extend(scheduled_meetings(connection, reader, &school, &linked).await?);
    }
    events.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.key.cmp(&b.key)));
    Ok(events)
}

async fn schools_of(
    connection: &mut AnyConnection,
    principal: &Principal,
) -> Result<Vec<School>, sqlx::Error> {
    let reach = principal.reach(Capability::RecordSessions);
    let rows = sqlx::query("SELECT id, name, timezone FROM schools ORDER BY id")
        .fetch_all(connection)
        .await?;
    let mut schools = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        if !reach.includes(id) {
            continue;
        }
        schools.push(School {
            id,
            name: row.try_get("name")?,
            timezone: row.try_get::<String, _>("timezone")?.parse().ok(),
            sees_everything: principal.may(Capability::SeeSafeguarding, id),
        });
    }
    Ok(schools)
}

/// Someone on a planned session.
struct Attendee {
    id: i64,
    kind: String,
    name: String,
}

/// The school's planned sessions in the window that the reader's feed holds, each with the
/// platform meeting it is linked to.
async fn planned_sessions(
    connection: &mut AnyConnection,
    reader: &Reader<'_>,
    school: &School,
) -> Result<Vec<(Event, Option<String>)>, sqlx::Error> {
    let only_person = if school.sees_everything {
        None
    } else {
        reader.principal.person_id()
    };
    let rows = sqlx::query(
        "SELECT ps.id, ps.host_person_id, h.display_name AS host_name, ps.platform_meeting_id, ps.starts_at, \
           ps.ends_at, ps.purpose, ps.approved_at, ps.declined_at, ps.risk_assessment_ref, ps.registered_at, \
           ps.cancelled_at, CASE WHEN ps.adults_only THEN 1 ELSE 0 END AS adults_only, \
           (SELECT MIN(m.join_url) FROM scheduled_meetings m WHERE m.school_id = ps.school_id \
              AND m.platform_meeting_id = ps.platform_meeting_id) AS join_url \
         FROM planned_sessions ps JOIN people h ON h.id = ps.host_person_id \
         WHERE ps.school_id = $1 AND ps.starts_at >= $2 AND ps.starts_at < $3 \
           AND ($4 IS NULL OR ps.host_person_id = $4 OR EXISTS (SELECT 1 FROM planned_session_people x \
                WHERE x.planned_session_id = ps.id AND x.person_id = $4)) \
         ORDER BY ps.starts_at, ps.id",
    )
    .bind(school.id)
    .bind(to_millis(reader.from))
    .bind(to_millis(reader.to))
    .bind(only_person)
    .fetch_all(&mut *connection)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let attendees = sqlx::query(
            "SELECT p.id, p.kind, p.display_name FROM planned_session_people x JOIN people p ON p.id = x.person_id \
             WHERE x.planned_session_id = $1 ORDER BY p.kind DESC, p.id",
        )
        .bind(id)
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| {
            Ok(Attendee {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                name: row.try_get("display_name")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let meeting_id: Option<String> = row.try_get("platform_meeting_id")?;
        events.push((planned_event(reader, school, row, &attendees)?, meeting_id));
    }
    Ok(events)
}

fn planned_event(
    reader: &Reader<'_>,
    school: &School,
    row: &AnyRow,
    attendees: &[Attendee],
) -> Result<Event, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let time = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
    };
    let registered_at = from_millis(row.try_get("registered_at")?);
    let approved_at = time("approved_at")?;
    let declined_at = time("declined_at")?;
    let cancelled_at = time("cancelled_at")?;
    let host_id: i64 = row.try_get("host_person_id")?;
    let host_name: String = row.try_get("host_name")?;
    let adults_only = row.try_get::<i64, _>("adults_only")? != 0;

    let pupils: Vec<String> = attendees
        .iter()
        .filter(|person| person.kind == PersonKind::Pupil.as_str())
        .map(|person| initials(&person.name))
        .collect();
    let what = match (pupils.is_empty(), adults_only) {
        (false, _) => format!("1:1 with {}", pupils.join(", ")),
        (true, true) => "Adults-only meeting".to_string(),
        (true, false) => "1:1 (no pupil named)".to_string(),
    };
    let (status, approval) = if cancelled_at.is_some() {
        (EventStatus::Cancelled, "cancelled")
    } else if declined_at.is_some() {
        (EventStatus::Cancelled, "declined")
    } else if approved_at.is_some() {
        (EventStatus::Confirmed, "approved")
    } else {
        (EventStatus::Tentative, "waiting for approval")
    };
    let mut summary = if reader.principal.person_id() == Some(host_id) {
        what
    } else {
        format!("{what} (host {host_name})")
    };
    if status == EventStatus::Cancelled {
        summary = format!("{}: {summary}", capitalised(approval));
    }

    let with: Vec<String> = attendees.iter().map(described).collect();
    let risk_assessment: Option<String> = row.try_get("risk_assessment_ref")?;
    let join_url: Option<String> = row.try_get("join_url")?;
    let link = format!("{}/timetable", reader.public_url);
    let mut description = vec![
        format!("Purpose: {}", row.try_get::<String, _>("purpose")?),
        format!("Host: {host_name}"),
    ];
    if !with.is_empty() {
        description.push(format!("With: {}", with.join(", ")));
    }
    description.push(format!("Approval: {approval}"));
    description.push(format!(
        "Risk assessment: {}",
        risk_assessment.as_deref().unwrap_or("none recorded")
    ));
    description.push(format!("School: {}", school.name));
    if let Some(url) = &join_url {
        description.push(format!("Join: {url}"));
    }
    description.push(format!("Timetable: {link}"));

    let revisions = [approved_at, declined_at, cancelled_at];
    Ok(Event {
        key: format!("planned-{id}"),
        starts_at: from_millis(row.try_get("starts_at")?),
        ends_at: from_millis(row.try_get("ends_at")?),
        timezone: school.timezone,
        summary,
        description: description.join("\n"),
        location: join_url,
        url: link,
        status,
        created_at: registered_at,
        revised_at: revisions
            .into_iter()
            .flatten()
            .fold(registered_at, DateTime::max),
        sequence: revisions.iter().flatten().count() as i64,
    })
}

/// The school's scheduled platform meetings in the window that the reader's feed holds, less
/// those a planned session in the feed already stands for.
async fn scheduled_meetings(
    connection: &mut AnyConnection,
    reader: &Reader<'_>,
    school: &School,
    linked: &HashSet<String>,
) -> Result<Vec<Event>, sqlx::Error> {
    // The host is the directory person filed under the platform user id, or with the
    // address the platform gave for it (as the policy's evaluation finds them).
    let rows = sqlx::query(
        "SELECT m.id, m.platform, m.platform_meeting_id, m.topic, m.start_time, m.duration_minutes, \
           m.join_url, m.revised_at, \
           (SELECT COUNT(*) FROM schedule_revisions r WHERE r.scheduled_meeting_id = m.id) AS revisions, \
           COALESCE( \
             (SELECT p.person_id FROM person_platform_ids p WHERE p.school_id = m.school_id \
                AND p.platform = m.platform AND p.platform_user_id = m.host_user_id), \
             (SELECT MIN(e.person_id) FROM platform_users u JOIN person_emails e ON e.email = u.email \
                WHERE e.school_id = m.school_id AND u.platform = m.platform \
                  AND u.platform_user_id = m.host_user_id)) AS host_person_id \
         FROM scheduled_meetings m \
         WHERE m.school_id = $1 AND m.deleted = $2 AND m.start_time >= $3 AND m.start_time < $4 \
         ORDER BY m.start_time, m.id",
    )
    .bind(school.id)
    .bind(false)
    .bind(to_millis(reader.from))
    .bind(to_millis(reader.to))
    .fetch_all(&mut *connection)
    .await?;
    let me = reader.principal.person_id();
    let mut hosts: BTreeMap<i64, String> = BTreeMap::new();
    let mut events = Vec::new();
    for row in &rows {
        let meeting_id: String = row.try_get("platform_meeting_id")?;
        let host: Option<i64> = row.try_get("host_person_id")?;
        if linked.contains(&meeting_id)
            || !(school.sees_everything || (host.is_some() && host == me))
        {
            continue;
        }
        let host_name = match host {
            Some(id) => Some(match hosts.get(&id) {
                Some(name) => name.clone(),
                None => {
                    let name = display_name(connection, id).await?;
                    hosts.insert(id, name.clone());
                    name
                }
            }),
            None => None,
        };
        events.push(scheduled_event(reader, school, row, host, host_name)?);
    }
    Ok(events)
}

fn scheduled_event(
    reader: &Reader<'_>,
    school: &School,
    row: &AnyRow,
    host: Option<i64>,
    host_name: Option<String>,
) -> Result<Event, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let platform: String = row.try_get("platform")?;
    let platform_name = match platform.as_str() {
        "zoom" => "Zoom".to_string(),
        "google" => "Google Meet".to_string(),
        other => other.to_string(),
    };
    let starts_at = from_millis(row.try_get("start_time")?);
    let minutes: Option<i64> = row.try_get("duration_minutes")?;
    let topic = row
        .try_get::<Option<String>, _>("topic")?
        .filter(|topic| !topic.trim().is_empty())
        .unwrap_or_else(|| format!("{platform_name} meeting"));
    let summary = if host.is_some() && host == reader.principal.person_id() {
        topic.clone()
    } else {
        let host = host_name
            .as_deref()
            .unwrap_or("a host not in the directory");
        format!("{topic} (host {host})")
    };
    let join_url: Option<String> = row.try_get("join_url")?;
    let link = format!("{}/timetable", reader.public_url);
    let mut description = vec![
        format!("Scheduled on {platform_name}"),
        format!(
            "Host: {}",
            host_name.as_deref().unwrap_or("not in the directory")
        ),
        format!("School: {}", school.name),
    ];
    if minutes.is_none() {
        description.push(format!(
            "Length: not given by the platform (shown as {ASSUMED_MEETING_MINUTES} minutes)"
        ));
    }
    if let Some(url) = &join_url {
        description.push(format!("Join: {url}"));
    }
    let revised_at = from_millis(row.try_get("revised_at")?);
    Ok(Event {
        key: format!("scheduled-{id}"),
        starts_at,
        ends_at: starts_at
            + Duration::minutes(
                minutes
                    .filter(|m| *m > 0)
                    .unwrap_or(ASSUMED_MEETING_MINUTES),
            ),
        timezone: school.timezone,
        summary,
        description: description.join("\n"),
        location: join_url,
        url: link,
        status: EventStatus::Confirmed,
        created_at: revised_at,
        revised_at,
        sequence: (row.try_get::<i64, _>("revisions")? - 1).max(0),
    })
}

async fn display_name(connection: &mut AnyConnection, id: i64) -> Result<String, sqlx::Error> {
    sqlx::query("SELECT display_name FROM people WHERE id = $1")
        .bind(id)
        .fetch_one(connection)
        .await?
        .try_get("display_name")
}

/// How someone on a session is named: staff in full, anyone else by initials and kind.
fn described(person: &Attendee) -> String {
    match PersonKind::parse(&person.kind) {
        Some(PersonKind::Staff) => format!("{} (staff)", person.name),
        Some(PersonKind::Pupil) => format!("{} (pupil)", initials(&person.name)),
        Some(PersonKind::Parent) => format!("{} (parent)", initials(&person.name)),
        Some(PersonKind::ExternalAdult) => format!("{} (visiting adult)", initials(&person.name)),
        None => format!("person {}", person.id),
    }
}

/// A name's initials: the first letters of its first and last words (`Jamie Lee Smith` →
/// `J.S.`).
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let picked = match words.as_slice() {
        [] => return "?".to_string(),
        [only] => vec![*only],
        [first, .., last] => vec![*first, *last],
    };
    picked
        .iter()
        .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect()
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_take_the_first_and_last_names() {
        assert_eq!(initials("Jamie Smith"), "J.S.");
        assert_eq!(initials("Jamie Lee  Smith"), "J.S.");
        assert_eq!(initials("Zoë"), "Z.");
        assert_eq!(initials("élodie o'neil"), "É.O.");
        assert_eq!(initials("  "), "?");
    }

    #[test]
    fn only_staff_are_named_in_full() {
        let person = |kind: &str| Attendee {
            id: 4,
            kind: kind.into(),
            name: "Jamie Smith".into(),
        };
        assert_eq!(described(&person("staff")), "Jamie Smith (staff)");
        assert_eq!(described(&person("pupil")), "J.S. (pupil)");
        assert_eq!(described(&person("parent")), "J.S. (parent)");
        assert_eq!(
            described(&person("external_adult")),
            "J.S. (visiting adult)"
        );
    }
}
