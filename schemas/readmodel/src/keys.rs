//! The whole Redis keyspace: every key and pub/sub channel any tier reads or
//! writes is named here and nowhere else.
//!
//! Keys the projectors maintain hold absolute values (set members, SET, HSET),
//! so a replay converges. Presence (`online`) is written by ws-push, login
//! failures by commands; both expire on their own.
//!
//! Every key and channel starts with the process's namespace
//! (`beaver_events::topics::namespace()`, empty in production), so an
//! in-process test stack can share the live Redis server: pub/sub channels
//! ignore the database number, and a stack's progress messages must never
//! wake another stack's waiters.

use beaver_events::topics::namespace;
use uuid::Uuid;

/// The friend ids of a user.
pub fn friends(user: Uuid) -> String {
    format!("{ns}beaver:friends:{user}", ns = namespace())
}

/// The user ids a user has blocked.
pub fn blocks(user: Uuid) -> String {
    format!("{ns}beaver:blocks:{user}", ns = namespace())
}

/// The member ids of a group.
pub fn group_members(group: Uuid) -> String {
    format!("{ns}beaver:group:{group}:members", ns = namespace())
}

/// Hash of what the send path checks about a group, so a group send needs no
/// database query: `mute_all` → `0`/`1`, and `m:<user id>` → `<role>|<muted
/// until, unix ms, 0 for none>` for every active member. Absent for a
/// dissolved group (and before the groups projection wrote it): the send path
/// then asks MariaDB.
pub fn group_send_state(group: Uuid) -> String {
    format!("{ns}beaver:group:{group}:send", ns = namespace())
}

/// The field of `member` in [`group_send_state`].
pub fn group_send_member(member: Uuid) -> String {
    format!("m:{member}")
}

/// The highest seq of a conversation (a string value).
pub fn conversation_max_seq(conversation_id: &str) -> String {
    format!("{ns}beaver:conv:{conversation_id}:max_seq", ns = namespace())
}

/// Hash of a user's read cursors: conversation id → read seq.
pub fn read_cursors(user: Uuid) -> String {
    format!("{ns}beaver:read:{user}", ns = namespace())
}

/// Marks a session as ended (written by the sessions projector).
pub fn session_revoked(session_id: &Uuid) -> String {
    format!("{ns}beaver:session:revoked:{session_id}", ns = namespace())
}

/// Marks a session as live and holds its user id. The sessions projector
/// sets it when the session starts (and refreshes it with the session) and
/// deletes it when the session ends.
pub fn session_live(session_id: &Uuid) -> String {
    format!("{ns}beaver:session:live:{session_id}", ns = namespace())
}

/// Client analytics batches of `subject` (`user:<id>`, `device:<id>` or
/// `ip:<addr>`) in the current minute (commands' track rate limit).
pub fn track_batches(subject: &str) -> String {
    format!("{ns}beaver:track:batches:{subject}", ns = namespace())
}

/// A user's feedback submissions of the last 24 hours: a sorted set of
/// feedback ids scored by submission time in milliseconds (commands' daily limit).
pub fn feedback_recent(user: Uuid) -> String {
    format!("{ns}beaver:feedback:recent:{user}", ns = namespace())
}

/// Hash of a user's unread inbox items: `total`, `social`, `group`,
/// `system` (absolute counts, written by the notifications projector).
pub fn notifications_unread(user: Uuid) -> String {
    format!("{ns}beaver:notif:unread:{user}", ns = namespace())
}

/// Marks an announcement as fanned out to every user's inbox by the
/// notifier (`started` while in progress, with a short expiry; `done` after).
pub fn announcement_fanned_out(announcement: Uuid) -> String {
    format!("{ns}beaver:notif:announced:{announcement}", ns = namespace())
}

/// The call a user is in (or being rung for): the busy mark, set with `NX`
/// by commands when the call starts (or the user joins) and deleted when
/// their part ends; it expires after the longest call should a delete be lost.
pub fn call_busy(user: Uuid) -> String {
    format!("{ns}beaver:call:busy:{user}", ns = namespace())
}

