//! Brings the ledger up to date with the records the triggers noted: claims a batch of
//! pending keys, reads each record as it now stands, and appends an entry for each that is
//! new, changed, removed or purged since its last entry. A record written again before the
//! sync is chained once, as it then stands; one whose facts did not change is not chained.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::append::{Appender, Change, NewEntry};
use super::chain::content_hash;
use super::classes::{self, KeyValue, Record, RecordClass};
use crate::db::marks::marks;
use crate::db::{Backend, IDS_PER_QUERY};

/// A key the triggers noted.
#[derive(Debug, Clone)]
struct Pending {
    class: &'static RecordClass,
    key: String,
    values: Vec<KeyValue>,
    purge: bool,
}

fn claim_sql(backend: Backend, limit: usize) -> String {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "DELETE FROM ledger_pending WHERE (record_class, record_key) IN \
         (SELECT record_class, record_key FROM ledger_pending LIMIT {limit}{lock}) \
         RETURNING record_class, record_key, purge"
    )
}

/// Chains up to `limit` noted records in the caller's transaction; answers how many keys it
/// took (0: nothing was pending).
pub async fn sync_pending(
    connection: &mut AnyConnection,
    backend: Backend,
    limit: usize,
    at: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let rows = sqlx::query(&claim_sql(backend, limit))
        .fetch_all(&mut *connection)
        .await?;
    let mut pending = Vec::with_capacity(rows.len());
    for row in &rows {
        let class_name: String = row.try_get("record_class")?;
        let key: String = row.try_get("record_key")?;
        let purge = row.try_get::<i64, _>("purge")? != 0;
        let Some(class) = classes::by_name(&class_name) else {
            tracing::warn!(record_class = %class_name, "a noted record of no known class was dropped");
            continue;
        };
        match class.parse_key(&key) {
            Ok(values) => pending.push(Pending {
                class,
                key: class.canonical_key(&values),
                values,
                purge,
            }),
            Err(error) => {
                tracing::warn!(record_class = class.name, %error, "a noted record was dropped")
            }
        }
    }
    chain_records(connection, backend, &pending, at).await?;
    Ok(rows.len())
}

/// What one pending key comes to.
struct Planned<'a> {
    school_id: i64,
    class: &'static str,
    key: &'a str,
    change: Change,
    content: Option<String>,
}

async fn chain_records(
    connection: &mut AnyConnection,
    backend: Backend,
    pending: &[Pending],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut planned: Vec<Planned> = Vec::new();
    // What a removed or purged record was last chained with.
    let ended = content_hash(super::append::NO_CONTENT);
    for class in classes::ALL {
        let of_class: Vec<&Pending> = pending
            .iter()
            .filter(|noted| noted.class.name == class.name)
            .collect();
        if of_class.is_empty() {
            continue;
        }
        let current = read_current(connection, backend, class, &of_class).await?;
        let last = last_recorded(connection, backend, class, &of_class).await?;
        for noted in of_class {
            match current.get(noted.key.as_str()) {
                Some(record) => {
                    let hash = content_hash(&record.content);
                    let change = match last.get(&(record.school_id, noted.key.clone())) {
                        None => Change::Recorded,
                        Some(previous) if *previous == hash => continue,
                        Some(_) => Change::Changed,
                    };
                    planned.push(Planned {
                        school_id: record.school_id,
                        class: class.name,
                        key: &noted.key,
                        change,
                        content: Some(record.content.clone()),
                    });
                }
                None => {
                    // Gone: a removal in each chain that holds it, unless already ended there.
                    for ((school_id, key), previous) in &last {
                        if key != &noted.key || *previous == ended {
                            continue;
                        }
                        planned.push(Planned {
                            school_id: *school_id,
                            class: class.name,
                            key: &noted.key,
                            change: if noted.purge {
                                Change::Purged
                            } else {
                                Change::Removed
                            },
                            content: None,
                        });
                    }
                }
            }
        }
    }
    if planned.is_empty() {
        return Ok(());
    }
    // Heads are locked in school order, so two instances' syncs never wait on each other in
    // a cycle.
    planned.sort_by_key(|entry| entry.school_id);
    let mut appender = Appender::new(backend, at);
    for entry in &planned {
        appender
            .append(
                connection,
                &NewEntry {
                    school_id: entry.school_id,
                    record_class: entry.class,
                    record_key: entry.key,
                    change: entry.change,
                    content: entry.content.as_deref(),
                },
            )
            .await?;
    }
    appender.finish(connection).await
}

/// The records as they now stand, by canonical key.
async fn read_current(
    connection: &mut AnyConnection,
    backend: Backend,
    class: &'static RecordClass,
    noted: &[&Pending],
) -> Result<HashMap<String, Record>, sqlx::Error> {
    let mut found = HashMap::new();
    let single_id = class.key_columns.len() == 1
        && noted
            .iter()
            .all(|pending| matches!(pending.values.as_slice(), [KeyValue::Integer(_)]));
    if single_id {
        for chunk in noted.chunks(IDS_PER_QUERY) {
            let sql = class.select_in(backend, class.key_columns[0], chunk.len());
            let mut query = sqlx::query(&sql);
            for pending in chunk {
                if let [KeyValue::Integer(id)] = pending.values.as_slice() {
                    query = query.bind(*id);
                }
            }
            for row in query.fetch_all(&mut *connection).await? {
                let record = class.read(&row)?;
                found.insert(record.key.clone(), record);
            }
        }
        return Ok(found);
    }
    let sql = class.select_key();
    for pending in noted {
        let mut query = sqlx::query(&sql);
        for value in &pending.values {
            query = match value {
                KeyValue::Integer(number) => query.bind(*number),
                KeyValue::Text(text) => query.bind(text.as_str()),
            };
        }
        if let Some(row) = query.fetch_optional(&mut *connection).await? {
            let record = class.read(&row)?;
            found.insert(record.key.clone(), record);
        }
    }
    Ok(found)
}

/// The content hash each noted record was last chained with, by (school, key).
async fn last_recorded(
    connection: &mut AnyConnection,
    backend: Backend,
    class: &'static RecordClass,
    noted: &[&Pending],
) -> Result<HashMap<(i64, String), String>, sqlx::Error> {
    let mut last = HashMap::new();
    for chunk in noted.chunks(IDS_PER_QUERY) {
        let sql = format!(
            "SELECT school_id, record_key, content_hash FROM ledger_records \
             WHERE record_class = {} AND record_key IN ({})",
            marks(backend, 1, 1),
            marks(backend, 2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(class.name);
        for pending in chunk {
            query = query.bind(pending.key.as_str());
        }
        for row in query.fetch_all(&mut *connection).await? {
            last.insert(
                (row.try_get("school_id")?, row.try_get("record_key")?),
                row.try_get("content_hash")?,
            );
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_claims_past_other_instances_and_sqlite_takes_the_write_lock() {
        assert!(claim_sql(Backend::Postgres, 10).contains("FOR UPDATE SKIP LOCKED"));
        assert!(claim_sql(Backend::Sqlite, 10).starts_with("DELETE FROM ledger_pending"));
        assert!(claim_sql(Backend::Sqlite, 10).contains("LIMIT 10"));
    }
}
