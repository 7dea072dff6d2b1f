//! Group use cases. Each locks the group (see [`crate::store::consistency`]),
//! loads the group and what the command involves, lets [`group::decide`]
//! decide, appends, and posts the system notice the change shows in the
//! group's conversation.

use super::{Origin, Written};
use crate::{store::consistency::AggregateLock, AppState};
use beaver_events::{
    group::{group_conversation_id, JoinPolicy, Role},
    topics, GroupEvent,
};
use beaver_platform::http::ApiError;
use beaver_readmodel::{
    group as read,
    progress::GROUPS_PROJECTOR,
    relation, user as users,
};
use beaver_writemodel::domain::{
    group::{self, GroupCommand, GroupState, GroupView, Invitee, JoinRequestView},
    Ctx,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::MySqlPool;
use std::collections::HashSet;
use time::{format_description::well_known::Rfc3339, PrimitiveDateTime};
use uuid::Uuid;

/// The sender of server notices: the nil user id.
pub const SYSTEM_SENDER: Uuid = Uuid::nil();

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Created)]
pub struct Created {
    pub group_id: Uuid,
    pub conversation_id: String,
    pub member_count: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Dissolved)]
pub struct Dissolved {
    pub group_id: Uuid,
    pub dissolved: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Requested)]
pub struct Requested {
    pub user_id: Uuid,
    pub request_id: Uuid,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Invited)]
pub struct Invited {
    pub added: Vec<Uuid>,
    /// Invitees for whom a join request (awaiting an admin) was filed.
    pub requested: Vec<Requested>,
    pub already_members: Vec<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Removed)]
pub struct Removed {
    pub user_id: Uuid,
    pub removed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::RoleSet)]
pub struct RoleSet {
    pub user_id: Uuid,
    pub role: Role,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Muted)]
pub struct Muted {
    pub user_id: Uuid,
    /// RFC 3339; null: not muted.
    #[schema(format = DateTime)]
    pub muted_until: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Joined)]
pub struct Joined {
    /// `joined` or `pending`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::RequestDecided)]
pub struct RequestDecided {
    pub request_id: Uuid,
    /// `approved` or `rejected`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Left)]
pub struct Left {
    pub group_id: Uuid,
    pub left: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Transferred)]
pub struct Transferred {
    pub group_id: Uuid,
    pub owner_id: Uuid,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::MuteAllSet)]
pub struct MuteAllSet {
    pub group_id: Uuid,
    pub mute_all: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::NicknameSet)]
pub struct NicknameSet {
    pub group_id: Uuid,
    pub group_nickname: String,
}

/// The answer to a settings change: the group as its members see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::Updated)]
#[serde(untagged)]
pub enum Updated {
    Info(Box<beaver_readmodel::group::GroupInfo>),
    /// The group is no longer readable by the caller.
    Id(GroupIdOnly),
}

/// Only the group's id (it has no other field, which tells it from the
/// whole group in the contract's `oneOf`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = group::GroupIdOnly)]
#[serde(deny_unknown_fields)]
pub struct GroupIdOnly {
    pub group_id: Uuid,
}

async fn load_group(pool: &MySqlPool, group_id: Uuid) -> Result<Option<GroupView>, ApiError> {
    Ok(read::load(pool, group_id).await?.map(|row| GroupView {
        group_id,
        owner_id: row.owner_id,
        join_policy: JoinPolicy::parse(&row.join_policy).unwrap_or(JoinPolicy::Approval),
        members_can_invite: row.members_can_invite,
        mute_all: row.mute_all,
        max_members: row.max_members.max(0) as u32,
        member_count: row.member_count.max(0) as u32,
    }))
}

/// A member's role and mute, if `user` is an active member of the group.
pub(crate) async fn standing(pool: &MySqlPool, group_id: Uuid, user: Uuid) -> Result<Option<(Role, Option<PrimitiveDateTime>)>, ApiError> {
    Ok(read::standing(pool, group_id, user).await?.and_then(|(r, m)| Role::parse(&r).map(|r| (r, m))))
}

async fn role_of(pool: &MySqlPool, group_id: Uuid, user: Uuid) -> Result<Option<Role>, ApiError> {
    Ok(standing(pool, group_id, user).await?.map(|s| s.0))
}

/// 404 naming the first of `ids` without an account.
async fn existing_users(pool: &MySqlPool, ids: &[Uuid]) -> Result<(), ApiError> {
    let found = users::existing_among(pool, ids).await?;
    match ids.iter().find(|id| !found.contains(id)) {
        Some(missing) => Err(ApiError::NotFound(format!("user {missing} not found"))),
        None => Ok(()),
    }
}

