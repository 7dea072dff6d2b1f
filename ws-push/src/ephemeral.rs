//! What nodes tell each other and never store, over the Redis channel
//! `beaver:ws:ephemeral`: frames for named users (typing notices, presence
//! changes) and multi-device kicks. Pub/sub is at-most-once; losing one of
//! these costs a typing dot or a late kick, never a message.

use crate::{hub::Outbound, protocol::Device, Shared};
use beaver_readmodel::keys::ephemeral_channel;
use futures::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ephemeral {
    /// Deliver `frame` to these users' connections.
    Deliver { to: Vec<Uuid>, frame: String },
    /// Deliver `frame` to `user`'s connections of one device (a relayed call signal).
    ToDevice { user: Uuid, device_id: String, frame: String },
    /// A new connection: older ones it supersedes must close.
    Kick {
        user: Uuid,
        connection_id: Uuid,
        /// The new connection's place in the order of all connections
        /// (absent from a node of an older version: 0, it kicks nothing).
        #[serde(default)]
        generation: u64,
        device_id: String,
        platform: String,
    },
}

pub async fn publish(s: &Shared, message: &Ephemeral) {
    if let Ok(payload) = serde_json::to_string(message) {
        let sent: redis::RedisResult<i64> = s.redis.clone().publish(ephemeral_channel(), payload).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not publish an ephemeral notice");
        }
    }
}

/// Applies one notice to this node's connections.
pub fn apply(s: &Shared, message: Ephemeral) {
    match message {
        Ephemeral::Deliver { to, frame } => {
            let out = Outbound::Frame(frame.into());
            for user in to {
                s.hub.deliver(user, &out);
            }
        }
        Ephemeral::ToDevice { user, device_id, frame } => {
            let out = Outbound::Frame(frame.into());
            for conn in s.hub.of(user).into_iter().filter(|c| c.device.device_id == device_id) {
                conn.offer(out.clone());
            }
        }
        Ephemeral::Kick { user, connection_id, generation, device_id, platform } => {
            if let Some(platform) = crate::protocol::Platform::parse(&platform) {
                s.hub.kick_older(user, &Device { connection_id, generation, device_id, platform }, s.config.device_policy);
            }
        }
    }
}

/// Subscribes (and resubscribes after Redis failures) until `stop`.
pub async fn listen(s: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let subscribed = async {
            let client = redis::Client::open(s.config.common.redis_url())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(ephemeral_channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        match subscribed {
            Ok(mut pubsub) => {
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        m = messages.next() => match m {
                            Some(m) => {
                                let payload: String = m.get_payload().unwrap_or_default();
                                match serde_json::from_str::<Ephemeral>(&payload) {
                                    Ok(notice) => apply(&s, notice),
                                    Err(e) => tracing::warn!(error = %e, "unreadable ephemeral notice"),
                                }
                            }
                            None => break,
                        }
                    }
                }
                tracing::warn!("ephemeral subscription ended; resubscribing");
            }
            Err(e) => tracing::warn!(error = %e, "could not subscribe to ephemeral notices"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_json() {
        let kick = Ephemeral::Kick { user: Uuid::now_v7(), connection_id: Uuid::now_v7(), generation: 7, device_id: "d".into(), platform: "ios".into() };
        let text = serde_json::to_string(&kick).unwrap();
        assert!(text.contains("\"kind\":\"kick\""));
        assert_eq!(serde_json::from_str::<Ephemeral>(&text).unwrap(), kick);
    }
}
