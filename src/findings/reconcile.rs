//! Turns one evaluation of one meeting into changes to its stored findings.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{reason_closed, record_history, Status, ENGINE_ACTOR};
use crate::db::time::to_millis;
use crate::policy::finding::{Finding, Scope};
use crate::policy::Severity;

/// The meeting an evaluation was about. An evaluation of a call owns the call's findings; an
/// evaluation of a schedule owns the schedule's.
#[derive(Debug, Clone, Copy)]
pub struct EvaluatedScope {
    pub school_id: i64,
    pub scheduled_meeting_id: Option<i64>,
    pub meeting_instance_id: Option<i64>,
    pub platform_account_id: Option<i64>,
}

impl EvaluatedScope {
    fn owned(&self) -> (Scope, i64) {
        match (
            self.meeting_instance_id,
            self.scheduled_meeting_id,
            self.platform_account_id,
        ) {
            (Some(instance), _, _) => (Scope::Instance, instance),
            (None, Some(scheduled), _) => (Scope::Scheduled, scheduled),
            (None, None, Some(account)) => (Scope::Account, account),
            (None, None, None) => {
                unreachable!("an evaluation is about a schedule, a call or an account")
            }
        }
    }

    fn key(&self, finding: &Finding) -> String {
        let (scope, id) = self.owned();
        format!(
            "{}:{id}/{}/{}",
            scope_name(scope),
            finding.rule.as_str(),
            finding.subject
        )
    }
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Instance => "instance",
        Scope::Scheduled => "scheduled",
        Scope::Account => "account",
    }
}

/// A finding that was opened (or re-opened) and must be alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub finding_id: i64,
    pub school_id: i64,
    pub severity: Severity,
    pub alert_round: i64,
}

/// A finding the engine resolved because it no longer finds it: those who were alerted are
/// told it closed, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub finding_id: i64,
    pub alert_round: i64,
}

/// What one evaluation changed that the alert outbox acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub opened: Vec<Opened>,
    pub closed: Vec<Closed>,
}

struct Stored {
    id: i64,
    rule: String,
    status: String,
    resolved_by: Option<String>,
    version: i64,
    alert_round: i64,
    severity: String,
    summary: String,
    people: String,
    windows: String,
}

pub async fn apply_evaluation(
    connection: &mut AnyConnection,
    scope: &EvaluatedScope,
    findings: &[Finding],
    now: DateTime<Utc>,
) -> Result<Applied, sqlx::Error> {
    let (owned_scope, owned_id) = scope.owned();
    let column = match owned_scope {
        Scope::Instance => "meeting_instance_id",
        Scope::Scheduled => "scheduled_meeting_id",
        Scope::Account => "platform_account_id",
    };
    let scope_name = scope_name(owned_scope);
    let rows = sqlx::query(&format!(
        "SELECT id, finding_key, rule, status, resolved_by, version, alert_round, severity, summary, people, windows \
         FROM findings WHERE {column} = $1 AND scope = $2"
    ))
    .bind(owned_id)
    .bind(scope_name)
    .fetch_all(&mut *connection)
    .await?;
    let mut stored: HashMap<String, Stored> = HashMap::new();
    for row in rows {
        stored.insert(
            row.try_get("finding_key")?,
            Stored {
                id: row.try_get("id")?,
                rule: row.try_get("rule")?,
                status: row.try_get("status")?,
                resolved_by: row.try_get("resolved_by")?,
                version: row.try_get("version")?,
                alert_round: row.try_get("alert_round")?,
                severity: row.try_get("severity")?,
                summary: row.try_get("summary")?,
                people: row.try_get("people")?,
                windows: row.try_get("windows")?,
            },
        );
    }

    let mut opened = Vec::new();
    for finding in findings.iter().filter(|f| f.scope == owned_scope) {
        let key = scope.key(finding);
        let people = serde_json::to_string(&finding.people).expect("people serialise");
        let windows = serde_json::to_string(&finding.windows).expect("windows serialise");
        let written = Written {
            people: &people,
            windows: &windows,
        };
        match stored.remove(&key) {
            None => {
                let id = insert(connection, scope, finding, &key, written, now).await?;
                record_history(connection, id, 1, now, "opened", ENGINE_ACTOR, None).await?;
                opened.push(Opened {
                    finding_id: id,
                    school_id: scope.school_id,
                    severity: finding.severity,
                    alert_round: 0,
                });
            }
            Some(existing) if existing.status == Status::Resolved.as_str() => {
                // Resolved by the engine and found again: the problem is back. Resolved by
                // a person: their decision stands.
                if existing.resolved_by.as_deref() == Some(ENGINE_ACTOR) {
                    let version = existing.version + 1;
                    let round = existing.alert_round + 1;
                    update(
                        connection,
                        existing.id,
                        finding,
                        written,
                        version,
                        now,
                        Some(round),
                    )
                    .await?;
                    record_history(
                        connection,
                        existing.id,
                        version,
                        now,
                        "reopened",
                        ENGINE_ACTOR,
                        None,
                    )
                    .await?;
                    opened.push(Opened {
                        finding_id: existing.id,
                        school_id: scope.school_id,
                        severity: finding.severity,
                        alert_round: round,
                    });
                }
            }
            Some(existing) => {
                let changed = existing.summary != finding.summary
                    || existing.severity != finding.severity.as_str()
                    || existing.people != people
                    || existing.windows != windows;
                if changed {
                    let version = existing.version + 1;
                    update(
                        connection,
                        existing.id,
                        finding,
                        written,
                        version,
                        now,
                        None,
                    )
                    .await?;
                    record_history(
                        connection,
                        existing.id,
                        version,
                        now,
                        "updated",
                        ENGINE_ACTOR,
                        None,
                    )
                    .await?;
                }
            }
        }
    }
    // What the engine no longer finds resolves itself, saying why.
    let mut closed = Vec::new();
    for existing in stored.into_values() {
        if existing.status == Status::Resolved.as_str() {
            continue;
        }
        let reason = reason_closed(&existing.rule);
        let version = existing.version + 1;
        sqlx::query(
            "UPDATE findings SET status = 'resolved', resolved_at = $1, resolved_by = $2, \
             resolution_note = $3, version = $4, updated_at = $1 WHERE id = $5",
        )
        .bind(to_millis(now))
        .bind(ENGINE_ACTOR)
        .bind(reason)
        .bind(version)
        .bind(existing.id)
        .execute(&mut *connection)
        .await?;
        record_history(
            connection,
            existing.id,
            version,
            now,
            "resolved",
            ENGINE_ACTOR,
            Some(reason),
        )
        .await?;
        closed.push(Closed {
            finding_id: existing.id,
            alert_round: existing.alert_round,
        });
    }
    Ok(Applied { opened, closed })
}

