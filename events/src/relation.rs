//! The relation aggregate: everything between two users — friend requests,
//! friendship, remarks and blocks. Keyed by the unordered pair (see
//! [`pair_key`]), so every event about one pair is in one partition, in order.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The aggregate id of the relation between `a` and `b`: both ids, smaller first.
pub fn pair_key(a: Uuid, b: Uuid) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!("{lo}:{hi}")
}

/// Everything that happens between two users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RelationEvent {
    FriendRequestSent(FriendRequestSent),
    FriendRequestAccepted(FriendRequestDecided),
    FriendRequestRejected(FriendRequestDecided),
    FriendRemoved(FriendRemoved),
    FriendRemarkSet(FriendRemarkSet),
    UserBlocked(BlockChanged),
    UserUnblocked(BlockChanged),
}

/// `from_user_id` asked `to_user_id` to be friends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FriendRequestSent {
    pub request_id: Uuid,
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
    pub message: String,
    /// The recipient has blocked the sender: the request is kept for the
    /// sender's view but never shown or delivered to the recipient.
    pub hidden_from_recipient: bool,
}

/// The recipient accepted or rejected a request (the ids are the request's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FriendRequestDecided {
    pub request_id: Uuid,
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
}

/// `user_id` ended the friendship with `friend_id`, for both of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FriendRemoved {
    pub user_id: Uuid,
    pub friend_id: Uuid,
}

/// `user_id`'s private name for `friend_id`; empty clears it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FriendRemarkSet {
    pub user_id: Uuid,
    pub friend_id: Uuid,
    pub remark: String,
}

/// `user_id` blocked or unblocked `blocked_user_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockChanged {
    pub user_id: Uuid,
    pub blocked_user_id: Uuid,
}

impl RelationEvent {
    /// The two users the event is about.
    pub fn users(&self) -> (Uuid, Uuid) {
        match self {
            RelationEvent::FriendRequestSent(e) => (e.from_user_id, e.to_user_id),
            RelationEvent::FriendRequestAccepted(e) | RelationEvent::FriendRequestRejected(e) => (e.from_user_id, e.to_user_id),
            RelationEvent::FriendRemoved(e) => (e.user_id, e.friend_id),
            RelationEvent::FriendRemarkSet(e) => (e.user_id, e.friend_id),
            RelationEvent::UserBlocked(e) | RelationEvent::UserUnblocked(e) => (e.user_id, e.blocked_user_id),
        }
    }
}

impl DomainEvent for RelationEvent {
    const AGGREGATE_TYPE: &'static str = "relation";
    const TOPIC: &'static str = topics::RELATIONS;

    fn event_type(&self) -> &'static str {
        match self {
            RelationEvent::FriendRequestSent(_) => "FriendRequestSent",
            RelationEvent::FriendRequestAccepted(_) => "FriendRequestAccepted",
            RelationEvent::FriendRequestRejected(_) => "FriendRequestRejected",
            RelationEvent::FriendRemoved(_) => "FriendRemoved",
            RelationEvent::FriendRemarkSet(_) => "FriendRemarkSet",
            RelationEvent::UserBlocked(_) => "UserBlocked",
            RelationEvent::UserUnblocked(_) => "UserUnblocked",
        }
    }

    fn aggregate_id(&self) -> String {
        let (a, b) = self.users();
        pair_key(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_key_does_not_depend_on_who_acts() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(pair_key(a, b), pair_key(b, a));
        assert_ne!(pair_key(a, b), pair_key(a, Uuid::now_v7()));
    }
}
