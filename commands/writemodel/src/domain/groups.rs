//! Group rules: settings, the permission matrix, membership and join requests.

use super::DomainError;
use beaver_events::group::*;
use serde::Deserialize;
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
    if !v.is_empty() && !(v.starts_with("https://") || v.starts_with("http://") || v.starts_with('/')) {
        return Err(DomainError::Invalid("avatar", "avatar must be an http(s) URL or an absolute path".into()));
    }
    Ok(v)
}

/// `POST /api/group` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub announcement: Option<String>,
    #[serde(default)]
    pub join_policy: Option<JoinPolicy>,
    #[serde(default)]
    pub members_can_invite: Option<bool>,
    /// This group's size limit, 2 up to the server's limit (the default).
    #[serde(default)]
    pub max_members: Option<u32>,
}

/// Decides a new group. `friends` are the owner's friends among `member_ids`.
pub fn decide_create(owner: Uuid, group_id: Uuid, req: CreateGroup, friends: &HashSet<Uuid>, server_max: u32) -> Result<GroupCreated, DomainError> {
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

/// `PUT /api/group/{id}` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub announcement: Option<String>,
    pub join_policy: Option<JoinPolicy>,
    pub members_can_invite: Option<bool>,
}

/// Decides a settings change (admins and the owner).
pub fn decide_update(actor: Uuid, role: Option<Role>, group: &GroupView, req: UpdateGroup) -> Result<GroupUpdated, DomainError> {
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

/// An invitee as the handler found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invitee {
    pub user_id: Uuid,
    pub is_member: bool,
    pub is_friend_of_inviter: bool,
    pub has_pending_request: bool,
}

/// What an invitation does to each invitee.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteOutcome {
    pub added: Vec<Uuid>,
    /// Invitees for whom a join request (awaiting an admin) is filed, with its id.
    pub requested: Vec<(Uuid, Uuid)>,
    pub already_members: Vec<Uuid>,
}

/// Decides an invitation: admins add directly; members add friends directly
/// and non-friends as the join policy says. `new_request_id` names new join requests.
pub fn decide_invite(
    actor: Uuid,
    role: Option<Role>,
    group: &GroupView,
    invitees: &[Invitee],
    mut new_request_id: impl FnMut() -> Uuid,
) -> Result<InviteOutcome, DomainError> {
    let role = authorize(role, Action::Invite, group)?;
    if invitees.is_empty() {
        return Err(DomainError::Invalid("user_ids", "name at least one user to invite".into()));
    }
    let mut out = InviteOutcome::default();
    for i in invitees {
        if i.is_member {
            out.already_members.push(i.user_id);
        } else if i.user_id == actor {
            return Err(DomainError::Invalid("user_ids", "you cannot invite yourself".into()));
        } else if role >= Role::Admin || i.is_friend_of_inviter || group.join_policy == JoinPolicy::Free {
            out.added.push(i.user_id);
        } else if group.join_policy == JoinPolicy::Approval {
            if !i.has_pending_request {
                out.requested.push((i.user_id, new_request_id()));
            }
        } else {
            return Err(DomainError::Forbidden("group_closed", "only admins may add people who are not your friends to this group".into()));
        }
    }
    if group.member_count as u64 + out.added.len() as u64 > group.max_members as u64 {
        return Err(DomainError::Conflict("group_full", format!("the group is limited to {} members", group.max_members)));
    }
    Ok(out)
}

/// The events an invitation appends.
pub fn invite_events(actor: Uuid, group_id: Uuid, outcome: &InviteOutcome) -> Vec<GroupEvent> {
    let mut events = Vec::new();
    if !outcome.added.is_empty() {
        events.push(GroupEvent::GroupMembersAdded(GroupMembersAdded { group_id, by: actor, user_ids: outcome.added.clone(), via: JoinedVia::Invited }));
    }
    for (user_id, request_id) in &outcome.requested {
        events.push(GroupEvent::GroupJoinRequested(GroupJoinRequested {
            group_id,
            request_id: *request_id,
            user_id: *user_id,
            message: String::new(),
            invited_by: Some(actor),
        }));
    }
    events
}

