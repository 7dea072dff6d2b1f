//! The group aggregate: settings, the permission matrix, membership and
//! join requests. Every change to a group also says which system notice, if
//! any, its conversation shows ([`notice`]).

use super::{Ctx, DomainError};
use beaver_events::group::*;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use time::OffsetDateTime;
use uuid::Uuid;

pub const NAME_MAX: usize = 64;
pub const ANNOUNCEMENT_MAX: usize = 1000;
pub const AVATAR_MAX: usize = 512;
pub const NICKNAME_MAX: usize = 32;
pub const MESSAGE_MAX: usize = 200;

/// A group as the read model has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub group_id: Uuid,
    pub owner_id: Uuid,
    pub join_policy: JoinPolicy,
    pub members_can_invite: bool,
    pub mute_all: bool,
    pub max_members: u32,
    pub member_count: u32,
}

/// What a member may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListMembers,
    SetOwnNickname,
    Leave,
    UpdateInfo,
    MuteAll,
    DecideJoinRequests,
    Invite,
    /// Kick or mute: also needs to outrank the target.
    Discipline,
    SetRole,
    Transfer,
    Dissolve,
}

fn forbidden(why: &str) -> DomainError {
    DomainError::Forbidden("forbidden", why.to_owned())
}

/// The permission matrix (docs/social.md "Who may do what"): may a user with
/// `actor` role (None: not a member) do `action`?
pub fn authorize(actor: Option<Role>, action: Action, group: &GroupView) -> Result<Role, DomainError> {
    let role = actor.ok_or_else(|| forbidden("you are not a member of this group"))?;
    let allowed = match action {
        Action::ListMembers | Action::SetOwnNickname | Action::Leave => true,
        Action::UpdateInfo | Action::MuteAll | Action::DecideJoinRequests | Action::Discipline => role >= Role::Admin,
        Action::Invite => role >= Role::Admin || group.members_can_invite,
        Action::SetRole | Action::Transfer | Action::Dissolve => role == Role::Owner,
    };
    if allowed {
        Ok(role)
    } else {
        Err(forbidden(match action {
            Action::Invite => "members of this group may not invite",
            Action::SetRole | Action::Transfer | Action::Dissolve => "only the owner may do this",
            _ => "only admins and the owner may do this",
        }))
    }
}

/// Checks the target of an action on another member: it must be someone
/// else, a member, and (for `Discipline`) ranked below the actor.
pub fn check_target(actor: Uuid, actor_role: Role, target: Uuid, target_role: Option<Role>, action: Action) -> Result<Role, DomainError> {
    if actor == target {
        return Err(DomainError::Invalid("user_id", "you cannot do this to yourself".into()));
    }
    let target_role = target_role.ok_or_else(|| DomainError::NotFound("that user is not a member of this group".into()))?;
    if action == Action::Discipline && target_role >= actor_role {
        return Err(forbidden("you may only kick or mute members ranked below you"));
    }
    Ok(target_role)
}

fn text(field: &'static str, value: &str, min: usize, max: usize) -> Result<String, DomainError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DomainError::Invalid(field, format!("{field} must be {min} to {max} characters")));
    }
    Ok(v.to_owned())
}

fn avatar(value: &str) -> Result<String, DomainError> {
    let v = text("avatar", value, 0, AVATAR_MAX)?;
    if !(v.is_empty() || v.starts_with("https://") || v.starts_with("http://") || v.starts_with('/')) {
        return Err(DomainError::Invalid("avatar", "avatar must be an http(s) URL or an absolute path".into()));
    }
    Ok(v)
}

/// `POST /api/group` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// 1–64 characters.
    pub name: String,
    /// The first members besides the creator: the creator's friends.
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
    /// An http(s) URL or an absolute path, up to 512 characters.
    #[serde(default)]
    pub avatar: Option<String>,
    /// Up to 1,000 characters.
    #[serde(default)]
    pub announcement: Option<String>,
    /// Default `approval`.
    #[serde(default)]
    pub join_policy: Option<JoinPolicy>,
    /// Default true.
    #[serde(default)]
    pub members_can_invite: Option<bool>,
    /// This group's size limit, 2 up to the server's limit (the default).
    #[serde(default)]
    pub max_members: Option<u32>,
}

