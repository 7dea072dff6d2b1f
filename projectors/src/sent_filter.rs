//! The keeper of the sent-key filter (`beaver_readmodel::sent_filter`): the
//! messages projection sets each stored message's bits before committing its
//! row; this task makes the filter trusted again whenever Redis lost it.
//!
//! Every few seconds it checks that the filter's `ready` key holds the
//! running Redis server's run id. When it does not (a fresh stack, a Redis
//! restart that may have lost the last second of writes, a wiped server),
//! one projector process (a Redis lock) rebuilds it:
//!
//! 1. it notes the run id;
//! 2. it waits until every transaction that had inserted into `messages`
//!    has committed (`LOCK TABLES messages READ` waits for them; released at
//!    once). A row inserted after that point has its bits set after the
//!    insert, so in the running server;
//! 3. it writes the marker byte past the bits, then adds every stored key, a
//!    page at a time, renewing its lock at each page;
//! 4. in one script: if it still holds the lock, the marker is there and the
//!    run id is still the noted one, it writes the run id to `ready`.
//!
//! This reasoning assumes one Redis server: every writer and the keeper
//! must see the same dataset (no split brain between two masters).
//!
//! Until then sends ask the read model, as they would without the filter.

use beaver_readmodel::{keys, sent_filter};
use sqlx::{Connection, Executor, MySqlPool};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use uuid::Uuid;

/// How often the keeper checks the filter.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Rows read per page of a rebuild.
const PAGE: u32 = 5_000;
/// The rebuild lock's expiry, renewed at every page.
const LOCK_MS: u64 = 30_000;

/// Runs until `stop` is set.
pub async fn keep(pool: MySqlPool, mut redis: redis::aio::ConnectionManager, stop: Arc<AtomicBool>) {
    let me = Uuid::new_v4().to_string();
    while !stop.load(Ordering::Relaxed) {
        match sent_filter::trusted(&mut redis).await {
            Ok(true) => metrics::gauge!("sent_filter_trusted").set(1.0),
            Ok(false) => {
                metrics::gauge!("sent_filter_trusted").set(0.0);
                match rebuild(&pool, &mut redis, &me, &stop).await {
                    Ok(Some(rows)) => {
                        metrics::counter!("sent_filter_rebuilds_total").increment(1);
                        tracing::info!(rows, "sent-key filter rebuilt");
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "sent-key filter rebuild failed; sends keep asking the read model"),
                }
            }
            Err(e) => tracing::debug!(error = %e, "sent-key filter check failed"),
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// Rebuilds the filter if this process gets the lock; the number of rows
/// added, or `None` when another process holds the lock (or `stop` was set,
/// or Redis restarted during the rebuild: the next check starts again).
async fn rebuild(pool: &MySqlPool, redis: &mut redis::aio::ConnectionManager, me: &str, stop: &AtomicBool) -> anyhow::Result<Option<u64>> {
    let lock = keys::sent_filter_rebuild_lock();
    let got: Option<String> = redis::cmd("SET").arg(&lock).arg(me).arg("NX").arg("PX").arg(LOCK_MS).query_async(redis).await?;
    if got.is_none() {
        return Ok(None);
    }
    let result = rebuild_locked(pool, redis, &lock, me, stop).await;
    // Release only our own lock.
    let _: redis::RedisResult<i64> = redis::Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
        .key(&lock)
        .arg(me)
        .invoke_async(redis)
        .await;
    result
}

async fn rebuild_locked(pool: &MySqlPool, redis: &mut redis::aio::ConnectionManager, lock: &str, me: &str, stop: &AtomicBool) -> anyhow::Result<Option<u64>> {
    let run_id = sent_filter::run_id(redis).await?;
    tracing::info!(run_id, "sent-key filter not trusted; rebuilding it from the messages table");
    barrier(pool).await?;
    if !renew(redis, lock, me).await? {
        return Ok(None);
    }
    // The marker first: writing it only extends the bitmap, never clears a bit.
    let mut pipe = redis::pipe();
    sent_filter::mark(&mut pipe);
    let _: () = pipe.query_async(redis).await?;
    let mut after: Option<(String, i64)> = None;
    let mut rows = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let page = sent_filter::stored_keys_after(pool, after.as_ref().map(|(c, s)| (c.as_str(), *s)), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.0.clone(), last.1));
        let mut pipe = redis::pipe();
        for (conversation, _, sender, client_msg_id) in &page {
            match Uuid::try_parse(sender) {
                Ok(sender) => sent_filter::add(&mut pipe, conversation, sender, client_msg_id),
                Err(_) => tracing::error!(conversation, sender, "stored message with a malformed sender id; not in the filter"),
            }
        }
        let _: () = pipe.query_async(redis).await?;
        rows += page.len() as u64;
        if !renew(redis, lock, me).await? {
            return Ok(None);
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(sent_filter::finish(redis, me, &run_id).await?.then_some(rows))
}

/// Returns once every transaction that had inserted into `messages` has
/// committed: `LOCK TABLES … READ` waits for their metadata locks. On a
/// connection of its own, closed afterwards, so no pooled connection keeps
/// the lock or the session setting.
async fn barrier(pool: &MySqlPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?.detach();
    conn.execute("SET SESSION lock_wait_timeout = 10").await?;
    conn.execute("LOCK TABLES messages READ").await?;
    conn.execute("UNLOCK TABLES").await?;
    conn.close().await?;
    Ok(())
}

/// Extends the rebuild lock if `me` still holds it.
async fn renew(redis: &mut redis::aio::ConnectionManager, lock: &str, me: &str) -> redis::RedisResult<bool> {
    let renewed: i64 = redis::Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0")
        .key(lock)
        .arg(me)
        .arg(LOCK_MS)
        .invoke_async(redis)
        .await?;
    Ok(renewed == 1)
}
