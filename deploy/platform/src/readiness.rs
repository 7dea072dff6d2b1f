//! Read-your-writes. Projectors record, per partition, the next offset they
//! will apply (`projector_offsets`, written in the same transaction as the
//! read model). A command that appended an event at offset `o` can therefore
//! wait until `next_offset > o` for the projector that serves the follow-up
//! read — after that, every query sees the write.
//!
//! Waiting is event-driven: after each commit a projector publishes its new
//! position on the Redis channel [`progress_channel`]; a [`ProjectionWatch`]
//! in each commands process follows the channel, keeps the latest positions
//! in memory and wakes its waiters. MariaDB stays the source of truth: a
//! waiter also re-reads `projector_offsets` when it has heard nothing for a
//! while (a missed publish only costs latency, never correctness).

use crate::kafka::Position;
use futures::StreamExt;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::Notify;

use beaver_readmodel::keys::progress_channel;

/// How long a waiter trusts the channel before asking MariaDB again.
const FALLBACK_POLL: Duration = Duration::from_millis(100);

/// The message a projector publishes after committing a batch.
pub fn progress_message(projector: &str, topic: &str, partition: i32, next_offset: i64) -> String {
    format!("{projector}|{topic}|{partition}|{next_offset}")
}

fn parse_progress(msg: &str) -> Option<((String, String, i32), i64)> {
    let mut parts = msg.split('|');
    let (projector, topic, partition, next) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(((projector.to_owned(), topic.to_owned(), partition.parse().ok()?), next.parse().ok()?))
}

/// (projector, topic, partition) → the next offset it will apply.
type Progress = HashMap<(String, String, i32), i64>;

/// Follows projector progress for one process; cheap to clone.
#[derive(Clone)]
pub struct ProjectionWatch {
    pool: sqlx::MySqlPool,
    known: Arc<Mutex<Progress>>,
    changed: Arc<Notify>,
}

impl ProjectionWatch {
    /// Starts following [`progress_channel`] (reconnecting on errors).
    pub fn start(pool: sqlx::MySqlPool, redis: redis::Client) -> Self {
        let watch = ProjectionWatch { pool, known: Arc::default(), changed: Arc::new(Notify::new()) };
        let follower = watch.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = follower.follow(&redis).await {
                    tracing::warn!(error = %e, "projection progress channel lost; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        watch
    }

    async fn follow(&self, redis: &redis::Client) -> redis::RedisResult<()> {
        let mut pubsub = redis.get_async_pubsub().await?;
        pubsub.subscribe(progress_channel()).await?;
        let mut stream = pubsub.on_message();
        while let Some(msg) = stream.next().await {
            let Ok(text) = msg.get_payload::<String>() else { continue };
            if let Some((key, next)) = parse_progress(&text) {
                self.learn(key, next);
            }
        }
        Ok(())
    }

    fn learn(&self, key: (String, String, i32), next: i64) {
        let mut known = self.known.lock().expect("watch lock");
        let entry = known.entry(key).or_insert(next);
        if next > *entry {
            *entry = next;
        }
        drop(known);
        self.changed.notify_waiters();
    }

    fn known(&self, projector: &str, topic: &str, partition: i32) -> i64 {
        let known = self.known.lock().expect("watch lock");
        known.get(&(projector.to_owned(), topic.to_owned(), partition)).copied().unwrap_or(0)
    }

    /// Waits until `projector` has applied the event at `pos`. Returns
    /// `false` if `timeout` passed first: the event is durable, but not yet
    /// visible to queries.
    pub async fn wait(&self, projector: &str, topic: &str, pos: Position, timeout: Duration) -> Result<bool, sqlx::Error> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut next_db_check = started;
        loop {
            // Register for a wake-up before checking, so no notification is lost.
            let notified = self.changed.notified();
            if self.known(projector, topic, pos.partition) > pos.offset {
                break;
            }
            let now = Instant::now();
            if now >= next_db_check {
                let next = beaver_readmodel::progress::next_offset(&self.pool, projector, topic, pos.partition).await?;
                self.learn((projector.to_owned(), topic.to_owned(), pos.partition), next);
                if next > pos.offset {
                    break;
                }
                next_db_check = now + FALLBACK_POLL;
            }
            if now >= deadline {
                metrics::counter!("read_your_writes_timeouts_total", "projector" => projector.to_owned()).increment(1);
                return Ok(false);
            }
            let _ = tokio::time::timeout(next_db_check.min(deadline).saturating_duration_since(now), notified).await;
        }
        metrics::histogram!("read_your_writes_wait_seconds", "projector" => projector.to_owned()).record(started.elapsed().as_secs_f64());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_messages_round_trip() {
        let msg = progress_message("messages", "beaver.messages.v1", 7, 42);
        assert_eq!(parse_progress(&msg), Some((("messages".into(), "beaver.messages.v1".into(), 7), 42)));
        assert_eq!(parse_progress("garbage"), None);
    }
}
