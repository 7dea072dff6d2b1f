//! Read-your-writes. Projectors record, per partition, the next offset they
//! will apply (`projector_offsets`, written in the same transaction as the
//! read model). A command that appended an event at offset `o` can therefore
//! wait until `next_offset > o` for the projector that serves the follow-up
//! read — after that, every query sees the write.

use crate::kafka::Position;
use std::time::{Duration, Instant};

/// Projector building `users` from `beaver.users.v1`.
pub const USERS_PROJECTOR: &str = "users";
/// Projector building `sessions` and the Redis revocation keys from `beaver.sessions.v1`.
pub const SESSIONS_PROJECTOR: &str = "sessions";
/// Projector building friend requests, friendships and blocks from `beaver.relations.v1`.
pub const RELATIONS_PROJECTOR: &str = "relations";
/// Projector building groups, members and join requests from `beaver.groups.v1`.
pub const GROUPS_PROJECTOR: &str = "groups";
/// Projector sequencing and storing messages from `beaver.messages.v1`.
pub const MESSAGES_PROJECTOR: &str = "messages";

/// The next offset `projector` will apply in `topic`/`partition` (0 if it has not started).
pub async fn projected_until(pool: &sqlx::MySqlPool, projector: &str, topic: &str, partition: i32) -> Result<i64, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT next_offset FROM projector_offsets WHERE projector = ? AND topic = ? AND partition_id = ?",
    )
    .bind(projector)
    .bind(topic)
    .bind(partition)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.0).unwrap_or(0))
}

/// Waits (polling with backoff) until `projector` has applied the event at
/// `pos`. Returns `false` if `timeout` passed first: the event is durable, but
/// not yet visible to queries.
pub async fn wait_projected(
    pool: &sqlx::MySqlPool,
    projector: &str,
    topic: &str,
    pos: Position,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if projected_until(pool, projector, topic, pos.partition).await? > pos.offset {
            metrics::histogram!("read_your_writes_wait_seconds", "projector" => projector.to_owned())
                .record(started.elapsed().as_secs_f64());
            return Ok(true);
        }
        if started.elapsed() >= timeout {
            metrics::counter!("read_your_writes_timeouts_total", "projector" => projector.to_owned()).increment(1);
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
