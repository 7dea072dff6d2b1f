//! Group commands. Each locks the group (see [`crate::consistency`]), loads
//! the group and the roles involved from the read models, and lets a pure
//! function in [`crate::domain::groups`] decide.

use crate::{
    consistency::AggregateLock,
    domain::groups::{self as rules, CreateGroup, GroupView, Invitee, JoinRequestView, UpdateGroup},
    written, AppState, Origin,
};
use axum::{
    extract::State,
    response::Response,
    routing::{delete, post, put},
    Extension, Router,
};
use beaver_events::{
    group::{group_conversation_id, JoinPolicy, Role},
    message::MessageSent,
    topics, Actor, Envelope, GroupEvent, MessageEvent,
};
use beaver_platform::{
    auth::AuthUser,
    http::{ApiError, ApiJson, ApiPath, CorrelationId},
};
use beaver_readmodel::{
    group,
    progress::{GROUPS_PROJECTOR, MESSAGES_PROJECTOR},
    relation, user as users,
};
use serde::Deserialize;
use serde_json::json;
use sqlx::MySqlPool;
use std::collections::HashSet;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/group", post(create))
        .route("/api/group/{group_id}", put(update).delete(dissolve))
        .route("/api/group/{group_id}/members", post(invite))
        .route("/api/group/{group_id}/members/{user_id}", delete(kick))
        .route("/api/group/{group_id}/members/{user_id}/role", put(set_role))
        .route("/api/group/{group_id}/members/{user_id}/mute", put(mute))
        .route("/api/group/{group_id}/join", post(join))
        .route("/api/group/{group_id}/join-requests/{request_id}/approve", post(approve))
        .route("/api/group/{group_id}/join-requests/{request_id}/reject", post(reject))
        .route("/api/group/{group_id}/leave", post(leave))
        .route("/api/group/{group_id}/transfer", post(transfer))
        .route("/api/group/{group_id}/mute-all", put(mute_all))
        .route("/api/group/{group_id}/nickname", put(set_nickname))
}

fn origin(user: &AuthUser, c: &CorrelationId) -> Origin {
    Origin { actor: user.user_id, correlation: c.0.clone() }
}

/// The sender of server notices: the nil user id.
pub const SYSTEM_SENDER: Uuid = Uuid::nil();

/// Posts a system notice into the group's conversation, after the group
/// change it reports, and waits until it is sequenced — so it precedes
/// anything members send once the command has answered. Best effort: the
/// group change is already durable, a lost notice is only logged.
async fn notice(s: &AppState, group_id: Uuid, c: &CorrelationId, content: serde_json::Value) {
    let message_id = Uuid::now_v7();
    let event = MessageEvent::MessageSent(MessageSent {
        message_id,
        conversation_id: group_conversation_id(group_id),
        client_msg_id: format!("sys-{}", message_id.simple()),
        sender_id: SYSTEM_SENDER,
        kind: "system".into(),
        content,
        mentions: vec![],
        reply_to: None,
        hidden_from: None,
    });
    match s.append(&Envelope::new(event, Actor::System, c.0.clone(), None)).await {
        Ok(pos) => {
            if let Err(e) = s.visible(MESSAGES_PROJECTOR, topics::MESSAGES, pos).await {
                tracing::warn!(error = %e, "could not wait for a group notice");
            }
        }
        Err(e) => tracing::warn!(error = %e, %group_id, "could not post a group notice"),
    }
}

async fn load_group(pool: &MySqlPool, group_id: Uuid) -> Result<GroupView, ApiError> {
    let row = group::load(pool, group_id).await?.ok_or_else(|| ApiError::NotFound("group not found".into()))?;
    Ok(GroupView {
        group_id,
        owner_id: row.owner_id,
        join_policy: JoinPolicy::parse(&row.join_policy).unwrap_or(JoinPolicy::Approval),
        members_can_invite: row.members_can_invite,
        mute_all: row.mute_all,
        max_members: row.max_members.max(0) as u32,
        member_count: row.member_count.max(0) as u32,
    })
}

/// A member's role and mute, if `user` is an active member of the group.
pub(super) async fn standing(pool: &MySqlPool, group_id: Uuid, user: Uuid) -> Result<Option<(Role, Option<PrimitiveDateTime>)>, ApiError> {
    Ok(group::standing(pool, group_id, user).await?.and_then(|(r, m)| Role::parse(&r).map(|r| (r, m))))
}

async fn role_of(pool: &MySqlPool, group_id: Uuid, user: Uuid) -> Result<Option<Role>, ApiError> {
    Ok(standing(pool, group_id, user).await?.map(|s| s.0))
}

/// Locks the group and loads it with the actor's role.
async fn lock_group(s: &AppState, group_id: Uuid, actor: Uuid) -> Result<(AggregateLock, GroupView, Option<Role>), ApiError> {
    load_group(&s.pool, group_id).await?;
    let lock = AggregateLock::acquire(s, "group", group_id.to_string(), GROUPS_PROJECTOR, topics::GROUPS).await?;
    let group = load_group(&s.pool, group_id).await?;
    let role = role_of(&s.pool, group_id, actor).await?;
    Ok((lock, group, role))
}

