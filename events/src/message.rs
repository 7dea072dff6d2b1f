//! The conversation aggregate: messages and everything done to them, plus
//! each participant's read cursor and settings. Keyed by conversation id, so
//! one conversation's events share one partition and one order. A message's
//! `seq` is not in its event: the messages projector assigns it from this
//! order (see docs/chat.md, "Sequencing").

use crate::{envelope::DomainEvent, relation::pair_key, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The conversation of two users: the same id whoever sends.
pub fn direct_conversation_id(a: Uuid, b: Uuid) -> String {
    format!("direct:{}", pair_key(a, b))
}

/// What a conversation id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationRef {
    Direct(Uuid, Uuid),
    Group(Uuid),
}

impl ConversationRef {
    /// Parses `direct:<a>:<b>` (a < b) or `group:<id>`.
    pub fn parse(id: &str) -> Option<ConversationRef> {
        if let Some(g) = id.strip_prefix("group:") {
            return Uuid::try_parse(g).ok().map(ConversationRef::Group);
        }
        let (a, b) = id.strip_prefix("direct:")?.split_once(':')?;
        let (a, b) = (Uuid::try_parse(a).ok()?, Uuid::try_parse(b).ok()?);
        (a < b && direct_conversation_id(a, b) == id).then_some(ConversationRef::Direct(a, b))
    }
}

/// Everything that happens in a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MessageEvent {
    MessageSent(MessageSent),
    MessageRecalled(MessageRecalled),
    MessageEdited(MessageEdited),
    MessageDeletedForUser(MessageDeletedForUser),
    ConversationCleared(ConversationCleared),
    MessageReactionAdded(MessageReaction),
    MessageReactionRemoved(MessageReaction),
    ConversationRead(ConversationRead),
    ConversationSettingsChanged(ConversationSettingsChanged),
}

/// A message was accepted. Its seq is its position in the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageSent {
    pub message_id: Uuid,
    pub conversation_id: String,
    /// The sender's idempotency key; a repeat in the conversation is ignored.
    pub client_msg_id: String,
    pub sender_id: Uuid,
    /// `text`, `image`, … (docs/chat.md).
    pub kind: String,
    pub content: serde_json::Value,
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    pub reply_to: Option<Uuid>,
    /// The recipient blocked the sender: hidden from them, as if they had deleted it.
    pub hidden_from: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageRecalled {
    pub message_id: Uuid,
    pub conversation_id: String,
    pub by: Uuid,
}

/// A new version of a message's content; history keeps every version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageEdited {
    pub message_id: Uuid,
    pub conversation_id: String,
    pub by: Uuid,
    pub content: serde_json::Value,
}

/// Hidden for one user only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageDeletedForUser {
    pub message_id: Uuid,
    pub conversation_id: String,
    pub user_id: Uuid,
}

/// Everything up to `up_to_seq` hidden for one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationCleared {
    pub conversation_id: String,
    pub user_id: Uuid,
    pub up_to_seq: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageReaction {
    pub message_id: Uuid,
    pub conversation_id: String,
    pub user_id: Uuid,
    pub emoji: String,
}

/// A participant's read cursor moved forward to `seq`.
///
/// Schema v2 added `receipt`: whether the peer of a 1:1 conversation is told
/// (the reader's `read_receipts` setting when they read). v1 events are
/// upcast with `receipt: true`, which is what they did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationRead {
    pub conversation_id: String,
    pub user_id: Uuid,
    pub seq: i64,
    pub receipt: bool,
}

/// One participant's flags; absent ones kept their value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationSettingsChanged {
    pub conversation_id: String,
    pub user_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
}

impl MessageEvent {
    pub fn conversation_id(&self) -> &str {
        match self {
            MessageEvent::MessageSent(e) => &e.conversation_id,
            MessageEvent::MessageRecalled(e) => &e.conversation_id,
            MessageEvent::MessageEdited(e) => &e.conversation_id,
            MessageEvent::MessageDeletedForUser(e) => &e.conversation_id,
            MessageEvent::ConversationCleared(e) => &e.conversation_id,
            MessageEvent::MessageReactionAdded(e) | MessageEvent::MessageReactionRemoved(e) => &e.conversation_id,
            MessageEvent::ConversationRead(e) => &e.conversation_id,
            MessageEvent::ConversationSettingsChanged(e) => &e.conversation_id,
        }
    }
}

impl DomainEvent for MessageEvent {
    const AGGREGATE_TYPE: &'static str = "conversation";
    const TOPIC: &'static str = topics::MESSAGES;

    fn schema_version(&self) -> u32 {
        crate::upcast::current_version(self.event_type()).unwrap_or(1)
    }

    fn event_type(&self) -> &'static str {
        match self {
            MessageEvent::MessageSent(_) => "MessageSent",
            MessageEvent::MessageRecalled(_) => "MessageRecalled",
            MessageEvent::MessageEdited(_) => "MessageEdited",
            MessageEvent::MessageDeletedForUser(_) => "MessageDeletedForUser",
            MessageEvent::ConversationCleared(_) => "ConversationCleared",
            MessageEvent::MessageReactionAdded(_) => "MessageReactionAdded",
            MessageEvent::MessageReactionRemoved(_) => "MessageReactionRemoved",
            MessageEvent::ConversationRead(_) => "ConversationRead",
            MessageEvent::ConversationSettingsChanged(_) => "ConversationSettingsChanged",
        }
    }

    fn aggregate_id(&self) -> String {
        self.conversation_id().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_conversation_id_is_the_same_whoever_sends_and_parses_back() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let id = direct_conversation_id(b, a);
        assert_eq!(id, direct_conversation_id(a, b));
        assert_eq!(ConversationRef::parse(&id), Some(ConversationRef::Direct(a.min(b), a.max(b))));
    }

    #[test]
    fn malformed_or_unordered_conversation_ids_do_not_parse() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(ConversationRef::parse(&format!("direct:{b}:{a}")), None);
        assert_eq!(ConversationRef::parse("direct:x:y"), None);
        assert_eq!(ConversationRef::parse("channel:1"), None);
        assert_eq!(ConversationRef::parse(&format!("group:{a}")), Some(ConversationRef::Group(a)));
    }
}
