//! The conversation aggregate (its events are `MessageEvent`s on
//! `beaver.messages.v1`, keyed by conversation id): sending, the operations on
//! a message (recall, edit, delete for me, reactions) and each participant's
//! cursors and flags. Also the rules they use: content per message type, who
//! may send where, the recall and edit windows.

use super::{Ctx, DomainError};
use beaver_events::{
    group::{group_conversation_id, Role},
    message::*,
    MessageEvent,
};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What a participant asks of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationCommand {
    Send(NewMessage),
    Recall { message_id: Uuid },
    /// `kind`: the message's new type; absent keeps it.
    Edit { message_id: Uuid, kind: Option<String>, content: Value },
    DeleteForMe { message_id: Uuid },
    React { message_id: Uuid, emoji: String },
    Unreact { message_id: Uuid, emoji: String },
    /// Move my read cursor up to `seq` (never back, never past the end).
    Read { seq: i64 },
    /// Hide everything sent so far, for me.
    Clear,
    ChangeSettings { pinned: Option<bool>, muted: Option<bool>, hidden: Option<bool> },
}

/// A message as its sender states it, its target resolved (see [`resolve_target`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub conversation: ConversationRef,
    pub client_msg_id: String,
    pub kind: String,
    pub content: Value,
    pub mentions: Vec<Uuid>,
    pub reply_to: Option<Uuid>,
}

/// The conversation as a command sees it, loaded by the app layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationState {
    pub conversation_id: String,
    /// May the actor read this conversation (a participant, a member)?
    pub readable: bool,
    pub max_seq: i64,
    /// The actor's read cursor.
    pub read_seq: i64,
    /// The message a message command names; `None` if it does not exist or
    /// the actor may not read it.
    pub message: Option<MessageView>,
    /// The actor's role when the conversation is a group's.
    pub actor_group_role: Option<Role>,
    /// Whether the actor already reacted with the command's emoji.
    pub has_reacted: bool,
    /// For `Read`: the actor turned read receipts off (their `read_receipts`
    /// setting), so the peer is not told.
    pub hide_read_receipts: bool,
    /// For `Send`: the sender's standing.
    pub sender: Option<SenderView>,
    /// For `Send`: what the message refers to, as found.
    pub references: ReferencesFound,
    /// Direct messages only between friends (configuration).
    pub require_friendship: bool,
}

/// What a sender is to the conversation they send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderView {
    Direct { peer: Uuid, view: DirectView, peer_exists: bool },
    /// `mentions_are_members`: for each mention, in order.
    Group { view: GroupSendView, mentions_are_members: Vec<bool> },
}

/// What a new message's [`References`] point at, as the app layer found them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferencesFound {
    /// `reply_to` is a message of this conversation.
    pub reply_in_conversation: bool,
    /// A card's user exists.
    pub card_user_exists: bool,
    /// For each forwarded message: it is in the named conversation and the sender may read that.
    pub forwards_readable: Vec<bool>,
    /// Every uploaded file the content names (`/api/file/<id>`) is stored.
    pub files_stored: bool,
}

/// Resolves a send's target (exactly one of a peer, a group, a conversation
/// id) to its conversation, checking what needs no state.
pub fn resolve_target(me: Uuid, to_user_id: Option<Uuid>, group_id: Option<Uuid>, conversation_id: Option<&str>, mentions: &[Uuid]) -> Result<ConversationRef, DomainError> {
    let conversation = match (to_user_id, group_id, conversation_id) {
        (Some(peer), None, None) => ConversationRef::Direct(me.min(peer), me.max(peer)),
        (None, Some(group), None) => ConversationRef::Group(group),
        (None, None, Some(id)) => ConversationRef::parse(id).ok_or_else(|| DomainError::Invalid("conversation_id", "not a conversation id".into()))?,
        _ => return Err(DomainError::Invalid("to_user_id", "give exactly one of to_user_id, group_id, conversation_id".into())),
    };
    if let ConversationRef::Direct(a, b) = conversation {
        if me != a && me != b {
            return Err(DomainError::Forbidden("not_a_participant", "you are not in this conversation".into()));
        }
        if !mentions.is_empty() {
            return Err(DomainError::Invalid("mentions", "mentions are for group messages".into()));
        }
    }
    Ok(conversation)
}

/// The peer of `me` in a direct conversation (`me` itself for a note to self).
pub fn peer_of(me: Uuid, conversation: ConversationRef) -> Option<Uuid> {
    match conversation {
        ConversationRef::Direct(a, b) => Some(if a == me { b } else { a }),
        ConversationRef::Group(_) => None,
    }
}

/// The id of a conversation.
pub fn conversation_id(conversation: ConversationRef) -> String {
    match conversation {
        ConversationRef::Direct(a, b) => direct_conversation_id(a, b),
        ConversationRef::Group(g) => group_conversation_id(g),
    }
}

