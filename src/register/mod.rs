//! The attendance register: every held call with its school, host, scheduled and actual
//! times, and every participant with their role, directory identity and join/leave times.

pub mod completeness;
pub mod csv;
pub mod export;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::time::{from_millis, to_millis};
use crate::db::Db;

/// Which calls to list: by school and by when they took place.
#[derive(Debug, Clone, Default)]
pub struct RegisterFilter {
    pub school_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// A directory person as the register shows them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersonRef {
    pub id: i64,
    pub reference: String,
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_role: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MeetingSummary {
    pub id: i64,
    pub school_id: i64,
    pub platform: String,
    pub meeting_id: Option<String>,
    pub topic: Option<String>,
    pub host_user_id: Option<String>,
    pub host: Option<PersonRef>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub scheduled_end: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Where `started_at` comes from: the platform's start event, or (when that was lost)
    /// the start repeated in other events.
    pub start_source: Option<&'static str>,
    pub participant_count: usize,
    pub unknown_participant_count: usize,
    /// Whether attendance was checked against the platform's report after the call:
    /// `pending`, `complete` or `gave_up` (the report never came); none before the call ends.
    pub reconciliation: Option<String>,
    pub reconciliation_error: Option<String>,
    /// The meeting's settings as read from the platform's API.
    pub settings: Option<SettingsStatus>,
}

/// Whether a meeting's settings are known: `ok`, `not_found`, or `unknown` with the reason.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SettingsStatus {
    pub status: String,
    pub read_at: DateTime<Utc>,
    pub error: Option<String>,
}

/// One stay in the call.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attendance {
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
    /// True when no leave was seen and the call's end stands in for it.
    pub left_at_inferred: bool,
    /// `webhook`, or `reconciliation` when only the platform's report after the call had it.
    pub source: String,
    /// Who this is has not been said by the platform yet (a Meet join names only a session):
    /// until this time the participant is pending, after it unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_pending_until: Option<DateTime<Utc>>,
    /// Why asking the platform who this is has not succeeded, while it has not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_unresolved: Option<String>,
}

/// One person (or one unidentified guest) in the call, with all their stays.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RegisterParticipant {
    /// `dsl`, `deputy_dsl`, `senior_leader`, `staff`, `pupil`, `parent`, `external_adult` or
    /// `unknown` (not proven: see `identity_basis`).
    pub role: String,
    /// The directory person, where identity is proven (`verified` or `registrant`).
    pub person: Option<PersonRef>,
    /// How sure chaperone is of who this is: `verified` (signed-in account or email),
    /// `registrant` (the meeting's registration), `expected` (the planned session's pupil),
    /// `display_name` (the name shown matches one directory person) or `none`.
    pub identity_basis: String,
    /// Who an unproven participant is thought to be (`expected` or `display_name`).
    pub possibly: Option<PersonRef>,
    /// The name shown in the call; never used to identify anyone.
    pub display_name: Option<String>,
    pub platform_user_id: Option<String>,
    pub is_host: bool,
    pub attendance: Vec<Attendance>,
    /// Seconds between the call's start and this participant's first join.
    pub arrived_after_start_secs: Option<i64>,
    /// Seconds between this participant's last leave and the call's end.
    pub left_before_end_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Activity {
    pub chat_messages: i64,
    pub first_chat_at: Option<DateTime<Utc>>,
    pub recording_started_at: Vec<DateTime<Utc>>,
    pub recording_stopped_at: Vec<DateTime<Utc>>,
    pub screen_sharing_started_at: Vec<DateTime<Utc>>,
}

