//! The calls and participant sessions of a whole batch, written in a few multi-row upserts
//! instead of one statement per event: the events that start or end a call, or bring a
//! participant in or out of it, are merged in memory by the same rules the upserts apply
//! (first-known identity fields stay, earliest joins and latest leaves win), and each call and
//! session is then written once. The rules are associative and commutative, so the result is
//! the one applying the events one by one, in any order, would give.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::apply::{upsert_instances_sql, upsert_sessions_sql, People};
use crate::db::marks::row_marks;
use crate::db::time::to_millis;
use crate::db::Backend;
use crate::meeting::{InstanceRef, MeetingEvent, ParticipantIdentity, Platform};

/// Rows per statement: ten or so values a row stays well inside both backends' limits.
const ROWS_PER_STATEMENT: usize = 100;

/// A call as the batch's events describe it.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    school_id: i64,
    meeting_id: Option<String>,
    host_user_id: Option<String>,
    topic: Option<String>,
    started_at: Option<i64>,
    start_hint: Option<i64>,
    ended_at: Option<i64>,
    first_seen_at: i64,
}

/// A participant session as the batch's events describe it.
#[derive(Debug, Clone, PartialEq)]
struct Session {
    school_id: i64,
    platform: Platform,
    platform_user_id: Option<String>,
    email: Option<String>,
    display_name: Option<String>,
    registrant_id: Option<String>,
    joined_at: Option<i64>,
    left_at: Option<i64>,
    pending_until: Option<i64>,
}

fn first_known<T: Clone>(kept: &mut Option<T>, incoming: &Option<T>) {
    if kept.is_none() {
        kept.clone_from(incoming);
    }
}

fn earliest(kept: &mut Option<i64>, incoming: Option<i64>) {
    *kept = match (*kept, incoming) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
}

