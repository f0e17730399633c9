//! What the ledger covers: each class of record chaperone keeps about a call, the table it
//! lives in, the columns that are its facts (bookkeeping such as leases and retry times is
//! left out, so that it does not make entries), how a record is keyed, and which school's
//! chain it belongs to. The migration's triggers note the same classes and keys.

use serde_json::Value;

use crate::db::marks::marks;
use crate::db::Backend;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A column's kind of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Text,
}

use Kind::{Integer as I, Text as T};

/// One class of record.
#[derive(Debug)]
pub struct RecordClass {
    /// As stored in `record_class`: `call`, `participant`, ...
    pub name: &'static str,
    /// A SELECT of the fact columns (named as in `columns`) and `ledger_school`, the school
    /// whose chain the record belongs to, from the table aliased `r`.
    base: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// The columns that make the key, in the key's order: one means the key is its decimal
    /// text, several a compact JSON array of their values.
    pub key_columns: &'static [&'static str],
    /// The column naming the call (meeting instance) the record is about, if any.
    pub call_column: Option<&'static str>,
}

pub const CALL: RecordClass = RecordClass {
    name: "call",
    base: "SELECT r.id, r.school_id, r.platform, r.instance_key, r.platform_meeting_id, \
           r.host_user_id, r.topic, r.started_at, r.start_hint, r.ended_at, r.first_seen_at, \
           r.reconciliation, r.reconciled_at, r.reconciliation_error, r.school_id AS ledger_school \
           FROM meeting_instances r",
    columns: &[
        ("id", I),
        ("school_id", I),
        ("platform", T),
        ("instance_key", T),
        ("platform_meeting_id", T),
        ("host_user_id", T),
        ("topic", T),
        ("started_at", I),
        ("start_hint", I),
        ("ended_at", I),
        ("first_seen_at", I),
        ("reconciliation", T),
        ("reconciled_at", I),
        ("reconciliation_error", T),
    ],
    key_columns: &["id"],
    call_column: Some("id"),
};

pub const PARTICIPANT: RecordClass = RecordClass {
    name: "participant",
    base:
        "SELECT r.id, r.instance_id, r.session_key, r.platform_user_id, r.email, r.display_name, \
           r.person_id, r.joined_at, r.left_at, r.source, r.registrant_id, r.identity_basis, \
           r.identified_person_id, r.identity_pending_until, m.school_id AS ledger_school \
           FROM participant_sessions r JOIN meeting_instances m ON m.id = r.instance_id",
    columns: &[
        ("id", I),
        ("instance_id", I),
        ("session_key", T),
        ("platform_user_id", T),
        ("email", T),
        ("display_name", T),
        ("person_id", I),
        ("joined_at", I),
        ("left_at", I),
        ("source", T),
        ("registrant_id", T),
        ("identity_basis", T),
        ("identified_person_id", I),
        ("identity_pending_until", I),
    ],
    key_columns: &["id"],
    call_column: Some("instance_id"),
};

pub const ROOM_STAY: RecordClass = RecordClass {
    name: "room_stay",
    base: "SELECT r.instance_id, r.room_key, r.stay_key, r.session_key, r.joined_at, r.left_at, \
           m.school_id AS ledger_school \
           FROM room_stays r JOIN meeting_instances m ON m.id = r.instance_id",
    columns: &[
        ("instance_id", I),
        ("room_key", T),
        ("stay_key", T),
        ("session_key", T),
        ("joined_at", I),
        ("left_at", I),
    ],
    key_columns: &["instance_id", "room_key", "stay_key"],
    call_column: Some("instance_id"),
};

pub const SIGNAL: RecordClass = RecordClass {
    name: "signal",
    base: "SELECT r.instance_id, r.kind, r.at, r.source_ref, m.school_id AS ledger_school \
           FROM instance_signals r JOIN meeting_instances m ON m.id = r.instance_id",
    columns: &[
        ("instance_id", I),
        ("kind", T),
        ("at", I),
        ("source_ref", T),
    ],
    key_columns: &["instance_id", "kind", "at", "source_ref"],
    call_column: Some("instance_id"),
};