/// A finding's people and windows, as stored (JSON).
#[derive(Clone, Copy)]
struct Written<'a> {
    people: &'a str,
    windows: &'a str,
}

async fn insert(
    connection: &mut AnyConnection,
    scope: &EvaluatedScope,
    finding: &Finding,
    key: &str,
    written: Written<'_>,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO findings (school_id, finding_key, rule, scope, scheduled_meeting_id, meeting_instance_id, \
           subject, severity, status, title, summary, clause, people, occurred_at, opened_at, updated_at, version, \
           platform_account_id, windows) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14, $14, 1, $15, $16) RETURNING id",
    )
    .bind(scope.school_id)
    .bind(key)
    .bind(finding.rule.as_str())
    .bind(scope_name(finding.scope))
    .bind(scope.scheduled_meeting_id)
    .bind(scope.meeting_instance_id)
    .bind(&finding.subject)
    .bind(finding.severity.as_str())
    .bind(&finding.title)
    .bind(&finding.summary)
    .bind(&finding.clause)
    .bind(written.people)
    .bind(to_millis(finding.occurred_at))
    .bind(to_millis(now))
    .bind(scope.platform_account_id)
    .bind(written.windows)
    .fetch_one(&mut *connection)
    .await?;
    row.try_get("id")
}

/// Rewrites what the engine found; with `reopen_round`, also opens the finding again.
async fn update(
    connection: &mut AnyConnection,
    id: i64,
    finding: &Finding,
    written: Written<'_>,
    version: i64,
    now: DateTime<Utc>,
    reopen_round: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE findings SET severity = $1, title = $2, summary = $3, people = $4, occurred_at = $5, \
           version = $6, updated_at = $7, windows = $9 WHERE id = $8",
    )
    .bind(finding.severity.as_str())
    .bind(&finding.title)
    .bind(&finding.summary)
    .bind(written.people)
    .bind(to_millis(finding.occurred_at))
    .bind(version)
    .bind(to_millis(now))
    .bind(id)
    .bind(written.windows)
    .execute(&mut *connection)
    .await?;
    if let Some(round) = reopen_round {
        sqlx::query(
            "UPDATE findings SET status = 'open', resolved_at = NULL, resolved_by = NULL, resolution_note = NULL, \
               acknowledged_at = NULL, acknowledged_by = NULL, alert_level = 0, alerted_at = NULL, escalate_at = NULL, alert_round = $1 \
             WHERE id = $2",
        )
        .bind(round)
        .bind(id)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}