/// One participant's stay in a breakout room: who was in which room when.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoomStayRecord {
    /// The platform's key for the room (Zoom's `breakout_room_uuid`).
    pub room_key: String,
    /// "breakout room 2": rooms numbered in the order they were first entered.
    pub room_label: String,
    /// As for participants: `staff`, `pupil`, ..., or `unknown`.
    pub role: String,
    pub person: Option<PersonRef>,
    /// As for participants: how sure chaperone is of who this is.
    pub identity_basis: String,
    /// As for participants: who an unproven participant is thought to be.
    pub possibly: Option<PersonRef>,
    /// The name shown in the call; never used to identify anyone.
    pub display_name: Option<String>,
    pub is_host: bool,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
    /// True when no leave from the room was seen and the call's end stands in for it.
    pub left_at_inferred: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MeetingRecord {
    #[serde(flatten)]
    pub summary: MeetingSummary,
    pub participants: Vec<RegisterParticipant>,
    /// Stays in breakout rooms, in the order they began (empty for a call without them).
    pub room_stays: Vec<RoomStayRecord>,
    pub activity: Activity,
}

const INSTANCE_COLUMNS: &str =
    "i.id, i.school_id, i.platform, i.platform_meeting_id, \
     i.host_user_id, i.topic, i.started_at, i.start_hint, i.ended_at, i.reconciliation, i.reconciliation_error, \
     s.start_time AS scheduled_start, s.duration_minutes AS scheduled_minutes, \
     ms.status AS settings_status, ms.read_at AS settings_read_at, ms.error AS settings_error";

/// The time a call is filed under: its start, or the first thing seen of it.
const CALL_TIME: &str = "COALESCE(i.started_at, i.start_hint, i.first_seen_at)";

/// A call the register lists, before anything it holds is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRef {
    pub id: i64,
    pub school_id: i64,
}

/// The calls `filter` selects, in the register's order (when they took place, then id): one
/// query however long the range, so that their records can be read batch by batch after.
pub async fn calls_in(db: &Db, filter: &RegisterFilter) -> Result<Vec<CallRef>, sqlx::Error> {
    let sql = format!(
        "SELECT i.id, i.school_id FROM meeting_instances i \
         WHERE ($1 IS NULL OR i.school_id = $1) AND ($2 IS NULL OR {CALL_TIME} >= $2) AND ($3 IS NULL OR {CALL_TIME} < $3) \
         ORDER BY {CALL_TIME}, i.id LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(filter.school_id)
        .bind(filter.from.map(to_millis))
        .bind(filter.to.map(to_millis))
        .bind(filter.limit)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(CallRef {
                id: row.try_get("id")?,
                school_id: row.try_get("school_id")?,
            })
        })
        .collect()
}

pub async fn list(db: &Db, filter: &RegisterFilter) -> Result<Vec<MeetingRecord>, sqlx::Error> {
    let calls = calls_in(db, filter).await?;
    let mut reader = RecordReader::new(db.clone());
    let mut records = Vec::with_capacity(calls.len());
    for batch in calls.chunks(crate::db::IDS_PER_QUERY) {
        let ids: Vec<i64> = batch.iter().map(|call| call.id).collect();
        records.extend(reader.read(&ids).await?);
    }
    Ok(records)
}

pub async fn find(db: &Db, id: i64) -> Result<Option<MeetingRecord>, sqlx::Error> {
    Ok(RecordReader::new(db.clone()).read(&[id]).await?.pop())
}

struct SessionRow {
    session_key: String,
    platform_user_id: Option<String>,
    email: Option<String>,
    display_name: Option<String>,
    person: Option<PersonRef>,
    identity_basis: String,
    possibly: Option<PersonRef>,
    joined_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
    source: String,
    identity_pending_until: Option<DateTime<Utc>>,
    identity_unresolved: Option<String>,
}

/// Reads the records of calls a batch at a time (a few queries per batch, not per call),
/// remembering each host and person it has read for the batches after.
pub struct RecordReader {
    db: Db,
    hosts: HashMap<(i64, String, String), Option<PersonRef>>,
    people: HashMap<i64, PersonRef>,
}

impl RecordReader {
    pub fn new(db: Db) -> Self {
        RecordReader {
            db,
            hosts: HashMap::new(),
            people: HashMap::new(),
        }
    }