/// Loads what `command` needs about the group (already locked).
async fn load_state(s: &AppState, group_id: Uuid, actor: Uuid, command: &GroupCommand, invitees: &[Uuid]) -> Result<GroupState, ApiError> {
    let pool = &s.pool;
    let mut state = GroupState {
        group: load_group(pool, group_id).await?,
        actor_role: role_of(pool, group_id, actor).await?,
        server_max_members: s.config.group_max_members,
        ..Default::default()
    };
    if let Some(target) = command.target() {
        state.target_role = role_of(pool, group_id, target).await?;
    }
    match command {
        GroupCommand::Invite => {
            let members = read::members_among(pool, group_id, invitees).await?;
            let pending = read::pending_among(pool, group_id, invitees).await?;
            let friends = relation::friends_among(pool, actor, invitees).await?;
            state.invitees = invitees
                .iter()
                .map(|id| Invitee {
                    user_id: *id,
                    is_member: members.contains(id),
                    is_friend_of_inviter: friends.contains(id),
                    has_pending_request: pending.contains(id),
                })
                .collect();
        }
        GroupCommand::Join { .. } => state.actor_has_pending_request = !read::pending_among(pool, group_id, &[actor]).await?.is_empty(),
        GroupCommand::DecideJoinRequest { request_id, .. } => {
            if let Some((requester, pending)) = read::join_request(pool, group_id, *request_id).await? {
                let user_is_member = role_of(pool, group_id, requester).await?.is_some();
                state.join_request = Some(JoinRequestView { request_id: *request_id, user_id: requester, pending, user_is_member });
            }
        }
        _ => {}
    }
    Ok(state)
}

/// Locks the group, loads its state, decides, appends and posts the notices.
async fn execute(s: &AppState, origin: &Origin, group_id: Uuid, command: GroupCommand, invitees: &[Uuid]) -> Result<(GroupState, Vec<GroupEvent>, bool), ApiError> {
    if load_group(&s.pool, group_id).await?.is_none() {
        return Err(ApiError::NotFound("group not found".into()));
    }
    let lock = AggregateLock::acquire(s, "group", group_id.to_string(), GROUPS_PROJECTOR, topics::GROUPS).await?;
    let state = load_state(s, group_id, origin.actor, &command, invitees).await?;
    let events = group::decide(&state, command, &Ctx::live(origin.actor))?;
    let visible = s.append_locked(lock, events.clone(), origin, GROUPS_PROJECTOR).await?;
    post_notices(s, origin, group_id, &state, &events).await;
    Ok((state, events, visible))
}

/// Posts the system notices `events` show into the group's conversation,
/// after the change they report, waiting until each is stored — so it
/// precedes anything members send once the command has answered. Best
/// effort: the group change is already durable, a lost notice is only logged.
async fn post_notices(s: &AppState, origin: &Origin, group_id: Uuid, state: &GroupState, events: &[GroupEvent]) {
    for content in events.iter().filter_map(|e| group::notice(state, e)) {
        notice(s, group_id, &origin.correlation, content).await;
    }
}

async fn notice(s: &AppState, group_id: Uuid, correlation: &str, content: Value) {
    let client_msg_id = format!("sys-{}", Uuid::now_v7().simple());
    super::system_notice(s, group_conversation_id(group_id), client_msg_id, correlation, content).await;
}

pub async fn create(s: &AppState, origin: &Origin, req: group::CreateGroup) -> Result<Written<Created>, ApiError> {
    let owner = origin.actor;
    let ids: Vec<Uuid> = req.member_ids.iter().copied().filter(|m| *m != owner).collect();
    existing_users(&s.pool, &ids).await?;
    let state = GroupState {
        friends_of_actor: relation::friends_among(&s.pool, owner, &ids).await?,
        server_max_members: s.config.group_max_members,
        ..Default::default()
    };
    let events = group::decide(&state, GroupCommand::Create(req), &Ctx::live(owner))?;
    let Some(GroupEvent::GroupCreated(created)) = events.first() else { unreachable!("creating decides GroupCreated") };
    let answer = Created { group_id: created.group_id, conversation_id: created.conversation_id.clone(), member_count: created.member_ids.len() + 1 };
    // A new group: its lock is free, and taking it records the group's head.
    let lock = AggregateLock::acquire(s, "group", answer.group_id.to_string(), GROUPS_PROJECTOR, topics::GROUPS).await?;
    let visible = s.append_locked(lock, events.clone(), origin, GROUPS_PROJECTOR).await?;
    post_notices(s, origin, answer.group_id, &state, &events).await;
    Ok(Written::new(visible, answer))
}

pub async fn update(s: &AppState, origin: &Origin, group_id: Uuid, req: group::UpdateGroup) -> Result<Written<Updated>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::Update(req), &[]).await?;
    let info = read::info(&s.pool, group_id, origin.actor).await?;
    Ok(Written::new(visible, info.map(|i| Updated::Info(Box::new(i))).unwrap_or(Updated::Id(GroupIdOnly { group_id }))))
}