/// The settings read from the platform for a meeting: the school whose account the meeting
/// is on, from its schedule, or else from its first call.
pub const SETTINGS: RecordClass = RecordClass {
    name: "settings",
    base: "SELECT r.platform, r.platform_meeting_id, r.status, r.read_at, r.error, r.host_email, \
           r.invitees, r.co_hosts, r.waiting_room, r.authentication, r.auto_recording_enabled, \
           r.chat_enabled, COALESCE(\
             (SELECT s.school_id FROM scheduled_meetings s WHERE s.platform = r.platform \
              AND s.platform_meeting_id = r.platform_meeting_id), \
             (SELECT MIN(m.school_id) FROM meeting_instances m WHERE m.platform = r.platform \
              AND m.platform_meeting_id = r.platform_meeting_id)) AS ledger_school \
           FROM meeting_settings r",
    columns: &[
        ("platform", T),
        ("platform_meeting_id", T),
        ("status", T),
        ("read_at", I),
        ("error", T),
        ("host_email", T),
        ("invitees", T),
        ("co_hosts", T),
        ("waiting_room", I),
        ("authentication", I),
        ("auto_recording_enabled", I),
        ("chat_enabled", I),
    ],
    key_columns: &["platform", "platform_meeting_id"],
    call_column: None,
};

pub const FINDING: RecordClass = RecordClass {
    name: "finding",
    base: "SELECT r.id, r.school_id, r.finding_key, r.rule, r.scope, r.scheduled_meeting_id, \
           r.meeting_instance_id, r.subject, r.severity, r.status, r.title, r.summary, r.clause, \
           r.people, r.occurred_at, r.opened_at, r.updated_at, r.acknowledged_at, \
           r.acknowledged_by, r.resolved_at, r.resolved_by, r.resolution_note, r.version, \
           r.alert_round, r.alert_level, r.alerted_at, r.platform_account_id, r.windows, \
           r.school_id AS ledger_school FROM findings r",
    columns: &[
        ("id", I),
        ("school_id", I),
        ("finding_key", T),
        ("rule", T),
        ("scope", T),
        ("scheduled_meeting_id", I),
        ("meeting_instance_id", I),
        ("subject", T),
        ("severity", T),
        ("status", T),
        ("title", T),
        ("summary", T),
        ("clause", T),
        ("people", T),
        ("occurred_at", I),
        ("opened_at", I),
        ("updated_at", I),
        ("acknowledged_at", I),
        ("acknowledged_by", T),
        ("resolved_at", I),
        ("resolved_by", T),
        ("resolution_note", T),
        ("version", I),
        ("alert_round", I),
        ("alert_level", I),
        ("alerted_at", I),
        ("platform_account_id", I),
        ("windows", T),
    ],
    key_columns: &["id"],
    call_column: Some("meeting_instance_id"),
};

pub const FINDING_CHANGE: RecordClass = RecordClass {
    name: "finding_change",
    base: "SELECT r.finding_id, r.version, r.at, r.change, r.actor, r.note, r.snapshot, \
           f.school_id AS ledger_school FROM finding_history r JOIN findings f ON f.id = r.finding_id",
    columns: &[
        ("finding_id", I),
        ("version", I),
        ("at", I),
        ("change", T),
        ("actor", T),
        ("note", T),
        ("snapshot", T),
    ],
    key_columns: &["finding_id", "version"],
    call_column: None,
};

/// A delivery of an alert about a finding (test alerts are about nothing, and left out).
pub const ALERT_DELIVERY: RecordClass = RecordClass {
    name: "alert_delivery",
    base: "SELECT r.id, r.school_id, r.finding_id, r.alert_round, r.escalation_level, r.kind, \
           r.contact_id, r.webhook_id, r.channel, r.recipient, r.status, r.attempts, r.last_error, \
           r.created_at, r.sent_at, r.answers_delivery_id, r.skipped_because, r.first_composed, \
           r.school_id AS ledger_school FROM alert_deliveries r WHERE r.finding_id IS NOT NULL",
    columns: &[
        ("id", I),
        ("school_id", I),
        ("finding_id", I),
        ("alert_round", I),
        ("escalation_level", I),
        ("kind", T),
        ("contact_id", I),
        ("webhook_id", I),
        ("channel", T),
        ("recipient", T),
        ("status", T),
        ("attempts", I),
        ("last_error", T),
        ("created_at", I),
        ("sent_at", I),
        ("answers_delivery_id", I),
        ("skipped_because", T),
        ("first_composed", T),
    ],
    key_columns: &["id"],
    call_column: None,
};

