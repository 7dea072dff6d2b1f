//! Writing this node's connections into the Redis online sets
//! (`beaver_readmodel::presence` describes them) and telling friends when a
//! user's first connection opens or last one closes.

use crate::{ephemeral::{self, Ephemeral}, hub::Conn, protocol::{frame, ServerFrame}, Shared};
use beaver_readmodel::{keys, presence};
use redis::AsyncCommands;
use serde_json::json;
use std::{sync::Arc, time::Duration};
use uuid::Uuid;

fn member(s: &Shared, conn: &Conn) -> String {
    presence::member(conn.device.connection_id, conn.device.platform.as_str(), &s.node)
}

fn ttl_ms(s: &Shared) -> i64 {
    (s.config.presence_ttl_secs.max(3) * 1000) as i64
}

/// Tells the user's friends, on every node — unless the user turned
/// `show_online` off (docs/services.md, "Settings"); on a database error the
/// frame is not sent (hiding is the safe side).
async fn announce(s: &Shared, user: Uuid, online: bool) {
    match beaver_readmodel::settings::privacy(&s.pool, user).await {
        Ok(p) if p.show_online => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the user's presence setting; no presence frame");
            return;
        }
    }
    let friends: redis::RedisResult<Vec<String>> = s.redis.clone().smembers(keys::friends(user)).await;
    let to: Vec<Uuid> = friends.unwrap_or_default().iter().filter_map(|f| Uuid::try_parse(f).ok()).collect();
    if !to.is_empty() {
        let f = frame(ServerFrame::Presence, json!({ "user_id": user, "online": online }), None);
        ephemeral::publish(s, &Ephemeral::Deliver { to, frame: f }).await;
    }
}

pub async fn online(s: &Shared, conn: &Conn) {
    let key = keys::online(conn.user);
    let now = presence::now_ms();
    let result: redis::RedisResult<(i64, i64, i64)> = redis::pipe()
        .zrembyscore(&key, "-inf", now)
        .zadd(&key, member(s, conn), now + ttl_ms(s))
        .pexpire(&key, ttl_ms(s))
        .query_async(&mut s.redis.clone())
        .await;
    match result {
        Ok(_) => {
            if presence::live_connections(&mut s.redis.clone(), conn.user).await.unwrap_or(0) == 1 {
                announce(s, conn.user, true).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not record presence"),
    }
}

pub async fn offline(s: &Shared, conn: &Conn) {
    let removed: redis::RedisResult<i64> = s.redis.clone().zrem(keys::online(conn.user), member(s, conn)).await;
    if removed.is_ok() && presence::live_connections(&mut s.redis.clone(), conn.user).await.unwrap_or(1) == 0 {
        announce(s, conn.user, false).await;
    }
}

/// Every third of the TTL, pushes the expiry of all of this node's
/// connections forward, so that only a dead node's entries expire.
pub async fn refresh_loop(s: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_millis((ttl_ms(&s) / 3) as u64);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let expiry = presence::now_ms() + ttl_ms(&s);
        for chunk in s.hub.all().chunks(1000) {
            let mut pipe = redis::pipe();
            for conn in chunk {
                let key = keys::online(conn.user);
                pipe.zadd(&key, member(&s, conn), expiry).ignore().pexpire(&key, ttl_ms(&s)).ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut s.redis.clone()).await {
                tracing::warn!(error = %e, "could not refresh presence");
            }
        }
    }
}
