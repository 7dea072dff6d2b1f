//! The relation read models (from `beaver.relations.v1`): friend requests,
//! friendships (one row per direction) and blocks, each with its list
//! version for incremental sync.

use crate::sync::{list_version, plan_sync, synced_list, Removed, SyncedList};
use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use time::PrimitiveDateTime;
use std::collections::HashSet;
use uuid::Uuid;

/// What stands between `me` and `them`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairRow {
    pub friends: bool,
    pub i_blocked_them: bool,
    pub they_blocked_me: bool,
    /// My pending request to them.
    pub my_pending_request: Option<Uuid>,
    /// Their pending request to me, unless hidden from me.
    pub their_pending_request: Option<Uuid>,
}

pub async fn pair(pool: &MySqlPool, me: Uuid, them: Uuid) -> Result<PairRow, sqlx::Error> {
    let (me_s, them_s) = (me.to_string(), them.to_string());
    let row: (i64, i64, i64, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT \
           EXISTS(SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ? AND status = 'active'), \
           EXISTS(SELECT 1 FROM blocks WHERE user_id = ? AND blocked_user_id = ? AND status = 'active'), \
           EXISTS(SELECT 1 FROM blocks WHERE user_id = ? AND blocked_user_id = ? AND status = 'active'), \
           (SELECT request_id FROM friend_requests WHERE from_user_id = ? AND to_user_id = ? AND status = 'pending' LIMIT 1), \
           (SELECT request_id FROM friend_requests WHERE from_user_id = ? AND to_user_id = ? AND status = 'pending' AND NOT hidden_from_recipient LIMIT 1)",
    )
    .bind(&me_s)
    .bind(&them_s)
    .bind(&me_s)
    .bind(&them_s)
    .bind(&them_s)
    .bind(&me_s)
    .bind(&me_s)
    .bind(&them_s)
    .bind(&them_s)
    .bind(&me_s)
    .fetch_one(pool)
    .await?;
    Ok(PairRow {
        friends: row.0 != 0,
        i_blocked_them: row.1 != 0,
        they_blocked_me: row.2 != 0,
        my_pending_request: row.3.and_then(|r| Uuid::try_parse(&r).ok()),
        their_pending_request: row.4.and_then(|r| Uuid::try_parse(&r).ok()),
    })
}

/// A friend request as the commands that answer it need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
    pub pending: bool,
    pub hidden_from_recipient: bool,
}

pub async fn request(pool: &MySqlPool, request_id: Uuid) -> Result<Option<RequestRow>, sqlx::Error> {
    let row: Option<(String, String, String, bool)> =
        sqlx::query_as("SELECT from_user_id, to_user_id, status, hidden_from_recipient FROM friend_requests WHERE request_id = ?")
            .bind(request_id.to_string())
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(from, to, status, hidden)| {
        Some(RequestRow {
            from_user_id: Uuid::try_parse(&from).ok()?,
            to_user_id: Uuid::try_parse(&to).ok()?,
            pending: status == "pending",
            hidden_from_recipient: hidden,
        })
    }))
}

/// The ids among `ids` that are `user`'s friends.
pub async fn friends_among(pool: &MySqlPool, user: Uuid, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    crate::subset(pool, "SELECT friend_id FROM friendships WHERE status = 'active' AND user_id = ", &[user.to_string()], ids, "friend_id").await
}

/// A friend request as its sender and recipient list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct FriendRequest {
    #[schema(format = Uuid)]
    pub request_id: String,
    #[schema(format = Uuid)]
    pub from_user_id: String,
    #[schema(format = Uuid)]
    pub to_user_id: String,
    pub message: String,
    /// `pending`, `accepted`, `rejected`.
    pub status: String,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: PrimitiveDateTime,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: PrimitiveDateTime,
    pub version: i64,
}