/// When a device's last WebSocket connection closed (Unix ms), set by
/// ws-push at the close and deleted when the device connects again; the
/// commands' ring sweeper ends a dropped device's part in a call after the
/// reconnect grace (docs/services.md, "A dropped device").
pub fn device_dropped(user: Uuid, device_id: &str) -> String {
    format!("{ns}beaver:device:dropped:{user}:{device_id}", ns = namespace())
}

/// Failed password logins for one login name (commands' rate limit).
pub fn login_failures(login: &str) -> String {
    format!("{ns}beaver:login:failures:{login}", ns = namespace())
}

/// The sorted set of a user's live WebSocket connections (see [`crate::presence`]).
pub fn online(user: Uuid) -> String {
    format!("{ns}beaver:online:{user}", ns = namespace())
}

/// Counter that orders WebSocket connections across ws-push nodes (INCR at
/// each open): of two connections of a user, the one with the larger number
/// is the newer, whichever nodes they are on.
pub fn connection_generation() -> String {
    format!("{ns}beaver:ws:generation", ns = namespace())
}

/// Pub/sub channel for what ws-push nodes tell each other and never store:
/// typing, presence changes, kicks.
pub fn ephemeral_channel() -> String {
    format!("{}beaver:ws:ephemeral", namespace())
}

/// Pub/sub channel on which projectors announce `projector|topic|partition|next_offset`.
pub fn progress_channel() -> String {
    format!("{}beaver:projected", namespace())
}

/// The sent-key filter's bitmap (see [`crate::sent_filter`]). The hash tag
/// keeps its three keys in one cluster slot, for the check's script.
pub fn sent_filter_bits() -> String {
    format!("{}beaver:{{sentkeys}}:bits", namespace())
}

/// The run id of the Redis server whose dataset holds every bit of the
/// sent-key filter; absent or different from the running server's: not trusted.
pub fn sent_filter_ready() -> String {
    format!("{}beaver:{{sentkeys}}:ready", namespace())
}

/// Lock held (with an expiry) by the projector rebuilding the sent-key filter.
pub fn sent_filter_rebuild_lock() -> String {
    format!("{}beaver:{{sentkeys}}:rebuild", namespace())
}

/// Pub/sub channel of the sequencer's answers (a JSON array per transaction).
pub fn answers_channel() -> String {
    format!("{}beaver:sequenced", namespace())
}

/// Hash: partition of `beaver.sequenced.v1` → the end offset of the
/// sequencer's last committed transaction there (written before its answers
/// are published).
pub fn sequenced_ends() -> String {
    format!("{}beaver:sequenced:end", namespace())
}

/// `SCAN` patterns of the Redis state a projection keeps (every key a
/// replay writes from scratch), for `beaver-admin projections rebuild`,
/// which rebuilds them in a shadow database and copies them over at the
/// swap. Session revocations are left out: written in place, replay-safe.
pub fn projection_patterns(projection: &str) -> Vec<String> {
    let ns = namespace();
    let patterns: &[&str] = match projection {
        "relations" => &["beaver:friends:*", "beaver:blocks:*"],
        "groups" => &["beaver:group:*:members", "beaver:group:*:send"],
        "messages" => &["beaver:conv:*:max_seq", "beaver:read:*"],
        "notifications" => &["beaver:notif:unread:*"],
        _ => &[],
    };
    patterns.iter().map(|p| format!("{ns}{p}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rebuild_patterns_match_the_keys_the_projections_write() {
        let (u, g) = (Uuid::now_v7(), Uuid::now_v7());
        let matches = |pattern: &str, key: &str| {
            let (head, tail) = pattern.split_once('*').unwrap();
            key.starts_with(head) && key.ends_with(tail) && key.len() >= head.len() + tail.len()
        };
        let cases = [
            ("relations", friends(u)),
            ("relations", blocks(u)),
            ("groups", group_members(g)),
            ("groups", group_send_state(g)),
            ("messages", conversation_max_seq("direct:a:b")),
            ("messages", read_cursors(u)),
            ("notifications", notifications_unread(u)),
        ];
        for (projection, key) in cases {
            assert!(projection_patterns(projection).iter().any(|p| matches(p, &key)), "{projection}: {key}");
        }
        assert!(!projection_patterns("groups").iter().any(|p| matches(p, &online(u))), "presence is not the groups projection's");
        assert!(projection_patterns("users").is_empty());
    }
}
