//! The group aggregate: settings, membership, roles, mutes and join requests.
//! Keyed by group id.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The chat conversation of a group (used by the chat tier).
pub fn group_conversation_id(group_id: Uuid) -> String {
    format!("group:{group_id}")
}

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = group::Role)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// Who may join and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = group::JoinPolicy)]
#[serde(rename_all = "snake_case")]
pub enum JoinPolicy {
    /// Anyone joins at once.
    Free,
    /// A join request waits for an admin.
    Approval,
    /// Only admins add people.
    Closed,
}

impl JoinPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            JoinPolicy::Free => "free",
            JoinPolicy::Approval => "approval",
            JoinPolicy::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<JoinPolicy> {
        match s {
            "free" => Some(JoinPolicy::Free),
            "approval" => Some(JoinPolicy::Approval),
            "closed" => Some(JoinPolicy::Closed),
            _ => None,
        }
    }
}

/// How members came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinedVia {
    Invited,
    Joined,
}

/// Everything that happens to a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum GroupEvent {
    GroupCreated(GroupCreated),
    GroupUpdated(GroupUpdated),
    GroupDissolved(GroupDissolved),
    GroupMembersAdded(GroupMembersAdded),
    GroupMemberLeft(GroupMemberRemoved),
    GroupMemberKicked(GroupMemberRemoved),
    GroupMemberRoleChanged(GroupMemberRoleChanged),
    GroupOwnershipTransferred(GroupOwnershipTransferred),
    GroupMemberMuted(GroupMemberMuted),
    GroupMuteAllChanged(GroupMuteAllChanged),
    GroupMemberNicknameSet(GroupMemberNicknameSet),
    GroupJoinRequested(GroupJoinRequested),
    GroupJoinRequestApproved(GroupJoinRequestDecided),
    GroupJoinRequestRejected(GroupJoinRequestDecided),
}

/// A group exists with its owner and first members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupCreated {
    pub group_id: Uuid,
    pub conversation_id: String,
    pub owner_id: Uuid,
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    pub join_policy: JoinPolicy,
    pub members_can_invite: bool,
    pub max_members: u32,
    /// Members besides the owner.
    pub member_ids: Vec<Uuid>,
}

/// Settings changed; absent fields kept their value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupUpdated {
    pub group_id: Uuid,
    pub by: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_policy: Option<JoinPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_can_invite: Option<bool>,
}

/// The owner ended the group; every member is out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupDissolved {
    pub group_id: Uuid,
    pub by: Uuid,
}

/// Users became members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMembersAdded {
    pub group_id: Uuid,
    pub by: Uuid,
    pub user_ids: Vec<Uuid>,
    pub via: JoinedVia,
}

/// A member left (`by` = the member) or was kicked (`by` = the admin or owner).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMemberRemoved {
    pub group_id: Uuid,
    pub by: Uuid,
    pub user_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMemberRoleChanged {
    pub group_id: Uuid,
    pub by: Uuid,
    pub user_id: Uuid,
    pub role: Role,
}

/// The owner handed the group over; the old owner becomes admin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupOwnershipTransferred {
    pub group_id: Uuid,
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
}

/// A member may not speak until `until` (`None` lifts the mute).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMemberMuted {
    pub group_id: Uuid,
    pub by: Uuid,
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

/// Only admins and the owner may speak while `muted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMuteAllChanged {
    pub group_id: Uuid,
    pub by: Uuid,
    pub muted: bool,
}

/// A member's own display name in the group; empty clears it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMemberNicknameSet {
    pub group_id: Uuid,
    pub user_id: Uuid,
    pub nickname: String,
}

/// Someone asked to join (or was invited by a member, pending approval).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupJoinRequested {
    pub group_id: Uuid,
    pub request_id: Uuid,
    pub user_id: Uuid,
    pub message: String,
    pub invited_by: Option<Uuid>,
}

/// An admin decided a join request; approval makes the user a member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupJoinRequestDecided {
    pub group_id: Uuid,
    pub request_id: Uuid,
    pub user_id: Uuid,
    pub by: Uuid,
}

impl GroupEvent {
    pub fn group_id(&self) -> Uuid {
        match self {
            GroupEvent::GroupCreated(e) => e.group_id,
            GroupEvent::GroupUpdated(e) => e.group_id,
            GroupEvent::GroupDissolved(e) => e.group_id,
            GroupEvent::GroupMembersAdded(e) => e.group_id,
            GroupEvent::GroupMemberLeft(e) | GroupEvent::GroupMemberKicked(e) => e.group_id,
            GroupEvent::GroupMemberRoleChanged(e) => e.group_id,
            GroupEvent::GroupOwnershipTransferred(e) => e.group_id,
            GroupEvent::GroupMemberMuted(e) => e.group_id,
            GroupEvent::GroupMuteAllChanged(e) => e.group_id,
            GroupEvent::GroupMemberNicknameSet(e) => e.group_id,
            GroupEvent::GroupJoinRequested(e) => e.group_id,
            GroupEvent::GroupJoinRequestApproved(e) | GroupEvent::GroupJoinRequestRejected(e) => e.group_id,
        }
    }
}

impl DomainEvent for GroupEvent {
    const AGGREGATE_TYPE: &'static str = "group";
    const TOPIC: &'static str = topics::GROUPS;

    fn event_type(&self) -> &'static str {
        match self {
            GroupEvent::GroupCreated(_) => "GroupCreated",
            GroupEvent::GroupUpdated(_) => "GroupUpdated",
            GroupEvent::GroupDissolved(_) => "GroupDissolved",
            GroupEvent::GroupMembersAdded(_) => "GroupMembersAdded",
            GroupEvent::GroupMemberLeft(_) => "GroupMemberLeft",
            GroupEvent::GroupMemberKicked(_) => "GroupMemberKicked",
            GroupEvent::GroupMemberRoleChanged(_) => "GroupMemberRoleChanged",
            GroupEvent::GroupOwnershipTransferred(_) => "GroupOwnershipTransferred",
            GroupEvent::GroupMemberMuted(_) => "GroupMemberMuted",
            GroupEvent::GroupMuteAllChanged(_) => "GroupMuteAllChanged",
            GroupEvent::GroupMemberNicknameSet(_) => "GroupMemberNicknameSet",
            GroupEvent::GroupJoinRequested(_) => "GroupJoinRequested",
            GroupEvent::GroupJoinRequestApproved(_) => "GroupJoinRequestApproved",
            GroupEvent::GroupJoinRequestRejected(_) => "GroupJoinRequestRejected",
        }
    }

    fn aggregate_id(&self) -> String {
        self.group_id().to_string()
    }
}