fn message_not_found() -> DomainError {
    DomainError::NotFound("message not found".into())
}

/// Decides a conversation command of `ctx.actor`. Reacting twice with one
/// emoji, removing a reaction that is not there and moving the read cursor
/// backwards answer no events.
pub fn decide(state: &ConversationState, command: ConversationCommand, ctx: &Ctx) -> Result<Vec<MessageEvent>, DomainError> {
    let me = ctx.actor;
    let conversation_id = state.conversation_id.clone();
    let event = match command {
        ConversationCommand::Send(m) => MessageEvent::MessageSent(send(state, m, ctx)?),
        ConversationCommand::Recall { message_id } => {
            let m = state.message.as_ref().ok_or_else(message_not_found)?;
            check_recall(me, state.actor_group_role, m, ctx.now)?;
            MessageEvent::MessageRecalled(MessageRecalled { message_id, conversation_id, by: me })
        }
        ConversationCommand::Edit { message_id, kind, content } => {
            let m = state.message.as_ref().ok_or_else(message_not_found)?;
            let kind = kind.unwrap_or_else(|| m.kind.clone());
            check_edit(me, m, &kind, ctx.now)?;
            validate_content(&kind, &content, (kind == "reply").then_some(message_id))?;
            MessageEvent::MessageEdited(MessageEdited { message_id, conversation_id, by: me, content })
        }
        ConversationCommand::DeleteForMe { message_id } => {
            state.message.as_ref().ok_or_else(message_not_found)?;
            MessageEvent::MessageDeletedForUser(MessageDeletedForUser { message_id, conversation_id, user_id: me })
        }
        ConversationCommand::React { message_id, emoji } => {
            check_emoji(&emoji)?;
            state.message.as_ref().ok_or_else(message_not_found)?;
            if state.has_reacted {
                return Ok(vec![]);
            }
            MessageEvent::MessageReactionAdded(MessageReaction { message_id, conversation_id, user_id: me, emoji })
        }
        ConversationCommand::Unreact { message_id, emoji } => {
            state.message.as_ref().ok_or_else(message_not_found)?;
            if !state.has_reacted {
                return Ok(vec![]);
            }
            MessageEvent::MessageReactionRemoved(MessageReaction { message_id, conversation_id, user_id: me, emoji })
        }
        ConversationCommand::Read { seq } => {
            if seq < 0 {
                return Err(DomainError::Invalid("seq", "seq must not be negative".into()));
            }
            participant(state)?;
            let target = seq.min(state.max_seq);
            if target <= state.read_seq {
                return Ok(vec![]);
            }
            MessageEvent::ConversationRead(ConversationRead { conversation_id, user_id: me, seq: target, receipt: !state.hide_read_receipts })
        }
        ConversationCommand::Clear => {
            participant(state)?;
            MessageEvent::ConversationCleared(ConversationCleared { conversation_id, user_id: me, up_to_seq: state.max_seq })
        }
        ConversationCommand::ChangeSettings { pinned, muted, hidden } => {
            participant(state)?;
            if pinned.is_none() && muted.is_none() && hidden.is_none() {
                return Err(DomainError::Invalid("body", "give at least one of pinned, muted, hidden".into()));
            }
            MessageEvent::ConversationSettingsChanged(ConversationSettingsChanged { conversation_id, user_id: me, pinned, muted, hidden })
        }
    };
    Ok(vec![event])
}

fn participant(state: &ConversationState) -> Result<(), DomainError> {
    match state.readable {
        true => Ok(()),
        false => Err(DomainError::Forbidden("forbidden", "you are not in this conversation".into())),
    }
}

/// A send: content, the sender's standing, then what the message refers to.
fn send(state: &ConversationState, m: NewMessage, ctx: &Ctx) -> Result<MessageSent, DomainError> {
    let me = ctx.actor;
    check_client_msg_id(&m.client_msg_id)?;
    let refs = validate_content(&m.kind, &m.content, m.reply_to)?;
    let standing = state.sender.as_ref().ok_or_else(|| DomainError::NotFound("conversation not found".into()))?;
    let hidden_from = match standing {
        SenderView::Direct { peer, view, peer_exists } => {
            if *peer != me && !view.friends && !peer_exists {
                return Err(DomainError::NotFound("user not found".into()));
            }
            check_direct_send(me, *peer, *view, state.require_friendship)?.then_some(*peer)
        }
        SenderView::Group { view, mentions_are_members } => {
            check_group_send(*view, ctx.now)?;
            if let Some((m, _)) = m.mentions.iter().zip(mentions_are_members).find(|(_, member)| !**member) {
                return Err(DomainError::Invalid("mentions", format!("{m} is not a member of this group")));
            }
            None
        }
    };
    let found = &state.references;
    if m.reply_to.is_some() && !found.reply_in_conversation {
        return Err(DomainError::Invalid("reply_to", "reply_to must be a message of this conversation".into()));
    }
    if refs.card_user.is_some() && !found.card_user_exists {
        return Err(invalid("content.user_id is not a user"));
    }
    if !refs.files.is_empty() && !found.files_stored {
        return Err(invalid("content names an uploaded file that is not stored (upload and complete it first)"));
    }
    if let Some(((_, message), _)) = refs.forwarded.iter().zip(found.forwards_readable.iter().chain(std::iter::repeat(&false))).find(|(_, ok)| !**ok) {
        return Err(invalid(format!("message {message} cannot be forwarded")));
    }
    Ok(MessageSent {
        message_id: ctx.new_id(),
        conversation_id: conversation_id(m.conversation),
        client_msg_id: m.client_msg_id,
        sender_id: me,
        kind: m.kind,
        content: m.content,
        mentions: m.mentions,
        reply_to: m.reply_to,
        hidden_from,
    })
}

