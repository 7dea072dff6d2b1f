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

/// Hash of what the send path checks about a group, so a group send needs no
/// database query: `mute_all` → `0`/`1`, and `m:<user id>` → `<role>|<muted
/// until, unix ms, 0 for none>` for every active member. Absent for a
/// dissolved group (and before the groups projection wrote it): the send path
/// then asks MariaDB.
pub fn group_send_state(group: Uuid) -> String {
    format!("beaver:group:{group}:send")
}

/// The field of `member` in [`group_send_state`].
pub fn group_send_member(member: Uuid) -> String {
    format!("m:{member}")
}

/// The highest seq of a conversation (a string value).
pub fn conversation_max_seq(conversation_id: &str) -> String {
    format!("beaver:conv:{conversation_id}:max_seq")
}

/// Hash of a user's read cursors: conversation id → read seq.
pub fn read_cursors(user: Uuid) -> String {
    format!("beaver:read:{user}")
}
