//! The purge: for each school, what has outlived its period is removed in batches, each in a
//! short transaction of its own, dependents before what they refer to. Each record the
//! ledger covers is marked for a tombstone before it is deleted, and each batch adds its
//! count to the run's line in `retention_purges`, in the same transaction: a purge that stops
//! half-way has recorded exactly what it removed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::periods::{cutoffs, Cutoffs};
use crate::db::time::to_millis;
use crate::db::{Backend, Db};
use crate::directory::settings as school_settings;
use crate::ledger::classes::{self, RecordClass};
use crate::ledger::{self, Change, NewEntry};

/// Records taken per transaction: enough to get through years of calls in a few passes,
/// few enough that the webhooks' writes never wait long behind one.
const BATCH: usize = 200;
/// Raw events are single rows with nothing depending on them: more go per transaction.
const INBOX_BATCH: usize = 1000;

/// What one school's purge removed of one class, and the cutoff it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub school_id: i64,
    /// `inbox`, or a ledger class (`call`, `participant`, `finding`, ...), or `registrant`.
    pub record_class: &'static str,
    pub purged: u64,
    pub older_than: DateTime<Utc>,
}

/// What a purge removed, per school and class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub purged: Vec<Purged>,
}

impl PurgeReport {
    /// Records removed in all.
    pub fn total(&self) -> u64 {
        self.purged.iter().map(|purged| purged.purged).sum()
    }

    /// Records of `record_class` removed at `school_id`.
    pub fn count(&self, school_id: i64, record_class: &str) -> u64 {
        self.purged
            .iter()
            .filter(|purged| purged.school_id == school_id && purged.record_class == record_class)
            .map(|purged| purged.purged)
            .sum()
    }
}

/// Purges, at every school, what its retention says is due at `now`; raw events of a school
/// that set no period for them are kept `inbox_default_days` (the instance's setting).
pub async fn purge_due(
    db: &Db,
    now: DateTime<Utc>,
    inbox_default_days: u32,
) -> Result<PurgeReport, sqlx::Error> {
    let schools: Vec<i64> = sqlx::query("SELECT id FROM schools ORDER BY id")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut report = PurgeReport::default();
    for school_id in schools {
        report
            .purged
            .extend(purge_school(db, school_id, now, inbox_default_days).await?);
    }
    Ok(report)
}

/// The stages of a school's purge, in the order that keeps every reference sound: what refers
/// to a record goes before it, and a record freed by an earlier stage can go in a later one.
#[derive(Debug, Clone, Copy)]
enum Stage {
    AlertDeliveries,
    Findings,
    Outcomes,
    Calls,
    Inbox,
}

/// Purges what is due at one school.
pub async fn purge_school(
    db: &Db,
    school_id: i64,
    now: DateTime<Utc>,
    inbox_default_days: u32,
) -> Result<Vec<Purged>, sqlx::Error> {
    let settings = {
        let mut connection = db.pool.acquire().await?;
        school_settings::load(&mut connection, school_id).await?
    };
    let due = cutoffs(&settings.retention.periods(inbox_default_days), now);
    let mut run = Run {
        school_id,
        now,
        backend: db.backend,
        lines: BTreeMap::new(),
    };
    for stage in [
        Stage::AlertDeliveries,
        Stage::Findings,
        Stage::Outcomes,
        Stage::Calls,
        Stage::Inbox,
    ] {
        loop {
            db.yield_to_ingestion().await;
            let mut tx = db.pool.begin().await?;
            let (taken, batch) = run.stage(&mut tx, stage, &due).await?;
            if taken == 0 {
                tx.rollback().await?;
                break;
            }
            tx.commit().await?;
            if taken < batch {
                break;
            }
        }
    }
    let purged: Vec<Purged> = run
        .lines
        .into_iter()
        .map(|((record_class, older_than), line)| Purged {
            school_id,
            record_class,
            purged: line.purged,
            older_than: crate::db::time::from_millis(older_than),
        })
        .collect();
    for line in &purged {
        tracing::info!(
            school_id,
            record_class = line.record_class,
            purged = line.purged,
            "purged by retention"
        );
    }
    Ok(purged)
}

