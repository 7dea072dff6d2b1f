//! The group read models (from `beaver.groups.v1`): groups, members (with
//! per-group and per-user versions for sync) and join requests. The Redis
//! side (member sets, the send-state hash) is named in [`crate::keys`].

use crate::sync::{synced_list, SyncedList};
use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use std::collections::HashSet;
use time::PrimitiveDateTime;
use uuid::Uuid;

/// A group as a viewer sees it (`GET /api/group/{id}`, and what a group
/// update answers with).
#[derive(Clone, Debug, Serialize, FromRow, utoipa::ToSchema)]
pub struct GroupInfo {
    #[schema(format = Uuid)]
    pub group_id: String,
    pub conversation_id: String,
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    #[schema(format = Uuid)]
    pub owner_id: String,
    /// `free`, `approval` or `closed`.
    pub join_policy: String,
    pub members_can_invite: bool,
    pub mute_all: bool,
    pub member_count: i32,
    pub max_members: i32,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: PrimitiveDateTime,
    /// The viewer's role (`owner`, `admin` or `member`); `None` for a non-member.
    pub my_role: Option<String>,
}

/// The group as `viewer` sees it; `None` when it does not exist or was dissolved.
pub async fn info(pool: &MySqlPool, group_id: Uuid, viewer: Uuid) -> Result<Option<GroupInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.group_id, g.conversation_id, g.name, g.avatar, g.announcement, g.owner_id, g.join_policy, g.members_can_invite, \
                g.mute_all, g.member_count, g.max_members, g.created_at, m.role AS my_role \
         FROM chat_groups g LEFT JOIN group_members m ON m.group_id = g.group_id AND m.user_id = ? AND m.status = 'active' \
         WHERE g.group_id = ? AND g.status = 'active'",
    )
    .bind(viewer.to_string())
    .bind(group_id.to_string())
    .fetch_optional(pool)
    .await
}

/// What the group commands decide on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    pub owner_id: Uuid,
    /// `open`, `approval` or `invite_only`.
    pub join_policy: String,
    pub members_can_invite: bool,
    pub mute_all: bool,
    pub max_members: i32,
    pub member_count: i32,
}

/// An active group's settings; `None` when it does not exist or was dissolved.
pub async fn load(pool: &MySqlPool, group_id: Uuid) -> Result<Option<GroupRow>, sqlx::Error> {
    let row: Option<(String, String, bool, bool, i32, i32)> = sqlx::query_as(
        "SELECT owner_id, join_policy, members_can_invite, mute_all, max_members, member_count FROM chat_groups WHERE group_id = ? AND status = 'active'",
    )
    .bind(group_id.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(|(owner, join_policy, members_can_invite, mute_all, max_members, member_count)| {
        Ok(GroupRow { owner_id: crate::uuid(&owner)?, join_policy, members_can_invite, mute_all, max_members, member_count })
    })
    .transpose()
}

/// Whether an active group mutes everyone; `None` when there is no such active group.
pub async fn mute_all(pool: &MySqlPool, group_id: Uuid) -> Result<Option<bool>, sqlx::Error> {
    let row: Option<(bool,)> = sqlx::query_as("SELECT mute_all FROM chat_groups WHERE group_id = ? AND status = 'active'")
        .bind(group_id.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.0))
}

/// An active member's role (`owner`, `admin`, `member`) and mute; `None` for a non-member.
pub async fn standing(pool: &MySqlPool, group_id: Uuid, user: Uuid) -> Result<Option<(String, Option<PrimitiveDateTime>)>, sqlx::Error> {
    sqlx::query_as("SELECT role, muted_until FROM group_members WHERE group_id = ? AND user_id = ? AND status = 'active'")
        .bind(group_id.to_string())
        .bind(user.to_string())
        .fetch_optional(pool)
        .await
}

/// Whether `user` may read the group's conversation (an active member).
pub async fn is_member(pool: &MySqlPool, group_id: Uuid, user: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ? AND status = 'active'")
        .bind(group_id.to_string())
        .bind(user.to_string())
        .fetch_optional(pool)
        .await?
        .is_some())
}

/// The viewer's role in an active group: `None` if the group is gone,
/// `Some(None)` if the viewer is not a member.
pub async fn viewer_role(pool: &MySqlPool, group_id: Uuid, viewer: Uuid) -> Result<Option<Option<String>>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT m.role FROM chat_groups g \
         LEFT JOIN group_members m ON m.group_id = g.group_id AND m.user_id = ? AND m.status = 'active' \
         WHERE g.group_id = ? AND g.status = 'active'",
    )
    .bind(viewer.to_string())
    .bind(group_id.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.0))
}

/// The ids among `ids` that are active members.
pub async fn members_among(pool: &MySqlPool, group_id: Uuid, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    crate::subset(pool, "SELECT user_id FROM group_members WHERE status = 'active' AND group_id = ", &[group_id.to_string()], ids, "user_id").await
}

/// The ids among `ids` with a pending join request.
pub async fn pending_among(pool: &MySqlPool, group_id: Uuid, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    crate::subset(pool, "SELECT user_id FROM group_join_requests WHERE status = 'pending' AND group_id = ", &[group_id.to_string()], ids, "user_id").await
}