/// A friend, with their public profile and my remark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Friend {
    #[sqlx(rename = "friend_id")]
    #[schema(format = Uuid)]
    pub user_id: String,
    pub username: String,
    pub nickname: String,
    pub avatar: String,
    pub remark: String,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub since: PrimitiveDateTime,
    pub version: i64,
}

/// Someone I blocked, with their public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Blocked {
    #[sqlx(rename = "blocked_user_id")]
    #[schema(format = Uuid)]
    pub user_id: String,
    pub username: String,
    pub nickname: String,
    pub avatar: String,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub blocked_at: PrimitiveDateTime,
    pub version: i64,
}

/// `me`'s friend requests (incoming ones not hidden from me, outgoing ones),
/// changed after `since_version`: `{requests, removed, version, full_sync}`
/// (a request is never removed, so `removed` is always empty).
pub async fn requests(pool: &MySqlPool, me: Uuid, incoming: bool, outgoing: bool, since_version: Option<i64>) -> Result<SyncedList<FriendRequest>, sqlx::Error> {
    let me = me.to_string();
    let version = list_version(pool, &me, "requests").await?;
    let sync = plan_sync(since_version, version);
    let entries: Vec<FriendRequest> = sqlx::query_as(
        "SELECT request_id, from_user_id, to_user_id, message, status, created_at, updated_at, \
                IF(to_user_id = ?, to_version, from_version) AS version \
         FROM friend_requests \
         WHERE (? AND to_user_id = ? AND NOT hidden_from_recipient AND to_version > ?) \
            OR (? AND from_user_id = ? AND from_version > ?) \
         ORDER BY updated_at DESC, request_id LIMIT 500",
    )
    .bind(&me)
    .bind(incoming)
    .bind(&me)
    .bind(sync.after)
    .bind(outgoing)
    .bind(&me)
    .bind(sync.after)
    .fetch_all(pool)
    .await?;
    let removed: Vec<Removed> = Vec::new();
    Ok(SyncedList { key: "requests", entries, removed, version, full_sync: sync.full_sync, total: None })
}

/// `me`'s friends changed after `since_version`: `{friends, removed, version, full_sync}`.
pub async fn friends(pool: &MySqlPool, me: Uuid, since_version: Option<i64>) -> Result<SyncedList<Friend>, sqlx::Error> {
    synced_list(
        pool,
        (&me.to_string(), "friends"),
        since_version,
        "SELECT f.friend_id, f.remark, f.status, f.since, f.version, u.username, u.nickname, u.avatar \
         FROM friendships f JOIN users u ON u.user_id = f.friend_id \
         WHERE f.user_id = ? AND f.version > ? AND (f.status = 'active' OR ?) ORDER BY f.version",
        ("friend_id", "user_id", "version"),
        "friends",
    )
    .await
}

/// Who `me` has blocked, changed after `since_version`: `{blocks, removed, version, full_sync}`.
pub async fn blocks(pool: &MySqlPool, me: Uuid, since_version: Option<i64>) -> Result<SyncedList<Blocked>, sqlx::Error> {
    synced_list(
        pool,
        (&me.to_string(), "blocks"),
        since_version,
        "SELECT b.blocked_user_id, b.status, b.blocked_at, b.version, u.username, u.nickname, u.avatar \
         FROM blocks b JOIN users u ON u.user_id = b.blocked_user_id \
         WHERE b.user_id = ? AND b.version > ? AND (b.status = 'active' OR ?) ORDER BY b.version",
        ("blocked_user_id", "user_id", "version"),
        "blocks",
    )
    .await
}

/// Whether `a` and `b` have a friend in common (a friends-of-friends check).
pub async fn have_common_friend(pool: &MySqlPool, a: Uuid, b: Uuid) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM friendships fa JOIN friendships fb ON fb.friend_id = fa.friend_id AND fb.user_id = ? AND fb.status = 'active' \
         WHERE fa.user_id = ? AND fa.status = 'active' LIMIT 1",
    )
    .bind(b.to_string())
    .bind(a.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}
