//! A call as the rooms it was held in: the main room and each breakout room, with every
//! session's presence clipped to the time it spent there. Someone in a breakout room is
//! not in the main room meanwhile, whatever the main room holds.
//!
//! A stay in a breakout room is presence of its own: it is not cut short by the session's
//! leave, because Zoom may report a main-room leave for the move itself. A stay with no
//! leave seen lasts until the call ends (the safe reading: still there).

use chrono::{DateTime, Utc};

use super::identity::Identity;
use super::view::{InstanceView, RoomStayView, SessionView};

/// One room of the call and who was in it, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// `None`: the main room.
    pub key: Option<String>,
    /// "the main room", "breakout room 2".
    pub label: String,
    /// The sessions present, each with `joined_at`/`left_at` clipped to its time in this
    /// room; a session that came and went several times appears once per stretch.
    pub sessions: Vec<SessionView>,
}

impl Room {
    pub fn is_breakout(&self) -> bool {
        self.key.is_some()
    }
}

/// A stretch of time; `None` as the end: open (until the call ends).
type Stretch = (DateTime<Utc>, Option<DateTime<Utc>>);

/// The main room first, then the breakout rooms in the order they were first entered. With
/// no breakout stays this is one room holding the call's sessions unchanged.
pub fn rooms(instance: &InstanceView) -> Vec<Room> {
    let mut main = Room {
        key: None,
        label: "the main room".into(),
        sessions: Vec::new(),
    };
    for session in &instance.sessions {
        let away: Vec<Stretch> = stays_of(instance, &session.session_key)
            .filter_map(|stay| Some((stay.joined_at?, stay.left_at)))
            .collect();
        let Some(joined) = session.joined_at.filter(|_| !away.is_empty()) else {
            main.sessions.push(session.clone());
            continue;
        };
        for (from, until) in subtract((joined, session.left_at), away) {
            main.sessions.push(clipped(session, Some(from), until));
        }
    }
    let mut result = vec![main];
    for stay in &instance.room_stays {
        let index = match result
            .iter()
            .position(|room| room.key.as_deref() == Some(stay.room_key.as_str()))
        {
            Some(index) => index,
            None => {
                result.push(Room {
                    key: Some(stay.room_key.clone()),
                    label: stay.room_label.clone(),
                    sessions: Vec::new(),
                });
                result.len() - 1
            }
        };
        let session = instance
            .sessions
            .iter()
            .find(|s| s.session_key == stay.session_key)
            .cloned()
            .unwrap_or_else(|| unidentified(&stay.session_key));
        result[index]
            .sessions
            .push(clipped(&session, stay.joined_at, stay.left_at));
    }
    result
}

fn stays_of<'a>(
    instance: &'a InstanceView,
    session_key: &'a str,
) -> impl Iterator<Item = &'a RoomStayView> {
    instance
        .room_stays
        .iter()
        .filter(move |stay| stay.session_key == session_key)
}

fn clipped(
    session: &SessionView,
    joined_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
) -> SessionView {
    SessionView {
        joined_at,
        left_at,
        ..session.clone()
    }
}

/// A stay whose session is not in the view: someone was there, identity unknown.
fn unidentified(session_key: &str) -> SessionView {
    SessionView {
        session_key: session_key.to_string(),
        identity: Identity::unidentified(),
        display_name: None,
        platform_user_id: None,
        in_school_account: None,
        joined_at: None,
        left_at: None,
        identity_pending_until: None,
    }
}

