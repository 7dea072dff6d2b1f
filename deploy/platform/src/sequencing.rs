//! The sequencer's answers to senders.
//!
//! After each committed transaction the sequencer (`beaver-sequencer`)
//! publishes, on the Redis channel [`answers_channel`], one [`SendAnswer`]
//! per `MessageSent` it read: the seq of a new message, or the original's
//! answer for a repeat of a `(sender, client_msg_id)`. A send command
//! registers with [`Answers`] before it appends and answers its client with
//! what arrives. Publishing is best effort: a sender that hears nothing in
//! time answers 202 with `seq: null`, and the client's resend (same
//! `client_msg_id`) gets the original answer.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

use beaver_readmodel::{
    keys::{answers_channel, sequenced_ends},
    progress::{self, MESSAGES_PROJECTOR},
};

/// Waits (up to `timeout`) until the messages projection has stored every
/// record the sequencer had committed when this was called, so a read that
/// starts after a send was answered sees that message. Returns whether it
/// caught up; on `false` the caller reads what is there (the projection is
/// lagging: `projector_lag` shows by how much).
pub async fn await_projection(redis: &redis::aio::ConnectionManager, pool: &sqlx::MySqlPool, timeout: Duration) -> Result<bool, crate::http::ApiError> {
    let ends: HashMap<i32, i64> = redis::cmd("HGETALL").arg(sequenced_ends()).query_async(&mut redis.clone()).await?;
    if ends.is_empty() {
        return Ok(true);
    }
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let applied = progress::next_offsets(pool, MESSAGES_PROJECTOR, beaver_events::topics::SEQUENCED).await?;
        if ends.iter().all(|(p, end)| applied.get(p).copied().unwrap_or(0) >= *end) {
            metrics::histogram!("sequenced_read_wait_seconds").record(started.elapsed().as_secs_f64());
            return Ok(true);
        }
        if started.elapsed() >= timeout {
            metrics::counter!("sequenced_read_wait_timeouts_total").increment(1);
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// What a sender is told about its `MessageSent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendAnswer {
    /// The `message_id` of the `MessageSent` this answers.
    pub request: Uuid,
    /// The message as stored: `request` itself, or the original for a repeat.
    pub message_id: Uuid,
    pub conversation_id: String,
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

type Waiters = Arc<Mutex<HashMap<Uuid, oneshot::Sender<SendAnswer>>>>;

/// Follows [`answers_channel`] for one process and hands each answer to the
/// send waiting for it; cheap to clone.
#[derive(Clone, Default)]
pub struct Answers {
    waiters: Waiters,
}

/// One registered send; dropping it unregisters.
pub struct Waiter {
    id: Uuid,
    waiters: Waiters,
    rx: Option<oneshot::Receiver<SendAnswer>>,
}

impl Answers {
    /// Starts following the channel (reconnecting on errors).
    pub fn start(redis: redis::Client) -> Self {
        let answers = Answers::default();
        let follower = answers.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = follower.follow(&redis).await {
                    tracing::warn!(error = %e, "sequencer answer channel lost; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        answers
    }

    async fn follow(&self, redis: &redis::Client) -> redis::RedisResult<()> {
        let mut pubsub = redis.get_async_pubsub().await?;
        pubsub.subscribe(answers_channel()).await?;
        let mut stream = pubsub.on_message();
        while let Some(msg) = stream.next().await {
            let Ok(bytes) = msg.get_payload::<Vec<u8>>() else { continue };
            match serde_json::from_slice::<Vec<SendAnswer>>(&bytes) {
                Ok(answers) => self.deliver(answers),
                Err(e) => tracing::warn!(error = %e, "undecodable sequencer answer"),
            }
        }
        Ok(())
    }

    fn deliver(&self, answers: Vec<SendAnswer>) {
        let mut waiters = self.waiters.lock().expect("answers lock");
        for answer in answers {
            if let Some(tx) = waiters.remove(&answer.request) {
                let _ = tx.send(answer);
            }
        }
    }

    /// Registers interest in the answer to `message_id` (call before appending it).
    pub fn register(&self, message_id: Uuid) -> Waiter {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("answers lock").insert(message_id, tx);
        Waiter { id: message_id, waiters: self.waiters.clone(), rx: Some(rx) }
    }
}

impl Waiter {
    /// The answer, or `None` if none came within `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Option<SendAnswer> {
        let rx = self.rx.take()?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waiters.lock().expect("answers lock").remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(request: Uuid) -> SendAnswer {
        SendAnswer { request, message_id: request, conversation_id: "d:x".into(), seq: 3, sent_at: OffsetDateTime::UNIX_EPOCH }
    }

    #[tokio::test]
    async fn an_answer_reaches_only_its_waiter_and_unregisters_it() {
        let answers = Answers::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let wa = answers.register(a);
        let wb = answers.register(b);
        answers.deliver(vec![answer(a)]);
        assert_eq!(wa.wait(Duration::from_millis(50)).await, Some(answer(a)));
        assert_eq!(wb.wait(Duration::from_millis(20)).await, None);
        assert!(answers.waiters.lock().unwrap().is_empty());
    }
}
