//! Deciding on up-to-date state.
//!
//! A decision about an aggregate (may this admin kick that member? is this
//! friend request a duplicate?) reads the aggregate's state from the read
//! models, which trail the log. Two things could go wrong: two commands on the
//! same aggregate could decide concurrently on the same state, and a command
//! could decide on a state that does not yet include the previous command's
//! event. [`AggregateLock`] rules out both:
//!
//! - it locks the aggregate's row in `cmd_aggregate_heads` (`SELECT … FOR
//!   UPDATE`), so commands on one aggregate run one at a time, across every
//!   commands process;
//! - the row holds the position of the aggregate's last appended event, and
//!   the lock waits until the projector has applied it before the handler
//!   loads any state;
//! - after the append, [`AggregateLock::appended`] records the new position
//!   and releases the lock.
//!
//! Commands on different aggregates do not wait for each other.

use crate::AppState;
use beaver_platform::{http::ApiError, kafka::Position};
use sqlx::{MySql, Row, Transaction};

/// Holds the row lock of one aggregate until dropped or [`Self::appended`].
pub struct AggregateLock {
    tx: Transaction<'static, MySql>,
    aggregate_type: &'static str,
    aggregate_id: String,
}

impl AggregateLock {
    /// Locks the aggregate and waits until `projector` has applied its last event.
    pub async fn acquire(
        state: &AppState,
        aggregate_type: &'static str,
        aggregate_id: String,
        projector: &str,
        topic: &str,
    ) -> Result<Self, ApiError> {
        // The row is made first, on its own (autocommit): racing first
        // commands on a new aggregate then only queue on its row lock below,
        // where inserting it inside the locking transaction let InnoDB pick
        // one of them as a deadlock victim.
        sqlx::query("INSERT IGNORE INTO cmd_aggregate_heads (aggregate_type, aggregate_id, partition_id, last_offset) VALUES (?, ?, -1, -1)")
            .bind(aggregate_type)
            .bind(&aggregate_id)
            .execute(&state.pool)
            .await?;
        let mut tx = state.pool.begin().await?;
        let row = sqlx::query("SELECT partition_id, last_offset FROM cmd_aggregate_heads WHERE aggregate_type = ? AND aggregate_id = ? FOR UPDATE")
            .bind(aggregate_type)
            .bind(&aggregate_id)
            .fetch_one(&mut *tx)
            .await?;
        let (partition, offset): (i32, i64) = (row.try_get(0)?, row.try_get(1)?);
        if partition >= 0 {
            let caught_up = state.visible(projector, topic, Position { partition, offset }).await?;
            if !caught_up {
                return Err(ApiError::Unavailable(anyhow::anyhow!(
                    "{projector} projection has not caught up with {aggregate_type} {aggregate_id}"
                )));
            }
        }
        Ok(AggregateLock { tx, aggregate_type, aggregate_id })
    }

    /// Records the position of the event just appended and releases the lock.
    pub async fn appended(mut self, pos: Position) -> Result<(), ApiError> {
        sqlx::query("UPDATE cmd_aggregate_heads SET partition_id = ?, last_offset = ? WHERE aggregate_type = ? AND aggregate_id = ?")
            .bind(pos.partition)
            .bind(pos.offset)
            .bind(self.aggregate_type)
            .bind(&self.aggregate_id)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
