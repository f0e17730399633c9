//! MIS files uploaded in the console and kept, for their uploader only, between the preview
//! and the apply. They hold personal data, so none outlives its expiry by more than the
//! purge's period, whether or not anyone uploads again.

use chrono::{DateTime, Utc};

use crate::db::time::to_millis;
use crate::db::Db;

/// Deletes the uploads past their expiry; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM directory_uploads WHERE expires_at <= $1")
        .bind(to_millis(now))
        .execute(&db.pool)
        .await?;
    Ok(result.rows_affected())
}