/// `whole` less every stretch in `cuts`, as the stretches left (empty ones dropped).
fn subtract(whole: Stretch, mut cuts: Vec<Stretch>) -> Vec<Stretch> {
    let (mut cursor, end) = whole;
    let before_end = |at: DateTime<Utc>| end.is_none_or(|end| at < end);
    cuts.sort();
    let mut left = Vec::new();
    for (cut_start, cut_end) in cuts {
        if !before_end(cut_start) {
            break;
        }
        if cut_end.is_some_and(|cut_end| cut_end <= cursor) {
            continue;
        }
        if cut_start > cursor {
            left.push((cursor, Some(cut_start)));
        }
        match cut_end {
            Some(cut_end) => cursor = cursor.max(cut_end),
            None => return left,
        }
    }
    if before_end(cursor) {
        left.push((cursor, end));
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hh_mm: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2025-03-11T{hh_mm}:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn maybe(hh_mm: &str) -> Option<DateTime<Utc>> {
        (!hh_mm.is_empty()).then(|| at(hh_mm))
    }

    fn session(key: &str, joined: &str, left: &str) -> SessionView {
        SessionView {
            joined_at: maybe(joined),
            left_at: maybe(left),
            ..unidentified(key)
        }
    }

    fn stay(key: &str, room: &str, joined: &str, left: &str) -> RoomStayView {
        RoomStayView {
            session_key: key.into(),
            room_key: room.into(),
            room_label: format!("room {room}"),
            joined_at: maybe(joined),
            left_at: maybe(left),
        }
    }

    /// Each room as (key, [(session, joined, left)]), times as "HH:MM" ("" for none).
    type Expected = Vec<(
        Option<&'static str>,
        Vec<(&'static str, &'static str, &'static str)>,
    )>;

    /// Each room as (key, [(session, joined, left)]), owned, to compare.
    type Shown = Vec<(Option<String>, Vec<(String, String, String)>)>;

    fn shown(rooms: &[Room]) -> Shown {
        let time = |t: Option<DateTime<Utc>>| t.map(|t| t.format("%H:%M").to_string());
        rooms
            .iter()
            .map(|room| {
                let sessions = room
                    .sessions
                    .iter()
                    .map(|s| {
                        (
                            s.session_key.clone(),
                            time(s.joined_at).unwrap_or_default(),
                            time(s.left_at).unwrap_or_default(),
                        )
                    })
                    .collect();
                (room.key.clone(), sessions)
            })
            .collect()
    }

    fn owned(expected: Expected) -> Shown {
        expected
            .into_iter()
            .map(|(key, sessions)| {
                let sessions = sessions
                    .into_iter()
                    .map(|(k, j, l)| (k.to_string(), j.to_string(), l.to_string()))
                    .collect();
                (key.map(str::to_string), sessions)
            })
            .collect()
    }

    #[test]
    fn each_room_holds_the_sessions_clipped_to_their_time_there() {
        let cases: Vec<(&str, Vec<SessionView>, Vec<RoomStayView>, Expected)> = vec![
            (
                "no breakout rooms: the main room is the call",
                vec![session("t", "10:00", "10:30"), session("p", "10:01", "")],
                vec![],
                vec![(None, vec![("t", "10:00", "10:30"), ("p", "10:01", "")])],
            ),
            (
                "pupil and teacher in a breakout room, the TA stays in the main room",
                vec![
                    session("t", "10:00", "10:30"),
                    session("ta", "10:00", "10:30"),
                    session("p", "10:01", "10:30"),
                ],
                vec![
                    stay("p", "A", "10:05", "10:20"),
                    stay("t", "A", "10:05", "10:20"),
                ],
                vec![
                    (
                        None,
                        vec![
                            ("t", "10:00", "10:05"),
                            ("t", "10:20", "10:30"),
                            ("ta", "10:00", "10:30"),
                            ("p", "10:01", "10:05"),
                            ("p", "10:20", "10:30"),
                        ],
                    ),
                    (
                        Some("A"),
                        vec![("p", "10:05", "10:20"), ("t", "10:05", "10:20")],
                    ),
                ],
            ),
            (
                "a stay with no leave seen lasts until the call ends",
                vec![session("p", "10:00", "")],
                vec![stay("p", "A", "10:10", "")],
                vec![
                    (None, vec![("p", "10:00", "10:10")]),
                    (Some("A"), vec![("p", "10:10", "")]),
                ],
            ),
            (
                "a main-room leave reported for the move does not end the stay in the room",
                vec![session("p", "10:00", "10:10")],
                vec![stay("p", "A", "10:10", "10:25")],
                vec![
                    (None, vec![("p", "10:00", "10:10")]),
                    (Some("A"), vec![("p", "10:10", "10:25")]),
                ],
            ),
            (
                "two visits to one room are two stretches, with the main room between",
                vec![session("p", "10:00", "10:40")],
                vec![
                    stay("p", "A", "10:05", "10:10"),
                    stay("p", "A", "10:20", "10:30"),
                ],
                vec![
                    (
                        None,
                        vec![
                            ("p", "10:00", "10:05"),
                            ("p", "10:10", "10:20"),
                            ("p", "10:30", "10:40"),
                        ],
                    ),
                    (
                        Some("A"),
                        vec![("p", "10:05", "10:10"), ("p", "10:20", "10:30")],
                    ),
                ],
            ),
            (
                "a stay whose start was not seen takes nothing from the main room",
                vec![session("p", "10:00", "10:30")],
                vec![stay("p", "A", "", "10:20")],
                vec![
                    (None, vec![("p", "10:00", "10:30")]),
                    (Some("A"), vec![("p", "", "10:20")]),
                ],
            ),
            (
                "someone seen only in a breakout room is in that room alone",
                vec![session("t", "10:00", "10:30"), session("g", "", "")],
                vec![
                    stay("g", "B", "10:05", "10:15"),
                    stay("t", "A", "10:06", "10:16"),
                ],
                vec![
                    (
                        None,
                        vec![
                            ("t", "10:00", "10:06"),
                            ("t", "10:16", "10:30"),
                            ("g", "", ""),
                        ],
                    ),
                    (Some("B"), vec![("g", "10:05", "10:15")]),
                    (Some("A"), vec![("t", "10:06", "10:16")]),
                ],
            ),
            (
                "a room stay of a session the view lacks is an unidentified participant",
                vec![],
                vec![stay("x", "A", "10:05", "10:15")],
                vec![(None, vec![]), (Some("A"), vec![("x", "10:05", "10:15")])],
            ),
        ];
        for (name, sessions, room_stays, expected) in cases {
            let instance = InstanceView {
                topic: None,
                host: None,
                host_user_id: None,
                started_at: Some(at("10:00")),
                ended_at: None,
                sessions,
                chat_messages_at: Vec::new(),
                recording_started_at: Vec::new(),
                room_stays,
            };
            assert_eq!(shown(&rooms(&instance)), owned(expected), "{name}");
        }
    }

    #[test]
    fn breakout_rooms_carry_their_labels_and_the_main_room_is_named() {
        let instance = InstanceView {
            topic: None,
            host: None,
            host_user_id: None,
            started_at: None,
            ended_at: None,
            sessions: vec![session("p", "10:00", "")],
            chat_messages_at: Vec::new(),
            recording_started_at: Vec::new(),
            room_stays: vec![stay("p", "A", "10:05", "")],
        };
        let rooms = rooms(&instance);
        assert_eq!(rooms[0].label, "the main room");
        assert!(!rooms[0].is_breakout());
        assert_eq!(rooms[1].label, "room A");
        assert!(rooms[1].is_breakout());
    }
}