fn create(owner: Uuid, group_id: Uuid, req: CreateGroup, friends: &HashSet<Uuid>, server_max: u32) -> Result<GroupCreated, DomainError> {
    let name = text("name", &req.name, 1, NAME_MAX)?;
    let max_members = req.max_members.unwrap_or(server_max);
    if !(2..=server_max).contains(&max_members) {
        return Err(DomainError::Invalid("max_members", format!("max_members must be 2 to {server_max}")));
    }
    let avatar = avatar(req.avatar.as_deref().unwrap_or(""))?;
    let announcement = text("announcement", req.announcement.as_deref().unwrap_or(""), 0, ANNOUNCEMENT_MAX)?;
    let mut seen = HashSet::new();
    let member_ids: Vec<Uuid> = req.member_ids.into_iter().filter(|m| *m != owner && seen.insert(*m)).collect();
    if member_ids.len() as u64 + 1 > max_members as u64 {
        return Err(DomainError::Invalid("member_ids", format!("a group has at most {max_members} members")));
    }
    let strangers: Vec<String> = member_ids.iter().filter(|m| !friends.contains(m)).map(Uuid::to_string).collect();
    if !strangers.is_empty() {
        return Err(DomainError::Forbidden("not_friends", format!("only friends can be added when creating a group: {}", strangers.join(", "))));
    }
    Ok(GroupCreated {
        group_id,
        conversation_id: group_conversation_id(group_id),
        owner_id: owner,
        name,
        avatar,
        announcement,
        join_policy: req.join_policy.unwrap_or(JoinPolicy::Approval),
        members_can_invite: req.members_can_invite.unwrap_or(true),
        max_members,
        member_ids,
    })
}

/// `PUT /api/group/{id}` body: at least one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    /// 1–64 characters.
    pub name: Option<String>,
    /// An http(s) URL, an absolute path, or `""`; up to 512 characters.
    pub avatar: Option<String>,
    /// Up to 1,000 characters.
    pub announcement: Option<String>,
    pub join_policy: Option<JoinPolicy>,
    pub members_can_invite: Option<bool>,
}

fn update(actor: Uuid, role: Option<Role>, group: &GroupView, req: UpdateGroup) -> Result<GroupUpdated, DomainError> {
    authorize(role, Action::UpdateInfo, group)?;
    if req.name.is_none() && req.avatar.is_none() && req.announcement.is_none() && req.join_policy.is_none() && req.members_can_invite.is_none() {
        return Err(DomainError::Invalid("body", "give at least one of name, avatar, announcement, join_policy, members_can_invite".into()));
    }
    Ok(GroupUpdated {
        group_id: group.group_id,
        by: actor,
        name: req.name.map(|n| text("name", &n, 1, NAME_MAX)).transpose()?,
        avatar: req.avatar.map(|a| avatar(&a)).transpose()?,
        announcement: req.announcement.map(|a| text("announcement", &a, 0, ANNOUNCEMENT_MAX)).transpose()?,
        join_policy: req.join_policy,
        members_can_invite: req.members_can_invite,
    })
}

/// An invitee as the app layer found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invitee {
    pub user_id: Uuid,
    pub is_member: bool,
    pub is_friend_of_inviter: bool,
    pub has_pending_request: bool,
}

/// A join request as the read model has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRequestView {
    pub request_id: Uuid,
    pub user_id: Uuid,
    pub pending: bool,
    pub user_is_member: bool,
}

/// What a user asks of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupCommand {
    Create(CreateGroup),
    Update(UpdateGroup),
    Dissolve,
    /// Invitees are described in [`GroupState::invitees`].
    Invite,
    Kick { user_id: Uuid },
    SetRole { user_id: Uuid, role: Role },
    /// An absent or past `until` lifts the mute.
    Mute { user_id: Uuid, until: Option<OffsetDateTime> },
    Join { message: String },
    DecideJoinRequest { request_id: Uuid, approve: bool },
    Leave,
    Transfer { to: Uuid },
    MuteAll { muted: bool },
    SetNickname { nickname: String },
}

impl GroupCommand {
    /// The other member a command acts on, whose role the state must carry.
    pub fn target(&self) -> Option<Uuid> {
        match self {
            GroupCommand::Kick { user_id } | GroupCommand::SetRole { user_id, .. } | GroupCommand::Mute { user_id, .. } => Some(*user_id),
            GroupCommand::Transfer { to } => Some(*to),
            _ => None,
        }
    }
}

