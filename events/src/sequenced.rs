//! The sequencer's one event of its own: a new message with the seq the
//! sequencer (`beaver-sequencer`) gave it. `beaver.sequenced.v1` carries it in
//! place of the `MessageSent` it was made from, beside the other conversation
//! events passed through unchanged, all written in Kafka transactions — a
//! `read_committed` consumer sees each message exactly once, numbered. Its
//! `event_id` is derived from the `MessageSent`'s, so a rebuilt log is
//! identical (docs/chat.md, "Sequencing").

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SequencedEvent {
    MessageSequenced(MessageSequenced),
}

/// A stored message, numbered. The fields are those of its `MessageSent`
/// plus `seq` and `sent_at` (the `occurred_at` of the `MessageSent`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageSequenced {
    pub message_id: Uuid,
    pub conversation_id: String,
    pub seq: i64,
    pub client_msg_id: String,
    pub sender_id: Uuid,
    pub kind: String,
    pub content: serde_json::Value,
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    pub reply_to: Option<Uuid>,
    pub hidden_from: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

impl DomainEvent for SequencedEvent {
    const AGGREGATE_TYPE: &'static str = "conversation";
    const TOPIC: &'static str = topics::SEQUENCED;

    fn event_type(&self) -> &'static str {
        match self {
            SequencedEvent::MessageSequenced(_) => "MessageSequenced",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            SequencedEvent::MessageSequenced(e) => e.conversation_id.clone(),
        }
    }
}