/// A value bound to a statement.
#[derive(Debug, Clone)]
enum Bind {
    Integer(i64),
    Text(String),
}

/// One line of `retention_purges` this run has written, and its count so far.
struct Line {
    id: i64,
    purged: u64,
}

/// One school's purge under way.
struct Run {
    school_id: i64,
    now: DateTime<Utc>,
    backend: Backend,
    /// By class and cutoff (ms).
    lines: BTreeMap<(&'static str, i64), Line>,
}

impl Run {
    /// Works one batch of `stage`; answers how many records it took and the batch size.
    async fn stage(
        &mut self,
        connection: &mut AnyConnection,
        stage: Stage,
        due: &Cutoffs,
    ) -> Result<(usize, usize), sqlx::Error> {
        Ok(match stage {
            Stage::AlertDeliveries => (self.alert_deliveries(connection, due).await?, BATCH),
            Stage::Findings => (self.findings(connection, due).await?, BATCH),
            Stage::Outcomes => (self.outcomes(connection, due).await?, BATCH),
            Stage::Calls => (self.calls(connection, due).await?, BATCH),
            Stage::Inbox => (self.inbox(connection, due).await?, INBOX_BATCH),
        })
    }

    /// Deliveries past their own period, once sent or given up, whose finding (if any) is
    /// resolved: an open finding's alerts are still at work.
    async fn alert_deliveries(
        &mut self,
        connection: &mut AnyConnection,
        due: &Cutoffs,
    ) -> Result<usize, sqlx::Error> {
        let ids = self
            .due_ids(
                connection,
                "SELECT d.id FROM alert_deliveries d WHERE d.school_id = $1 AND d.created_at < $2 \
                 AND d.status <> 'pending' AND (d.finding_id IS NULL OR EXISTS \
                   (SELECT 1 FROM findings f WHERE f.id = d.finding_id AND f.status = 'resolved')) \
                 ORDER BY d.id",
                due.alert_deliveries,
            )
            .await?;
        let purged = self
            .remove(
                connection,
                "alert_deliveries",
                Some(&classes::ALERT_DELIVERY),
                &in_ids("id", &ids),
            )
            .await?;
        self.count(connection, "alert_delivery", purged, due.alert_deliveries)
            .await?;
        Ok(ids.len())
    }

    /// Resolved findings past their period, with their history and whatever deliveries
    /// are left of them.
    async fn findings(
        &mut self,
        connection: &mut AnyConnection,
        due: &Cutoffs,
    ) -> Result<usize, sqlx::Error> {
        let ids = self
            .due_ids(
                connection,
                "SELECT f.id FROM findings f WHERE f.school_id = $1 AND f.status = 'resolved' \
                 AND f.resolved_at < $2 ORDER BY f.id",
                due.findings,
            )
            .await?;
        let of_findings = in_ids("finding_id", &ids);
        let deliveries = self
            .remove(
                connection,
                "alert_deliveries",
                Some(&classes::ALERT_DELIVERY),
                &of_findings,
            )
            .await?;
        self.count(connection, "alert_delivery", deliveries, due.findings)
            .await?;
        let history = self
            .remove(
                connection,
                "finding_history",
                Some(&classes::FINDING_CHANGE),
                &of_findings,
            )
            .await?;
        self.count(connection, "finding_change", history, due.findings)
            .await?;
        let findings = self
            .remove(
                connection,
                "findings",
                Some(&classes::FINDING),
                &in_ids("id", &ids),
            )
            .await?;
        self.count(connection, "finding", findings, due.findings)
            .await?;
        Ok(ids.len())
    }

