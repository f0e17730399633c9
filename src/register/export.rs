//! The register of a whole range as CSV, written a batch of calls at a time as the client
//! reads it: a year's register (a hundred thousand calls) is never held in memory at once,
//! and no connection is held while a batch waits for a slow client.

use std::collections::HashMap;

use bytes::Bytes;
use chrono_tz::Tz;
use futures_util::stream::{self, Stream};
use tokio::sync::mpsc;

use super::{csv, RecordReader};
use crate::db::{Db, IDS_PER_QUERY};

/// Why an export stopped part way (the client then sees the download cut short).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the register failed")]
    Read(#[from] sqlx::Error),
    #[error("writing the register CSV failed")]
    Write(#[from] ::csv::Error),
    #[error("call {call_id} belongs to school {school_id}, whose timezone was not read")]
    NoTimezone { call_id: i64, school_id: i64 },
}

/// Chunks read ahead of the client: the next batches are read from the database while the
/// one before is sent, and no more than this many wait in memory.
const CHUNKS_AHEAD: usize = 2;

/// The CSV of the calls `ids` (in the register's order, from `calls_in`), each school's
/// times in `timezones`: the header first, then one chunk per batch of calls. The batches
/// are read by a task of their own, which stops when the stream is dropped (the client
/// went away) or after the first failure.
pub fn csv_chunks(
    db: Db,
    ids: Vec<i64>,
    timezones: HashMap<i64, Tz>,
) -> impl Stream<Item = Result<Bytes, ExportError>> + Send + 'static {
    let mut export = Export {
        reader: RecordReader::new(db),
        ids,
        next: 0,
        timezones,
        header_sent: false,
    };
    let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
    tokio::spawn(async move {
        // Ends with the export, at its first failure (sent on to be logged), or when the
        // stream was dropped.
        while let Some(chunk) = export.next_chunk().await.transpose() {
            let failed = chunk.is_err();
            if sender.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
}

struct Export {
    reader: RecordReader,
    ids: Vec<i64>,
    /// Where the next batch starts in `ids`.
    next: usize,
    timezones: HashMap<i64, Tz>,
    header_sent: bool,
}

impl Export {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ExportError> {
        if !self.header_sent {
            self.header_sent = true;
            return Ok(Some(csv::header()?.into()));
        }
        // A batch whose calls have all gone since the range was read gives no rows: read on.
        while self.next < self.ids.len() {
            let end = (self.next + IDS_PER_QUERY).min(self.ids.len());
            let records = self.reader.read(&self.ids[self.next..end]).await?;
            self.next = end;
            if records.is_empty() {
                continue;
            }
            for record in &records {
                let school_id = record.summary.school_id;
                if !self.timezones.contains_key(&school_id) {
                    return Err(ExportError::NoTimezone {
                        call_id: record.summary.id,
                        school_id,
                    });
                }
            }
            let mut chunk = Vec::with_capacity(records.len() * 1024);
            csv::write_rows(&mut chunk, &records, |school_id| self.timezones[&school_id])?;
            return Ok(Some(chunk.into()));
        }
        Ok(None)
    }
}