pub const OUTCOME: RecordClass = RecordClass {
    name: "outcome",
    base:
        "SELECT r.id, r.school_id, r.meeting_instance_id, r.written_by, r.written_at, r.outcome, \
           r.school_id AS ledger_school FROM session_outcomes r",
    columns: &[
        ("id", I),
        ("school_id", I),
        ("meeting_instance_id", I),
        ("written_by", I),
        ("written_at", I),
        ("outcome", T),
    ],
    key_columns: &["id"],
    call_column: Some("meeting_instance_id"),
};

/// Every class the ledger covers.
pub const ALL: [&RecordClass; 9] = [
    &CALL,
    &PARTICIPANT,
    &ROOM_STAY,
    &SIGNAL,
    &SETTINGS,
    &FINDING,
    &FINDING_CHANGE,
    &ALERT_DELIVERY,
    &OUTCOME,
];

/// Records that are not rows of a table: a day's completeness statement, a retention purge
/// of raw events.
pub const STATEMENT: &str = "statement";
pub const PURGE: &str = "purge";

pub fn by_name(name: &str) -> Option<&'static RecordClass> {
    ALL.into_iter().find(|class| class.name == name)
}

/// One fact column's value as read.
enum Fact {
    Integer(Option<i64>),
    Text(Option<String>),
}

/// Appends `text` as a JSON string, escaped exactly as `serde_json` escapes it.
fn push_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).expect("a string serialises"));
}

/// A record as the ledger sees it: its key, its school and its canonical content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub school_id: i64,
    /// Compact JSON, keys sorted: the same record always reads back as the same bytes.
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("record key {0:?} is not a key of its class")]
    Malformed(String),
}

/// A key's values, to bind in key order.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Integer(i64),
    Text(String),
}

impl RecordClass {
    /// Every record of the class in `school_id`'s chain, by key.
    pub fn select_school(&self) -> String {
        format!(
            "SELECT * FROM ({}) AS records WHERE ledger_school = $1",
            self.base
        )
    }

    /// The record with a given key (binds the key's values in order).
    pub fn select_key(&self) -> String {
        let conditions: Vec<String> = self
            .key_columns
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{column} = ${}", index + 1))
            .collect();
        format!(
            "SELECT * FROM ({}) AS records WHERE {}",
            self.base,
            conditions.join(" AND ")
        )
    }

    /// Every record of the class whose `column` is one of `count` values (`$1, $2, ...`).
    pub fn select_in(&self, backend: Backend, column: &str, count: usize) -> String {
        format!(
            "SELECT * FROM ({}) AS records WHERE {column} IN ({})",
            self.base,
            marks(backend, 1, count)
        )
    }