    async fn outcomes(
        &mut self,
        connection: &mut AnyConnection,
        due: &Cutoffs,
    ) -> Result<usize, sqlx::Error> {
        let ids = self
            .due_ids(
                connection,
                "SELECT o.id FROM session_outcomes o WHERE o.school_id = $1 AND o.written_at < $2 \
                 ORDER BY o.id",
                due.outcomes,
            )
            .await?;
        let purged = self
            .remove(
                connection,
                "session_outcomes",
                Some(&classes::OUTCOME),
                &in_ids("id", &ids),
            )
            .await?;
        self.count(connection, "outcome", purged, due.outcomes)
            .await?;
        Ok(ids.len())
    }

    /// Calls past the register's period that no kept finding or outcome refers to, with
    /// their participants, breakout stays and signals, the work still queued about them,
    /// and the settings and registrants read for their meeting once no call or schedule of
    /// it is left.
    async fn calls(
        &mut self,
        connection: &mut AnyConnection,
        due: &Cutoffs,
    ) -> Result<usize, sqlx::Error> {
        let ids = self
            .due_ids(
                connection,
                "SELECT m.id FROM meeting_instances m WHERE m.school_id = $1 \
                 AND COALESCE(m.ended_at, m.started_at, m.start_hint, m.first_seen_at) < $2 \
                 AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.meeting_instance_id = m.id) \
                 AND NOT EXISTS (SELECT 1 FROM session_outcomes o WHERE o.meeting_instance_id = m.id) \
                 ORDER BY m.id",
                due.register,
            )
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let meetings = meetings_of(connection, &ids).await?;
        let of_calls = in_ids("instance_id", &ids);
        let queued = in_ids("scope_id", &ids);
        execute(
            connection,
            &format!(
                "DELETE FROM evaluation_queue WHERE scope = 'instance' AND {}",
                queued.0
            ),
            &queued.1,
        )
        .await?;
        execute(
            connection,
            &format!("DELETE FROM enrichment_jobs WHERE {}", of_calls.0),
            &of_calls.1,
        )
        .await?;
        for (table, class) in [
            ("room_stays", &classes::ROOM_STAY),
            ("instance_signals", &classes::SIGNAL),
            ("participant_sessions", &classes::PARTICIPANT),
        ] {
            let purged = self
                .remove(connection, table, Some(class), &of_calls)
                .await?;
            self.count(connection, class.name, purged, due.register)
                .await?;
        }
        let calls = self
            .remove(
                connection,
                "meeting_instances",
                Some(&classes::CALL),
                &in_ids("id", &ids),
            )
            .await?;
        self.count(connection, "call", calls, due.register).await?;
        for (platform, meeting_id) in meetings {
            self.meeting_read(connection, &platform, &meeting_id, due)
                .await?;
        }
        Ok(ids.len())
    }

    /// A meeting's settings and registrants as read from the platform, once nothing they
    /// were read for is kept.
    async fn meeting_read(
        &mut self,
        connection: &mut AnyConnection,
        platform: &str,
        meeting_id: &str,
        due: &Cutoffs,
    ) -> Result<(), sqlx::Error> {
        let still_held = sqlx::query(
            "SELECT 1 AS held FROM meeting_instances WHERE platform = $1 AND platform_meeting_id = $2 \
             UNION ALL SELECT 1 AS held FROM scheduled_meetings WHERE platform = $1 AND platform_meeting_id = $2",
        )
        .bind(platform)
        .bind(meeting_id)
        .fetch_optional(&mut *connection)
        .await?;
        if still_held.is_some() {
            return Ok(());
        }
        let of_meeting = (
            "platform = $1 AND platform_meeting_id = $2".to_string(),
            vec![
                Bind::Text(platform.to_string()),
                Bind::Text(meeting_id.to_string()),
            ],
        );
        let settings = self
            .remove(
                connection,
                "meeting_settings",
                Some(&classes::SETTINGS),
                &of_meeting,
            )
            .await?;
        self.count(connection, "settings", settings, due.register)
            .await?;
        let registrants = self
            .remove(connection, "meeting_registrants", None, &of_meeting)
            .await?;
        self.count(connection, "registrant", registrants, due.register)
            .await
    }