pub const TEXT_MAX_BYTES: usize = 8 * 1024;
pub const URL_MAX: usize = 2048;
pub const FORWARD_MAX: usize = 100;
pub const RECALL_WINDOW: Duration = Duration::minutes(2);
pub const EDIT_WINDOW: Duration = Duration::hours(24);

fn invalid(why: impl Into<String>) -> DomainError {
    DomainError::Invalid("content", why.into())
}

/// Checks a client id for idempotent sends: 1–64 of `[A-Za-z0-9_-]`.
pub fn check_client_msg_id(id: &str) -> Result<(), DomainError> {
    if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(DomainError::Invalid("client_msg_id", "client_msg_id must be 1 to 64 characters of A-Z a-z 0-9 _ -".into()))
    }
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn only(map: &'a Map<String, Value>, allowed: &[&str]) -> Result<Self, DomainError> {
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(format!("unknown content field {k:?}")));
        }
        Ok(Fields { map })
    }

    fn str(&self, key: &str, required: bool, max_len: usize) -> Result<Option<&'a str>, DomainError> {
        match self.map.get(key) {
            None | Some(Value::Null) if !required => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= max_len => Ok(Some(s)),
            _ => Err(invalid(format!("content.{key} must be a non-empty string of at most {max_len} bytes"))),
        }
    }

    fn url(&self, key: &str, required: bool) -> Result<(), DomainError> {
        if let Some(u) = self.str(key, required, URL_MAX)? {
            if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/')) {
                return Err(invalid(format!("content.{key} must be an http(s) URL or an absolute path")));
            }
        }
        Ok(())
    }

    fn number(&self, key: &str, required: bool, min: f64, max: f64) -> Result<(), DomainError> {
        match self.map.get(key) {
            None | Some(Value::Null) if !required => Ok(()),
            Some(Value::Number(n)) if n.as_f64().is_some_and(|v| (min..=max).contains(&v)) => Ok(()),
            _ => Err(invalid(format!("content.{key} must be a number from {min} to {max}"))),
        }
    }
}

/// What a message refers to that the handler must check against the read models.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// A `card`'s user.
    pub card_user: Option<Uuid>,
    /// A `forward`'s sources: (conversation id, message id).
    pub forwarded: Vec<(String, Uuid)>,
    /// Uploaded files named by media URLs (`/api/file/<id>`, docs/services.md, "Files and uploads").
    pub files: Vec<Uuid>,
}

/// The file a URL of Beaver's own file service names: `Some(Ok(id))` for
/// `/api/file/<id>[?…]`, `Some(Err)` for a malformed one, `None` for any other URL.
pub fn uploaded_file(url: &str) -> Option<Result<Uuid, ()>> {
    let rest = url.strip_prefix("/api/file/")?;
    let id = rest.split(['?', '#']).next().unwrap_or_default();
    Some(Uuid::try_parse(id).map_err(|_| ()))
}

