//! Applies one neutral event to the meeting state. Every statement here is an upsert whose
//! result does not depend on the order events arrive in: earliest joins and latest leaves
//! win, first-known identity fields stay, schedule changes are folded in time order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use crate::db::time::to_millis;
use crate::directory::resolve_person;
use crate::evaluation::Target;
use crate::meeting::{
    InstanceRef, MeetingEvent, ParticipantIdentity, Platform, RoomRef, ScheduleChange,
};

/// Who each platform account or address is in the directory, as far as one batch has asked:
/// a call's events name the same few people again and again, and the directory does not
/// change inside the batch's transaction.
#[derive(Default)]
pub struct People {
    known: HashMap<Asked, Option<i64>>,
}

/// A school, a platform, and the account id and address a participant came with.
type Asked = (i64, Platform, Option<String>, Option<String>);

impl People {
    pub(super) async fn resolve(
        &mut self,
        connection: &mut AnyConnection,
        school_id: i64,
        platform: Platform,
        platform_user_id: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let key = (
            school_id,
            platform,
            platform_user_id.map(str::to_string),
            email.map(str::to_string),
        );
        if let Some(known) = self.known.get(&key) {
            return Ok(*known);
        }
        let found =
            resolve_person(connection, school_id, platform, platform_user_id, email).await?;
        self.known.insert(key, found);
        Ok(found)
    }
}

/// Applies `event`; returns the meeting whose policy must be checked again.
pub async fn apply(
    connection: &mut AnyConnection,
    people: &mut People,
    school_id: i64,
    platform: Platform,
    event: &MeetingEvent,
) -> Result<Target, sqlx::Error> {
    let (instance, at, bounds) = match event {
        MeetingEvent::ScheduleChanged {
            meeting_id,
            at,
            change,
        } => {
            let id =
                apply_schedule_change(connection, school_id, platform, meeting_id, *at, change)
                    .await?;
            return Ok(Target::Scheduled(id));
        }
        MeetingEvent::InstanceStarted { instance, at } => (instance, at, Bounds::started(*at)),
        MeetingEvent::InstanceEnded { instance, at } => (instance, at, Bounds::ended(*at)),
        MeetingEvent::ParticipantJoined { instance, at, .. }
        | MeetingEvent::ParticipantLeft { instance, at, .. }
        | MeetingEvent::ParticipantRoomJoined { instance, at, .. }
        | MeetingEvent::ParticipantRoomLeft { instance, at, .. }
        | MeetingEvent::Signal { instance, at, .. } => (instance, at, Bounds::none()),
    };
    let instance_id =
        upsert_instance(connection, school_id, platform, instance, *at, bounds).await?;
    match event {
        MeetingEvent::ParticipantJoined {
            participant, at, ..
        } => {
            upsert_session(
                connection,
                people,
                school_id,
                platform,
                instance_id,
                participant,
                Some(*at),
                None,
            )
            .await?;
        }
        MeetingEvent::ParticipantLeft {
            participant, at, ..
        } => {
            upsert_session(
                connection,
                people,
                school_id,
                platform,
                instance_id,
                participant,
                None,
                Some(*at),
            )
            .await?;
        }
        MeetingEvent::ParticipantRoomJoined {
            participant,
            room,
            at,
            ..
        } => {
            apply_room_stay(
                connection,
                people,
                school_id,
                platform,
                instance_id,
                participant,
                room,
                Some(*at),
                None,
            )
            .await?;
        }
        MeetingEvent::ParticipantRoomLeft {
            participant,
            room,
            at,
            ..
        } => {
            apply_room_stay(
                connection,
                people,
                school_id,
                platform,
                instance_id,
                participant,
                room,
                None,
                Some(*at),
            )
            .await?;
        }
        MeetingEvent::Signal {
            signal,
            source_ref,
            at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO instance_signals (instance_id, kind, at, source_ref) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(instance_id)
            .bind(signal.as_str())
            .bind(to_millis(*at))
            .bind(source_ref)
            .execute(&mut *connection)
            .await?;
        }
        _ => {}
    }
    Ok(Target::Instance(instance_id))
}

