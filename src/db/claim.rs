//! Claiming work from a queue table, written once for every queue. On PostgreSQL the due rows
//! are picked `FOR UPDATE SKIP LOCKED`, so instances sharing the database take different rows
//! and never wait on each other; on SQLite (one writer at a time) the claiming statement is
//! itself a write, so it takes the write lock at once and no other writer can claim the same
//! rows before this transaction ends.

use super::Backend;

/// A queue table: which of its rows are due, and in what order they are taken.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    pub table: &'static str,
    /// The column that names a row (SQLite's `rowid` where the key has several columns: the
    /// PostgreSQL claim in a transaction does not use it).
    pub key: &'static str,
    /// The condition a row meets when it is due; it may use the caller's parameters.
    pub due: &'static str,
    pub order_by: &'static str,
}

impl Queue {
    /// A statement claiming up to `limit` due rows inside the caller's transaction, answering
    /// `returning` for each (in no particular order). On PostgreSQL the rows stay locked until
    /// the transaction ends; whatever the caller does with them commits with its own writes.
    pub fn claim_in_transaction(&self, backend: Backend, limit: usize, returning: &str) -> String {
        let Queue {
            table,
            key,
            due,
            order_by,
        } = self;
        match backend {
            Backend::Postgres => format!(
                "SELECT {returning} FROM {table} WHERE {due} ORDER BY {order_by} LIMIT {limit} \
                 FOR UPDATE SKIP LOCKED"
            ),
            Backend::Sqlite => format!(
                "UPDATE {table} SET {key} = {key} WHERE {key} IN \
                 (SELECT {key} FROM {table} WHERE {due} ORDER BY {order_by} LIMIT {limit}) \
                 RETURNING {returning}"
            ),
        }
    }

    /// A statement taking the first due row by applying `set` to it (a lease, an attempt
    /// counted) and answering `returning`: one statement, so it needs no transaction of its
    /// own, and the work done with the row happens outside any transaction.
    pub fn claim_with_lease(&self, backend: Backend, set: &str, returning: &str) -> String {
        let Queue {
            table,
            key,
            due,
            order_by,
        } = self;
        let lock = match backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        format!(
            "UPDATE {table} SET {set} WHERE {key} = \
             (SELECT {key} FROM {table} WHERE {due} ORDER BY {order_by} LIMIT 1{lock}) \
             RETURNING {returning}"
        )
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{AnyPool, Row};

    use super::*;
    use crate::db::memory_database;

    const JOBS: Queue = Queue {
        table: "jobs",
        key: "id",
        due: "due_at <= $1 AND (lease_until IS NULL OR lease_until < $1)",
        order_by: "due_at",
    };

    async fn jobs() -> AnyPool {
        memory_database(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, due_at BIGINT NOT NULL, lease_until BIGINT); \
             INSERT INTO jobs (id, due_at) VALUES (1, 30), (2, 10), (3, 20), (4, 99)",
        )
        .await
    }

    async fn claim_one(pool: &AnyPool, now: i64) -> Option<i64> {
        let sql = JOBS.claim_with_lease(Backend::Sqlite, "lease_until = $2", "id");
        sqlx::query(&sql)
            .bind(now)
            .bind(now + 100)
            .fetch_optional(pool)
            .await
            .unwrap()
            .map(|row| row.get("id"))
    }

    #[tokio::test]
    async fn a_lease_takes_the_earliest_due_row_and_hides_it_until_the_lease_ends() {
        let pool = jobs().await;
        assert_eq!(claim_one(&pool, 50).await, Some(2));
        assert_eq!(claim_one(&pool, 50).await, Some(3));
        assert_eq!(claim_one(&pool, 50).await, Some(1));
        assert_eq!(
            claim_one(&pool, 50).await,
            None,
            "row 4 is not due, the rest leased"
        );
        assert_eq!(
            claim_one(&pool, 151).await,
            Some(2),
            "the first lease ran out"
        );
    }

    #[tokio::test]
    async fn a_claim_in_a_transaction_takes_up_to_the_limit_of_due_rows() {
        let pool = jobs().await;
        let mut tx = pool.begin().await.unwrap();
        let sql = JOBS.claim_in_transaction(Backend::Sqlite, 2, "id");
        let mut claimed: Vec<i64> = sqlx::query(&sql)
            .bind(50_i64)
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get("id"))
            .collect();
        claimed.sort();
        assert_eq!(claimed, vec![2, 3]);
        tx.commit().await.unwrap();
    }

    #[test]
    fn on_postgres_due_rows_are_locked_and_skipped_by_other_claims() {
        assert!(JOBS
            .claim_in_transaction(Backend::Postgres, 5, "id")
            .ends_with("LIMIT 5 FOR UPDATE SKIP LOCKED"));
        assert!(JOBS
            .claim_with_lease(Backend::Postgres, "lease_until = $2", "id")
            .contains("LIMIT 1 FOR UPDATE SKIP LOCKED)"));
    }
}
