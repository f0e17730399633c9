//! Participants' stays in the smaller rooms of a call (breakout rooms), read back for the
//! register and the policy view, each room with the label a DSL reads.

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
    let rows = sqlx::query(
        "SELECT session_key, room_key, joined_at, left_at FROM room_stays WHERE instance_id = $1 \
         ORDER BY joined_at IS NULL, joined_at, room_key, stay_key",
    )
    .bind(instance_id)
    .fetch_all(connection)
    .await?;
    let mut room_order: Vec<String> = Vec::new();
    let mut stays = Vec::with_capacity(rows.len());
    for row in &rows {
        let room_key: String = row.try_get("room_key")?;
        if !room_order.contains(&room_key) {
            room_order.push(room_key.clone());
        }
        stays.push(RoomStay {
            session_key: row.try_get("session_key")?,
            room_label: String::new(),
            joined_at: row.try_get::<Option<i64>, _>("joined_at")?.map(from_millis),
            left_at: row.try_get::<Option<i64>, _>("left_at")?.map(from_millis),
            room_key,
        });
    }
    for stay in &mut stays {
        let number = room_order.iter().position(|key| *key == stay.room_key);
        stay.room_label = room_label(number.unwrap_or_default() + 1);
    }
    Ok(stays)
}

/// Zoom's webhooks name a breakout room only by its uuid, so rooms are numbered in the order
/// someone first entered them.
fn room_label(number: usize) -> String {
    format!("breakout room {number}")
}