/// Validates `content` for `kind` (docs/chat.md) and returns what it refers to.
pub fn validate_content(kind: &str, content: &Value, reply_to: Option<Uuid>) -> Result<References, DomainError> {
    let map = content.as_object().ok_or_else(|| invalid("content must be an object"))?;
    let mut refs = References::default();
    match kind {
        "text" | "markdown" | "reply" => {
            Fields::only(map, &["text"])?.str("text", true, TEXT_MAX_BYTES)?;
            if kind == "reply" && reply_to.is_none() {
                return Err(DomainError::Invalid("reply_to", "a reply needs reply_to".into()));
            }
        }
        "image" => {
            let f = Fields::only(map, &["url", "width", "height", "size"])?;
            f.url("url", true)?;
            for k in ["width", "height", "size"] {
                f.number(k, false, 0.0, 1e12)?;
            }
        }
        "file" => {
            let f = Fields::only(map, &["url", "name", "size"])?;
            f.url("url", true)?;
            f.str("name", true, 255)?;
            f.number("size", true, 0.0, 1e13)?;
        }
        "voice" | "video" => {
            let allowed: &[&str] = if kind == "voice" { &["url", "duration_ms"] } else { &["url", "duration_ms", "cover_url"] };
            let f = Fields::only(map, allowed)?;
            f.url("url", true)?;
            f.number("duration_ms", true, 0.0, 1e9)?;
            f.url("cover_url", false)?;
        }
        "emoji" => {
            let f = Fields::only(map, &["code"])?;
            if f.str("code", true, 256)?.is_some_and(|c| c.chars().count() > 64) {
                return Err(invalid("content.code must be at most 64 characters"));
            }
        }
        "location" => {
            let f = Fields::only(map, &["latitude", "longitude", "name"])?;
            f.number("latitude", true, -90.0, 90.0)?;
            f.number("longitude", true, -180.0, 180.0)?;
            f.str("name", false, 256)?;
        }
        "card" => {
            let f = Fields::only(map, &["user_id"])?;
            let id = f.str("user_id", true, 36)?.and_then(|s| Uuid::try_parse(s).ok());
            refs.card_user = Some(id.ok_or_else(|| invalid("content.user_id must be a user id"))?);
        }
        "link" => {
            let f = Fields::only(map, &["url", "title"])?;
            f.url("url", true)?;
            f.str("title", false, 256)?;
        }
        "forward" => {
            let f = Fields::only(map, &["messages", "title"])?;
            f.str("title", false, 256)?;
            let items = map.get("messages").and_then(Value::as_array).filter(|a| (1..=FORWARD_MAX).contains(&a.len()));
            let items = items.ok_or_else(|| invalid(format!("content.messages must list 1 to {FORWARD_MAX} messages")))?;
            for item in items {
                let conv = item.get("conversation_id").and_then(Value::as_str);
                let id = item.get("message_id").and_then(Value::as_str).and_then(|s| Uuid::try_parse(s).ok());
                match (conv, id) {
                    (Some(c), Some(m)) => refs.forwarded.push((c.to_owned(), m)),
                    _ => return Err(invalid("each forwarded message needs conversation_id and message_id")),
                }
            }
        }
        "system" => return Err(DomainError::Invalid("type", "system messages are sent by the server only".into())),
        other => return Err(DomainError::Invalid("type", format!("unknown message type {other:?}"))),
    }
    if matches!(kind, "image" | "file" | "voice" | "video") {
        for key in ["url", "cover_url"] {
            if let Some(found) = map.get(key).and_then(Value::as_str).and_then(uploaded_file) {
                refs.files.push(found.map_err(|_| invalid(format!("content.{key} names no file")))?);
            }
        }
    }
    Ok(refs)
}

/// What the sender is to a direct conversation's peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectView {
    pub friends: bool,
    pub i_blocked_them: bool,
    pub they_blocked_me: bool,
}

/// May `sender` message `peer`? Returns whether the message is hidden from the peer.
pub fn check_direct_send(sender: Uuid, peer: Uuid, view: DirectView, require_friendship: bool) -> Result<bool, DomainError> {
    if sender == peer {
        return Err(DomainError::Invalid("to_user_id", "you cannot message yourself".into()));
    }
    if view.i_blocked_them {
        return Err(DomainError::Forbidden("user_blocked", "you blocked this user; unblock them first".into()));
    }
    if require_friendship && !view.friends {
        return Err(DomainError::Forbidden("not_friends", "you can only message your friends".into()));
    }
    Ok(view.they_blocked_me)
}

/// The sender's standing in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSendView {
    pub role: Option<Role>,
    pub muted_until: Option<OffsetDateTime>,
    pub mute_all: bool,
}

/// May a member send to the group now?
pub fn check_group_send(view: GroupSendView, now: OffsetDateTime) -> Result<(), DomainError> {
    let role = view.role.ok_or_else(|| DomainError::Forbidden("not_a_member", "you are not a member of this group".into()))?;
    if view.muted_until.is_some_and(|u| u > now) {
        return Err(DomainError::Forbidden("muted", "you are muted in this group".into()));
    }
    if view.mute_all && role == Role::Member {
        return Err(DomainError::Forbidden("muted", "only admins and the owner may speak while the group is muted".into()));
    }
    Ok(())
}

/// A message as operations need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    pub sender_id: Uuid,
    pub kind: String,
    pub sent_at: OffsetDateTime,
    pub recalled: bool,
}

/// May `actor` recall the message? `actor_group_role` is their role when the
/// conversation is a group.
pub fn check_recall(actor: Uuid, actor_group_role: Option<Role>, m: &MessageView, now: OffsetDateTime) -> Result<(), DomainError> {
    if m.recalled {
        return Err(DomainError::Conflict("already_recalled", "the message was already recalled".into()));
    }
    if actor_group_role.is_some_and(|r| r >= Role::Admin) {
        return Ok(());
    }
    if actor != m.sender_id {
        return Err(DomainError::Forbidden("forbidden", "only the sender (or a group admin) may recall a message".into()));
    }
    if now - m.sent_at > RECALL_WINDOW {
        return Err(DomainError::Forbidden("window_expired", "messages can be recalled for 2 minutes".into()));
    }
    Ok(())
}