fn latest(kept: &mut Option<i64>, incoming: Option<i64>) {
    *kept = match (*kept, incoming) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

/// The calls and sessions of a batch, keyed as the tables key them.
#[derive(Default)]
pub struct Bulk {
    calls: Vec<((Platform, String), Call)>,
    call_index: HashMap<(Platform, String), usize>,
    sessions: Vec<((Platform, String, String), Session)>,
    session_index: HashMap<(Platform, String, String), usize>,
}

/// Whether [`Bulk`] writes this event in full, leaving nothing for the per-event path.
pub fn takes(event: &MeetingEvent) -> bool {
    matches!(
        event,
        MeetingEvent::InstanceStarted { .. }
            | MeetingEvent::InstanceEnded { .. }
            | MeetingEvent::ParticipantJoined { .. }
            | MeetingEvent::ParticipantLeft { .. }
    )
}

/// The call a [`takes`] event is about, by the platform's key.
pub fn instance_key(event: &MeetingEvent) -> Option<&str> {
    match event {
        MeetingEvent::InstanceStarted { instance, .. }
        | MeetingEvent::InstanceEnded { instance, .. }
        | MeetingEvent::ParticipantJoined { instance, .. }
        | MeetingEvent::ParticipantLeft { instance, .. } => Some(&instance.instance_key),
        _ => None,
    }
}

impl Bulk {
    /// Folds in one event of `school_id`'s (only those [`takes`] accepts).
    pub fn add(&mut self, school_id: i64, platform: Platform, event: &MeetingEvent) {
        let (instance, at, started, ended, session) = match event {
            MeetingEvent::InstanceStarted { instance, at } => {
                (instance, *at, Some(to_millis(*at)), None, None)
            }
            MeetingEvent::InstanceEnded { instance, at } => {
                (instance, *at, None, Some(to_millis(*at)), None)
            }
            MeetingEvent::ParticipantJoined {
                instance,
                participant,
                at,
            } => (
                instance,
                *at,
                None,
                None,
                Some((participant, Some(*at), None)),
            ),
            MeetingEvent::ParticipantLeft {
                instance,
                participant,
                at,
            } => (
                instance,
                *at,
                None,
                None,
                Some((participant, None, Some(*at))),
            ),
            _ => return,
        };
        self.add_call(school_id, platform, instance, at, started, ended);
        if let Some((participant, joined, left)) = session {
            self.add_session(school_id, platform, instance, participant, joined, left);
        }
    }

    fn add_call(
        &mut self,
        school_id: i64,
        platform: Platform,
        instance: &InstanceRef,
        seen_at: DateTime<Utc>,
        started_at: Option<i64>,
        ended_at: Option<i64>,
    ) {
        let incoming = Call {
            school_id,
            meeting_id: instance.meeting_id.clone(),
            host_user_id: instance.host_user_id.clone(),
            topic: instance.topic.clone(),
            started_at,
            start_hint: instance.started_at.map(to_millis),
            ended_at,
            first_seen_at: to_millis(seen_at),
        };
        let key = (platform, instance.instance_key.clone());
        match self.call_index.get(&key) {
            None => {
                self.call_index.insert(key.clone(), self.calls.len());
                self.calls.push((key, incoming));
            }
            Some(&index) => {
                let kept = &mut self.calls[index].1;
                first_known(&mut kept.meeting_id, &incoming.meeting_id);
                first_known(&mut kept.host_user_id, &incoming.host_user_id);
                first_known(&mut kept.topic, &incoming.topic);
                earliest(&mut kept.started_at, incoming.started_at);
                earliest(&mut kept.start_hint, incoming.start_hint);
                latest(&mut kept.ended_at, incoming.ended_at);
                kept.first_seen_at = kept.first_seen_at.min(incoming.first_seen_at);
            }
        }
    }

    fn add_session(
        &mut self,
        school_id: i64,
        platform: Platform,
        instance: &InstanceRef,
        participant: &ParticipantIdentity,
        joined_at: Option<DateTime<Utc>>,
        left_at: Option<DateTime<Utc>>,
    ) {
        let incoming = Session {
            school_id,
            platform,
            platform_user_id: participant.platform_user_id.clone(),
            email: participant.email.clone(),
            display_name: participant.display_name.clone(),
            registrant_id: participant.registrant_id.clone(),
            joined_at: joined_at.map(to_millis),
            left_at: left_at.map(to_millis),
            pending_until: participant.resolution.pending_until().map(to_millis),
        };
        let key = (
            platform,
            instance.instance_key.clone(),
            participant.session_key.clone(),
        );
        match self.session_index.get(&key) {
            None => {
                self.session_index.insert(key.clone(), self.sessions.len());
                self.sessions.push((key, incoming));
            }
            Some(&index) => {
                let kept = &mut self.sessions[index].1;
                first_known(&mut kept.platform_user_id, &incoming.platform_user_id);
                first_known(&mut kept.email, &incoming.email);
                first_known(&mut kept.display_name, &incoming.display_name);
                first_known(&mut kept.registrant_id, &incoming.registrant_id);
                earliest(&mut kept.joined_at, incoming.joined_at);
                latest(&mut kept.left_at, incoming.left_at);
                // Pending only while every event is: a None (someone said who) stays None.
                kept.pending_until = match (kept.pending_until, incoming.pending_until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    _ => None,
                };
            }
        }
    }

    /// Writes every call and session; answers each call's id by its platform and key.
    pub async fn write(
        &self,
        connection: &mut AnyConnection,
        backend: Backend,
        people: &mut People,
    ) -> Result<HashMap<(Platform, String), i64>, sqlx::Error> {
        let mut ids = HashMap::with_capacity(self.calls.len());
        for chunk in self.calls.chunks(ROWS_PER_STATEMENT) {
            let sql = upsert_instances_sql(
                &row_marks(backend, chunk.len(), 10),
                "id, platform, instance_key",
            );
            let mut query = sqlx::query(&sql);
            for ((platform, instance_key), call) in chunk {
                query = query
                    .bind(call.school_id)
                    .bind(platform.as_str())
                    .bind(instance_key.as_str())
                    .bind(call.meeting_id.as_deref())
                    .bind(call.host_user_id.as_deref())
                    .bind(call.topic.as_deref())
                    .bind(call.started_at)
                    .bind(call.start_hint)
                    .bind(call.ended_at)
                    .bind(call.first_seen_at);
            }
            for row in query.fetch_all(&mut *connection).await? {
                let platform: String = row.try_get("platform")?;
                let platform = Platform::parse(&platform).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown platform {platform:?}").into())
                })?;
                ids.insert((platform, row.try_get("instance_key")?), row.try_get("id")?);
            }
        }

        let mut rows = Vec::with_capacity(self.sessions.len());
        for ((platform, instance_key, session_key), session) in &self.sessions {
            let instance_id = ids[&(*platform, instance_key.clone())];
            let person_id = people
                .resolve(
                    connection,
                    session.school_id,
                    session.platform,
                    session.platform_user_id.as_deref(),
                    session.email.as_deref(),
                )
                .await?;
            rows.push((instance_id, session_key, person_id, session));
        }
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = upsert_sessions_sql(&row_marks(backend, chunk.len(), 10));
            let mut query = sqlx::query(&sql);
            for (instance_id, session_key, person_id, session) in chunk {
                query = query
                    .bind(*instance_id)
                    .bind(session_key.as_str())
                    .bind(session.platform_user_id.as_deref())
                    .bind(session.email.as_deref())
                    .bind(session.display_name.as_deref())
                    .bind(*person_id)
                    .bind(session.joined_at)
                    .bind(session.left_at)
                    .bind(session.registrant_id.as_deref())
                    .bind(session.pending_until);
            }
            query.execute(&mut *connection).await?;
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_720_000 + seconds, 0).unwrap()
    }

    fn instance(topic: Option<&str>) -> InstanceRef {
        InstanceRef {
            instance_key: "uuid-1".into(),
            meeting_id: Some("8471".into()),
            host_user_id: None,
            topic: topic.map(str::to_string),
            started_at: None,
        }
    }

    fn participant(email: Option<&str>) -> ParticipantIdentity {
        ParticipantIdentity {
            session_key: "s-1".into(),
            platform_user_id: None,
            email: email.map(str::to_string),
            display_name: Some("J".into()),
            registrant_id: None,
            resolution: Default::default(),
        }
    }

    fn folded(events: &[MeetingEvent]) -> Bulk {
        let mut bulk = Bulk::default();
        for event in events {
            bulk.add(1, Platform::Zoom, event);
        }
        bulk
    }

    #[test]
    fn a_batch_folds_to_the_same_call_and_session_in_any_order() {
        let events = vec![
            MeetingEvent::ParticipantLeft {
                instance: instance(None),
                participant: participant(Some("j@school.example")),
                at: at(600),
            },
            MeetingEvent::InstanceStarted {
                instance: instance(Some("Mentoring")),
                at: at(0),
            },
            MeetingEvent::ParticipantJoined {
                instance: instance(Some("Other")),
                participant: participant(None),
                at: at(60),
            },
            MeetingEvent::InstanceEnded {
                instance: instance(None),
                at: at(700),
            },
        ];
        let forward = folded(&events);
        let mut reversed = events.clone();
        reversed.reverse();
        let backward = folded(&reversed);
        assert_eq!(forward.calls.len(), 1);
        assert_eq!(forward.sessions.len(), 1);
        let (call, session) = (&forward.calls[0].1, &forward.sessions[0].1);
        assert_eq!(call.started_at, Some(to_millis(at(0))));
        assert_eq!(call.ended_at, Some(to_millis(at(700))));
        assert_eq!(call.first_seen_at, to_millis(at(0)));
        assert_eq!(session.joined_at, Some(to_millis(at(60))));
        assert_eq!(session.left_at, Some(to_millis(at(600))));
        assert_eq!(session.email.as_deref(), Some("j@school.example"));
        // Times and first-known facts agree whichever way round; a topic is first-known, so
        // it is the first event's that carries one, as applying them one by one would keep.
        assert_eq!(backward.calls[0].1.ended_at, call.ended_at);
        assert_eq!(backward.sessions[0].1, *session);
        assert_eq!(call.topic.as_deref(), Some("Mentoring"));
    }

    #[test]
    fn only_the_events_that_start_end_join_or_leave_are_taken() {
        assert!(takes(&MeetingEvent::InstanceEnded {
            instance: instance(None),
            at: at(0)
        }));
        assert!(!takes(&MeetingEvent::ScheduleChanged {
            meeting_id: "8471".into(),
            at: at(0),
            change: Default::default(),
        }));
    }
}
