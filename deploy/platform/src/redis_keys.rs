//! Names of the Redis keys the projectors maintain and other tiers read.
//! All are absolute values (set members, SET, HSET), so a replay converges.

use uuid::Uuid;

/// The friend ids of a user.
pub fn friends(user: Uuid) -> String {
    format!("beaver:friends:{user}")
}

/// The user ids a user has blocked.
pub fn blocks(user: Uuid) -> String {
    format!("beaver:blocks:{user}")
}

/// The member ids of a group.
pub fn group_members(group: Uuid) -> String {
    format!("beaver:group:{group}:members")
}

/// The highest seq of a conversation (a string value).
pub fn conversation_max_seq(conversation_id: &str) -> String {
    format!("beaver:conv:{conversation_id}:max_seq")
}

/// Hash of a user's read cursors: conversation id → read seq.
pub fn read_cursors(user: Uuid) -> String {
    format!("beaver:read:{user}")
}
