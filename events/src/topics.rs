//! Topic names and Kafka header names.
//!
//! Topics are named `beaver.<aggregate>.v<N>`: one topic per aggregate type,
//! keyed by aggregate id, so all events of one aggregate are in one partition
//! and therefore totally ordered. `vN` changes only on an incompatible
//! re-keying or re-partitioning of the topic, never for a schema change (those
//! are versioned per event type, see [`crate::upcast`]).

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

/// Derived: each new message with the seq the sequencer (the messages
/// projector) gave it, for the push tier. Key: conversation id.
pub const SEQUENCED: &str = "beaver.sequenced.v1";

/// Every topic Beaver writes, for tooling that needs the full list.
pub const ALL: &[&str] = &[USERS, SESSIONS, RELATIONS, GROUPS, MESSAGES, SEQUENCED];

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