    /// Raw events applied and past their period (never one still to apply, nor one set
    /// aside as failed): the ledger does not hold them, so the batch states itself there.
    async fn inbox(
        &mut self,
        connection: &mut AnyConnection,
        due: &Cutoffs,
    ) -> Result<usize, sqlx::Error> {
        let purged = sqlx::query(&format!(
            "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE school_id = $1 \
             AND processed_at IS NOT NULL AND received_at < $2 ORDER BY id LIMIT {INBOX_BATCH})"
        ))
        .bind(self.school_id)
        .bind(to_millis(due.inbox))
        .execute(&mut *connection)
        .await?
        .rows_affected();
        if purged == 0 {
            return Ok(0);
        }
        let older_than = due.inbox.to_rfc3339_opts(SecondsFormat::Millis, true);
        let content = serde_json::json!({
            "record_class": "inbox",
            "purged": purged,
            "older_than": older_than,
        })
        .to_string();
        ledger::append_one(
            connection,
            self.backend,
            &NewEntry {
                school_id: self.school_id,
                record_class: classes::PURGE,
                record_key: &format!("inbox/{older_than}"),
                change: Change::Stated,
                content: Some(&content),
            },
            self.now,
        )
        .await?;
        self.count(connection, "inbox", purged, due.inbox).await?;
        Ok(purged as usize)
    }

    /// The ids the school's `select` (binding the school and the cutoff) finds, a batch at
    /// most; on PostgreSQL locked, so that two instances' purges take different rows.
    async fn due_ids(
        &self,
        connection: &mut AnyConnection,
        select: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        sqlx::query(&format!("{select} LIMIT {BATCH}{lock}"))
            .bind(self.school_id)
            .bind(to_millis(cutoff))
            .fetch_all(&mut *connection)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect()
    }

    /// Deletes the rows of `table` that `condition` names; a class the ledger covers is
    /// first marked, key by key as its triggers write it, so that its entry is a tombstone.
    async fn remove(
        &self,
        connection: &mut AnyConnection,
        table: &str,
        ledger_class: Option<&RecordClass>,
        (condition, binds): &(String, Vec<Bind>),
    ) -> Result<u64, sqlx::Error> {
        if binds.is_empty() {
            return Ok(0);
        }
        if let Some(class) = ledger_class {
            // Test alerts are about no finding, and not in the ledger.
            let covered = if class.name == classes::ALERT_DELIVERY.name {
                " AND finding_id IS NOT NULL"
            } else {
                ""
            };
            let mark = format!(
                "INSERT INTO ledger_pending (record_class, record_key, purge) \
                 SELECT '{}', {}, 1 FROM {table} WHERE {condition}{covered} \
                 ON CONFLICT (record_class, record_key) DO UPDATE SET purge = 1",
                class.name,
                trigger_key(self.backend, class)
            );
            execute(connection, &mark, binds).await?;
        }
        execute(
            connection,
            &format!("DELETE FROM {table} WHERE {condition}"),
            binds,
        )
        .await
    }

