//! `report.html`: the pack as a person reads it, printable, self-contained (inline CSS, no
//! script, no outside resource), every value escaped by the template engine, times in the
//! school's timezone, and the call's timeline drawn as the console draws it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

use super::ledger_lines::LedgerLine;
use super::manifest::Manifest;
use crate::http::ui::calls::timeline::{Breach, PresenceRow, Span, Stay, TimelineInput};
use crate::policy::finding::Window;

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment
        .add_template("report.html", include_str!("report.html"))
        .expect("the report template compiles");
    environment
});

pub struct Input<'a> {
    pub manifest: &'a Manifest,
    pub records: &'a BTreeMap<&'static str, Vec<Value>>,
    pub clauses: &'a Value,
    pub lines: &'a [LedgerLine],
    pub timezone: Tz,
}

/// A row of a table: each cell as text.
#[derive(Debug, Serialize)]
struct Table {
    title: &'static str,
    headings: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct FindingView {
    id: String,
    title: String,
    rule: String,
    severity: String,
    status: String,
    summary: String,
    clause: String,
    occurred: String,
    windows: Vec<String>,
    history: Vec<Vec<String>>,
}

pub fn render(input: &Input) -> Result<String, minijinja::Error> {
    let tz = input.timezone;
    let local = |millis: Option<i64>| -> String {
        millis
            .and_then(DateTime::from_timestamp_millis)
            .map(|at| {
                at.with_timezone(&tz)
                    .format("%-d %b %Y, %H:%M:%S %Z")
                    .to_string()
            })
            .unwrap_or_else(|| "—".to_string())
    };
    let records = |class: &str| input.records.get(class).cloned().unwrap_or_default();
    let text = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let number = |value: &Value, field: &str| value.get(field).and_then(Value::as_i64);

    let calls = records("call");
    let call = calls.first();
    let call_facts: Vec<(&str, String)> = call
        .map(|call| {
            vec![
                ("Call (register id)", text(&call["id"])),
                ("Platform", text(&call["platform"])),
                ("Platform meeting id", text(&call["platform_meeting_id"])),
                ("Topic", text(&call["topic"])),
                ("Host (platform user)", text(&call["host_user_id"])),
                ("Started", local(number(call, "started_at"))),
                ("Ended", local(number(call, "ended_at"))),
                ("Attendance reconciled", text(&call["reconciliation"])),
                (
                    "Reconciliation problem",
                    text(&call["reconciliation_error"]),
                ),
            ]
        })
        .unwrap_or_default();

    let participants = records("participant");
    let participant_table = Table {
        title: "Participants",
        headings: vec![
            "Session",
            "Name shown",
            "Email",
            "Joined",
            "Left",
            "Source",
            "Identity basis",
        ],
        rows: participants
            .iter()
            .map(|person| {
                vec![
                    text(&person["id"]),
                    text(&person["display_name"]),
                    text(&person["email"]),
                    local(number(person, "joined_at")),
                    local(number(person, "left_at")),
                    text(&person["source"]),
                    text(&person["identity_basis"]),
                ]
            })
            .collect(),
    };
    let stays_table = Table {
        title: "Breakout room stays",
        headings: vec!["Room", "Session", "Joined", "Left"],
        rows: records("room_stay")
            .iter()
            .map(|stay| {
                vec![
                    text(&stay["room_key"]),
                    text(&stay["session_key"]),
                    local(number(stay, "joined_at")),
                    local(number(stay, "left_at")),
                ]
            })
            .collect(),
    };
    let signals_table = Table {
        title: "Signals seen during the call",
        headings: vec!["What", "When", "Source"],
        rows: records("signal")
            .iter()
            .map(|signal| {
                vec![
                    text(&signal["kind"]),
                    local(number(signal, "at")),
                    text(&signal["source_ref"]),
                ]
            })
            .collect(),
    };
    let settings_table = Table {
        title: "Meeting settings read from the platform",
        headings: vec![
            "Read",
            "Status",
            "Waiting room",
            "Authentication",
            "Auto-recording",
            "Chat",
            "Error",
        ],
        rows: records("settings")
            .iter()
            .map(|settings| {
                vec![
                    local(number(settings, "read_at")),
                    text(&settings["status"]),
                    text(&settings["waiting_room"]),
                    text(&settings["authentication"]),
                    text(&settings["auto_recording_enabled"]),
                    text(&settings["chat_enabled"]),
                    text(&settings["error"]),
                ]
            })
            .collect(),
    };
    let deliveries_table = Table {
        title: "Alerts sent",
        headings: vec![
            "Finding",
            "Round",
            "Level",
            "Channel",
            "Recipient",
            "Status",
            "Attempts",
            "Created",
            "Sent",
            "Skipped because",
        ],
        rows: records("alert_delivery")
            .iter()
            .map(|delivery| {
                vec![
                    text(&delivery["finding_id"]),
                    text(&delivery["alert_round"]),
                    text(&delivery["escalation_level"]),
                    text(&delivery["channel"]),
                    text(&delivery["recipient"]),
                    text(&delivery["status"]),
                    text(&delivery["attempts"]),
                    local(number(delivery, "created_at")),
                    local(number(delivery, "sent_at")),
                    text(&delivery["skipped_because"]),
                ]
            })
            .collect(),
    };
    let outcomes_table = Table {
        title: "Outcome recorded",
        headings: vec!["Written", "Outcome"],
        rows: records("outcome")
            .iter()
            .map(|outcome| {
                vec![
                    local(number(outcome, "written_at")),
                    text(&outcome["outcome"]),
                ]
            })
            .collect(),
    };

    let history = records("finding_change");
    let findings = records("finding");
    let windows_of = |finding: &Value| -> Vec<Window> {
        finding["windows"]
            .as_str()
            .and_then(|windows| serde_json::from_str(windows).ok())
            .unwrap_or_default()
    };
    let finding_views: Vec<FindingView> = findings
        .iter()
        .map(|finding| FindingView {
            id: text(&finding["id"]),
            title: text(&finding["title"]),
            rule: text(&finding["rule"]),
            severity: text(&finding["severity"]),
            status: text(&finding["status"]),
            summary: text(&finding["summary"]),
            clause: text(&finding["clause"]),
            occurred: local(number(finding, "occurred_at")),
            windows: windows_of(finding)
                .iter()
                .map(|window| {
                    let until = window
                        .until
                        .map(|until| local(Some(until.timestamp_millis())))
                        .unwrap_or_else(|| "still holding".into());
                    format!("{} to {until}", local(Some(window.from.timestamp_millis())))
                })
                .collect(),
            history: history
                .iter()
                .filter(|change| change["finding_id"] == finding["id"])
                .map(|change| {
                    vec![
                        text(&change["version"]),
                        local(number(change, "at")),
                        text(&change["change"]),
                        text(&change["actor"]),
                        text(&change["note"]),
                    ]
                })
                .collect(),
        })
        .collect();

    let timeline = timeline(call, &participants, &findings, tz, &windows_of).lay_out();
    let manifest = input.manifest;
    let made = local(Some(manifest.made_at.timestamp_millis()));
    let pack_lines = input
        .lines
        .iter()
        .filter(|line| line.content.is_some())
        .count();
    ENVIRONMENT.get_template("report.html")?.render(context! {
        manifest => manifest,
        made => made,
        call_facts => call_facts,
        timeline => timeline,
        tables => [participant_table, stays_table, signals_table, settings_table],
        findings => finding_views,
        deliveries => deliveries_table,
        outcomes => outcomes_table,
        clauses => input.clauses,
        entries => input.lines.len(),
        pack_lines => pack_lines,
        first_seq => input.lines.first().map(|line| line.seq),
    })
}

fn timeline(
    call: Option<&Value>,
    participants: &[Value],
    findings: &[Value],
    timezone: Tz,
    windows_of: &dyn Fn(&Value) -> Vec<Window>,
) -> TimelineInput {
    let at = |value: &Value, field: &str| {
        value
            .get(field)
            .and_then(Value::as_i64)
            .and_then(DateTime::from_timestamp_millis)
    };
    let started = call.and_then(|call| at(call, "started_at"));
    let ended = call.and_then(|call| at(call, "ended_at"));
    let mut last_seen: Option<DateTime<Utc>> = ended;
    for person in participants {
        for field in ["joined_at", "left_at"] {
            if let Some(time) = at(person, field) {
                last_seen = Some(last_seen.map_or(time, |seen| seen.max(time)));
            }
        }
    }
    let rows = participants
        .iter()
        .filter_map(|person| {
            let from = at(person, "joined_at")?;
            let left = at(person, "left_at");
            let until = left.or(last_seen).unwrap_or(from).max(from);
            let label = ["display_name", "email", "platform_user_id"]
                .iter()
                .find_map(|field| person[*field].as_str().filter(|name| !name.is_empty()))
                .map(str::to_string)
                .unwrap_or_else(|| format!("Session {}", person["id"]));
            Some(PresenceRow {
                label,
                role: person["identity_basis"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                stays: vec![Stay {
                    span: Span { from, until },
                    inferred: left.is_none(),
                }],
            })
        })
        .collect();
    let breaches = findings
        .iter()
        .flat_map(|finding| {
            windows_of(finding).into_iter().map(|window| Breach {
                span: Span {
                    from: window.from,
                    until: window
                        .until
                        .or(last_seen)
                        .unwrap_or(window.from)
                        .max(window.from),
                },
                title: finding["title"].as_str().unwrap_or_default().to_string(),
                finding_id: finding["id"].as_i64().unwrap_or_default(),
            })
        })
        .collect();
    TimelineInput {
        scheduled: None,
        actual: started.map(|from| Span {
            from,
            until: ended.or(last_seen).unwrap_or(from).max(from),
        }),
        school_hours: None,
        rows,
        breaches,
        timezone: Some(timezone),
    }
}
