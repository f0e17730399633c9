//! Participants' stays in the smaller rooms of a call (breakout rooms), read back for the
//! register and the policy view, each room with the label a DSL reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use crate::db::time::from_millis;

/// One stay of one participant session in one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomStay {
    /// The participant's session in the call (as in `participant_sessions`).
    pub session_key: String,
    pub room_key: String,
    /// "breakout room 2".
    pub room_label: String,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
}

/// Every room stay of a call, in the order they began.
pub async fn of_instance(
    connection: &mut AnyConnection,
    instance_id: i64,
) -> Result<Vec<RoomStay>, sqlx::Error> {
    Ok(of_instances(connection, &[instance_id])
        .await?
        .remove(&instance_id)
        .unwrap_or_default())
}

/// Every room stay of each call in `instance_ids` (ids read from the database), by call, in
/// the order they began.
pub async fn of_instances(
    connection: &mut AnyConnection,
    instance_ids: &[i64],
) -> Result<HashMap<i64, Vec<RoomStay>>, sqlx::Error> {
    let mut by_call: HashMap<i64, Vec<RoomStay>> = HashMap::new();
    for chunk in instance_ids.chunks(crate::db::IDS_PER_QUERY) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let rows = sqlx::query(&format!(
            "SELECT instance_id, session_key, room_key, joined_at, left_at FROM room_stays \
             WHERE instance_id IN ({}) \
             ORDER BY instance_id, joined_at IS NULL, joined_at, room_key, stay_key",
            list.join(", ")
        ))
        .fetch_all(&mut *connection)
        .await?;
        for row in &rows {
            by_call
                .entry(row.try_get("instance_id")?)
                .or_default()
                .push(RoomStay {
                    session_key: row.try_get("session_key")?,
                    room_label: String::new(),
                    joined_at: row.try_get::<Option<i64>, _>("joined_at")?.map(from_millis),
                    left_at: row.try_get::<Option<i64>, _>("left_at")?.map(from_millis),
                    room_key: row.try_get("room_key")?,
                });
        }
    }
    for stays in by_call.values_mut() {
        let mut room_order: Vec<String> = Vec::new();
        for stay in stays.iter() {
            if !room_order.contains(&stay.room_key) {
                room_order.push(stay.room_key.clone());
            }
        }
        for stay in stays.iter_mut() {
            let number = room_order.iter().position(|key| *key == stay.room_key);
            stay.room_label = room_label(number.unwrap_or_default() + 1);
        }
    }
    Ok(by_call)
}

/// Zoom's webhooks name a breakout room only by its uuid, so rooms are numbered in the order
/// someone first entered them.
fn room_label(number: usize) -> String {
    format!("breakout room {number}")
}
