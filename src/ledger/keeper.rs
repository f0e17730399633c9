//! The ledger keeper: chains the records the triggers noted, a batch per transaction, and
//! once a day per school signs the chain's head. It also runs retention, whose purges leave
//! the tombstones it chains.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::heads::{self, HeadSigner};
use super::sync::sync_pending;
use crate::db::Db;
use crate::supervision::Role;
use crate::timers::Timer;
use crate::worker::{Pass, Wakeups, Worker};

/// Records chained per transaction: enough to keep up with a busy inbox, few enough that the
/// transaction does not hold up the writers.
const BATCH: usize = 256;

#[derive(Clone)]
pub struct Keeper {
    db: Db,
    signer: Arc<HeadSigner>,
}

impl Keeper {
    pub fn new(db: Db, signer: Arc<HeadSigner>) -> Self {
        Keeper { db, signer }
    }

    /// Chains the next batch of noted records; answers how many it took.
    pub async fn sync_next(&self, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
        // Chaining can wait; a platform waiting for its answer cannot.
        self.db.yield_to_ingestion().await;
        let mut tx = self.db.pool.begin().await?;
        let taken = sync_pending(&mut tx, self.db.backend, BATCH, now).await?;
        if taken == 0 {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(taken)
    }

    /// Chains everything noted (for tests and tools).
    pub async fn drain(&self) -> Result<usize, sqlx::Error> {
        let mut taken = 0;
        loop {
            match self.sync_next(Utc::now()).await? {
                0 => return Ok(taken),
                more => taken += more,
            }
        }
    }

    /// Signs the heads of the days that have ended (for tests and tools).
    pub async fn publish_heads(&self, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
        self.drain().await?;
        heads::publish_due(&self.db, &self.signer, now).await
    }
}

impl Worker for Keeper {
    type Error = sqlx::Error;

    const ROLE: Role = Role::LedgerKeeper;

    fn woken_by(wakeups: &Wakeups) -> &Arc<Notify> {
        &wakeups.records_written
    }

    async fn step(&self, now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        Ok(match self.sync_next(now).await? {
            0 => Pass::Idle,
            _ => Pass::Worked,
        })
    }

    async fn run_timer(&self, timer: Timer, now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        match timer {
            Timer::LedgerHeads => {
                let signed = self.publish_heads(now).await?;
                if signed > 0 {
                    tracing::info!(signed, "ledger heads signed");
                }
            }
            Timer::Retention { inbox_days } => {
                let purged = crate::retention::purge_due(&self.db, now, inbox_days).await?;
                // The tombstones are chained by the pass that follows at once.
                if purged.total() > 0 {
                    return Ok(Pass::Worked);
                }
            }
            other => tracing::error!(timer = other.name(), "timer run by the wrong worker"),
        }
        Ok(Pass::Idle)
    }
}