    /// The records of the calls `ids` (ids read from the database; up to
    /// `db::IDS_PER_QUERY` of them keeps it to one query of each kind), in the order of
    /// `ids`; a call no longer stored is left out.
    pub async fn read(&mut self, ids: &[i64]) -> Result<Vec<MeetingRecord>, sqlx::Error> {
        let mut rows = load_instances(&self.db, ids).await?;
        let mut sessions = load_sessions(&self.db, &mut self.people, ids).await?;
        let mut stays = {
            let mut connection = self.db.pool.acquire().await?;
            crate::room_stays::of_instances(&mut connection, ids).await?
        };
        let mut activities = load_activities(&self.db, ids).await?;
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(row) = rows.remove(id) else {
                continue;
            };
            let school_id: i64 = row.try_get("school_id")?;
            let platform: String = row.try_get("platform")?;
            let host_user_id: Option<String> = row.try_get("host_user_id")?;
            let host = match host_user_id {
                Some(user_id) => self.host(school_id, platform, user_id).await?,
                None => None,
            };
            records.push(complete(
                &row,
                host,
                sessions.remove(id).unwrap_or_default(),
                stays.remove(id).unwrap_or_default(),
                activities.remove(id).unwrap_or_else(Activity::none),
            )?);
        }
        Ok(records)
    }

    async fn host(
        &mut self,
        school_id: i64,
        platform: String,
        user_id: String,
    ) -> Result<Option<PersonRef>, sqlx::Error> {
        let key = (school_id, platform, user_id);
        if let Some(host) = self.hosts.get(&key) {
            return Ok(host.clone());
        }
        let host = find_person_by_platform_id(&self.db, school_id, &key.1, &key.2).await?;
        self.hosts.insert(key, host.clone());
        Ok(host)
    }
}

/// The rows of the calls `ids`, by id.
async fn load_instances(db: &Db, ids: &[i64]) -> Result<HashMap<i64, AnyRow>, sqlx::Error> {
    let mut by_id = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(crate::db::IDS_PER_QUERY) {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM meeting_instances i \
             LEFT JOIN scheduled_meetings s ON s.platform = i.platform AND s.platform_meeting_id = i.platform_meeting_id \
             LEFT JOIN meeting_settings ms ON ms.platform = i.platform AND ms.platform_meeting_id = i.platform_meeting_id \
             WHERE i.id IN ({})",
            id_list(chunk)
        );
        for row in sqlx::query(&sql).fetch_all(&db.pool).await? {
            by_id.insert(row.try_get("id")?, row);
        }
    }
    Ok(by_id)
}

/// `1, 2, 3`: ids read from the database, written into the statement (one statement per
/// chunk, whatever its length, and no limit on binds to mind).
fn id_list(ids: &[i64]) -> String {
    let mut list = String::with_capacity(ids.len() * 8);
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            list.push_str(", ");
        }
        list.push_str(&id.to_string());
    }
    list
}

/// One call's record from its row and what was read for it.
fn complete(
    row: &AnyRow,
    host: Option<PersonRef>,
    sessions: Vec<SessionRow>,
    stays: Vec<crate::room_stays::RoomStay>,
    activity: Activity,
) -> Result<MeetingRecord, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let school_id: i64 = row.try_get("school_id")?;
    let platform: String = row.try_get("platform")?;
    let host_user_id: Option<String> = row.try_get("host_user_id")?;
    let started_event: Option<i64> = row.try_get("started_at")?;
    let start_hint: Option<i64> = row.try_get("start_hint")?;
    let (started_at, start_source) = match (started_event, start_hint) {
        (Some(at), _) => (Some(from_millis(at)), Some("start_event")),
        (None, Some(at)) => (Some(from_millis(at)), Some("participant_events")),
        (None, None) => (None, None),
    };
    let ended_at = row.try_get::<Option<i64>, _>("ended_at")?.map(from_millis);
    let scheduled_start = row
        .try_get::<Option<i64>, _>("scheduled_start")?
        .map(from_millis);
    let scheduled_minutes: Option<i64> = row.try_get("scheduled_minutes")?;
    let scheduled_end = scheduled_start
        .zip(scheduled_minutes)
        .map(|(start, minutes)| start + chrono::Duration::minutes(minutes));

    let room_stays = room_stay_records(stays, &sessions, host_user_id.as_deref(), ended_at);
    let participants = group_participants(sessions, host_user_id.as_deref(), started_at, ended_at);
    let summary = MeetingSummary {
        id,
        school_id,
        platform,
        meeting_id: row.try_get("platform_meeting_id")?,
        topic: row.try_get("topic")?,
        host_user_id,
        host,
        scheduled_start,
        scheduled_end,
        started_at,
        ended_at,
        start_source,
        participant_count: participants.len(),
        unknown_participant_count: participants.iter().filter(|p| p.person.is_none()).count(),
        reconciliation: row.try_get("reconciliation")?,
        reconciliation_error: row.try_get("reconciliation_error")?,
        settings: match row.try_get::<Option<String>, _>("settings_status")? {
            Some(status) => Some(SettingsStatus {
                status,
                read_at: from_millis(row.try_get("settings_read_at")?),
                error: row.try_get("settings_error")?,
            }),
            None => None,
        },
    };
    Ok(MeetingRecord {
        summary,
        participants,
        room_stays,
        activity,
    })
}

