//! Topic names and Kafka header names.
//!
//! Topics are named `beaver.<aggregate>.v<N>`: one topic per aggregate type,
//! keyed by aggregate id, so all events of one aggregate are in one partition
//! and therefore totally ordered. `vN` changes only on an incompatible
//! re-keying or re-partitioning of the topic, never for a schema change (those
//! are versioned per event type, see [`crate::upcast`]).
//!
//! # Namespace
//!
//! The constants below are *base names*, and every call site uses them. A
//! process may run in a namespace — a prefix such as `t1a2b3c-` — so that a
//! test stack shares a Kafka cluster and a Redis server with the live stack
//! without seeing it: the prefix is added only at the Kafka boundary (when
//! producing, subscribing, assigning, seeking, committing, asking for
//! watermarks: [`resolve`]) and taken off a consumed record's topic
//! ([`base_name`]), so stored offsets (`projector_offsets`), progress
//! messages and the code in between keep the base names. Consumer groups and
//! transactional ids carry the prefix too ([`scoped`]), and so do the Redis
//! keys and channels (`beaver_readmodel::keys`).
//!
//! The namespace is process-wide and set once: by [`set_namespace`] (each
//! tier's `run` passes its `topic_prefix` setting) or, when nothing set it
//! before its first use, from `BEAVER_TOPIC_PREFIX`. It is empty in
//! production. One process serves one namespace; setting a different one
//! later is refused.

use std::{borrow::Cow, sync::OnceLock};

static NAMESPACE: OnceLock<String> = OnceLock::new();

/// The process's namespace (empty unless a test or a benchmark set one).
pub fn namespace() -> &'static str {
    NAMESPACE.get_or_init(|| std::env::var("BEAVER_TOPIC_PREFIX").unwrap_or_default())
}

/// The namespace was already fixed to another prefix.
#[derive(Debug, thiserror::Error)]
#[error("this process already serves the topic namespace {current:?}; it cannot also serve {wanted:?} (one process, one namespace)")]
pub struct NamespaceTaken {
    pub current: String,
    pub wanted: String,
}

/// Fixes the process's namespace. Setting the one already in force is a no-op.
pub fn set_namespace(prefix: &str) -> Result<(), NamespaceTaken> {
    let current = NAMESPACE.get_or_init(|| prefix.to_owned());
    if current == prefix {
        Ok(())
    } else {
        Err(NamespaceTaken { current: current.clone(), wanted: prefix.to_owned() })
    }
}

/// The Kafka name of the base topic `base` in this process's namespace.
pub fn resolve(base: &str) -> Cow<'_, str> {
    resolve_in(namespace(), base)
}

/// The base name of a topic as Kafka names it (a consumed record's `topic()`).
pub fn base_name(actual: &str) -> &str {
    base_name_in(namespace(), actual)
}

/// A consumer group id or transactional id in this process's namespace.
pub fn scoped(id: &str) -> String {
    format!("{}{id}", namespace())
}

/// [`resolve`] in an explicit namespace.
pub fn resolve_in<'a>(namespace: &str, base: &'a str) -> Cow<'a, str> {
    if namespace.is_empty() {
        Cow::Borrowed(base)
    } else {
        Cow::Owned(format!("{namespace}{base}"))
    }
}

/// [`base_name`] in an explicit namespace; a name outside it comes back unchanged.
pub fn base_name_in<'a>(namespace: &str, actual: &'a str) -> &'a str {
    actual.strip_prefix(namespace).unwrap_or(actual)
}

/// Users: registration and profile changes. Key: user id.
pub const USERS: &str = "beaver.users.v1";
/// Login sessions: start, refresh-token rotation, end. Key: session id.
pub const SESSIONS: &str = "beaver.sessions.v1";

/// Relations between two users: friend requests, friendships, blocks.
/// Key: the unordered pair of user ids (`relation::pair_key`).
pub const RELATIONS: &str = "beaver.relations.v1";
/// Groups: settings, membership, roles, join requests. Key: group id.
pub const GROUPS: &str = "beaver.groups.v1";

/// Conversations: messages, message operations, read cursors, per-user
/// settings. Key: conversation id.
pub const MESSAGES: &str = "beaver.messages.v1";

/// The conversations' log in its final order, written by the sequencer
/// (`beaver-sequencer`) in Kafka transactions: every event of
/// [`MESSAGES`], in the same order and on the same partition number, with each
/// new `MessageSent` replaced by its `MessageSequenced` (the message with its
/// seq) and repeats of a `(sender, client_msg_id)` dropped. Kept forever: the
/// messages read model is a projection of this topic. Key: conversation id.
pub const SEQUENCED: &str = "beaver.sequenced.v1";

