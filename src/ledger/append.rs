//! Appending to a school's chain, in the caller's transaction. Each school's head is taken
//! once per transaction and locked until it ends (on PostgreSQL the row lock queues every
//! other appender to that school; on SQLite the statement is a write, so the transaction holds
//! the write lock), then moved once when the caller is done.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::chain::{content_hash, EntryFields, GENESIS_HASH};
use crate::db::marks::row_marks;
use crate::db::time::to_millis;
use crate::db::Backend;

/// What an entry says happened to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// First seen.
    Recorded,
    /// Its facts changed since its last entry.
    Changed,
    /// Gone from its table other than by retention.
    Removed,
    /// Removed by retention: a tombstone; earlier entries' content is emptied with it.
    Purged,
    /// A statement chaperone makes about a day (completeness) or a purge of raw events.
    Stated,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Recorded => "recorded",
            Change::Changed => "changed",
            Change::Removed => "removed",
            Change::Purged => "purged",
            Change::Stated => "stated",
        }
    }

    pub fn parse(text: &str) -> Option<Change> {
        [
            Change::Recorded,
            Change::Changed,
            Change::Removed,
            Change::Purged,
            Change::Stated,
        ]
        .into_iter()
        .find(|change| change.as_str() == text)
    }

    /// Whether the record no longer exists after this entry.
    pub fn ends_record(self) -> bool {
        matches!(self, Change::Removed | Change::Purged)
    }
}

/// The content a removal or purge is chained with.
pub const NO_CONTENT: &str = "null";

/// One entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub school_id: i64,
    pub record_class: &'a str,
    pub record_key: &'a str,
    pub change: Change,
    /// The record's canonical content; none for a removal or purge.
    pub content: Option<&'a str>,
}

/// Rows written per INSERT: ten parameters a row keeps a statement well inside both
/// backends' limits, and one statement for many rows is what makes chaining cheap.
const ROWS_PER_STATEMENT: usize = 100;

/// An entry hashed and waiting to be written with the others of its transaction.
struct Unwritten {
    school_id: i64,
    seq: i64,
    record_class: String,
    record_key: String,
    change: Change,
    content: String,
    content_hash: String,
    prev_hash: String,
    hash: String,
}

/// The chain heads one transaction has taken, and the entries it has yet to write.
pub struct Appender {
    backend: Backend,
    at: DateTime<Utc>,
    heads: BTreeMap<i64, (i64, String)>,
    rows: Vec<Unwritten>,
}

impl Appender {
    pub fn new(backend: Backend, at: DateTime<Utc>) -> Self {
        Appender {
            backend,
            at,
            heads: BTreeMap::new(),
            rows: Vec::new(),
        }
    }

    /// Takes (and locks) `school_id`'s head, making the empty chain's on first use.
    async fn head(
        &mut self,
        connection: &mut AnyConnection,
        school_id: i64,
    ) -> Result<&mut (i64, String), sqlx::Error> {
        if let std::collections::btree_map::Entry::Vacant(vacant) = self.heads.entry(school_id) {
            let row = sqlx::query(
                "INSERT INTO ledger_heads (school_id, last_seq, last_hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (school_id) DO UPDATE SET last_seq = ledger_heads.last_seq \
                 RETURNING last_seq, last_hash",
            )
            .bind(school_id)
            .bind(GENESIS_HASH)
            .fetch_one(&mut *connection)
            .await?;
            vacant.insert((row.try_get("last_seq")?, row.try_get("last_hash")?));
        }
        Ok(self.heads.get_mut(&school_id).expect("taken above"))
    }