/// May `actor` edit the message into `new_kind`?
pub fn check_edit(actor: Uuid, m: &MessageView, new_kind: &str, now: OffsetDateTime) -> Result<(), DomainError> {
    if actor != m.sender_id {
        return Err(DomainError::Forbidden("forbidden", "only the sender may edit a message".into()));
    }
    if m.recalled {
        return Err(DomainError::Forbidden("forbidden", "a recalled message cannot be edited".into()));
    }
    if new_kind != m.kind {
        return Err(DomainError::Forbidden("forbidden", "an edit keeps the message's type".into()));
    }
    if now - m.sent_at > EDIT_WINDOW {
        return Err(DomainError::Forbidden("window_expired", "messages can be edited for 24 hours".into()));
    }
    Ok(())
}

/// Checks a reaction emoji: 1–64 characters, no control characters.
pub fn check_emoji(emoji: &str) -> Result<(), DomainError> {
    let n = emoji.chars().count();
    if (1..=64).contains(&n) && !emoji.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Ok(())
    } else {
        Err(DomainError::Invalid("emoji", "emoji must be 1 to 64 characters without spaces".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(e: DomainError) -> &'static str {
        e.kind()
    }

    #[test]
    fn every_type_accepts_its_documented_content() {
        let cases = [
            ("text", json!({ "text": "hi" })),
            ("markdown", json!({ "text": "**hi**" })),
            ("image", json!({ "url": "https://x/y.png", "width": 10, "height": 20 })),
            ("file", json!({ "url": "/files/1", "name": "a.pdf", "size": 1234 })),
            ("voice", json!({ "url": "/v/1", "duration_ms": 3000 })),
            ("video", json!({ "url": "/v/2", "duration_ms": 3000, "cover_url": "/c/2" })),
            ("emoji", json!({ "code": "party_parrot" })),
            ("location", json!({ "latitude": 51.5, "longitude": -0.12, "name": "London" })),
            ("card", json!({ "user_id": Uuid::now_v7() })),
            ("link", json!({ "url": "https://example.org", "title": "Example" })),
            ("forward", json!({ "messages": [{ "conversation_id": "group:x", "message_id": Uuid::now_v7() }] })),
        ];
        for (kind, content) in cases {
            assert!(validate_content(kind, &content, None).is_ok(), "{kind}: {content}");
        }
        assert!(validate_content("reply", &json!({ "text": "yes" }), Some(Uuid::now_v7())).is_ok());
    }

    #[test]
    fn malformed_content_is_refused_naming_the_problem() {
        let cases = [
            ("text", json!({ "text": "" }), "content"),
            ("text", json!({ "text": "x".repeat(TEXT_MAX_BYTES + 1) }), "content"),
            ("text", json!({ "text": "hi", "extra": 1 }), "content"),
            ("text", json!("hi"), "content"),
            ("image", json!({ "width": 10 }), "content"),
            ("image", json!({ "url": "javascript:alert(1)" }), "content"),
            ("location", json!({ "latitude": 91, "longitude": 0 }), "content"),
            ("card", json!({ "user_id": "nobody" }), "content"),
            ("forward", json!({ "messages": [] }), "content"),
            ("reply", json!({ "text": "yes" }), "reply_to"),
            ("system", json!({ "text": "x" }), "type"),
            ("hologram", json!({}), "type"),
        ];
        for (kind, content, expected) in cases {
            assert_eq!(field(validate_content(kind, &content, None).unwrap_err()), expected, "{kind}: {content}");
        }
    }

    #[test]
    fn client_message_ids_are_short_and_plain() {
        assert!(check_client_msg_id("c-1_A").is_ok());
        for bad in ["", "a b", &"x".repeat(65), "ü"] {
            assert!(check_client_msg_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn direct_sends_need_friendship_and_no_block_by_me_and_hide_when_blocked_by_them() {
        let (me, peer) = (Uuid::now_v7(), Uuid::now_v7());
        let friends = DirectView { friends: true, ..Default::default() };
        assert_eq!(check_direct_send(me, peer, friends, true), Ok(false));
        assert_eq!(field(check_direct_send(me, peer, DirectView::default(), true).unwrap_err()), "not_friends");
        assert_eq!(check_direct_send(me, peer, DirectView::default(), false), Ok(false));
        assert_eq!(field(check_direct_send(me, peer, DirectView { i_blocked_them: true, ..friends }, true).unwrap_err()), "user_blocked");
        assert_eq!(check_direct_send(me, peer, DirectView { they_blocked_me: true, ..friends }, true), Ok(true));
        assert_eq!(field(check_direct_send(me, me, friends, true).unwrap_err()), "to_user_id");
    }

    #[test]
    fn group_sends_need_membership_and_no_mute() {
        let now = OffsetDateTime::now_utc();
        let member = GroupSendView { role: Some(Role::Member), muted_until: None, mute_all: false };
        assert!(check_group_send(member, now).is_ok());
        assert_eq!(field(check_group_send(GroupSendView { role: None, ..member }, now).unwrap_err()), "not_a_member");
        let muted = GroupSendView { muted_until: Some(now + Duration::minutes(5)), ..member };
        assert_eq!(field(check_group_send(muted, now).unwrap_err()), "muted");
        let expired = GroupSendView { muted_until: Some(now - Duration::minutes(5)), ..member };
        assert!(check_group_send(expired, now).is_ok());
        let all = GroupSendView { mute_all: true, ..member };
        assert_eq!(field(check_group_send(all, now).unwrap_err()), "muted");
        assert!(check_group_send(GroupSendView { role: Some(Role::Admin), ..all }, now).is_ok());
    }

    fn message(sender: Uuid, age: Duration) -> MessageView {
        MessageView { sender_id: sender, kind: "text".into(), sent_at: OffsetDateTime::now_utc() - age, recalled: false }
    }

    #[test]
    fn the_sender_recalls_within_two_minutes_and_group_admins_any_time() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let now = OffsetDateTime::now_utc();
        assert!(check_recall(me, None, &message(me, Duration::seconds(30)), now).is_ok());
        assert_eq!(field(check_recall(me, None, &message(me, Duration::minutes(3)), now).unwrap_err()), "window_expired");
        assert_eq!(field(check_recall(other, Some(Role::Member), &message(me, Duration::seconds(1)), now).unwrap_err()), "forbidden");
        assert!(check_recall(other, Some(Role::Admin), &message(me, Duration::days(3)), now).is_ok());
        let gone = MessageView { recalled: true, ..message(me, Duration::seconds(1)) };
        assert_eq!(field(check_recall(me, None, &gone, now).unwrap_err()), "already_recalled");
    }

    #[test]
    fn only_the_sender_edits_within_a_day_keeping_the_type() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let now = OffsetDateTime::now_utc();
        assert!(check_edit(me, &message(me, Duration::hours(23)), "text", now).is_ok());
        assert_eq!(field(check_edit(me, &message(me, Duration::hours(25)), "text", now).unwrap_err()), "window_expired");
        assert_eq!(field(check_edit(other, &message(me, Duration::seconds(1)), "text", now).unwrap_err()), "forbidden");
        assert_eq!(field(check_edit(me, &message(me, Duration::seconds(1)), "image", now).unwrap_err()), "forbidden");
        let gone = MessageView { recalled: true, ..message(me, Duration::seconds(1)) };
        assert_eq!(field(check_edit(me, &gone, "text", now).unwrap_err()), "forbidden");
    }

    #[test]
    fn reaction_emoji_are_short_and_without_spaces() {
        assert!(check_emoji("👍").is_ok());
        assert!(check_emoji("").is_err());
        assert!(check_emoji("a b").is_err());
    }
    // Given/when/then on the aggregate.

    use crate::domain::testing::{ctx, id, user};

    fn readable(conversation_id: &str) -> ConversationState {
        ConversationState { conversation_id: conversation_id.into(), readable: true, max_seq: 10, read_seq: 4, require_friendship: true, ..Default::default() }
    }

    /// A readable group conversation with a text message sent `age` before [`ctx`]'s now.
    fn with_message(sender: Uuid, age: Duration) -> ConversationState {
        let sent_at = ctx(sender).now - age;
        ConversationState { message: Some(MessageView { sent_at, ..message(sender, age) }), ..readable("group:x") }
    }

    #[test]
    fn given_a_message_i_cannot_read_every_message_command_is_not_found() {
        let me = user();
        let hidden = readable("group:x");
        let m = user();
        for command in [
            ConversationCommand::Recall { message_id: m },
            ConversationCommand::Edit { message_id: m, kind: None, content: json!({ "text": "x" }) },
            ConversationCommand::DeleteForMe { message_id: m },
            ConversationCommand::React { message_id: m, emoji: "👍".into() },
            ConversationCommand::Unreact { message_id: m, emoji: "👍".into() },
        ] {
            assert_eq!(decide(&hidden, command, &ctx(me)).unwrap_err().kind(), "not_found");
        }
    }

    #[test]
    fn given_my_fresh_message_when_i_recall_it_then_it_is_recalled() {
        let (me, m) = (user(), user());
        let events = decide(&with_message(me, Duration::seconds(10)), ConversationCommand::Recall { message_id: m }, &ctx(me)).unwrap();
        assert_eq!(events, vec![MessageEvent::MessageRecalled(MessageRecalled { message_id: m, conversation_id: "group:x".into(), by: me })]);
        let old = with_message(me, Duration::minutes(3));
        assert_eq!(decide(&old, ConversationCommand::Recall { message_id: m }, &ctx(me)).unwrap_err().kind(), "window_expired");
    }

    #[test]
    fn an_edit_keeps_the_type_and_its_content_rules() {
        let me = user();
        let state = with_message(me, Duration::minutes(1));
        let edit = |kind: Option<&str>, content| ConversationCommand::Edit { message_id: id(9), kind: kind.map(str::to_owned), content };
        let ok = decide(&state, edit(None, json!({ "text": "better" })), &ctx(me)).unwrap();
        assert!(matches!(&ok[..], [MessageEvent::MessageEdited(e)] if e.content == json!({ "text": "better" })));
        assert_eq!(decide(&state, edit(None, json!({ "text": "" })), &ctx(me)).unwrap_err().kind(), "content");
        assert_eq!(decide(&state, edit(Some("image"), json!({ "url": "/i" })), &ctx(me)).unwrap_err().kind(), "forbidden");
    }

    #[test]
    fn reactions_are_idempotent_and_checked_before_anything_else() {
        let me = user();
        let state = with_message(user(), Duration::minutes(1));
        let react = |emoji: &str| ConversationCommand::React { message_id: id(9), emoji: emoji.into() };
        assert_eq!(decide(&state, react("👍"), &ctx(me)).unwrap().len(), 1);
        let reacted = ConversationState { has_reacted: true, ..state.clone() };
        assert!(decide(&reacted, react("👍"), &ctx(me)).unwrap().is_empty());
        assert_eq!(decide(&readable("group:x"), react("a b"), &ctx(me)).unwrap_err().kind(), "emoji", "the emoji is checked before the message");
        let unreact = ConversationCommand::Unreact { message_id: id(9), emoji: "👍".into() };
        assert!(decide(&state, unreact.clone(), &ctx(me)).unwrap().is_empty());
        assert_eq!(decide(&reacted, unreact, &ctx(me)).unwrap().len(), 1);
    }

    #[test]
    fn the_read_cursor_only_moves_forward_and_never_past_the_end() {
        let me = user();
        let state = readable("group:x"); // max 10, read 4
        let read = |seq| decide(&state, ConversationCommand::Read { seq }, &ctx(me));
        assert_eq!(
            read(7).unwrap(),
            vec![MessageEvent::ConversationRead(ConversationRead { conversation_id: "group:x".into(), user_id: me, seq: 7, receipt: true })]
        );
        let private = ConversationState { hide_read_receipts: true, ..state.clone() };
        let quiet = decide(&private, ConversationCommand::Read { seq: 7 }, &ctx(me)).unwrap();
        assert!(matches!(quiet.as_slice(), [MessageEvent::ConversationRead(ConversationRead { receipt: false, .. })]), "{quiet:?}");
        assert!(matches!(&read(99).unwrap()[..], [MessageEvent::ConversationRead(r)] if r.seq == 10));
        assert!(read(3).unwrap().is_empty());
        assert!(read(4).unwrap().is_empty());
        assert_eq!(read(-1).unwrap_err().kind(), "seq");
        let outsider = ConversationState { readable: false, ..state.clone() };
        assert_eq!(decide(&outsider, ConversationCommand::Read { seq: 5 }, &ctx(me)).unwrap_err().kind(), "forbidden");
    }

    #[test]
    fn clearing_hides_up_to_the_end_and_settings_need_a_flag() {
        let me = user();
        let state = readable("group:x");
        let cleared = decide(&state, ConversationCommand::Clear, &ctx(me)).unwrap();
        assert!(matches!(&cleared[..], [MessageEvent::ConversationCleared(c)] if c.up_to_seq == 10));
        let none = ConversationCommand::ChangeSettings { pinned: None, muted: None, hidden: None };
        assert_eq!(decide(&state, none.clone(), &ctx(me)).unwrap_err().kind(), "body");
        let outsider = ConversationState { readable: false, ..state.clone() };
        assert_eq!(decide(&outsider, none, &ctx(me)).unwrap_err().kind(), "forbidden", "not being in it comes first");
        let pin = ConversationCommand::ChangeSettings { pinned: Some(true), muted: None, hidden: None };
        assert_eq!(decide(&state, pin, &ctx(me)).unwrap().len(), 1);
    }

    fn text(conversation: ConversationRef, text: &str) -> ConversationCommand {
        ConversationCommand::Send(NewMessage {
            conversation,
            client_msg_id: "c1".into(),
            kind: "text".into(),
            content: json!({ "text": text }),
            mentions: vec![],
            reply_to: None,
        })
    }

    fn to_peer(me: Uuid, peer: Uuid, view: DirectView, peer_exists: bool) -> (ConversationState, ConversationCommand) {
        let conversation = ConversationRef::Direct(me.min(peer), me.max(peer));
        let state = ConversationState { sender: Some(SenderView::Direct { peer, view, peer_exists }), ..readable(&conversation_id(conversation)) };
        (state, text(conversation, "hi"))
    }

    #[test]
    fn given_friends_when_i_send_then_the_message_gets_a_new_id_and_the_conversation() {
        let (me, peer) = (user(), user());
        let (state, command) = to_peer(me, peer, DirectView { friends: true, ..Default::default() }, true);
        let events = decide(&state, command, &ctx(me)).unwrap();
        let [MessageEvent::MessageSent(sent)] = &events[..] else { panic!("{events:?}") };
        assert_eq!((sent.message_id, sent.conversation_id.clone(), sent.sender_id, sent.hidden_from), (id(1), direct_conversation_id(me, peer), me, None));
    }

    #[test]
    fn direct_sends_check_the_peer_then_the_relation() {
        let (me, peer) = (user(), user());
        let (unknown, command) = to_peer(me, peer, DirectView::default(), false);
        assert_eq!(decide(&unknown, command, &ctx(me)).unwrap_err().kind(), "not_found");
        let (stranger, command) = to_peer(me, peer, DirectView::default(), true);
        assert_eq!(decide(&stranger, command, &ctx(me)).unwrap_err().kind(), "not_friends");
        let (blocked_by_peer, command) = to_peer(me, peer, DirectView { friends: true, they_blocked_me: true, ..Default::default() }, true);
        let events = decide(&blocked_by_peer, command, &ctx(me)).unwrap();
        assert!(matches!(&events[..], [MessageEvent::MessageSent(s)] if s.hidden_from == Some(peer)), "hidden from the peer, not refused");
    }

    #[test]
    fn group_sends_check_standing_mentions_and_references() {
        let me = user();
        let group = ConversationRef::Group(user());
        let member = GroupSendView { role: Some(Role::Member), muted_until: None, mute_all: false };
        let state = |mentions_are_members: Vec<bool>, references: ReferencesFound| ConversationState {
            sender: Some(SenderView::Group { view: member, mentions_are_members }),
            references,
            ..readable(&conversation_id(group))
        };
        let mention = |ids: Vec<Uuid>| match text(group, "hi @x") {
            ConversationCommand::Send(m) => ConversationCommand::Send(NewMessage { mentions: ids, ..m }),
            _ => unreachable!(),
        };
        let (a, b) = (user(), user());
        assert_eq!(decide(&state(vec![true, true], Default::default()), mention(vec![a, b]), &ctx(me)).unwrap().len(), 1);
        assert_eq!(decide(&state(vec![true, false], Default::default()), mention(vec![a, b]), &ctx(me)).unwrap_err().kind(), "mentions");
        let reply = match text(group, "yes") {
            ConversationCommand::Send(m) => ConversationCommand::Send(NewMessage { kind: "reply".into(), reply_to: Some(user()), ..m }),
            _ => unreachable!(),
        };
        assert_eq!(decide(&state(vec![], Default::default()), reply.clone(), &ctx(me)).unwrap_err().kind(), "reply_to");
        let found = ReferencesFound { reply_in_conversation: true, ..Default::default() };
        assert_eq!(decide(&state(vec![], found), reply, &ctx(me)).unwrap().len(), 1);
        let forward = ConversationCommand::Send(NewMessage {
            conversation: group,
            client_msg_id: "c2".into(),
            kind: "forward".into(),
            content: json!({ "messages": [{ "conversation_id": "group:y", "message_id": user() }] }),
            mentions: vec![],
            reply_to: None,
        });
        assert_eq!(decide(&state(vec![], Default::default()), forward.clone(), &ctx(me)).unwrap_err().kind(), "content");
        let readable_forward = ReferencesFound { forwards_readable: vec![true], ..Default::default() };
        assert_eq!(decide(&state(vec![], readable_forward), forward, &ctx(me)).unwrap().len(), 1);
    }

    #[test]
    fn media_naming_an_uploaded_file_refers_to_it_and_a_malformed_file_path_is_refused() {
        let id = Uuid::new_v4();
        let refs = validate_content("video", &json!({ "url": format!("/api/file/{id}"), "duration_ms": 1, "cover_url": format!("/api/file/{id}?thumb=1") }), None).unwrap();
        assert_eq!(refs.files, vec![id, id]);
        assert!(validate_content("image", &json!({ "url": "https://cdn.example/x.png" }), None).unwrap().files.is_empty());
        assert_eq!(validate_content("image", &json!({ "url": "/api/file/not-an-id" }), None).unwrap_err().kind(), "content");
        assert_eq!(uploaded_file("/api/file/x"), Some(Err(())));
        assert_eq!(uploaded_file("/files/1"), None);
    }
}
