//! Names of the Redis keys the projectors maintain and other tiers read.
//! All are sets kept with absolute SADD/SREM, so a replay converges.

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
