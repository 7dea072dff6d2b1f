//! `beaver.relations.v1` → `friend_requests`, `friendships`, `blocks`, and
//! the Redis sets `beaver:friends:<user>` and `beaver:blocks:<user>` that the
//! chat path checks in O(1). Set membership is absolute (SADD/SREM), so a
//! replay converges on the same sets.

use super::sync::{bump, list, utc};
use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{relation::FriendRequestDecided, topics, RawEnvelope, RelationEvent};
use beaver_readmodel::{
    keys::{blocks as blocks_key, friends as friends_key},
    progress::RELATIONS_PROJECTOR,
};
use redis::AsyncCommands;
use sqlx::{MySql, Transaction};
use time::PrimitiveDateTime;
use uuid::Uuid;

pub struct Relations;

type Tx = Transaction<'static, MySql>;

async fn close_request(tx: &mut Tx, d: &FriendRequestDecided, status: &str, when: PrimitiveDateTime) -> Result<(), sqlx::Error> {
    let from_v = bump(tx, &d.from_user_id.to_string(), list::FRIEND_REQUESTS).await?;
    let to_v = bump(tx, &d.to_user_id.to_string(), list::FRIEND_REQUESTS).await?;
    sqlx::query("UPDATE friend_requests SET status = ?, updated_at = ?, from_version = ?, to_version = ? WHERE request_id = ? AND status = 'pending'")
        .bind(status)
        .bind(when)
        .bind(from_v)
        .bind(to_v)
        .bind(d.request_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn befriend(tx: &mut Tx, ctx: &ApplyContext, a: Uuid, b: Uuid, when: PrimitiveDateTime) -> Result<(), ApplyError> {
    for (user, friend) in [(a, b), (b, a)] {
        let v = bump(tx, &user.to_string(), list::FRIENDS).await?;
        sqlx::query(
            "INSERT INTO friendships (user_id, friend_id, remark, status, since, updated_at, version) VALUES (?, ?, '', 'active', ?, ?, ?) \
             ON DUPLICATE KEY UPDATE remark = '', status = 'active', since = VALUES(since), updated_at = VALUES(updated_at), version = VALUES(version)",
        )
        .bind(user.to_string())
        .bind(friend.to_string())
        .bind(when)
        .bind(when)
        .bind(v)
        .execute(&mut **tx)
        .await?;
        let _: () = ctx.redis.clone().sadd(friends_key(user), friend.to_string()).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Projection for Relations {
    fn name(&self) -> &'static str {
        RELATIONS_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::RELATIONS]
    }

    async fn apply(&self, tx: &mut Tx, ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = utc(env.occurred_at);
        match env.decode::<RelationEvent>()?.payload {
            RelationEvent::FriendRequestSent(e) => {
                let from_v = bump(tx, &e.from_user_id.to_string(), list::FRIEND_REQUESTS).await?;
                let to_v = if e.hidden_from_recipient { 0 } else { bump(tx, &e.to_user_id.to_string(), list::FRIEND_REQUESTS).await? };
                sqlx::query(
                    "INSERT INTO friend_requests (request_id, from_user_id, to_user_id, message, status, hidden_from_recipient, created_at, updated_at, from_version, to_version) \
                     VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE request_id = request_id",
                )
                .bind(e.request_id.to_string())
                .bind(e.from_user_id.to_string())
                .bind(e.to_user_id.to_string())
                .bind(&e.message)
                .bind(e.hidden_from_recipient)
                .bind(when)
                .bind(when)
                .bind(from_v)
                .bind(to_v)
                .execute(&mut **tx)
                .await?;
            }
            RelationEvent::FriendRequestAccepted(d) => {
                close_request(tx, &d, "accepted", when).await?;
                befriend(tx, ctx, d.from_user_id, d.to_user_id, when).await?;
            }
            RelationEvent::FriendRequestRejected(d) => close_request(tx, &d, "rejected", when).await?,
            RelationEvent::FriendRemoved(e) => {
                for (user, friend) in [(e.user_id, e.friend_id), (e.friend_id, e.user_id)] {
                    let v = bump(tx, &user.to_string(), list::FRIENDS).await?;
                    sqlx::query("UPDATE friendships SET status = 'removed', updated_at = ?, version = ? WHERE user_id = ? AND friend_id = ?")
                        .bind(when)
                        .bind(v)
                        .bind(user.to_string())
                        .bind(friend.to_string())
                        .execute(&mut **tx)
                        .await?;
                    let _: () = ctx.redis.clone().srem(friends_key(user), friend.to_string()).await?;
                }
            }
            RelationEvent::FriendRemarkSet(e) => {
                let v = bump(tx, &e.user_id.to_string(), list::FRIENDS).await?;
                sqlx::query("UPDATE friendships SET remark = ?, updated_at = ?, version = ? WHERE user_id = ? AND friend_id = ?")
                    .bind(&e.remark)
                    .bind(when)
                    .bind(v)
                    .bind(e.user_id.to_string())
                    .bind(e.friend_id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
            RelationEvent::UserBlocked(e) => {
                let v = bump(tx, &e.user_id.to_string(), list::BLOCKS).await?;
                sqlx::query(
                    "INSERT INTO blocks (user_id, blocked_user_id, status, blocked_at, updated_at, version) VALUES (?, ?, 'active', ?, ?, ?) \
                     ON DUPLICATE KEY UPDATE status = 'active', blocked_at = VALUES(blocked_at), updated_at = VALUES(updated_at), version = VALUES(version)",
                )
                .bind(e.user_id.to_string())
                .bind(e.blocked_user_id.to_string())
                .bind(when)
                .bind(when)
                .bind(v)
                .execute(&mut **tx)
                .await?;
                let _: () = ctx.redis.clone().sadd(blocks_key(e.user_id), e.blocked_user_id.to_string()).await?;
            }
            RelationEvent::UserUnblocked(e) => {
                let v = bump(tx, &e.user_id.to_string(), list::BLOCKS).await?;
                sqlx::query("UPDATE blocks SET status = 'removed', updated_at = ?, version = ? WHERE user_id = ? AND blocked_user_id = ?")
                    .bind(when)
                    .bind(v)
                    .bind(e.user_id.to_string())
                    .bind(e.blocked_user_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                let _: () = ctx.redis.clone().srem(blocks_key(e.user_id), e.blocked_user_id.to_string()).await?;
            }
        }
        Ok(())
    }
}