/// The start or end an event reports for the instance itself.
struct Bounds {
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

impl Bounds {
    fn none() -> Self {
        Bounds {
            started_at: None,
            ended_at: None,
        }
    }
    fn started(at: DateTime<Utc>) -> Self {
        Bounds {
            started_at: Some(to_millis(at)),
            ended_at: None,
        }
    }
    fn ended(at: DateTime<Utc>) -> Self {
        Bounds {
            started_at: None,
            ended_at: Some(to_millis(at)),
        }
    }
}

/// `column` becomes the earlier (or later) of its value and the incoming one, ignoring NULLs.
fn keep_earliest(column: &str, table: &str) -> String {
    format!(
        "{column} = CASE WHEN {table}.{column} IS NULL THEN excluded.{column} \
         WHEN excluded.{column} IS NULL THEN {table}.{column} \
         WHEN excluded.{column} < {table}.{column} THEN excluded.{column} ELSE {table}.{column} END"
    )
}

fn keep_latest(column: &str, table: &str) -> String {
    format!(
        "{column} = CASE WHEN {table}.{column} IS NULL THEN excluded.{column} \
         WHEN excluded.{column} IS NULL THEN {table}.{column} \
         WHEN excluded.{column} > {table}.{column} THEN excluded.{column} ELSE {table}.{column} END"
    )
}

fn keep_first_known(column: &str, table: &str) -> String {
    format!("{column} = COALESCE({table}.{column}, excluded.{column})")
}

async fn upsert_instance(
    connection: &mut AnyConnection,
    school_id: i64,
    platform: Platform,
    instance: &InstanceRef,
    seen_at: DateTime<Utc>,
    bounds: Bounds,
) -> Result<i64, sqlx::Error> {
    let sql = upsert_instances_sql("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", "id");
    let row = sqlx::query(&sql)
        .bind(school_id)
        .bind(platform.as_str())
        .bind(&instance.instance_key)
        .bind(instance.meeting_id.as_deref())
        .bind(instance.host_user_id.as_deref())
        .bind(instance.topic.as_deref())
        .bind(bounds.started_at)
        .bind(instance.started_at.map(to_millis))
        .bind(bounds.ended_at)
        .bind(to_millis(seen_at))
        .fetch_one(&mut *connection)
        .await?;
    row.try_get("id")
}

/// Inserts calls (`rows`: the VALUES lists of school_id, platform, instance_key,
/// platform_meeting_id, host_user_id, topic, started_at, start_hint, ended_at,
/// first_seen_at), or folds them into the stored ones, answering `returning`.
pub(super) fn upsert_instances_sql(rows: &str, returning: &str) -> String {
    let t = "meeting_instances";
    format!(
        "INSERT INTO meeting_instances \
           (school_id, platform, instance_key, platform_meeting_id, host_user_id, topic, \
            started_at, start_hint, ended_at, first_seen_at) \
         VALUES {rows} \
         ON CONFLICT (platform, instance_key) DO UPDATE SET {}, {}, {}, {}, {}, {}, {} \
         RETURNING {returning}",
        keep_first_known("platform_meeting_id", t),
        keep_first_known("host_user_id", t),
        keep_first_known("topic", t),
        keep_earliest("started_at", t),
        keep_earliest("start_hint", t),
        keep_latest("ended_at", t),
        keep_earliest("first_seen_at", t),
    )
}

/// Inserts participant sessions (`rows`: the VALUES lists of instance_id, session_key,
/// platform_user_id, email, display_name, person_id, joined_at, left_at, registrant_id,
/// identity_pending_until), or folds them into the stored ones.
pub(super) fn upsert_sessions_sql(rows: &str) -> String {
    let t = "participant_sessions";
    format!(
        "INSERT INTO participant_sessions \
           (instance_id, session_key, platform_user_id, email, display_name, person_id, \
            joined_at, left_at, registrant_id, identity_pending_until) \
         VALUES {rows} \
         ON CONFLICT (instance_id, session_key) DO UPDATE SET {}, {}, {}, {}, {}, {}, {}, {}",
        keep_first_known("platform_user_id", t),
        keep_first_known("email", t),
        keep_first_known("display_name", t),
        keep_first_known("person_id", t),
        keep_earliest("joined_at", t),
        keep_latest("left_at", t),
        keep_first_known("registrant_id", t),
        PENDING_UNTIL_ANY_EVENT_SAYS_WHO,
    )
}

/// A session stays pending only while every event about it is: once one says who the
/// participant is, a later unresolved event (a leave, say) does not make it pending again.
const PENDING_UNTIL_ANY_EVENT_SAYS_WHO: &str = "identity_pending_until = CASE \
     WHEN participant_sessions.identity_pending_until IS NULL OR excluded.identity_pending_until IS NULL THEN NULL \
     WHEN excluded.identity_pending_until < participant_sessions.identity_pending_until THEN excluded.identity_pending_until \
     ELSE participant_sessions.identity_pending_until END";

#[allow(clippy::too_many_arguments)]
async fn upsert_session(
    connection: &mut AnyConnection,
    people: &mut People,
    school_id: i64,
    platform: Platform,
    instance_id: i64,
    participant: &ParticipantIdentity,
    joined_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let person_id = people
        .resolve(
            connection,
            school_id,
            platform,
            participant.platform_user_id.as_deref(),
            participant.email.as_deref(),
        )
        .await?;
    let sql = upsert_sessions_sql("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
    sqlx::query(&sql)
        .bind(instance_id)
        .bind(&participant.session_key)
        .bind(participant.platform_user_id.as_deref())
        .bind(participant.email.as_deref())
        .bind(participant.display_name.as_deref())
        .bind(person_id)
        .bind(joined_at.map(to_millis))
        .bind(left_at.map(to_millis))
        .bind(participant.registrant_id.as_deref())
        .bind(participant.resolution.pending_until().map(to_millis))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Records a stay in a room, and what the event says of who the participant is on their
/// session in the call (with no times: a room event says nothing of the call as a whole).
/// A main-room `participant_left` that Zoom may send for the move is applied as it comes:
/// the stay is presence of its own, so a pupil in a room is never read as gone.
#[allow(clippy::too_many_arguments)]
async fn apply_room_stay(
    connection: &mut AnyConnection,
    people: &mut People,
    school_id: i64,
    platform: Platform,
    instance_id: i64,
    participant: &ParticipantIdentity,
    room: &RoomRef,
    joined_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    upsert_session(
        connection,
        people,
        school_id,
        platform,
        instance_id,
        participant,
        None,
        None,
    )
    .await?;
    let t = "room_stays";
    let sql = format!(
        "INSERT INTO room_stays (instance_id, room_key, stay_key, session_key, joined_at, left_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (instance_id, room_key, stay_key) DO UPDATE SET {}, {}",
        keep_earliest("joined_at", t),
        keep_latest("left_at", t),
    );
    sqlx::query(&sql)
        .bind(instance_id)
        .bind(&room.room_key)
        .bind(&room.stay_key)
        .bind(&participant.session_key)
        .bind(joined_at.map(to_millis))
        .bind(left_at.map(to_millis))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

async fn apply_schedule_change(
    connection: &mut AnyConnection,
    school_id: i64,
    platform: Platform,
    meeting_id: &str,
    at: DateTime<Utc>,
    change: &ScheduleChange,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO scheduled_meetings (school_id, platform, platform_meeting_id, revised_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (platform, platform_meeting_id) DO UPDATE SET revised_at = scheduled_meetings.revised_at \
         RETURNING id",
    )
    .bind(school_id)
    .bind(platform.as_str())
    .bind(meeting_id)
    .bind(to_millis(at))
    .fetch_one(&mut *connection)
    .await?;
    let scheduled_id: i64 = row.try_get("id")?;

    sqlx::query(
        "INSERT INTO schedule_revisions (scheduled_meeting_id, revised_at, revision) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(scheduled_id)
    .bind(to_millis(at))
    .bind(serde_json::to_string(change).expect("changes serialise"))
    .execute(&mut *connection)
    .await?;

    let revisions = sqlx::query(
        "SELECT revised_at, revision FROM schedule_revisions WHERE scheduled_meeting_id = $1 \
         ORDER BY revised_at, revision",
    )
    .bind(scheduled_id)
    .fetch_all(&mut *connection)
    .await?;
    let mut latest_at = to_millis(at);
    let mut state = ScheduleChange::default();
    for revision in &revisions {
        latest_at = latest_at.max(revision.try_get("revised_at")?);
        let text: String = revision.try_get("revision")?;
        let change: ScheduleChange =
            serde_json::from_str(&text).map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        fold(&mut state, change);
    }

    sqlx::query(
        "UPDATE scheduled_meetings SET host_user_id = $1, topic = $2, start_time = $3, \
           duration_minutes = $4, timezone = $5, co_hosts = $6, invitees = $7, deleted = $8, join_url = $11, \
           revised_at = $9 \
         WHERE id = $10",
    )
    .bind(state.host_user_id)
    .bind(state.topic)
    .bind(state.start_time.map(to_millis))
    .bind(state.duration_minutes)
    .bind(state.timezone)
    .bind(state.co_hosts.map(|list| list.join(";")))
    .bind(state.invitees.map(|list| list.join(";")))
    .bind(state.deleted)
    .bind(latest_at)
    .bind(scheduled_id)
    .bind(state.join_url)
    .execute(&mut *connection)
    .await?;
    Ok(scheduled_id)
}

/// Later changes override the fields they carry; a deletion is final.
fn fold(state: &mut ScheduleChange, change: ScheduleChange) {
    state.deleted |= change.deleted;
    macro_rules! take {
        ($($field:ident),*) => { $( if change.$field.is_some() { state.$field = change.$field; } )* };
    }
    take!(
        join_url,
        host_user_id,
        topic,
        start_time,
        duration_minutes,
        timezone,
        co_hosts,
        invitees
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_changes_override_only_the_fields_they_carry() {
        let mut state = ScheduleChange::default();
        fold(
            &mut state,
            ScheduleChange {
                topic: Some("first".into()),
                co_hosts: Some(vec!["dsl@school.example".into()]),
                ..Default::default()
            },
        );
        fold(
            &mut state,
            ScheduleChange {
                co_hosts: Some(vec![]),
                ..Default::default()
            },
        );
        assert_eq!(state.topic.as_deref(), Some("first"));
        assert_eq!(state.co_hosts, Some(vec![]));
        assert!(!state.deleted);
    }

    #[test]
    fn a_revision_stored_before_co_hosts_were_named_so_still_folds_its_co_hosts() {
        let stored = r#"{"topic":"Catch-up","alternative_hosts":["dsl@school.example"]}"#;
        let change: ScheduleChange = serde_json::from_str(stored).unwrap();
        let mut state = ScheduleChange::default();
        fold(&mut state, change);
        assert_eq!(state.co_hosts, Some(vec!["dsl@school.example".to_string()]));
        assert!(serde_json::to_string(&state)
            .unwrap()
            .contains("\"co_hosts\""));
    }
}