async fn existing_users(pool: &MySqlPool, ids: &[Uuid]) -> Result<(), ApiError> {
    let found = users::existing_among(pool, ids).await?;
    match ids.iter().find(|id| !found.contains(id)) {
        Some(missing) => Err(ApiError::NotFound(format!("user {missing} not found"))),
        None => Ok(()),
    }
}

async fn friends_among(pool: &MySqlPool, user: Uuid, ids: &[Uuid]) -> Result<HashSet<Uuid>, ApiError> {
    Ok(relation::friends_among(pool, user, ids).await?)
}

async fn create(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiJson(req): ApiJson<CreateGroup>) -> Result<Response, ApiError> {
    let owner = user.user_id;
    let ids: Vec<Uuid> = req.member_ids.iter().copied().filter(|m| *m != owner).collect();
    existing_users(&s.pool, &ids).await?;
    let friends = friends_among(&s.pool, owner, &ids).await?;
    let group_id = Uuid::now_v7();
    let created = rules::decide_create(owner, group_id, req, &friends, s.config.group_max_members)?;
    let member_count = created.member_ids.len() + 1;
    let content = json!({ "event": "group_created", "actor": owner, "name": created.name, "user_ids": created.member_ids });
    let lock = AggregateLock::acquire(&s, "group", group_id.to_string(), GROUPS_PROJECTOR, topics::GROUPS).await?;
    let visible = s.append_locked(lock, vec![GroupEvent::GroupCreated(created)], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    notice(&s, group_id, &c, content).await;
    Ok(written(visible, json!({ "group_id": group_id, "conversation_id": group_conversation_id(group_id), "member_count": member_count })))
}

async fn update(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(group_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateGroup>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let event = rules::decide_update(user.user_id, role, &group, req)?;
    let content = json!({ "event": "group_updated", "actor": user.user_id, "name": event.name, "announcement": event.announcement });
    let shown = event.name.is_some() || event.announcement.is_some();
    let visible = s.append_locked(lock, vec![GroupEvent::GroupUpdated(event)], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    if shown {
        notice(&s, group_id, &c, content).await;
    }
    let info = group::info(&s.pool, group_id, user.user_id).await?;
    Ok(written(visible, info.map(|i| json!(i)).unwrap_or_else(|| json!({ "group_id": group_id }))))
}

async fn dissolve(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(group_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let event = rules::decide_dissolve(user.user_id, role, &group)?;
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    Ok(written(visible, json!({ "group_id": group_id, "dissolved": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Invite {
    user_ids: Vec<Uuid>,
}

async fn invite(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(group_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<Invite>,
) -> Result<Response, ApiError> {
    let mut seen = HashSet::new();
    let ids: Vec<Uuid> = req.user_ids.into_iter().filter(|id| seen.insert(*id)).collect();
    if ids.len() > s.config.group_max_members as usize {
        return Err(ApiError::invalid("user_ids", "too many users in one invitation"));
    }
    existing_users(&s.pool, &ids).await?;
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let members = group::members_among(&s.pool, group_id, &ids).await?;
    let pending = group::pending_among(&s.pool, group_id, &ids).await?;
    let friends = friends_among(&s.pool, user.user_id, &ids).await?;
    let invitees: Vec<Invitee> = ids
        .iter()
        .map(|id| Invitee {
            user_id: *id,
            is_member: members.contains(id),
            is_friend_of_inviter: friends.contains(id),
            has_pending_request: pending.contains(id),
        })
        .collect();
    let outcome = rules::decide_invite(user.user_id, role, &group, &invitees, Uuid::now_v7)?;
    let events = rules::invite_events(user.user_id, group_id, &outcome);
    let visible = s.append_locked(lock, events, &origin(&user, &c), GROUPS_PROJECTOR).await?;
    if !outcome.added.is_empty() {
        notice(&s, group_id, &c, json!({ "event": "members_added", "actor": user.user_id, "user_ids": outcome.added })).await;
    }
    Ok(written(
        visible,
        json!({
            "added": outcome.added,
            "requested": outcome.requested.iter().map(|(u, r)| json!({ "user_id": u, "request_id": r })).collect::<Vec<_>>(),
            "already_members": outcome.already_members,
        }),
    ))
}

async fn kick(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath((group_id, target)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let target_role = role_of(&s.pool, group_id, target).await?;
    let event = rules::decide_kick(user.user_id, role, &group, target, target_role)?;
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    notice(&s, group_id, &c, json!({ "event": "member_kicked", "actor": user.user_id, "user_ids": [target] })).await;
    Ok(written(visible, json!({ "user_id": target, "removed": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRole {
    role: Role,
}

async fn set_role(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath((group_id, target)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<SetRole>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let target_role = role_of(&s.pool, group_id, target).await?;
    let events: Vec<GroupEvent> = rules::decide_set_role(user.user_id, role, &group, target, target_role, req.role)?.into_iter().collect();
    let changed = !events.is_empty();
    let visible = s.append_locked(lock, events, &origin(&user, &c), GROUPS_PROJECTOR).await?;
    if changed {
        notice(&s, group_id, &c, json!({ "event": "role_changed", "actor": user.user_id, "user_ids": [target], "role": req.role })).await;
    }
    Ok(written(visible, json!({ "user_id": target, "role": req.role })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mute {
    #[serde(with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
}

async fn mute(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath((group_id, target)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<Mute>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let target_role = role_of(&s.pool, group_id, target).await?;
    let event = rules::decide_mute(user.user_id, role, &group, target, target_role, req.until, OffsetDateTime::now_utc())?;
    let until = match &event {
        GroupEvent::GroupMemberMuted(m) => m.until,
        _ => None,
    };
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    let until = until.map(|u| u.format(&time::format_description::well_known::Rfc3339).unwrap_or_default());
    Ok(written(visible, json!({ "user_id": target, "muted_until": until })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Join {
    #[serde(default)]
    message: String,
}

async fn join(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(group_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<Join>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let pending = group::pending_among(&s.pool, group_id, &[user.user_id]).await?;
    let event = rules::decide_join(user.user_id, role, &group, !pending.is_empty(), Uuid::now_v7(), &req.message)?;
    let data = match &event {
        GroupEvent::GroupJoinRequested(r) => json!({ "status": "pending", "request_id": r.request_id }),
        _ => json!({ "status": "joined" }),
    };
    let joined = data["status"] == "joined";
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    if joined {
        notice(&s, group_id, &c, json!({ "event": "members_added", "actor": user.user_id, "user_ids": [user.user_id] })).await;
    }
    Ok(written(visible, data))
}

async fn decide_request(s: AppState, c: CorrelationId, user: AuthUser, group_id: Uuid, request_id: Uuid, approve: bool) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let request = match group::join_request(&s.pool, group_id, request_id).await? {
        Some((requester, pending)) => {
            let is_member = role_of(&s.pool, group_id, requester).await?.is_some();
            Some(JoinRequestView { request_id, user_id: requester, pending, user_is_member: is_member })
        }
        None => None,
    };
    let event = rules::decide_join_request(user.user_id, role, &group, request, approve)?;
    let newcomer = match &event {
        GroupEvent::GroupJoinRequestApproved(d) if !request.is_some_and(|r| r.user_is_member) => Some(d.user_id),
        _ => None,
    };
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    if let Some(newcomer) = newcomer {
        notice(&s, group_id, &c, json!({ "event": "members_added", "actor": user.user_id, "user_ids": [newcomer] })).await;
    }
    Ok(written(visible, json!({ "request_id": request_id, "status": if approve { "approved" } else { "rejected" } })))
}

async fn approve(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath((g, r)): ApiPath<(Uuid, Uuid)>) -> Result<Response, ApiError> {
    decide_request(s, c, user, g, r, true).await
}

async fn reject(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath((g, r)): ApiPath<(Uuid, Uuid)>) -> Result<Response, ApiError> {
    decide_request(s, c, user, g, r, false).await
}

async fn leave(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(group_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let event = rules::decide_leave(user.user_id, role, &group)?;
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    notice(&s, group_id, &c, json!({ "event": "member_left", "actor": user.user_id, "user_ids": [user.user_id] })).await;
    Ok(written(visible, json!({ "group_id": group_id, "left": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    user_id: Uuid,
}

async fn transfer(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(group_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<Transfer>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let target_role = role_of(&s.pool, group_id, req.user_id).await?;
    let event = rules::decide_transfer(user.user_id, role, &group, req.user_id, target_role)?;
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    notice(&s, group_id, &c, json!({ "event": "owner_changed", "actor": user.user_id, "user_ids": [req.user_id] })).await;
    Ok(written(visible, json!({ "group_id": group_id, "owner_id": req.user_id })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteAll {
    muted: bool,
}

async fn mute_all(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(group_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<MuteAll>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let event = rules::decide_mute_all(user.user_id, role, &group, req.muted)?;
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    notice(&s, group_id, &c, json!({ "event": "mute_all_changed", "actor": user.user_id, "muted": req.muted })).await;
    Ok(written(visible, json!({ "group_id": group_id, "mute_all": req.muted })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Nickname {
    nickname: String,
}

async fn set_nickname(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(group_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<Nickname>,
) -> Result<Response, ApiError> {
    let (lock, group, role) = lock_group(&s, group_id, user.user_id).await?;
    let event = rules::decide_nickname(user.user_id, role, &group, &req.nickname)?;
    let nickname = match &event {
        GroupEvent::GroupMemberNicknameSet(e) => e.nickname.clone(),
        _ => String::new(),
    };
    let visible = s.append_locked(lock, vec![event], &origin(&user, &c), GROUPS_PROJECTOR).await?;
    Ok(written(visible, json!({ "group_id": group_id, "group_nickname": nickname })))
}
