//! Each node's cache of group membership, so a group message does not cost
//! an `SMEMBERS` of the whole group on every node (docs/push.md, "Group
//! membership on the node").
//!
//! An entry is loaded from the Redis set the groups projector keeps, then
//! kept current two ways, both read from topics the node tails anyway:
//!
//! - the group's own system notices in `beaver.sequenced.v1`
//!   (`members_added`, `member_kicked`, `member_left`, `group_created`): the
//!   commands tier posts each after the change and before answering, so it
//!   sits in the conversation's log *before* every message sent after the
//!   change. Applied in log order, a kicked member gets no message sent after
//!   the kick answered, and a new member gets every one — the same promise
//!   the per-message `SMEMBERS` of the projector's set gave;
//! - the membership events of `beaver.groups.v1`, which also cover changes
//!   whose notice was lost (notices are best effort) and dissolution.
//!
//! Both are idempotent set operations, so applying a change twice is
//! harmless. Entries are reloaded after [`Memberships::ttl`]: that bounds
//! what patching cannot cover — an entry loaded from a Redis set the
//! projector had not yet updated for a change this node had already read.

use beaver_events::GroupEvent;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use uuid::Uuid;

/// How long a cached entry is trusted.
pub const TTL: Duration = Duration::from_secs(10);
/// Groups cached at most per node.
pub const CAPACITY: usize = 100_000;

/// A group's members as this node knows them.
pub type Members = Arc<HashSet<Uuid>>;

struct Entry {
    members: Members,
    loaded: Instant,
}

/// The cache; cheap to share.
pub struct Memberships {
    ttl: Duration,
    /// Entries kept at most; past it, stale entries are dropped on insert.
    capacity: usize,
    groups: Mutex<HashMap<Uuid, Entry>>,
}