/// Decides `user`'s own request to join.
pub fn decide_join(user: Uuid, role: Option<Role>, group: &GroupView, has_pending_request: bool, request_id: Uuid, message: &str) -> Result<GroupEvent, DomainError> {
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
            request_id,
            user_id: user,
            message,
            invited_by: None,
        })),
    }
}

/// A join request as the read model has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRequestView {
    pub request_id: Uuid,
    pub user_id: Uuid,
    pub pending: bool,
    pub user_is_member: bool,
}

/// Decides an admin's approval or rejection.
pub fn decide_join_request(actor: Uuid, role: Option<Role>, group: &GroupView, request: Option<JoinRequestView>, approve: bool) -> Result<GroupEvent, DomainError> {
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

/// Decides leaving; the owner must hand the group over first.
pub fn decide_leave(user: Uuid, role: Option<Role>, group: &GroupView) -> Result<GroupEvent, DomainError> {
    if authorize(role, Action::Leave, group)? == Role::Owner {
        return Err(DomainError::Conflict("owner_must_transfer", "transfer the group to another member before leaving".into()));
    }
    Ok(GroupEvent::GroupMemberLeft(GroupMemberRemoved { group_id: group.group_id, by: user, user_id: user }))
}

/// Decides a kick.
pub fn decide_kick(actor: Uuid, role: Option<Role>, group: &GroupView, target: Uuid, target_role: Option<Role>) -> Result<GroupEvent, DomainError> {
    let role = authorize(role, Action::Discipline, group)?;
    check_target(actor, role, target, target_role, Action::Discipline)?;
    Ok(GroupEvent::GroupMemberKicked(GroupMemberRemoved { group_id: group.group_id, by: actor, user_id: target }))
}

/// Decides a mute; an absent or past `until` lifts it.
pub fn decide_mute(
    actor: Uuid,
    role: Option<Role>,
    group: &GroupView,
    target: Uuid,
    target_role: Option<Role>,
    until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<GroupEvent, DomainError> {
    let role = authorize(role, Action::Discipline, group)?;
    check_target(actor, role, target, target_role, Action::Discipline)?;
    Ok(GroupEvent::GroupMemberMuted(GroupMemberMuted { group_id: group.group_id, by: actor, user_id: target, until: until.filter(|u| *u > now) }))
}

/// Decides a role change (owner only; to admin or member). `None`: no change.
pub fn decide_set_role(actor: Uuid, role: Option<Role>, group: &GroupView, target: Uuid, target_role: Option<Role>, new_role: Role) -> Result<Option<GroupEvent>, DomainError> {
    let role = authorize(role, Action::SetRole, group)?;
    let current = check_target(actor, role, target, target_role, Action::SetRole)?;
    if new_role == Role::Owner {
        return Err(DomainError::Invalid("role", "use transfer to make someone the owner".into()));
    }
    Ok((current != new_role).then_some(GroupEvent::GroupMemberRoleChanged(GroupMemberRoleChanged { group_id: group.group_id, by: actor, user_id: target, role: new_role })))
}

/// Decides handing the group to another member.
pub fn decide_transfer(actor: Uuid, role: Option<Role>, group: &GroupView, target: Uuid, target_role: Option<Role>) -> Result<GroupEvent, DomainError> {
    let role = authorize(role, Action::Transfer, group)?;
    check_target(actor, role, target, target_role, Action::Transfer)?;
    Ok(GroupEvent::GroupOwnershipTransferred(GroupOwnershipTransferred { group_id: group.group_id, from_user_id: actor, to_user_id: target }))
}

/// Decides muting everyone but admins and the owner.
pub fn decide_mute_all(actor: Uuid, role: Option<Role>, group: &GroupView, muted: bool) -> Result<GroupEvent, DomainError> {
    authorize(role, Action::MuteAll, group)?;
    Ok(GroupEvent::GroupMuteAllChanged(GroupMuteAllChanged { group_id: group.group_id, by: actor, muted }))
}

/// Decides a member's own nickname in the group.
pub fn decide_nickname(user: Uuid, role: Option<Role>, group: &GroupView, nickname: &str) -> Result<GroupEvent, DomainError> {
    authorize(role, Action::SetOwnNickname, group)?;
    let nickname = text("nickname", nickname, 0, NICKNAME_MAX)?;
    Ok(GroupEvent::GroupMemberNicknameSet(GroupMemberNicknameSet { group_id: group.group_id, user_id: user, nickname }))
}

/// Decides dissolving (owner only).
pub fn decide_dissolve(actor: Uuid, role: Option<Role>, group: &GroupView) -> Result<GroupEvent, DomainError> {
    authorize(role, Action::Dissolve, group)?;
    Ok(GroupEvent::GroupDissolved(GroupDissolved { group_id: group.group_id, by: actor }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn group(policy: JoinPolicy) -> GroupView {
        GroupView {
            group_id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            join_policy: policy,
            members_can_invite: true,
            mute_all: false,
            max_members: 5,
            member_count: 3,
        }
    }

    fn kind(e: DomainError) -> &'static str {
        match e {
            DomainError::Invalid(f, _) => f,
            DomainError::Conflict(k, _) | DomainError::Forbidden(k, _) => k,
            DomainError::NotFound(_) => "not_found",
        }
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
        assert_eq!(kind(authorize(Some(Member), Action::Invite, &g).unwrap_err()), "forbidden");
        assert!(authorize(Some(Admin), Action::Invite, &g).is_ok());
    }

    #[test]
    fn kicking_and_muting_need_a_higher_rank_than_the_target() {
        let g = group(JoinPolicy::Approval);
        let (actor, target) = (Uuid::now_v7(), Uuid::now_v7());
        let cases = [
            (Owner, Admin, true),
            (Owner, Member, true),
            (Admin, Member, true),
            (Admin, Admin, false),
            (Admin, Owner, false),
        ];
        for (actor_role, target_role, ok) in cases {
            assert_eq!(decide_kick(actor, Some(actor_role), &g, target, Some(target_role)).is_ok(), ok, "{actor_role:?} kicks {target_role:?}");
            let muted = decide_mute(actor, Some(actor_role), &g, target, Some(target_role), None, OffsetDateTime::now_utc());
            assert_eq!(muted.is_ok(), ok, "{actor_role:?} mutes {target_role:?}");
        }
        assert_eq!(kind(decide_kick(actor, Some(Member), &g, target, Some(Member)).unwrap_err()), "forbidden");
        assert_eq!(kind(decide_kick(actor, Some(Owner), &g, actor, Some(Owner)).unwrap_err()), "user_id");
        assert_eq!(kind(decide_kick(actor, Some(Owner), &g, target, None).unwrap_err()), "not_found");
    }

    #[test]
    fn a_past_mute_time_lifts_the_mute() {
        let g = group(JoinPolicy::Approval);
        let now = OffsetDateTime::now_utc();
        let e = decide_mute(Uuid::now_v7(), Some(Owner), &g, Uuid::now_v7(), Some(Member), Some(now - time::Duration::minutes(1)), now).unwrap();
        assert!(matches!(e, GroupEvent::GroupMemberMuted(m) if m.until.is_none()));
        let later = now + time::Duration::hours(1);
        let e = decide_mute(Uuid::now_v7(), Some(Owner), &g, Uuid::now_v7(), Some(Member), Some(later), now).unwrap();
        assert!(matches!(e, GroupEvent::GroupMemberMuted(m) if m.until == Some(later)));
    }

    #[test]
    fn roles_change_only_by_the_owner_and_never_to_owner() {
        let g = group(JoinPolicy::Approval);
        let (owner, m) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(decide_set_role(owner, Some(Owner), &g, m, Some(Member), Admin).unwrap().is_some());
        assert!(decide_set_role(owner, Some(Owner), &g, m, Some(Admin), Admin).unwrap().is_none());
        assert_eq!(kind(decide_set_role(owner, Some(Owner), &g, m, Some(Member), Owner).unwrap_err()), "role");
        assert_eq!(kind(decide_set_role(owner, Some(Admin), &g, m, Some(Member), Admin).unwrap_err()), "forbidden");
        assert_eq!(kind(decide_transfer(owner, Some(Owner), &g, owner, Some(Owner)).unwrap_err()), "user_id");
        assert!(decide_transfer(owner, Some(Owner), &g, m, Some(Member)).is_ok());
    }

    #[test]
    fn the_owner_cannot_leave_but_members_can() {
        let g = group(JoinPolicy::Approval);
        assert_eq!(kind(decide_leave(Uuid::now_v7(), Some(Owner), &g).unwrap_err()), "owner_must_transfer");
        assert!(decide_leave(Uuid::now_v7(), Some(Admin), &g).is_ok());
        assert_eq!(kind(decide_leave(Uuid::now_v7(), None, &g).unwrap_err()), "forbidden");
    }

    #[test]
    fn joining_follows_the_policy() {
        let (u, rid) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(matches!(decide_join(u, None, &group(JoinPolicy::Free), false, rid, "").unwrap(), GroupEvent::GroupMembersAdded(_)));
        assert!(matches!(decide_join(u, None, &group(JoinPolicy::Approval), false, rid, "hi").unwrap(), GroupEvent::GroupJoinRequested(r) if r.request_id == rid));
        assert_eq!(kind(decide_join(u, None, &group(JoinPolicy::Closed), false, rid, "").unwrap_err()), "group_closed");
        assert_eq!(kind(decide_join(u, None, &group(JoinPolicy::Approval), true, rid, "").unwrap_err()), "request_pending");
        assert_eq!(kind(decide_join(u, Some(Member), &group(JoinPolicy::Free), false, rid, "").unwrap_err()), "already_member");
        let full = GroupView { member_count: 5, ..group(JoinPolicy::Free) };
        assert_eq!(kind(decide_join(u, None, &full, false, rid, "").unwrap_err()), "group_full");
    }

    fn invitee(friend: bool) -> Invitee {
        Invitee { user_id: Uuid::now_v7(), is_member: false, is_friend_of_inviter: friend, has_pending_request: false }
    }

    #[test]
    fn members_invite_friends_directly_and_strangers_as_the_policy_says() {
        let me = Uuid::now_v7();
        let (friend, stranger) = (invitee(true), invitee(false));
        let approval = group(JoinPolicy::Approval);
        let out = decide_invite(me, Some(Member), &approval, &[friend, stranger], Uuid::now_v7).unwrap();
        assert_eq!(out.added, vec![friend.user_id]);
        assert_eq!(out.requested.iter().map(|r| r.0).collect::<Vec<_>>(), vec![stranger.user_id]);
        let free = decide_invite(me, Some(Member), &group(JoinPolicy::Free), &[stranger], Uuid::now_v7).unwrap();
        assert_eq!(free.added, vec![stranger.user_id]);
        assert_eq!(kind(decide_invite(me, Some(Member), &group(JoinPolicy::Closed), &[stranger], Uuid::now_v7).unwrap_err()), "group_closed");
        let admin = decide_invite(me, Some(Admin), &group(JoinPolicy::Closed), &[stranger], Uuid::now_v7).unwrap();
        assert_eq!(admin.added, vec![stranger.user_id]);
    }

    #[test]
    fn an_invitation_that_overfills_the_group_applies_nothing() {
        let g = group(JoinPolicy::Free); // 3 of 5
        let three = [invitee(true), invitee(true), invitee(true)];
        assert_eq!(kind(decide_invite(Uuid::now_v7(), Some(Owner), &g, &three, Uuid::now_v7).unwrap_err()), "group_full");
        assert!(decide_invite(Uuid::now_v7(), Some(Owner), &g, &three[..2], Uuid::now_v7).is_ok());
    }

    #[test]
    fn existing_members_are_reported_not_added() {
        let member = Invitee { is_member: true, ..invitee(true) };
        let out = decide_invite(Uuid::now_v7(), Some(Owner), &group(JoinPolicy::Approval), &[member], Uuid::now_v7).unwrap();
        assert_eq!(out.already_members, vec![member.user_id]);
        assert!(invite_events(Uuid::now_v7(), Uuid::now_v7(), &out).is_empty());
    }

    #[test]
    fn creating_needs_friends_a_name_and_room() {
        let owner = Uuid::now_v7();
        let (f1, stranger) = (Uuid::now_v7(), Uuid::now_v7());
        let friends: HashSet<Uuid> = [f1].into();
        let req = |name: &str, members: Vec<Uuid>| CreateGroup {
            name: name.into(),
            member_ids: members,
            avatar: None,
            announcement: None,
            join_policy: None,
            members_can_invite: None,
            max_members: None,
        };
        let created = decide_create(owner, Uuid::now_v7(), req(" Engine ", vec![f1, f1, owner]), &friends, 5).unwrap();
        assert_eq!(created.name, "Engine");
        assert_eq!(created.member_ids, vec![f1]);
        assert_eq!(created.join_policy, JoinPolicy::Approval);
        assert_eq!(kind(decide_create(owner, Uuid::now_v7(), req("", vec![]), &friends, 5).unwrap_err()), "name");
        assert_eq!(kind(decide_create(owner, Uuid::now_v7(), req(&"n".repeat(65), vec![]), &friends, 5).unwrap_err()), "name");
        assert_eq!(kind(decide_create(owner, Uuid::now_v7(), req("x", vec![stranger]), &friends, 5).unwrap_err()), "not_friends");
        assert_eq!(kind(decide_create(owner, Uuid::now_v7(), req("x", vec![f1]), &friends, 1).unwrap_err()), "max_members");
        let small = CreateGroup { max_members: Some(2), ..req("x", vec![f1]) };
        assert_eq!(decide_create(owner, Uuid::now_v7(), small, &friends, 5).unwrap().max_members, 2);
        let crowded = CreateGroup { max_members: Some(2), ..req("x", vec![f1, Uuid::now_v7()]) };
        assert_eq!(kind(decide_create(owner, Uuid::now_v7(), crowded, &friends, 5).unwrap_err()), "member_ids");
        let too_big = CreateGroup { max_members: Some(6), ..req("x", vec![]) };
        assert_eq!(kind(decide_create(owner, Uuid::now_v7(), too_big, &friends, 5).unwrap_err()), "max_members");
    }

    #[test]
    fn join_requests_are_decided_by_admins_once() {
        let g = group(JoinPolicy::Approval);
        let r = JoinRequestView { request_id: Uuid::now_v7(), user_id: Uuid::now_v7(), pending: true, user_is_member: false };
        assert!(matches!(decide_join_request(Uuid::now_v7(), Some(Admin), &g, Some(r), true).unwrap(), GroupEvent::GroupJoinRequestApproved(_)));
        assert_eq!(kind(decide_join_request(Uuid::now_v7(), Some(Member), &g, Some(r), true).unwrap_err()), "forbidden");
        let done = JoinRequestView { pending: false, ..r };
        assert_eq!(kind(decide_join_request(Uuid::now_v7(), Some(Admin), &g, Some(done), false).unwrap_err()), "request_not_pending");
        assert_eq!(kind(decide_join_request(Uuid::now_v7(), Some(Admin), &g, None, false).unwrap_err()), "not_found");
        let full = GroupView { member_count: 5, ..g };
        assert_eq!(kind(decide_join_request(Uuid::now_v7(), Some(Admin), &full, Some(r), true).unwrap_err()), "group_full");
    }
}
