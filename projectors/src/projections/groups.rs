//! `beaver.groups.v1` → `chat_groups`, `group_members`,
//! `group_join_requests`, the Redis set `beaver:group:<id>:members` (ws-push's
//! fan-out) and the hash `beaver:group:<id>:send` the chat send path checks
//! (membership, roles, mutes, mute-all). `member_count` is recounted from the member rows after
//! every membership change, so it cannot drift.

use super::sync::{bump, list, utc};
use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{group::*, topics, GroupEvent, RawEnvelope};
use beaver_readmodel::{keys, progress::GROUPS_PROJECTOR};
use redis::AsyncCommands;
use sqlx::{MySql, Transaction};
use time::PrimitiveDateTime;
use uuid::Uuid;

pub struct Groups;

type Tx = Transaction<'static, MySql>;

/// Bumps both lists a member row is in: the group's members and the user's groups.
async fn bump_member(tx: &mut Tx, group: Uuid, user: Uuid) -> Result<(i64, i64), sqlx::Error> {
    Ok((bump(tx, &group.to_string(), list::MEMBERS).await?, bump(tx, &user.to_string(), list::GROUPS).await?))
}

async fn add_member(tx: &mut Tx, ctx: &ApplyContext, group: Uuid, user: Uuid, role: Role, when: PrimitiveDateTime) -> Result<(), ApplyError> {
    let active: Option<(String,)> = sqlx::query_as("SELECT status FROM group_members WHERE group_id = ? AND user_id = ? AND status = 'active'")
        .bind(group.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    if active.is_some() {
        return Ok(());
    }
    let (v, uv) = bump_member(tx, group, user).await?;
    sqlx::query(
        "INSERT INTO group_members (group_id, user_id, role, group_nickname, muted_until, status, joined_at, updated_at, version, user_version) \
         VALUES (?, ?, ?, '', NULL, 'active', ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE role = VALUES(role), group_nickname = '', muted_until = NULL, status = 'active', \
           joined_at = VALUES(joined_at), updated_at = VALUES(updated_at), version = VALUES(version), user_version = VALUES(user_version)",
    )
    .bind(group.to_string())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(when)
    .bind(when)
    .bind(v)
    .bind(uv)
    .execute(&mut **tx)
    .await?;
    let _: () = ctx.redis.clone().sadd(keys::group_members(group), user.to_string()).await?;
    Ok(())
}

async fn remove_member(tx: &mut Tx, ctx: &ApplyContext, group: Uuid, user: Uuid, when: PrimitiveDateTime) -> Result<(), ApplyError> {
    update_member(tx, group, user, "status", Some("removed".to_owned()), when).await?;
    let _: () = ctx.redis.clone().srem(keys::group_members(group), user.to_string()).await?;
    Ok(())
}

/// Changes one column of a member's row (status, role, mute, nickname) and bumps its versions.
async fn update_member(tx: &mut Tx, group: Uuid, user: Uuid, set: &str, value: Option<String>, when: PrimitiveDateTime) -> Result<(), sqlx::Error> {
    let (v, uv) = bump_member(tx, group, user).await?;
    sqlx::query(&format!("UPDATE group_members SET {set} = ?, updated_at = ?, version = ?, user_version = ? WHERE group_id = ? AND user_id = ?"))
        .bind(value)
        .bind(when)
        .bind(v)
        .bind(uv)
        .bind(group.to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn active_members(tx: &mut Tx, group: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT user_id FROM group_members WHERE group_id = ? AND status = 'active' ORDER BY user_id")
        .bind(group.to_string())
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().filter_map(|(id,)| Uuid::try_parse(&id).ok()).collect())
}

async fn recount(tx: &mut Tx, group: Uuid, when: PrimitiveDateTime) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chat_groups SET updated_at = ?, member_count = \
         (SELECT COUNT(*) FROM group_members WHERE group_id = ? AND status = 'active') WHERE group_id = ?",
    )
    .bind(when)
    .bind(group.to_string())
    .bind(group.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn close_join_request(tx: &mut Tx, d: &GroupJoinRequestDecided, status: &str, when: PrimitiveDateTime) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE group_join_requests SET status = ?, updated_at = ? WHERE request_id = ? AND status = 'pending'")
        .bind(status)
        .bind(when)
        .bind(d.request_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Rewrites the group's send-state hash from its rows (inside the batch's
/// transaction, so it sees this event's changes), atomically. An absolute
/// value: a replay converges.
async fn write_send_state(tx: &mut Tx, ctx: &ApplyContext, group: Uuid) -> Result<(), ApplyError> {
    let key = keys::group_send_state(group);
    let row: Option<(String, bool)> = sqlx::query_as("SELECT status, mute_all FROM chat_groups WHERE group_id = ?")
        .bind(group.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    if let Some((status, mute_all)) = row.filter(|(status, _)| status == "active").map(|r| (r.0, r.1)) {
        let _ = status;
        let members: Vec<(String, String, Option<PrimitiveDateTime>)> =
            sqlx::query_as("SELECT user_id, role, muted_until FROM group_members WHERE group_id = ? AND status = 'active'")
                .bind(group.to_string())
                .fetch_all(&mut **tx)
                .await?;
        let mut fields: Vec<(String, String)> = Vec::with_capacity(members.len() + 1);
        fields.push(("mute_all".into(), if mute_all { "1" } else { "0" }.into()));
        for (user, role, muted_until) in members {
            let until = muted_until.map(|m| (m.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64).unwrap_or(0);
            fields.push((format!("m:{user}"), format!("{role}|{until}")));
        }
        pipe.hset_multiple(&key, &fields).ignore();
    }
    let _: () = pipe.query_async(&mut ctx.redis.clone()).await?;
    Ok(())
}

#[async_trait::async_trait]
impl Projection for Groups {
    fn name(&self) -> &'static str {
        GROUPS_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::GROUPS]
    }

    async fn apply(&self, tx: &mut Tx, ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = utc(env.occurred_at);
        let event = env.decode::<GroupEvent>()?.payload;
        let group = event.group_id();
        let changes_sending = !matches!(
            event,
            GroupEvent::GroupUpdated(_) | GroupEvent::GroupMemberNicknameSet(_) | GroupEvent::GroupJoinRequested(_) | GroupEvent::GroupJoinRequestRejected(_)
        );
        self.apply_event(tx, ctx, group, event, when).await?;
        if changes_sending {
            write_send_state(tx, ctx, group).await?;
        }
        Ok(())
    }
}

impl Groups {
    async fn apply_event(&self, tx: &mut Tx, ctx: &ApplyContext, group: Uuid, event: GroupEvent, when: PrimitiveDateTime) -> Result<(), ApplyError> {
        match event {
            GroupEvent::GroupCreated(e) => {
                sqlx::query(
                    "INSERT INTO chat_groups (group_id, conversation_id, name, avatar, announcement, owner_id, join_policy, members_can_invite, \
                     mute_all, max_members, member_count, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?, 0, 'active', ?, ?) \
                     ON DUPLICATE KEY UPDATE group_id = group_id",
                )
                .bind(group.to_string())
                .bind(&e.conversation_id)
                .bind(&e.name)
                .bind(&e.avatar)
                .bind(&e.announcement)
                .bind(e.owner_id.to_string())
                .bind(e.join_policy.as_str())
                .bind(e.members_can_invite)
                .bind(e.max_members)
                .bind(when)
                .bind(when)
                .execute(&mut **tx)
                .await?;
                add_member(tx, ctx, group, e.owner_id, Role::Owner, when).await?;
                for m in &e.member_ids {
                    add_member(tx, ctx, group, *m, Role::Member, when).await?;
                }
                recount(tx, group, when).await?;
            }
            GroupEvent::GroupUpdated(e) => {
                sqlx::query(
                    "UPDATE chat_groups SET name = COALESCE(?, name), avatar = COALESCE(?, avatar), announcement = COALESCE(?, announcement), \
                     join_policy = COALESCE(?, join_policy), members_can_invite = COALESCE(?, members_can_invite), updated_at = ? WHERE group_id = ?",
                )
                .bind(&e.name)
                .bind(&e.avatar)
                .bind(&e.announcement)
                .bind(e.join_policy.map(JoinPolicy::as_str))
                .bind(e.members_can_invite)
                .bind(when)
                .bind(group.to_string())
                .execute(&mut **tx)
                .await?;
                if e.name.is_some() || e.avatar.is_some() {
                    // Name and avatar are shown in every member's group list.
                    for user in active_members(tx, group).await? {
                        let uv = bump(tx, &user.to_string(), list::GROUPS).await?;
                        sqlx::query("UPDATE group_members SET user_version = ? WHERE group_id = ? AND user_id = ?")
                            .bind(uv)
                            .bind(group.to_string())
                            .bind(user.to_string())
                            .execute(&mut **tx)
                            .await?;
                    }
                }
            }
            GroupEvent::GroupDissolved(_) => {
                for user in active_members(tx, group).await? {
                    remove_member(tx, ctx, group, user, when).await?;
                }
                sqlx::query("UPDATE chat_groups SET status = 'dissolved', member_count = 0, updated_at = ? WHERE group_id = ?")
                    .bind(when)
                    .bind(group.to_string())
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("UPDATE group_join_requests SET status = 'cancelled', updated_at = ? WHERE group_id = ? AND status = 'pending'")
                    .bind(when)
                    .bind(group.to_string())
                    .execute(&mut **tx)
                    .await?;
                let _: () = ctx.redis.clone().del(keys::group_members(group)).await?;
            }
            GroupEvent::GroupMembersAdded(e) => {
                for user in &e.user_ids {
                    add_member(tx, ctx, group, *user, Role::Member, when).await?;
                }
                recount(tx, group, when).await?;
            }
            GroupEvent::GroupMemberLeft(e) | GroupEvent::GroupMemberKicked(e) => {
                remove_member(tx, ctx, group, e.user_id, when).await?;
                recount(tx, group, when).await?;
            }
            GroupEvent::GroupMemberRoleChanged(e) => {
                update_member(tx, group, e.user_id, "role", Some(e.role.as_str().to_owned()), when).await?;
            }
            GroupEvent::GroupOwnershipTransferred(e) => {
                update_member(tx, group, e.from_user_id, "role", Some(Role::Admin.as_str().to_owned()), when).await?;
                update_member(tx, group, e.to_user_id, "role", Some(Role::Owner.as_str().to_owned()), when).await?;
                sqlx::query("UPDATE chat_groups SET owner_id = ?, updated_at = ? WHERE group_id = ?")
                    .bind(e.to_user_id.to_string())
                    .bind(when)
                    .bind(group.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
            GroupEvent::GroupMemberMuted(e) => {
                let until = e.until.map(|u| utc(u).to_string());
                update_member(tx, group, e.user_id, "muted_until", until, when).await?;
            }
            GroupEvent::GroupMuteAllChanged(e) => {
                sqlx::query("UPDATE chat_groups SET mute_all = ?, updated_at = ? WHERE group_id = ?")
                    .bind(e.muted)
                    .bind(when)
                    .bind(group.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
            GroupEvent::GroupMemberNicknameSet(e) => {
                update_member(tx, group, e.user_id, "group_nickname", Some(e.nickname), when).await?;
            }
            GroupEvent::GroupJoinRequested(e) => {
                sqlx::query(
                    "INSERT INTO group_join_requests (request_id, group_id, user_id, message, invited_by, status, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON DUPLICATE KEY UPDATE request_id = request_id",
                )
                .bind(e.request_id.to_string())
                .bind(group.to_string())
                .bind(e.user_id.to_string())
                .bind(&e.message)
                .bind(e.invited_by.map(|u| u.to_string()))
                .bind(when)
                .bind(when)
                .execute(&mut **tx)
                .await?;
            }
            GroupEvent::GroupJoinRequestApproved(d) => {
                close_join_request(tx, &d, "approved", when).await?;
                add_member(tx, ctx, group, d.user_id, Role::Member, when).await?;
                recount(tx, group, when).await?;
            }
            GroupEvent::GroupJoinRequestRejected(d) => close_join_request(tx, &d, "rejected", when).await?,
        }
        Ok(())
    }
}