/// The group as a command sees it. The app layer fills what the command
/// needs: `target_role` for commands with a [`GroupCommand::target`],
/// `invitees` for `Invite`, `actor_has_pending_request` for `Join`,
/// `join_request` for `DecideJoinRequest`, `friends_of_actor` for `Create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupState {
    /// `None` before `Create` (and for a group that does not exist).
    pub group: Option<GroupView>,
    /// The actor's role; `None`: not a member.
    pub actor_role: Option<Role>,
    pub target_role: Option<Role>,
    pub invitees: Vec<Invitee>,
    pub actor_has_pending_request: bool,
    pub join_request: Option<JoinRequestView>,
    pub friends_of_actor: HashSet<Uuid>,
    /// The server's largest group (configuration).
    pub server_max_members: u32,
}

/// Decides a group command of `ctx.actor`. A role change to the role the
/// member has already answers no events.
pub fn decide(state: &GroupState, command: GroupCommand, ctx: &Ctx) -> Result<Vec<GroupEvent>, DomainError> {
    let actor = ctx.actor;
    if let GroupCommand::Create(req) = command {
        let group_id = ctx.new_id();
        return Ok(vec![GroupEvent::GroupCreated(create(actor, group_id, req, &state.friends_of_actor, state.server_max_members)?)]);
    }
    let group = state.group.as_ref().ok_or_else(|| DomainError::NotFound("group not found".into()))?;
    let role = state.actor_role;
    let group_id = group.group_id;
    let event = match command {
        GroupCommand::Create(_) => unreachable!("decided above"),
        GroupCommand::Update(req) => GroupEvent::GroupUpdated(update(actor, role, group, req)?),
        GroupCommand::Dissolve => {
            authorize(role, Action::Dissolve, group)?;
            GroupEvent::GroupDissolved(GroupDissolved { group_id, by: actor })
        }
        GroupCommand::Invite => return invite(actor, role, group, &state.invitees, ctx),
        GroupCommand::Kick { user_id } => {
            let role = authorize(role, Action::Discipline, group)?;
            check_target(actor, role, user_id, state.target_role, Action::Discipline)?;
            GroupEvent::GroupMemberKicked(GroupMemberRemoved { group_id, by: actor, user_id })
        }
        GroupCommand::Mute { user_id, until } => {
            let role = authorize(role, Action::Discipline, group)?;
            check_target(actor, role, user_id, state.target_role, Action::Discipline)?;
            GroupEvent::GroupMemberMuted(GroupMemberMuted { group_id, by: actor, user_id, until: until.filter(|u| *u > ctx.now) })
        }
        GroupCommand::SetRole { user_id, role: new_role } => {
            let role = authorize(role, Action::SetRole, group)?;
            let current = check_target(actor, role, user_id, state.target_role, Action::SetRole)?;
            if new_role == Role::Owner {
                return Err(DomainError::Invalid("role", "use transfer to make someone the owner".into()));
            }
            if current == new_role {
                return Ok(vec![]);
            }
            GroupEvent::GroupMemberRoleChanged(GroupMemberRoleChanged { group_id, by: actor, user_id, role: new_role })
        }
        GroupCommand::Transfer { to } => {
            let role = authorize(role, Action::Transfer, group)?;
            check_target(actor, role, to, state.target_role, Action::Transfer)?;
            GroupEvent::GroupOwnershipTransferred(GroupOwnershipTransferred { group_id, from_user_id: actor, to_user_id: to })
        }
        GroupCommand::Join { message } => join(actor, role, group, state.actor_has_pending_request, &message, ctx)?,
        GroupCommand::DecideJoinRequest { approve, .. } => answer_join_request(actor, role, group, state.join_request, approve)?,
        GroupCommand::Leave => {
            if authorize(role, Action::Leave, group)? == Role::Owner {
                return Err(DomainError::Conflict("owner_must_transfer", "transfer the group to another member before leaving".into()));
            }
            GroupEvent::GroupMemberLeft(GroupMemberRemoved { group_id, by: actor, user_id: actor })
        }
        GroupCommand::MuteAll { muted } => {
            authorize(role, Action::MuteAll, group)?;
            GroupEvent::GroupMuteAllChanged(GroupMuteAllChanged { group_id, by: actor, muted })
        }
        GroupCommand::SetNickname { nickname } => {
            authorize(role, Action::SetOwnNickname, group)?;
            let nickname = text("nickname", &nickname, 0, NICKNAME_MAX)?;
            GroupEvent::GroupMemberNicknameSet(GroupMemberNicknameSet { group_id, user_id: actor, nickname })
        }
    };
    Ok(vec![event])
}