pub async fn dissolve(s: &AppState, origin: &Origin, group_id: Uuid) -> Result<Written<Dissolved>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::Dissolve, &[]).await?;
    Ok(Written::new(visible, Dissolved { group_id, dissolved: true }))
}

pub async fn invite(s: &AppState, origin: &Origin, group_id: Uuid, user_ids: Vec<Uuid>) -> Result<Written<Invited>, ApiError> {
    let mut seen = HashSet::new();
    let ids: Vec<Uuid> = user_ids.into_iter().filter(|id| seen.insert(*id)).collect();
    if ids.len() > s.config.group_max_members as usize {
        return Err(ApiError::invalid("user_ids", "too many users in one invitation"));
    }
    existing_users(&s.pool, &ids).await?;
    let (state, events, visible) = execute(s, origin, group_id, GroupCommand::Invite, &ids).await?;
    let mut answer = Invited {
        added: vec![],
        requested: vec![],
        already_members: state.invitees.iter().filter(|i| i.is_member).map(|i| i.user_id).collect(),
    };
    for event in events {
        match event {
            GroupEvent::GroupMembersAdded(e) => answer.added = e.user_ids,
            GroupEvent::GroupJoinRequested(e) => answer.requested.push(Requested { user_id: e.user_id, request_id: e.request_id }),
            _ => {}
        }
    }
    Ok(Written::new(visible, answer))
}

pub async fn kick(s: &AppState, origin: &Origin, group_id: Uuid, user_id: Uuid) -> Result<Written<Removed>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::Kick { user_id }, &[]).await?;
    Ok(Written::new(visible, Removed { user_id, removed: true }))
}

pub async fn set_role(s: &AppState, origin: &Origin, group_id: Uuid, user_id: Uuid, role: Role) -> Result<Written<RoleSet>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::SetRole { user_id, role }, &[]).await?;
    Ok(Written::new(visible, RoleSet { user_id, role }))
}

pub async fn mute(s: &AppState, origin: &Origin, group_id: Uuid, user_id: Uuid, until: Option<time::OffsetDateTime>) -> Result<Written<Muted>, ApiError> {
    let (_, events, visible) = execute(s, origin, group_id, GroupCommand::Mute { user_id, until }, &[]).await?;
    let until = match events.first() {
        Some(GroupEvent::GroupMemberMuted(m)) => m.until,
        _ => None,
    };
    Ok(Written::new(visible, Muted { user_id, muted_until: until.map(|u| u.format(&Rfc3339).unwrap_or_default()) }))
}

pub async fn join(s: &AppState, origin: &Origin, group_id: Uuid, message: String) -> Result<Written<Joined>, ApiError> {
    let (_, events, visible) = execute(s, origin, group_id, GroupCommand::Join { message }, &[]).await?;
    let answer = match events.first() {
        Some(GroupEvent::GroupJoinRequested(r)) => Joined { status: "pending", request_id: Some(r.request_id) },
        _ => Joined { status: "joined", request_id: None },
    };
    Ok(Written::new(visible, answer))
}

pub async fn answer_join_request(s: &AppState, origin: &Origin, group_id: Uuid, request_id: Uuid, approve: bool) -> Result<Written<RequestDecided>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::DecideJoinRequest { request_id, approve }, &[]).await?;
    Ok(Written::new(visible, RequestDecided { request_id, status: if approve { "approved" } else { "rejected" } }))
}

pub async fn leave(s: &AppState, origin: &Origin, group_id: Uuid) -> Result<Written<Left>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::Leave, &[]).await?;
    Ok(Written::new(visible, Left { group_id, left: true }))
}

pub async fn transfer(s: &AppState, origin: &Origin, group_id: Uuid, to: Uuid) -> Result<Written<Transferred>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::Transfer { to }, &[]).await?;
    Ok(Written::new(visible, Transferred { group_id, owner_id: to }))
}

pub async fn mute_all(s: &AppState, origin: &Origin, group_id: Uuid, muted: bool) -> Result<Written<MuteAllSet>, ApiError> {
    let (_, _, visible) = execute(s, origin, group_id, GroupCommand::MuteAll { muted }, &[]).await?;
    Ok(Written::new(visible, MuteAllSet { group_id, mute_all: muted }))
}

pub async fn set_nickname(s: &AppState, origin: &Origin, group_id: Uuid, nickname: String) -> Result<Written<NicknameSet>, ApiError> {
    let (_, events, visible) = execute(s, origin, group_id, GroupCommand::SetNickname { nickname }, &[]).await?;
    let group_nickname = match events.into_iter().next() {
        Some(GroupEvent::GroupMemberNicknameSet(e)) => e.nickname,
        _ => String::new(),
    };
    Ok(Written::new(visible, NicknameSet { group_id, group_nickname }))
}