const PERSON_COLUMNS: &str =
    "p.id AS person_id, p.external_ref, p.display_name AS person_name, p.kind, p.staff_role";

fn person_from_row(row: &AnyRow) -> Result<Option<PersonRef>, sqlx::Error> {
    person_with_prefix(row, "")
}

/// The person in columns named `{prefix}person_id`, `{prefix}external_ref` and so on.
fn person_with_prefix(row: &AnyRow, prefix: &str) -> Result<Option<PersonRef>, sqlx::Error> {
    let Some(id) = row.try_get::<Option<i64>, _>(format!("{prefix}person_id").as_str())? else {
        return Ok(None);
    };
    let column = |name: &str| format!("{prefix}{name}");
    Ok(Some(PersonRef {
        id,
        reference: row.try_get(column("external_ref").as_str())?,
        name: row.try_get(column("person_name").as_str())?,
        kind: row.try_get(column("kind").as_str())?,
        staff_role: row.try_get(column("staff_role").as_str())?,
    }))
}

async fn find_person_by_platform_id(
    db: &Db,
    school_id: i64,
    platform: &str,
    user_id: &str,
) -> Result<Option<PersonRef>, sqlx::Error> {
    let mut connection = db.pool.acquire().await?;
    let Some(person_id) =
        crate::directory::person_with_platform_id(&mut connection, school_id, platform, user_id)
            .await?
    else {
        return Ok(None);
    };
    let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.id = $1");
    let row = sqlx::query(&sql)
        .bind(person_id)
        .fetch_optional(&mut *connection)
        .await?;
    match row {
        Some(row) => person_from_row(&row),
        None => Ok(None),
    }
}