/// Admins add directly; members add friends directly and non-friends as the
/// join policy says. Already-members are skipped (the answer lists them).
fn invite(actor: Uuid, role: Option<Role>, group: &GroupView, invitees: &[Invitee], ctx: &Ctx) -> Result<Vec<GroupEvent>, DomainError> {
    let role = authorize(role, Action::Invite, group)?;
    if invitees.is_empty() {
        return Err(DomainError::Invalid("user_ids", "name at least one user to invite".into()));
    }
    let (mut added, mut requested) = (Vec::new(), Vec::new());
    for i in invitees.iter().filter(|i| !i.is_member) {
        if i.user_id == actor {
            return Err(DomainError::Invalid("user_ids", "you cannot invite yourself".into()));
        } else if role >= Role::Admin || i.is_friend_of_inviter || group.join_policy == JoinPolicy::Free {
            added.push(i.user_id);
        } else if group.join_policy == JoinPolicy::Approval {
            if !i.has_pending_request {
                requested.push(i.user_id);
            }
        } else {
            return Err(DomainError::Forbidden("group_closed", "only admins may add people who are not your friends to this group".into()));
        }
    }
    if group.member_count as u64 + added.len() as u64 > group.max_members as u64 {
        return Err(DomainError::Conflict("group_full", format!("the group is limited to {} members", group.max_members)));
    }
    let group_id = group.group_id;
    let mut events = Vec::new();
    if !added.is_empty() {
        events.push(GroupEvent::GroupMembersAdded(GroupMembersAdded { group_id, by: actor, user_ids: added, via: JoinedVia::Invited }));
    }
    for user_id in requested {
        let request_id = ctx.new_id();
        events.push(GroupEvent::GroupJoinRequested(GroupJoinRequested { group_id, request_id, user_id, message: String::new(), invited_by: Some(actor) }));
    }
    Ok(events)
}

/// `user`'s own request to join.
fn join(user: Uuid, role: Option<Role>, group: &GroupView, has_pending_request: bool, message: &str, ctx: &Ctx) -> Result<GroupEvent, DomainError> {
    if role.is_some() {
        return Err(DomainError::Conflict("already_member", "you are already a member".into()));
    }
    let message = text("message", message, 0, MESSAGE_MAX)?;
    match group.join_policy {
        JoinPolicy::Closed => Err(DomainError::Forbidden("group_closed", "this group does not take join requests".into())),
        _ if has_pending_request => Err(DomainError::Conflict("request_pending", "your request to join is pending".into())),
        JoinPolicy::Free => {
            if group.member_count >= group.max_members {
                return Err(DomainError::Conflict("group_full", format!("the group is limited to {} members", group.max_members)));
            }
            Ok(GroupEvent::GroupMembersAdded(GroupMembersAdded { group_id: group.group_id, by: user, user_ids: vec![user], via: JoinedVia::Joined }))
        }
        JoinPolicy::Approval => Ok(GroupEvent::GroupJoinRequested(GroupJoinRequested {
            group_id: group.group_id,
            request_id: ctx.new_id(),
            user_id: user,
            message,
            invited_by: None,
        })),
    }
}

/// An admin's approval or rejection.
fn answer_join_request(actor: Uuid, role: Option<Role>, group: &GroupView, request: Option<JoinRequestView>, approve: bool) -> Result<GroupEvent, DomainError> {
    authorize(role, Action::DecideJoinRequests, group)?;
    let r = request.ok_or_else(|| DomainError::NotFound("no such join request".into()))?;
    if !r.pending {
        return Err(DomainError::Conflict("request_not_pending", "this request was already decided".into()));
    }
    if approve && !r.user_is_member && group.member_count >= group.max_members {
        return Err(DomainError::Conflict("group_full", format!("the group is limited to {} members", group.max_members)));
    }
    let decided = GroupJoinRequestDecided { group_id: group.group_id, request_id: r.request_id, user_id: r.user_id, by: actor };
    Ok(if approve { GroupEvent::GroupJoinRequestApproved(decided) } else { GroupEvent::GroupJoinRequestRejected(decided) })
}