impl Memberships {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Memberships { ttl, capacity, groups: Mutex::new(HashMap::new()) }
    }

    /// How long an entry is trusted before it is reloaded.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cached members of `group`, unless absent or older than the TTL.
    pub fn get(&self, group: Uuid, now: Instant) -> Option<Members> {
        let groups = self.groups.lock().expect("membership lock");
        groups.get(&group).filter(|e| now.duration_since(e.loaded) < self.ttl).map(|e| e.members.clone())
    }

    /// Caches `members` of `group` as loaded at `now`.
    pub fn put(&self, group: Uuid, members: HashSet<Uuid>, now: Instant) -> Members {
        let members = Arc::new(members);
        let mut groups = self.groups.lock().expect("membership lock");
        if groups.len() >= self.capacity {
            let ttl = self.ttl;
            groups.retain(|_, e| now.duration_since(e.loaded) < ttl);
            if groups.len() >= self.capacity {
                // Still full of fresh entries: forget them all; they reload on demand.
                groups.clear();
            }
        }
        groups.insert(group, Entry { members: members.clone(), loaded: now });
        members
    }

    /// Applies a membership change read from the groups topic to the cached
    /// entry, if there is one (an absent entry is loaded when next needed).
    pub fn apply(&self, event: &GroupEvent) {
        let (group, added, removed): (Uuid, Vec<Uuid>, Option<Uuid>) = match event {
            GroupEvent::GroupCreated(e) => (e.group_id, std::iter::once(e.owner_id).chain(e.member_ids.iter().copied()).collect(), None),
            GroupEvent::GroupMembersAdded(e) => (e.group_id, e.user_ids.clone(), None),
            GroupEvent::GroupJoinRequestApproved(e) => (e.group_id, vec![e.user_id], None),
            GroupEvent::GroupMemberLeft(e) | GroupEvent::GroupMemberKicked(e) => (e.group_id, vec![], Some(e.user_id)),
            GroupEvent::GroupDissolved(e) => {
                self.groups.lock().expect("membership lock").remove(&e.group_id);
                return;
            }
            _ => return,
        };
        self.patch(group, added, removed.into_iter().collect());
    }

    /// Applies a group's system notice (the content of a `system` message
    /// of `group`'s conversation) to the cached entry, if there is one.
    pub fn apply_notice(&self, group: Uuid, content: &serde_json::Value) {
        let ids = |key: &str| -> Vec<Uuid> {
            content.get(key).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|v| v.as_str().and_then(|s| Uuid::try_parse(s).ok())).collect()).unwrap_or_default()
        };
        let (added, removed) = match content.get("event").and_then(|e| e.as_str()) {
            Some("members_added") => (ids("user_ids"), vec![]),
            Some("group_created") => {
                let mut members = ids("user_ids");
                members.extend(content.get("actor").and_then(|a| a.as_str()).and_then(|a| Uuid::try_parse(a).ok()));
                (members, vec![])
            }
            Some("member_kicked") | Some("member_left") => (vec![], ids("user_ids")),
            _ => return,
        };
        self.patch(group, added, removed);
    }

    /// Adds and removes members of a cached entry (copy on write: dispatches
    /// holding the old set keep it unchanged).
    fn patch(&self, group: Uuid, added: Vec<Uuid>, removed: Vec<Uuid>) {
        let mut groups = self.groups.lock().expect("membership lock");
        let Some(entry) = groups.get_mut(&group) else { return };
        let mut members = (*entry.members).clone();
        members.extend(added);
        for gone in removed {
            members.remove(&gone);
        }
        entry.members = Arc::new(members);
    }

    pub fn len(&self) -> usize {
        self.groups.lock().expect("membership lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beaver_events::group::{GroupDissolved, GroupMemberRemoved, GroupMembersAdded, JoinedVia};

    fn cache() -> Memberships {
        Memberships::new(Duration::from_secs(10), 100)
    }

    fn added(group: Uuid, user: Uuid) -> GroupEvent {
        GroupEvent::GroupMembersAdded(GroupMembersAdded { group_id: group, by: user, user_ids: vec![user], via: JoinedVia::Joined })
    }

    fn left(group: Uuid, user: Uuid) -> GroupEvent {
        GroupEvent::GroupMemberLeft(GroupMemberRemoved { group_id: group, by: user, user_id: user })
    }

    #[test]
    fn a_member_added_or_removed_is_in_the_next_lookup() {
        let (c, g, a, b) = (cache(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let now = Instant::now();
        let before = c.put(g, [a].into(), now);
        c.apply(&added(g, b));
        assert_eq!(*c.get(g, now).unwrap(), HashSet::from([a, b]));
        assert_eq!(*before, HashSet::from([a]), "a set already handed out does not change under its holder");
        c.apply(&left(g, a));
        assert_eq!(*c.get(g, now).unwrap(), HashSet::from([b]));
    }

    #[test]
    fn notices_in_the_conversation_patch_the_members_in_log_order() {
        let (c, g, owner, a, b) = (cache(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let now = Instant::now();
        c.put(g, HashSet::new(), now);
        c.apply_notice(g, &serde_json::json!({ "event": "group_created", "actor": owner, "name": "x", "user_ids": [a] }));
        assert_eq!(*c.get(g, now).unwrap(), HashSet::from([owner, a]));
        c.apply_notice(g, &serde_json::json!({ "event": "members_added", "actor": owner, "user_ids": [b] }));
        c.apply_notice(g, &serde_json::json!({ "event": "member_kicked", "actor": owner, "user_ids": [a] }));
        assert_eq!(*c.get(g, now).unwrap(), HashSet::from([owner, b]));
        c.apply_notice(g, &serde_json::json!({ "event": "member_left", "actor": b, "user_ids": [b] }));
        c.apply_notice(g, &serde_json::json!({ "event": "role_changed", "actor": owner, "user_ids": [a], "role": "admin" }));
        assert_eq!(*c.get(g, now).unwrap(), HashSet::from([owner]), "other notices change nothing");
    }

    #[test]
    fn events_for_groups_not_cached_are_left_for_the_next_load() {
        let (c, g) = (cache(), Uuid::now_v7());
        c.apply(&added(g, Uuid::now_v7()));
        assert!(c.get(g, Instant::now()).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn entries_expire_after_the_ttl_and_dissolving_drops_them() {
        let (c, g) = (cache(), Uuid::now_v7());
        let now = Instant::now();
        c.put(g, [Uuid::now_v7()].into(), now);
        assert!(c.get(g, now + Duration::from_secs(9)).is_some());
        assert!(c.get(g, now + Duration::from_secs(10)).is_none());
        c.apply(&GroupEvent::GroupDissolved(GroupDissolved { group_id: g, by: Uuid::now_v7() }));
        assert!(c.get(g, now).is_none());
    }

    #[test]
    fn a_full_cache_drops_stale_entries_first() {
        let c = Memberships::new(Duration::from_secs(10), 2);
        let now = Instant::now();
        let (old, fresh, newest) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        c.put(old, HashSet::new(), now);
        c.put(fresh, HashSet::new(), now + Duration::from_secs(8));
        c.put(newest, HashSet::new(), now + Duration::from_secs(11));
        let later = now + Duration::from_secs(11);
        assert!(c.get(old, later).is_none());
        assert!(c.get(fresh, later).is_some() && c.get(newest, later).is_some());
    }
}
