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
/// On [`SEQUENCED`] records: the partition of [`MESSAGES`] the record was made from.
pub const HEADER_SOURCE_PARTITION: &str = "source_partition";
/// On [`SEQUENCED`] records: the offset in [`MESSAGES`] the record was made from.
pub const HEADER_SOURCE_OFFSET: &str = "source_offset";