    /// Appends `entry` to its school's chain and answers its seq. The entry is written, with
    /// the others, by [`Appender::finish`]; table records also move `ledger_records`, which
    /// the next sync compares against.
    pub async fn append(
        &mut self,
        connection: &mut AnyConnection,
        entry: &NewEntry<'_>,
    ) -> Result<i64, sqlx::Error> {
        let at_ms = to_millis(self.at);
        let content = entry.content.unwrap_or(NO_CONTENT);
        let stored_hash = content_hash(content);
        let head = self.head(connection, entry.school_id).await?;
        let seq = head.0 + 1;
        let fields = EntryFields {
            prev_hash: &head.1,
            school_id: entry.school_id,
            seq,
            at_ms,
            record_class: entry.record_class,
            record_key: entry.record_key,
            change: entry.change.as_str(),
            content_hash: &stored_hash,
        };
        let hash = fields.hash();
        let prev_hash = std::mem::replace(&mut head.1, hash.clone());
        head.0 = seq;
        self.rows.push(Unwritten {
            school_id: entry.school_id,
            seq,
            record_class: entry.record_class.to_string(),
            record_key: entry.record_key.to_string(),
            change: entry.change,
            content: content.to_string(),
            content_hash: stored_hash,
            prev_hash,
            hash,
        });
        if entry.change == Change::Purged {
            // Retention is the point of a purge: the ledger keeps that the record was, and
            // its hash, but no longer what it said.
            self.write_rows(connection).await?;
            sqlx::query(
                "UPDATE ledger_entries SET content = NULL WHERE school_id = $1 AND record_class = $2 \
                 AND record_key = $3 AND seq < $4 AND content IS NOT NULL",
            )
            .bind(entry.school_id)
            .bind(entry.record_class)
            .bind(entry.record_key)
            .bind(seq)
            .execute(&mut *connection)
            .await?;
        }
        Ok(seq)
    }

    /// Writes the entries appended so far, and the records' last content hashes.
    async fn write_rows(&mut self, connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let at_ms = to_millis(self.at);
        for chunk in self.rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO ledger_entries (school_id, seq, at, record_class, record_key, change, \
                 content, content_hash, prev_hash, hash) VALUES {}",
                row_marks(self.backend, chunk.len(), 10)
            );
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = query
                    .bind(row.school_id)
                    .bind(row.seq)
                    .bind(at_ms)
                    .bind(row.record_class.as_str())
                    .bind(row.record_key.as_str())
                    .bind(row.change.as_str())
                    .bind(row.content.as_str())
                    .bind(row.content_hash.as_str())
                    .bind(row.prev_hash.as_str())
                    .bind(row.hash.as_str());
            }
            query.execute(&mut *connection).await?;
        }
        // The last entry of each record is what it stands at (one row per record, so that
        // one statement never touches a row twice).
        let mut last: BTreeMap<(i64, &str, &str), (&str, i64)> = BTreeMap::new();
        for row in self.rows.iter().filter(|row| row.change != Change::Stated) {
            last.insert(
                (row.school_id, &row.record_class, &row.record_key),
                (&row.content_hash, row.seq),
            );
        }
        let last: Vec<_> = last.into_iter().collect();
        for chunk in last.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO ledger_records (school_id, record_class, record_key, content_hash, last_seq) \
                 VALUES {} ON CONFLICT (school_id, record_class, record_key) \
                 DO UPDATE SET content_hash = excluded.content_hash, last_seq = excluded.last_seq",
                row_marks(self.backend, chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for ((school_id, class, key), (hash, seq)) in chunk {
                query = query
                    .bind(*school_id)
                    .bind(*class)
                    .bind(*key)
                    .bind(*hash)
                    .bind(*seq);
            }
            query.execute(&mut *connection).await?;
        }
        self.rows.clear();
        Ok(())
    }

    /// Writes every entry appended and moves every head appended to.
    pub async fn finish(mut self, connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
        self.write_rows(connection).await?;
        for (school_id, (seq, hash)) in &self.heads {
            sqlx::query(
                "UPDATE ledger_heads SET last_seq = $1, last_hash = $2 WHERE school_id = $3",
            )
            .bind(seq)
            .bind(hash)
            .bind(school_id)
            .execute(&mut *connection)
            .await?;
        }
        Ok(())
    }
}

/// Appends one entry in its own appender: for statements and purges of raw events.
pub async fn append_one(
    connection: &mut AnyConnection,
    backend: Backend,
    entry: &NewEntry<'_>,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let mut appender = Appender::new(backend, at);
    let seq = appender.append(connection, entry).await?;
    appender.finish(connection).await?;
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_back_as_written() {
        for change in [
            Change::Recorded,
            Change::Changed,
            Change::Removed,
            Change::Purged,
            Change::Stated,
        ] {
            assert_eq!(Change::parse(change.as_str()), Some(change));
        }
        assert_eq!(Change::parse("edited"), None);
        assert!(Change::Purged.ends_record() && !Change::Changed.ends_record());
    }
}
