//! Chat rules: message content per type, who may send where, and the
//! windows and permissions of message operations.

use super::DomainError;
use beaver_events::group::Role;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

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
        match e {
            DomainError::Invalid(f, _) => f,
            DomainError::Forbidden(k, _) | DomainError::Conflict(k, _) => k,
            DomainError::NotFound(_) => "not_found",
        }
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
}