    /// Adds `purged` records of `record_class` to this run's line for it, in the caller's
    /// transaction.
    async fn count(
        &mut self,
        connection: &mut AnyConnection,
        record_class: &'static str,
        purged: u64,
        older_than: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if purged == 0 {
            return Ok(());
        }
        let older_than = to_millis(older_than);
        let added = i64::try_from(purged).unwrap_or(i64::MAX);
        match self.lines.get_mut(&(record_class, older_than)) {
            Some(line) => {
                sqlx::query("UPDATE retention_purges SET purged = purged + $1 WHERE id = $2")
                    .bind(added)
                    .bind(line.id)
                    .execute(&mut *connection)
                    .await?;
                line.purged += purged;
            }
            None => {
                let id: i64 = sqlx::query(
                    "INSERT INTO retention_purges (school_id, at, record_class, purged, older_than) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(self.school_id)
                .bind(to_millis(self.now))
                .bind(record_class)
                .bind(added)
                .bind(older_than)
                .fetch_one(&mut *connection)
                .await?
                .try_get("id")?;
                self.lines
                    .insert((record_class, older_than), Line { id, purged });
            }
        }
        Ok(())
    }
}

/// `column IN ($1, …)` over `ids`, with its binds.
fn in_ids(column: &str, ids: &[i64]) -> (String, Vec<Bind>) {
    let marks: Vec<String> = (1..=ids.len()).map(|index| format!("${index}")).collect();
    (
        format!("{column} IN ({})", marks.join(", ")),
        ids.iter().map(|id| Bind::Integer(*id)).collect(),
    )
}

/// A record's key as the migration's triggers write it: the decimal id, or a JSON array of
/// the key's columns (PostgreSQL's `json_build_array` spaces it, SQLite's `json_array` does
/// not). The keeper reads either; a mark must match the trigger's note byte for byte, so that
/// the two are one pending record.
fn trigger_key(backend: Backend, class: &RecordClass) -> String {
    match (class.key_columns, backend) {
        ([column], _) => format!("CAST({column} AS TEXT)"),
        (columns, Backend::Sqlite) => format!("json_array({})", columns.join(", ")),
        (columns, Backend::Postgres) => format!("json_build_array({})::text", columns.join(", ")),
    }
}

async fn execute(
    connection: &mut AnyConnection,
    sql: &str,
    binds: &[Bind],
) -> Result<u64, sqlx::Error> {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match bind {
            Bind::Integer(number) => query.bind(*number),
            Bind::Text(text) => query.bind(text.as_str()),
        };
    }
    Ok(query.execute(&mut *connection).await?.rows_affected())
}

/// The meetings (platform and meeting id) the calls `ids` were of.
async fn meetings_of(
    connection: &mut AnyConnection,
    ids: &[i64],
) -> Result<BTreeSet<(String, String)>, sqlx::Error> {
    let (condition, binds) = in_ids("id", ids);
    let sql = format!(
        "SELECT platform, platform_meeting_id FROM meeting_instances \
         WHERE {condition} AND platform_meeting_id IS NOT NULL"
    );
    let mut query = sqlx::query(&sql);
    for bind in &binds {
        if let Bind::Integer(id) = bind {
            query = query.bind(*id);
        }
    }
    query
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("platform")?,
                row.try_get("platform_meeting_id")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_write_keys_as_the_triggers_do_on_each_backend() {
        assert_eq!(
            trigger_key(Backend::Sqlite, &classes::CALL),
            "CAST(id AS TEXT)"
        );
        assert_eq!(
            trigger_key(Backend::Sqlite, &classes::ROOM_STAY),
            "json_array(instance_id, room_key, stay_key)"
        );
        assert_eq!(
            trigger_key(Backend::Postgres, &classes::SETTINGS),
            "json_build_array(platform, platform_meeting_id)::text"
        );
    }

    #[test]
    fn a_batch_names_its_ids_one_mark_each() {
        let (condition, binds) = in_ids("instance_id", &[4, 9]);
        assert_eq!(condition, "instance_id IN ($1, $2)");
        assert_eq!(binds.len(), 2);
    }

    #[test]
    fn a_report_counts_by_school_and_class() {
        let at = Utc::now();
        let line = |school_id, record_class, purged| Purged {
            school_id,
            record_class,
            purged,
            older_than: at,
        };
        let report = PurgeReport {
            purged: vec![line(1, "call", 2), line(1, "call", 1), line(2, "inbox", 5)],
        };
        assert_eq!(report.count(1, "call"), 3);
        assert_eq!(report.count(2, "call"), 0);
        assert_eq!(report.total(), 8);
    }
}
