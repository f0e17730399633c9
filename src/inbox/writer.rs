//! Group commit for the inbox: handlers hand their event to one writer task, which commits
//! whatever has queued up in one transaction and then answers each handler. Every event is
//! durable before its request is answered, at the cost of one commit per batch, not per event.
//!
//! The writer runs under supervision (see `supervision`): the queue outlives a panicked run,
//! so a restarted writer carries on with what is queued, and a request waiting while the
//! writer is down is answered 503 at the acknowledgement deadline instead of hanging.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use super::{insert_many, InsertOutcome};
use crate::db::Db;
use crate::meeting::AcceptedEvent;
use crate::supervision::Heartbeat;

/// Zoom waits 3 s for an answer; past this a request is answered 503 so that Zoom retries
/// (a late commit is harmless: the retry is then a duplicate).
pub const ACK_DEADLINE: Duration = Duration::from_millis(2500);
const QUEUE_CAPACITY: usize = 16_384;
/// An idle writer wakes this often, only to show its heartbeat.
pub const IDLE_BEAT_INTERVAL: Duration = Duration::from_secs(1);

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
    /// A handle for handlers, and the writer loop to run (under supervision). `committed`
    /// is notified after each commit that stored something, to wake the processor.
    pub fn new(db: Db, max_batch: usize, committed: Arc<Notify>) -> (InboxWriter, WriterLoop) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let writer = WriterLoop {
            db,
            max_batch,
            committed,
            queue: Arc::new(Mutex::new(receiver)),
        };
        (InboxWriter { sender }, writer)
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

/// The writer task's body; each run takes the queue over from the run before.
#[derive(Clone)]
pub struct WriterLoop {
    db: Db,
    max_batch: usize,
    committed: Arc<Notify>,
    /// Kept here, not in the task, so that a panic does not drop what is queued.
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
}

impl WriterLoop {
    /// One run of the writer: it ends when every [`InboxWriter`] handle is dropped. The
    /// jobs of a batch being written when it panics are answered `Stopped` (their senders
    /// are dropped), so those requests get 503 and the platform retries them.
    pub fn run(
        &self,
        heartbeat: Heartbeat,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        run(
            self.db.clone(),
            self.max_batch,
            self.committed.clone(),
            self.queue.clone(),
            heartbeat,
        )
    }
}

async fn run(
    db: Db,
    max_batch: usize,
    committed: Arc<Notify>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    heartbeat: Heartbeat,
) {
    let mut receiver = queue.lock().await;
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        heartbeat.beat();
        // `recv_many` is cancel safe: a timeout loses nothing.
        match tokio::time::timeout(
            IDLE_BEAT_INTERVAL,
            receiver.recv_many(&mut batch, max_batch),
        )
        .await
        {
            Err(_idle) => continue,
            Ok(0) => return,
            Ok(_) => {}
        }
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
    let outcomes = insert_many(&mut tx, db.backend, events, received_at).await?;
    tx.commit().await?;
    Ok(outcomes)
}