/// The sequencer's state (each conversation's top seq, the dedup window and a
/// checkpoint per partition), compacted, written in the same transactions as
/// [`SEQUENCED`]. Internal to the sequencer, not envelopes, so not in [`ALL`]. Key: `top|<conversation>`,
/// `sent|<conversation>|<sender>|<client_msg_id>` or `checkpoint`.
pub const SEQUENCER_STATE: &str = "beaver.sequencer-state.v1";

/// Client analytics events (`beaver_events::track`), keyed by device id,
/// kept 30 days; for analysts only: no projector reads it.
pub const TRACK: &str = "beaver.track.v1";

/// Feedback from users and operators' answers (`beaver_events::feedback`),
/// keyed by feedback id.
pub const FEEDBACK: &str = "beaver.feedback.v1";

/// What operators publish for every client: app releases and announcements
/// (`beaver_events::system`).
pub const SYSTEM: &str = "beaver.system.v1";

/// Uploads and stored files (`beaver_events::files`), keyed by file id. The
/// bytes are in the object store, never here.
pub const FILES: &str = "beaver.files.v1";

/// Favourite stickers and sticker packs (`beaver_events::emoji`): keyed by
/// user id (favourites, collections) or pack id (packs).
pub const EMOJI: &str = "beaver.emoji.v1";

/// A user's inbox items (derived by the notifier), reads and deletions,
/// and push tokens (`beaver_events::notification`). Key: the user id.
pub const NOTIFICATIONS: &str = "beaver.notifications.v1";

/// Moments (the friends' feed): posts, likes, comments
/// (`beaver_events::moment`). Key: the moment id.
pub const MOMENTS: &str = "beaver.moments.v1";

/// Calls: the lifecycle of WebRTC calls (`beaver_events::call`); never
/// the offers, answers or candidates. Key: the call id.
pub const CALLS: &str = "beaver.calls.v1";

/// Offline push jobs for users with no live connection, made by the push
/// worker and handed to push senders. Key: the user id.
pub const PUSH: &str = "beaver.push.v1";

/// Every topic Beaver writes, for tooling that needs the full list.
pub const ALL: &[&str] = &[USERS, SESSIONS, RELATIONS, GROUPS, MESSAGES, SEQUENCED, TRACK, FEEDBACK, SYSTEM, FILES, EMOJI, MOMENTS, CALLS, NOTIFICATIONS, PUSH];

/// Kafka header carrying the envelope's `event_type`.
pub const HEADER_EVENT_TYPE: &str = "event_type";
/// Kafka header carrying the envelope's `schema_version`.
pub const HEADER_SCHEMA_VERSION: &str = "schema_version";
/// Kafka header carrying the envelope's `event_id`.
pub const HEADER_EVENT_ID: &str = "event_id";
/// Kafka header carrying the envelope's `correlation_id`.
pub const HEADER_CORRELATION_ID: &str = "correlation_id";
/// Kafka header naming the value's encoding (`application/json`).
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// On [`SEQUENCED`] records: the partition of [`MESSAGES`] the record was made from.
pub const HEADER_SOURCE_PARTITION: &str = "source_partition";
/// On [`SEQUENCED`] records: the offset in [`MESSAGES`] the record was made from.
pub const HEADER_SOURCE_OFFSET: &str = "source_offset";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_namespace_leaves_names_alone() {
        assert_eq!(resolve_in("", USERS), USERS);
        assert!(matches!(resolve_in("", USERS), Cow::Borrowed(_)));
        assert_eq!(base_name_in("", USERS), USERS);
    }

    #[test]
    fn a_namespace_is_added_at_the_boundary_and_taken_off_consumed_names() {
        let actual = resolve_in("t42-", SEQUENCED);
        assert_eq!(actual, "t42-beaver.sequenced.v1");
        assert_eq!(base_name_in("t42-", &actual), SEQUENCED);
        assert_eq!(base_name_in("t42-", USERS), USERS, "a name outside the namespace is left alone");
    }

    #[test]
    fn the_namespace_is_set_once_per_process() {
        // The only test in this binary that fixes the namespace.
        set_namespace("unit-").unwrap();
        set_namespace("unit-").unwrap();
        assert!(set_namespace("other-").is_err());
        assert_eq!(namespace(), "unit-");
        assert_eq!(resolve(GROUPS), "unit-beaver.groups.v1");
        assert_eq!(base_name("unit-beaver.groups.v1"), GROUPS);
        assert_eq!(scoped("beaver-sequencer"), "unit-beaver-sequencer");
    }
}