/// The participant sessions of each call in `instance_ids` (ids read from the database), by
/// call, in the order they joined; each person read once per reader (`people`), not once
/// per session.
async fn load_sessions(
    db: &Db,
    people: &mut HashMap<i64, PersonRef>,
    instance_ids: &[i64],
) -> Result<HashMap<i64, Vec<SessionRow>>, sqlx::Error> {
    let mut read = Vec::new();
    for chunk in instance_ids.chunks(crate::db::IDS_PER_QUERY) {
        let ids = id_list(chunk);
        let sql = format!(
            "SELECT s.instance_id, s.session_key, s.platform_user_id, s.email, s.display_name, s.joined_at, s.left_at, s.source, \
               s.identity_basis, s.identity_pending_until, \
               COALESCE(s.person_id, CASE WHEN s.identity_basis = 'registrant' THEN s.identified_person_id END) \
                 AS proven_person_id, \
               CASE WHEN s.identity_basis IN ('expected', 'display_name') THEN s.identified_person_id END \
                 AS possible_person_id, \
               CASE WHEN s.identity_pending_until IS NOT NULL THEN \
                 (SELECT j.last_error FROM enrichment_jobs j JOIN meeting_instances i ON i.id = s.instance_id \
                   WHERE j.platform = i.platform AND j.kind = 'participant' AND j.job_key = s.session_key) \
               END AS resolution_error \
             FROM participant_sessions s \
             WHERE s.instance_id IN ({ids}) ORDER BY s.instance_id, s.joined_at, s.session_key"
        );
        for row in sqlx::query(&sql).fetch_all(&db.pool).await? {
            let identity_pending_until: Option<i64> = row.try_get("identity_pending_until")?;
            let session = SessionRow {
                session_key: row.try_get("session_key")?,
                platform_user_id: row.try_get("platform_user_id")?,
                email: row.try_get("email")?,
                display_name: row.try_get("display_name")?,
                person: None,
                identity_basis: String::new(),
                possibly: None,
                joined_at: row.try_get::<Option<i64>, _>("joined_at")?.map(from_millis),
                left_at: row.try_get::<Option<i64>, _>("left_at")?.map(from_millis),
                source: row.try_get("source")?,
                identity_pending_until: identity_pending_until.map(from_millis),
                identity_unresolved: identity_pending_until.and(row.try_get("resolution_error")?),
            };
            read.push((
                row.try_get::<i64, _>("instance_id")?,
                row.try_get::<Option<String>, _>("identity_basis")?,
                row.try_get::<Option<i64>, _>("proven_person_id")?,
                row.try_get::<Option<i64>, _>("possible_person_id")?,
                session,
            ));
        }
    }
    let unread: Vec<i64> = read
        .iter()
        .flat_map(|(_, _, proven, possible, _)| [*proven, *possible])
        .flatten()
        .filter(|id| !people.contains_key(id))
        .collect::<std::collections::BTreeSet<i64>>()
        .into_iter()
        .collect();
    read_people(db, people, &unread).await?;
    let mut by_call: HashMap<i64, Vec<SessionRow>> = HashMap::new();
    for (instance_id, basis, proven, possible, mut session) in read {
        session.person = proven.and_then(|id| people.get(&id).cloned());
        session.possibly = possible.and_then(|id| people.get(&id).cloned());
        // Not yet identified by an evaluation: what the processor proved, or nothing.
        session.identity_basis = match basis {
            Some(basis) => basis,
            None if session.person.is_some() => "verified".into(),
            None => "none".into(),
        };
        by_call.entry(instance_id).or_default().push(session);
    }
    Ok(by_call)
}

/// Adds the directory people `ids` to `people`.
async fn read_people(
    db: &Db,
    people: &mut HashMap<i64, PersonRef>,
    ids: &[i64],
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(crate::db::IDS_PER_QUERY) {
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p WHERE p.id IN ({})",
            id_list(chunk)
        );
        for row in sqlx::query(&sql).fetch_all(&db.pool).await? {
            if let Some(person) = person_from_row(&row)? {
                people.insert(person.id, person);
            }
        }
    }
    Ok(())
}

/// Sessions of the same person (or platform account, or email) are one participant;
/// an unidentified guest's sessions cannot be told apart from another guest's, so each
/// stays on its own.
fn group_participants(
    sessions: Vec<SessionRow>,
    host_user_id: Option<&str>,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
) -> Vec<RegisterParticipant> {
    let mut order: Vec<String> = Vec::new();
    let mut grouped: HashMap<String, RegisterParticipant> = HashMap::new();
    for session in sessions {
        let key = match (&session.person, &session.platform_user_id, &session.email) {
            (Some(person), _, _) => format!("person:{}", person.id),
            (None, Some(user_id), _) => format!("user:{user_id}"),
            (None, None, Some(email)) => format!("email:{email}"),
            (None, None, None) => format!("session:{}", session.session_key),
        };
        let attendance = Attendance {
            joined_at: session.joined_at,
            left_at: session.left_at.or(ended_at),
            left_at_inferred: session.left_at.is_none() && ended_at.is_some(),
            source: session.source.clone(),
            identity_pending_until: session.identity_pending_until,
            identity_unresolved: session.identity_unresolved.clone(),
        };
        let is_host = host_user_id.is_some() && session.platform_user_id.as_deref() == host_user_id;
        let entry = grouped.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            RegisterParticipant {
                role: role_of(session.person.as_ref()),
                person: session.person.clone(),
                identity_basis: session.identity_basis.clone(),
                possibly: session.possibly.clone(),
                display_name: session.display_name.clone(),
                platform_user_id: session.platform_user_id.clone(),
                is_host: false,
                attendance: Vec::new(),
                arrived_after_start_secs: None,
                left_before_end_secs: None,
            }
        });
        entry.is_host |= is_host;
        entry.attendance.push(attendance);
    }
    order
        .into_iter()
        .filter_map(|key| grouped.remove(&key))
        .map(|mut participant| {
            participant.attendance.sort_by_key(|a| a.joined_at);
            let first_join = participant
                .attendance
                .iter()
                .filter_map(|a| a.joined_at)
                .min();
            let last_leave = participant
                .attendance
                .iter()
                .filter_map(|a| a.left_at)
                .max();
            participant.arrived_after_start_secs = first_join
                .zip(started_at)
                .map(|(joined, started)| (joined - started).num_seconds().max(0));
            participant.left_before_end_secs = last_leave
                .zip(ended_at)
                .map(|(left, ended)| (ended - left).num_seconds().max(0));
            participant
        })
        .collect()
}

