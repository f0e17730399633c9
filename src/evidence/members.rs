//! Which ledger records belong to a pack, and which file of the pack holds each class. Pure:
//! the collector and the verifier share it.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::ledger::classes::{self, KeyValue, RecordClass};

/// The record files of a pack, each holding the records of one class as a JSON array of
/// their contents.
pub const RECORD_FILES: [(&str, &RecordClass); 9] = [
    ("call.json", &classes::CALL),
    ("participants.json", &classes::PARTICIPANT),
    ("breakout_stays.json", &classes::ROOM_STAY),
    ("signals.json", &classes::SIGNAL),
    ("settings.json", &classes::SETTINGS),
    ("findings.json", &classes::FINDING),
    ("finding_history.json", &classes::FINDING_CHANGE),
    ("alert_deliveries.json", &classes::ALERT_DELIVERY),
    ("outcomes.json", &classes::OUTCOME),
];

/// The file that holds records of class `name`.
pub fn file_of(name: &str) -> Option<&'static str> {
    RECORD_FILES
        .iter()
        .find(|(_, class)| class.name == name)
        .map(|(file, _)| *file)
}

/// The canonical key of a record from its content, as the ledger keys it.
pub fn key_of(class: &RecordClass, content: &Value) -> Option<String> {
    let values = class
        .key_columns
        .iter()
        .map(|column| match content.get(*column)? {
            Value::Number(number) => number.as_i64().map(KeyValue::Integer),
            Value::String(text) => Some(KeyValue::Text(text.clone())),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(class.canonical_key(&values))
}

/// What a pack is about: the call, the findings shown, and the settings key of the meeting.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    pub call_id: Option<i64>,
    /// The canonical `settings` key of the call's (or schedule's) meeting.
    pub settings_key: Option<String>,
    pub finding_ids: BTreeSet<i64>,
    /// Records known to belong: (class, canonical key). Grows as entries are claimed, so that
    /// a removal (which carries no content) follows its record.
    pub keys: HashSet<(String, String)>,
}

impl Membership {
    /// Whether the entry of `class` `key`, with `content`, is about the pack's records.
    pub fn claims(&mut self, class: &str, key: &str, content: Option<&str>) -> bool {
        let id = (class.to_string(), key.to_string());
        if self.keys.contains(&id) {
            return true;
        }
        let Some(record_class) = classes::by_name(class) else {
            return false;
        };
        let content: Option<Value> = content.and_then(|text| serde_json::from_str(text).ok());
        let number = |field: &str| content.as_ref()?.get(field)?.as_i64();
        let claimed = match class {
            "call" => key.parse().ok() == self.call_id && self.call_id.is_some(),
            "settings" => self.settings_key.as_deref() == Some(key),
            "finding" => key
                .parse::<i64>()
                .is_ok_and(|id| self.finding_ids.contains(&id)),
            "finding_change" | "alert_delivery" => {
                number("finding_id").is_some_and(|id| self.finding_ids.contains(&id))
            }
            _ => match record_class.call_column {
                Some(column) => self.call_id.is_some() && number(column) == self.call_id,
                None => false,
            },
        };
        if claimed {
            self.keys.insert(id);
        }
        claimed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership() -> Membership {
        Membership {
            call_id: Some(12),
            settings_key: Some(r#"["zoom","851"]"#.into()),
            finding_ids: [40].into(),
            keys: HashSet::new(),
        }
    }

    #[test]
    fn the_calls_records_and_the_shown_findings_belong_and_others_do_not() {
        let mut pack = membership();
        assert!(pack.claims("call", "12", Some("{}")));
        assert!(!pack.claims("call", "13", Some("{}")));
        assert!(pack.claims("participant", "5", Some(r#"{"id":5,"instance_id":12}"#)));
        assert!(!pack.claims("participant", "6", Some(r#"{"id":6,"instance_id":13}"#)));
        assert!(pack.claims("settings", r#"["zoom","851"]"#, Some("{}")));
        assert!(pack.claims("finding", "40", Some("{}")));
        assert!(!pack.claims("finding", "41", Some(r#"{"meeting_instance_id":12}"#)));
        assert!(pack.claims("finding_change", "[40,1]", Some(r#"{"finding_id":40}"#)));
        assert!(!pack.claims("alert_delivery", "9", Some(r#"{"finding_id":41}"#)));
        assert!(!pack.claims("statement", "2026-01-01", Some("{}")));
    }

    #[test]
    fn a_removal_follows_its_record_though_it_says_nothing() {
        let mut pack = membership();
        assert!(!pack.claims("participant", "5", Some("null")));
        assert!(pack.claims("participant", "5", Some(r#"{"instance_id":12}"#)));
        assert!(pack.claims("participant", "5", Some("null")));
        assert!(pack.claims("participant", "5", None));
    }

    #[test]
    fn keys_come_from_contents_as_the_ledger_makes_them() {
        let stay: Value =
            serde_json::from_str(r#"{"instance_id":12,"room_key":"main","stay_key":"s-1"}"#)
                .unwrap();
        assert_eq!(
            key_of(&classes::ROOM_STAY, &stay).as_deref(),
            Some(r#"[12,"main","s-1"]"#)
        );
        assert_eq!(
            key_of(&classes::CALL, &serde_json::json!({"id": 3})).as_deref(),
            Some("3")
        );
        assert_eq!(key_of(&classes::CALL, &serde_json::json!({})), None);
        assert_eq!(file_of("room_stay"), Some("breakout_stays.json"));
    }
}