/// The active owner and admins.
pub async fn admins(pool: &MySqlPool, group_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT user_id FROM group_members WHERE group_id = ? AND status = 'active' AND role IN ('owner', 'admin')")
        .bind(group_id.to_string())
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().filter_map(|r| Uuid::try_parse(&r.0).ok()).collect())
}

/// A join request of a group: who asked, and whether it is still pending.
pub async fn join_request(pool: &MySqlPool, group_id: Uuid, request_id: Uuid) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as("SELECT user_id, status FROM group_join_requests WHERE request_id = ? AND group_id = ?")
        .bind(request_id.to_string())
        .bind(group_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|(user, status)| Ok((crate::uuid(&user)?, status == "pending"))).transpose()
}

/// A group I am in, as my group list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct MyGroup {
    #[schema(format = Uuid)]
    pub group_id: String,
    pub conversation_id: String,
    pub name: String,
    pub avatar: String,
    /// My role: `owner`, `admin` or `member`.
    pub role: String,
    pub member_count: i32,
    #[sqlx(rename = "user_version")]
    pub version: i64,
}

/// A member of a group, with their public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Member {
    #[schema(format = Uuid)]
    pub user_id: String,
    pub username: String,
    pub nickname: String,
    pub avatar: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub group_nickname: String,
    #[serde(serialize_with = "crate::opt_time_text")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub muted_until: Option<PrimitiveDateTime>,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: PrimitiveDateTime,
    pub version: i64,
}

/// A request to join a group (or an invitation awaiting an admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct JoinRequest {
    #[schema(format = Uuid)]
    pub request_id: String,
    #[schema(format = Uuid)]
    pub user_id: String,
    pub message: String,
    /// The member who invited them, for an invitation.
    #[schema(format = Uuid, required = true)]
    pub invited_by: Option<String>,
    /// `pending`, `approved` or `rejected` (`cancelled` once the group is dissolved).
    pub status: String,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: PrimitiveDateTime,
}

/// A group as search shows it to anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct GroupSummary {
    #[schema(format = Uuid)]
    pub group_id: String,
    pub name: String,
    pub avatar: String,
    pub member_count: i32,
    /// `free`, `approval` or `closed`.
    pub join_policy: String,
}

/// The groups `me` is in, changed after `since_version`: `{groups, removed, version, full_sync}`.
pub async fn mine(pool: &MySqlPool, me: Uuid, since_version: Option<i64>) -> Result<SyncedList<MyGroup>, sqlx::Error> {
    synced_list(
        pool,
        (&me.to_string(), "groups"),
        since_version,
        "SELECT m.group_id, m.role, m.status, m.user_version, g.conversation_id, g.name, g.avatar, g.member_count \
         FROM group_members m JOIN chat_groups g ON g.group_id = m.group_id \
         WHERE m.user_id = ? AND m.user_version > ? AND (m.status = 'active' OR ?) ORDER BY m.user_version",
        ("group_id", "group_id", "user_version"),
        "groups",
    )
    .await
}

/// One page of a group's members changed after `since_version` (owner,
/// admins, members; then by join time): `{members, removed, version, full_sync, total}`.
pub async fn members(pool: &MySqlPool, group_id: Uuid, since_version: Option<i64>, limit: u32, offset: u32) -> Result<SyncedList<Member>, sqlx::Error> {
    let gid = group_id.to_string();
    // limit and offset are integers, safe to format into the SQL.
    let sql = format!(
        "SELECT m.user_id, m.role, m.group_nickname, m.muted_until, m.joined_at, m.version, m.status, u.username, u.nickname, u.avatar \
         FROM group_members m JOIN users u ON u.user_id = m.user_id \
         WHERE m.group_id = ? AND m.version > ? AND (m.status = 'active' OR ?) \
         ORDER BY m.status = 'active' DESC, FIELD(m.role, 'owner', 'admin', 'member'), m.joined_at, m.user_id \
         LIMIT {limit} OFFSET {offset}"
    );
    let mut list = synced_list(pool, (&gid, "members"), since_version, &sql, ("user_id", "user_id", "version"), "members").await?;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM group_members WHERE group_id = ? AND status = 'active'").bind(&gid).fetch_one(pool).await?;
    list.total = Some(total);
    Ok(list)
}

/// A group's join requests (pending ones, or `all`), oldest first.
pub async fn join_requests(pool: &MySqlPool, group_id: Uuid, all: bool) -> Result<Vec<JoinRequest>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_id, user_id, message, invited_by, status, created_at FROM group_join_requests \
         WHERE group_id = ? AND (status = 'pending' OR ?) ORDER BY created_at, request_id LIMIT 500",
    )
    .bind(group_id.to_string())
    .bind(all)
    .fetch_all(pool)
    .await
}

/// Active groups by exact id or name substring, the exact id first, then the largest.
pub async fn search(pool: &MySqlPool, term: &str) -> Result<Vec<GroupSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT group_id, name, avatar, member_count, join_policy FROM chat_groups \
         WHERE status = 'active' AND (group_id = ? OR name LIKE ?) ORDER BY (group_id = ?) DESC, member_count DESC, group_id LIMIT 20",
    )
    .bind(term)
    .bind(format!("%{}%", crate::like_escape(term)))
    .bind(term)
    .fetch_all(pool)
    .await
}