fn role_of(person: Option<&PersonRef>) -> String {
    match person {
        None => "unknown".into(),
        Some(person) => person
            .staff_role
            .clone()
            .unwrap_or_else(|| person.kind.clone()),
    }
}

/// The call's breakout-room stays, each named by the session it belongs to.
/// A call's room stays as the register shows them, each with its participant's identity.
fn room_stay_records(
    stays: Vec<crate::room_stays::RoomStay>,
    sessions: &[SessionRow],
    host_user_id: Option<&str>,
    ended_at: Option<DateTime<Utc>>,
) -> Vec<RoomStayRecord> {
    stays
        .into_iter()
        .map(|stay| {
            let session = sessions.iter().find(|s| s.session_key == stay.session_key);
            let person = session.and_then(|s| s.person.clone());
            RoomStayRecord {
                room_key: stay.room_key,
                room_label: stay.room_label,
                role: role_of(person.as_ref()),
                person,
                identity_basis: session
                    .map_or("none", |s| s.identity_basis.as_str())
                    .to_string(),
                possibly: session.and_then(|s| s.possibly.clone()),
                display_name: session.and_then(|s| s.display_name.clone()),
                is_host: host_user_id.is_some()
                    && session.and_then(|s| s.platform_user_id.as_deref()) == host_user_id,
                joined_at: stay.joined_at,
                left_at: stay.left_at.or(ended_at),
                left_at_inferred: stay.left_at.is_none() && ended_at.is_some(),
            }
        })
        .collect()
}

impl Activity {
    fn none() -> Self {
        Activity {
            chat_messages: 0,
            first_chat_at: None,
            recording_started_at: Vec::new(),
            recording_stopped_at: Vec::new(),
            screen_sharing_started_at: Vec::new(),
        }
    }
}

/// What happened in each call of `instance_ids` besides attendance (chat, recording,
/// sharing), by call.
async fn load_activities(
    db: &Db,
    instance_ids: &[i64],
) -> Result<HashMap<i64, Activity>, sqlx::Error> {
    let mut by_call: HashMap<i64, Activity> = HashMap::new();
    for chunk in instance_ids.chunks(crate::db::IDS_PER_QUERY) {
        let ids = id_list(chunk);
        let rows = sqlx::query(&format!(
            "SELECT instance_id, kind, at FROM instance_signals WHERE instance_id IN ({ids}) \
             ORDER BY instance_id, at"
        ))
        .fetch_all(&db.pool)
        .await?;
        for row in rows {
            let activity = by_call
                .entry(row.try_get("instance_id")?)
                .or_insert_with(Activity::none);
            let kind: String = row.try_get("kind")?;
            let at = from_millis(row.try_get("at")?);
            match kind.as_str() {
                "chat_message" => {
                    activity.chat_messages += 1;
                    activity.first_chat_at.get_or_insert(at);
                }
                "recording_started" => activity.recording_started_at.push(at),
                "recording_stopped" => activity.recording_stopped_at.push(at),
                "sharing_started" => activity.screen_sharing_started_at.push(at),
                _ => {}
            }
        }
    }
    Ok(by_call)
}