/// The system notice a group event shows in the group's conversation (the
/// content of a `system` message), if it shows one.
pub fn notice(state: &GroupState, event: &GroupEvent) -> Option<Value> {
    Some(match event {
        GroupEvent::GroupCreated(e) => json!({ "event": "group_created", "actor": e.owner_id, "name": e.name, "user_ids": e.member_ids }),
        GroupEvent::GroupUpdated(e) if e.name.is_some() || e.announcement.is_some() => {
            json!({ "event": "group_updated", "actor": e.by, "name": e.name, "announcement": e.announcement })
        }
        GroupEvent::GroupMembersAdded(e) => json!({ "event": "members_added", "actor": e.by, "user_ids": e.user_ids }),
        GroupEvent::GroupJoinRequestApproved(e) if !state.join_request.is_some_and(|r| r.user_is_member) => {
            json!({ "event": "members_added", "actor": e.by, "user_ids": [e.user_id] })
        }
        GroupEvent::GroupMemberKicked(e) => json!({ "event": "member_kicked", "actor": e.by, "user_ids": [e.user_id] }),
        GroupEvent::GroupMemberLeft(e) => json!({ "event": "member_left", "actor": e.by, "user_ids": [e.user_id] }),
        GroupEvent::GroupMemberRoleChanged(e) => json!({ "event": "role_changed", "actor": e.by, "user_ids": [e.user_id], "role": e.role }),
        GroupEvent::GroupOwnershipTransferred(e) => json!({ "event": "owner_changed", "actor": e.from_user_id, "user_ids": [e.to_user_id] }),
        GroupEvent::GroupMuteAllChanged(e) => json!({ "event": "mute_all_changed", "actor": e.by, "muted": e.muted }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, id, user};
    use Role::*;

    fn group(policy: JoinPolicy) -> GroupView {
        GroupView {
            group_id: user(),
            owner_id: user(),
            join_policy: policy,
            members_can_invite: true,
            mute_all: false,
            max_members: 5,
            member_count: 3,
        }
    }

    /// A group of 3 (of at most 5) in which the actor has `role` and the target `target`.
    fn given(policy: JoinPolicy, role: Option<Role>, target: Option<Role>) -> GroupState {
        GroupState { group: Some(group(policy)), actor_role: role, target_role: target, server_max_members: 5, ..Default::default() }
    }

    fn error(state: &GroupState, command: GroupCommand, actor: Uuid) -> &'static str {
        decide(state, command, &ctx(actor)).unwrap_err().kind()
    }

    /// The matrix of docs/social.md, row by row: (action, [owner, admin, member, outsider]).
    #[test]
    fn the_permission_matrix_holds_for_every_role() {
        let g = group(JoinPolicy::Approval);
        let rows = [
            (Action::ListMembers, [true, true, true, false]),
            (Action::SetOwnNickname, [true, true, true, false]),
            (Action::Leave, [true, true, true, false]),
            (Action::UpdateInfo, [true, true, false, false]),
            (Action::MuteAll, [true, true, false, false]),
            (Action::DecideJoinRequests, [true, true, false, false]),
            (Action::Invite, [true, true, true, false]),
            (Action::Discipline, [true, true, false, false]),
            (Action::SetRole, [true, false, false, false]),
            (Action::Transfer, [true, false, false, false]),
            (Action::Dissolve, [true, false, false, false]),
        ];
        for (action, allowed) in rows {
            for (role, expect) in [Some(Owner), Some(Admin), Some(Member), None].into_iter().zip(allowed) {
                assert_eq!(authorize(role, action, &g).is_ok(), expect, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn members_may_invite_only_when_the_group_allows_it() {
        let g = GroupView { members_can_invite: false, ..group(JoinPolicy::Approval) };
        assert_eq!(authorize(Some(Member), Action::Invite, &g).unwrap_err().kind(), "forbidden");
        assert!(authorize(Some(Admin), Action::Invite, &g).is_ok());
    }

    #[test]
    fn given_a_group_that_does_not_exist_every_command_but_create_is_not_found() {
        let state = GroupState { server_max_members: 5, ..Default::default() };
        assert_eq!(error(&state, GroupCommand::Leave, user()), "not_found");
        assert_eq!(error(&state, GroupCommand::Join { message: String::new() }, user()), "not_found");
    }

    #[test]
    fn kicking_and_muting_need_a_higher_rank_than_the_target() {
        let (actor, target) = (user(), user());
        let cases = [(Owner, Admin, true), (Owner, Member, true), (Admin, Member, true), (Admin, Admin, false), (Admin, Owner, false)];
        for (actor_role, target_role, ok) in cases {
            let state = given(JoinPolicy::Approval, Some(actor_role), Some(target_role));
            let kicked = decide(&state, GroupCommand::Kick { user_id: target }, &ctx(actor));
            assert_eq!(kicked.is_ok(), ok, "{actor_role:?} kicks {target_role:?}");
            let muted = decide(&state, GroupCommand::Mute { user_id: target, until: None }, &ctx(actor));
            assert_eq!(muted.is_ok(), ok, "{actor_role:?} mutes {target_role:?}");
        }
        let kick = |user_id| GroupCommand::Kick { user_id };
        assert_eq!(error(&given(JoinPolicy::Approval, Some(Member), Some(Member)), kick(target), actor), "forbidden");
        assert_eq!(error(&given(JoinPolicy::Approval, Some(Owner), Some(Owner)), kick(actor), actor), "user_id");
        assert_eq!(error(&given(JoinPolicy::Approval, Some(Owner), None), kick(target), actor), "not_found");
        let state = given(JoinPolicy::Approval, Some(Admin), Some(Member));
        let events = decide(&state, kick(target), &ctx(actor)).unwrap();
        let group_id = state.group.unwrap().group_id;
        assert_eq!(events, vec![GroupEvent::GroupMemberKicked(GroupMemberRemoved { group_id, by: actor, user_id: target })]);
    }

    #[test]
    fn a_past_mute_time_lifts_the_mute() {
        let state = given(JoinPolicy::Approval, Some(Owner), Some(Member));
        let c = ctx(user());
        let mute = |until| GroupCommand::Mute { user_id: user(), until: Some(until) };
        let events = decide(&state, mute(c.now - time::Duration::minutes(1)), &c).unwrap();
        assert!(matches!(&events[..], [GroupEvent::GroupMemberMuted(m)] if m.until.is_none()));
        let later = c.now + time::Duration::hours(1);
        let events = decide(&state, mute(later), &c).unwrap();
        assert!(matches!(&events[..], [GroupEvent::GroupMemberMuted(m)] if m.until == Some(later)));
    }

    #[test]
    fn roles_change_only_by_the_owner_and_never_to_owner() {
        let (owner, m) = (user(), user());
        let set = |role| GroupCommand::SetRole { user_id: m, role };
        assert_eq!(decide(&given(JoinPolicy::Approval, Some(Owner), Some(Member)), set(Admin), &ctx(owner)).unwrap().len(), 1);
        assert_eq!(decide(&given(JoinPolicy::Approval, Some(Owner), Some(Admin)), set(Admin), &ctx(owner)).unwrap().len(), 0);
        assert_eq!(error(&given(JoinPolicy::Approval, Some(Owner), Some(Member)), set(Owner), owner), "role");
        assert_eq!(error(&given(JoinPolicy::Approval, Some(Admin), Some(Member)), set(Admin), owner), "forbidden");
        assert_eq!(error(&given(JoinPolicy::Approval, Some(Owner), Some(Owner)), GroupCommand::Transfer { to: owner }, owner), "user_id");
        assert!(decide(&given(JoinPolicy::Approval, Some(Owner), Some(Member)), GroupCommand::Transfer { to: m }, &ctx(owner)).is_ok());
    }

    #[test]
    fn the_owner_cannot_leave_but_members_can() {
        assert_eq!(error(&given(JoinPolicy::Approval, Some(Owner), None), GroupCommand::Leave, user()), "owner_must_transfer");
        assert!(decide(&given(JoinPolicy::Approval, Some(Admin), None), GroupCommand::Leave, &ctx(user())).is_ok());
        assert_eq!(error(&given(JoinPolicy::Approval, None, None), GroupCommand::Leave, user()), "forbidden");
    }

    #[test]
    fn joining_follows_the_policy() {
        let u = user();
        let join = |m: &str| GroupCommand::Join { message: m.into() };
        let free = decide(&given(JoinPolicy::Free, None, None), join(""), &ctx(u)).unwrap();
        assert!(matches!(&free[..], [GroupEvent::GroupMembersAdded(a)] if a.user_ids == vec![u] && a.via == JoinedVia::Joined));
        let asked = decide(&given(JoinPolicy::Approval, None, None), join("hi"), &ctx(u)).unwrap();
        assert!(matches!(&asked[..], [GroupEvent::GroupJoinRequested(r)] if r.request_id == id(1) && r.message == "hi"));
        assert_eq!(error(&given(JoinPolicy::Closed, None, None), join(""), u), "group_closed");
        let pending = GroupState { actor_has_pending_request: true, ..given(JoinPolicy::Approval, None, None) };
        assert_eq!(error(&pending, join(""), u), "request_pending");
        assert_eq!(error(&given(JoinPolicy::Free, Some(Member), None), join(""), u), "already_member");
        let mut full = given(JoinPolicy::Free, None, None);
        full.group.as_mut().unwrap().member_count = 5;
        assert_eq!(error(&full, join(""), u), "group_full");
    }

    fn invitee(friend: bool) -> Invitee {
        Invitee { user_id: user(), is_member: false, is_friend_of_inviter: friend, has_pending_request: false }
    }

    fn inviting(policy: JoinPolicy, role: Role, invitees: &[Invitee]) -> GroupState {
        GroupState { invitees: invitees.to_vec(), ..given(policy, Some(role), None) }
    }

    #[test]
    fn members_invite_friends_directly_and_strangers_as_the_policy_says() {
        let me = user();
        let (friend, stranger) = (invitee(true), invitee(false));
        let state = inviting(JoinPolicy::Approval, Member, &[friend, stranger]);
        let group_id = state.group.as_ref().unwrap().group_id;
        assert_eq!(
            decide(&state, GroupCommand::Invite, &ctx(me)).unwrap(),
            vec![
                GroupEvent::GroupMembersAdded(GroupMembersAdded { group_id, by: me, user_ids: vec![friend.user_id], via: JoinedVia::Invited }),
                GroupEvent::GroupJoinRequested(GroupJoinRequested { group_id, request_id: id(1), user_id: stranger.user_id, message: String::new(), invited_by: Some(me) }),
            ]
        );
        let free = decide(&inviting(JoinPolicy::Free, Member, &[stranger]), GroupCommand::Invite, &ctx(me)).unwrap();
        assert!(matches!(&free[..], [GroupEvent::GroupMembersAdded(a)] if a.user_ids == vec![stranger.user_id]));
        assert_eq!(error(&inviting(JoinPolicy::Closed, Member, &[stranger]), GroupCommand::Invite, me), "group_closed");
        let admin = decide(&inviting(JoinPolicy::Closed, Admin, &[stranger]), GroupCommand::Invite, &ctx(me)).unwrap();
        assert!(matches!(&admin[..], [GroupEvent::GroupMembersAdded(a)] if a.user_ids == vec![stranger.user_id]));
    }

    #[test]
    fn an_invitation_that_overfills_the_group_applies_nothing() {
        let three = [invitee(true), invitee(true), invitee(true)];
        assert_eq!(error(&inviting(JoinPolicy::Free, Owner, &three), GroupCommand::Invite, user()), "group_full");
        assert!(decide(&inviting(JoinPolicy::Free, Owner, &three[..2]), GroupCommand::Invite, &ctx(user())).is_ok());
    }

    #[test]
    fn existing_members_and_pending_invitees_change_nothing() {
        let member = Invitee { is_member: true, ..invitee(true) };
        let pending = Invitee { has_pending_request: true, ..invitee(false) };
        assert!(decide(&inviting(JoinPolicy::Approval, Member, &[member, pending]), GroupCommand::Invite, &ctx(user())).unwrap().is_empty());
        assert_eq!(error(&inviting(JoinPolicy::Approval, Member, &[]), GroupCommand::Invite, user()), "user_ids");
    }

    #[test]
    fn creating_needs_friends_a_name_and_room() {
        let owner = user();
        let (f1, stranger) = (user(), user());
        let state = GroupState { friends_of_actor: [f1].into(), server_max_members: 5, ..Default::default() };
        let req = |name: &str, members: Vec<Uuid>| CreateGroup {
            name: name.into(),
            member_ids: members,
            avatar: None,
            announcement: None,
            join_policy: None,
            members_can_invite: None,
            max_members: None,
        };
        let create = |r| GroupCommand::Create(r);
        let created = decide(&state, create(req(" Engine ", vec![f1, f1, owner])), &ctx(owner)).unwrap();
        let [GroupEvent::GroupCreated(created)] = &created[..] else { panic!("{created:?}") };
        assert_eq!((created.group_id, created.name.as_str(), &created.member_ids), (id(1), "Engine", &vec![f1]));
        assert_eq!(created.join_policy, JoinPolicy::Approval);
        assert_eq!(error(&state, create(req("", vec![])), owner), "name");
        assert_eq!(error(&state, create(req(&"n".repeat(65), vec![])), owner), "name");
        assert_eq!(error(&state, create(req("x", vec![stranger])), owner), "not_friends");
        let tiny = GroupState { server_max_members: 1, ..state.clone() };
        assert_eq!(error(&tiny, create(req("x", vec![f1])), owner), "max_members");
        let small = CreateGroup { max_members: Some(2), ..req("x", vec![f1]) };
        assert!(matches!(&decide(&state, create(small), &ctx(owner)).unwrap()[..], [GroupEvent::GroupCreated(g)] if g.max_members == 2));
        let crowded = CreateGroup { max_members: Some(2), ..req("x", vec![f1, user()]) };
        assert_eq!(error(&state, create(crowded), owner), "member_ids");
        let too_big = CreateGroup { max_members: Some(6), ..req("x", vec![]) };
        assert_eq!(error(&state, create(too_big), owner), "max_members");
    }

    #[test]
    fn join_requests_are_decided_by_admins_once() {
        let r = JoinRequestView { request_id: user(), user_id: user(), pending: true, user_is_member: false };
        let with = |role, request| GroupState { join_request: request, ..given(JoinPolicy::Approval, role, None) };
        let approve = |approve| GroupCommand::DecideJoinRequest { request_id: r.request_id, approve };
        let approved = decide(&with(Some(Admin), Some(r)), approve(true), &ctx(user())).unwrap();
        assert!(matches!(&approved[..], [GroupEvent::GroupJoinRequestApproved(_)]));
        assert_eq!(error(&with(Some(Member), Some(r)), approve(true), user()), "forbidden");
        let done = JoinRequestView { pending: false, ..r };
        assert_eq!(error(&with(Some(Admin), Some(done)), approve(false), user()), "request_not_pending");
        assert_eq!(error(&with(Some(Admin), None), approve(false), user()), "not_found");
        let mut full = with(Some(Admin), Some(r));
        full.group.as_mut().unwrap().member_count = 5;
        assert_eq!(error(&full, approve(true), user()), "group_full");
    }

    #[test]
    fn notices_name_the_actor_and_the_members_concerned() {
        let (actor, newcomer) = (user(), user());
        let state = given(JoinPolicy::Approval, Some(Admin), None);
        let group_id = state.group.as_ref().unwrap().group_id;
        let approved = GroupEvent::GroupJoinRequestApproved(GroupJoinRequestDecided { group_id, request_id: user(), user_id: newcomer, by: actor });
        let notice_of = |state: &GroupState| notice(state, &approved);
        let fresh = GroupState { join_request: Some(JoinRequestView { request_id: user(), user_id: newcomer, pending: true, user_is_member: false }), ..state.clone() };
        assert_eq!(notice_of(&fresh), Some(json!({ "event": "members_added", "actor": actor, "user_ids": [newcomer] })));
        let already = GroupState { join_request: fresh.join_request.map(|r| JoinRequestView { user_is_member: true, ..r }), ..state.clone() };
        assert_eq!(notice_of(&already), None, "an approval of a member already in shows nothing");
        let renamed = GroupEvent::GroupUpdated(GroupUpdated { group_id, by: actor, name: None, avatar: Some("/a.png".into()), announcement: None, join_policy: None, members_can_invite: None });
        assert_eq!(notice(&state, &renamed), None, "an avatar change alone shows nothing");
    }
}