    fn kind_of(&self, column: &str) -> Kind {
        self.columns
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, kind)| *kind)
            .unwrap_or(Kind::Text)
    }

    /// Reads a stored key (as the triggers wrote it, or canonical) into its values.
    pub fn parse_key(&self, key: &str) -> Result<Vec<KeyValue>, KeyError> {
        let malformed = || KeyError::Malformed(key.to_string());
        let values: Vec<Value> = if self.key_columns.len() == 1 {
            vec![match self.kind_of(self.key_columns[0]) {
                Kind::Integer => Value::from(key.trim().parse::<i64>().map_err(|_| malformed())?),
                Kind::Text => Value::from(key),
            }]
        } else {
            serde_json::from_str(key).map_err(|_| malformed())?
        };
        if values.len() != self.key_columns.len() {
            return Err(malformed());
        }
        self.key_columns
            .iter()
            .zip(values)
            .map(|(column, value)| match (self.kind_of(column), value) {
                (Kind::Integer, Value::Number(number)) => {
                    number.as_i64().map(KeyValue::Integer).ok_or_else(malformed)
                }
                (Kind::Text, Value::String(text)) => Ok(KeyValue::Text(text)),
                _ => Err(malformed()),
            })
            .collect()
    }

    /// The canonical key of a set of values.
    pub fn canonical_key(&self, values: &[KeyValue]) -> String {
        if let [KeyValue::Integer(id)] = values {
            return id.to_string();
        }
        let array: Vec<Value> = values
            .iter()
            .map(|value| match value {
                KeyValue::Integer(number) => Value::from(*number),
                KeyValue::Text(text) => Value::from(text.as_str()),
            })
            .collect();
        Value::Array(array).to_string()
    }

    /// The record a row of `select_*` holds.
    pub fn read(&self, row: &AnyRow) -> Result<Record, sqlx::Error> {
        let mut values = Vec::with_capacity(self.columns.len());
        for (column, kind) in self.columns {
            values.push(match kind {
                Kind::Integer => Fact::Integer(row.try_get::<Option<i64>, _>(*column)?),
                Kind::Text => Fact::Text(row.try_get::<Option<String>, _>(*column)?),
            });
        }
        let key_values: Vec<KeyValue> = self
            .key_columns
            .iter()
            .map(|key| {
                let index = self
                    .columns
                    .iter()
                    .position(|(column, _)| column == key)
                    .expect("a key column is a fact column");
                match &values[index] {
                    Fact::Integer(number) => KeyValue::Integer(number.unwrap_or_default()),
                    Fact::Text(text) => KeyValue::Text(text.clone().unwrap_or_default()),
                }
            })
            .collect();
        Ok(Record {
            key: self.canonical_key(&key_values),
            school_id: row.try_get("ledger_school")?,
            content: self.canonical(&values),
        })
    }

    /// The compact JSON object of the facts, keys in sorted order: what `serde_json` writes
    /// for the same map, without building one for every record read.
    fn canonical(&self, values: &[Fact]) -> String {
        let mut order: Vec<usize> = (0..self.columns.len()).collect();
        order.sort_unstable_by_key(|index| self.columns[*index].0);
        let mut out = String::with_capacity(64 * values.len());
        out.push('{');
        for (position, index) in order.into_iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            push_json_string(&mut out, self.columns[index].0);
            out.push(':');
            match &values[index] {
                Fact::Integer(Some(number)) => out.push_str(&number.to_string()),
                Fact::Text(Some(text)) => push_json_string(&mut out, text),
                Fact::Integer(None) | Fact::Text(None) => out.push_str("null"),
            }
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_content_is_what_serde_json_writes_for_the_same_map() {
        let values = vec![
            Fact::Integer(Some(7)),
            Fact::Text(Some("Y9 mentoring – J.S. 🎓 \"café\"\n\u{1}".into())),
            Fact::Text(None),
            Fact::Integer(Some(-1)),
            Fact::Integer(None),
            Fact::Text(Some(String::new())),
        ];
        let class = RecordClass {
            name: "test",
            base: "",
            columns: &[
                ("zeta", Kind::Integer),
                ("topic", Kind::Text),
                ("alpha", Kind::Text),
                ("b", Kind::Integer),
                ("a_b", Kind::Integer),
                ("_a", Kind::Text),
            ],
            key_columns: &["zeta"],
            call_column: None,
        };
        let mut map = serde_json::Map::new();
        for ((name, _), value) in class.columns.iter().zip(&values) {
            let value = match value {
                Fact::Integer(number) => number.map(Value::from).unwrap_or(Value::Null),
                Fact::Text(text) => text.clone().map(Value::from).unwrap_or(Value::Null),
            };
            map.insert((*name).to_string(), value);
        }
        assert_eq!(class.canonical(&values), Value::Object(map).to_string());
    }

    #[test]
    fn keys_read_as_the_triggers_write_them_on_either_backend() {
        let sqlite = ROOM_STAY.parse_key(r#"[12,"main","s-1"]"#).unwrap();
        let postgres = ROOM_STAY.parse_key(r#"[12, "main", "s-1"]"#).unwrap();
        assert_eq!(sqlite, postgres);
        assert_eq!(ROOM_STAY.canonical_key(&sqlite), r#"[12,"main","s-1"]"#);
        assert_eq!(CALL.parse_key("42").unwrap(), vec![KeyValue::Integer(42)]);
        assert_eq!(CALL.canonical_key(&[KeyValue::Integer(42)]), "42");
    }

    #[test]
    fn a_key_of_the_wrong_shape_is_refused() {
        assert!(CALL.parse_key("x").is_err());
        assert!(ROOM_STAY.parse_key("[12,\"main\"]").is_err());
        assert!(ROOM_STAY.parse_key("[\"12\",\"main\",\"s\"]").is_err());
        assert!(SIGNAL.parse_key("not json").is_err());
    }

    #[test]
    fn every_key_column_is_a_fact_column_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for class in ALL {
            assert!(names.insert(class.name), "{}", class.name);
            for column in class.key_columns {
                assert!(class.columns.iter().any(|(name, _)| name == column));
            }
            assert!(
                class.select_key().contains("ledger_school")
                    || class.base.contains("ledger_school")
            );
        }
        assert_eq!(by_name("finding").map(|class| class.name), Some("finding"));
        assert!(by_name(STATEMENT).is_none());
    }
}
