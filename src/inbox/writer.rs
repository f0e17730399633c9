//! Group commit for the inbox: handlers hand their event to one writer task, which commits
//! whatever has queued up in one transaction and then answers each handler. Every event is
//! durable before its request is answered, at the cost of one commit per batch, not per event.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::{insert_many, InsertOutcome};
use crate::db::Db;
use crate::meeting::AcceptedEvent;

/// Zoom waits 3 s for an answer; past this a request is answered 503 so that Zoom retries
/// (a late commit is harmless: the retry is then a duplicate).
pub const ACK_DEADLINE: Duration = Duration::from_millis(2500);
const QUEUE_CAPACITY: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the inbox could not be written: {0}")]
    Database(String),
    #[error("the inbox writer has stopped")]
    Stopped,
    #[error("the inbox did not commit within the acknowledgement deadline")]
    Timeout,
}

struct Job {
    event: AcceptedEvent,
    reply: oneshot::Sender<Result<InsertOutcome, WriteError>>,
}

/// A cheap handle for submitting events to the writer task.
#[derive(Clone)]
pub struct InboxWriter {
    sender: mpsc::Sender<Job>,
}

impl InboxWriter {
    /// Starts the writer task. `committed` is notified after each commit that stored
    /// something, to wake the processor. The task ends when every handle is dropped.
    pub fn spawn(
        db: Db,
        max_batch: usize,
        committed: Arc<Notify>,
    ) -> (InboxWriter, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(run(db, max_batch, committed, receiver));
        (InboxWriter { sender }, task)
    }

    /// Returns once the event is committed (or found to be a duplicate).
    pub async fn submit(&self, event: AcceptedEvent) -> Result<InsertOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        let submitted = async {
            self.sender
                .send(Job { event, reply })
                .await
                .map_err(|_| WriteError::Stopped)?;
            answer.await.map_err(|_| WriteError::Stopped)?
        };
        tokio::time::timeout(ACK_DEADLINE, submitted)
            .await
            .map_err(|_| WriteError::Timeout)?
    }
}

async fn run(db: Db, max_batch: usize, committed: Arc<Notify>, mut receiver: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let events: Vec<&AcceptedEvent> = jobs.iter().map(|job| &job.event).collect();
        match write_batch(&db, &events).await {
            Ok(outcomes) => {
                if outcomes.contains(&InsertOutcome::Stored) {
                    committed.notify_one();
                }
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, batch_size = jobs.len(), "inbox batch failed to commit");
                for job in jobs {
                    let _ = job.reply.send(Err(WriteError::Database(error.to_string())));
                }
            }
        }
    }
}

async fn write_batch(
    db: &Db,
    events: &[&AcceptedEvent],
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    let received_at = Utc::now();
    let _turn = db.ingestion_turn();
    let mut tx = db.pool.begin().await?;
    let outcomes = insert_many(&mut tx, events, received_at).await?;
    tx.commit().await?;
    Ok(outcomes)
}
