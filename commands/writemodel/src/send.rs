//! The chat send path, shared by the HTTP handler (beaver-commands) and
//! WebSocket `send` frames (beaver-ws-push), so a socket send reaches the log
//! without an extra HTTP hop and with exactly the same checks, idempotency
//! and answer (docs/chat.md, "Sending", "Sequencing", "Idempotent sends").
//!
//! The common case touches no database: who may send is read from Redis
//! (friendship and block sets; the group's send-state hash), the message is
//! appended to `beaver.messages.v1`, and the answer is the sequencer's, which
//! arrives over Redis after its Kafka transaction commits. MariaDB is asked
//! only for what names stored rows (`reply_to`, forwards, cards), for the
//! idempotency answer past the sequencer's window (bounded to 250 ms) when
//! the sent-key filter cannot rule it out, and when the Redis state is absent.

use crate::domain::{
    conversation::{self as rules, ConversationCommand, ConversationState, DirectView, GroupSendView, NewMessage, ReferencesFound, SenderView},
    Ctx,
};
use beaver_events::{
    group::Role,
    message::ConversationRef,
    Actor, Envelope, MessageEvent,
};
use beaver_platform::{http::ApiError, kafka::EventProducer, sequencing::{self, Answers}};
use beaver_readmodel::{
    conversation, group, keys,
    sent_filter::{self, Check},
    user as users,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::MySqlPool;
use std::time::Duration;
use time::{format_description::well_known::Rfc3339, OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

/// What a send needs; cheap to clone.
#[derive(Clone)]
pub struct SendPath {
    pub pool: MySqlPool,
    pub redis: redis::aio::ConnectionManager,
    pub producer: EventProducer,
    pub answers: Answers,
    /// Direct messages only between friends.
    pub require_friendship: bool,
    /// Ask the sent-key filter before the read model's idempotency lookup.
    pub sent_filter: bool,
    /// Longest wait for the sequencer's answer before answering without a seq.
    pub sequencer_wait: Duration,
    /// Longest wait for the messages projection before reading stored messages.
    pub store_wait: Duration,
}

/// The answer to a send, with `seq` and `sent_at` null when it was not
/// numbered in time (the message is in the log; resending the same
/// `client_msg_id` is safe).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = chat::SendAnswer)]
pub struct SendAnswer {
    pub message_id: Uuid,
    pub conversation_id: String,
    /// The message's number in its conversation; null when not numbered in time (202).
    pub seq: Option<i64>,
    /// RFC 3339; null when not numbered in time (202).
    #[schema(format = DateTime)]
    pub sent_at: Option<String>,
}

/// A send's outcome: the answer, and whether it carries its seq.
#[derive(Debug)]
pub struct Sent {
    pub numbered: bool,
    pub data: SendAnswer,
}

/// Waits until the messages projection has stored everything the sequencer
/// had committed (bounded), so a check that names a stored message finds it.
async fn caught_up(s: &SendPath) -> Result<(), ApiError> {
    sequencing::await_projection(&s.redis, &s.pool, s.store_wait).await?;
    Ok(())
}

/// A member's role and mute in an active group (the read model).
async fn role_in(pool: &MySqlPool, group: Uuid, user: Uuid) -> Result<Option<(Role, Option<PrimitiveDateTime>)>, ApiError> {
    Ok(group::standing(pool, group, user).await?.and_then(|(r, m)| Role::parse(&r).map(|r| (r, m))))
}

/// A send as a client states it (the body of `POST /api/chat/send`, the
/// data of a WebSocket `send` frame).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = chat::SendRequest)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// A 1:1 message to this user. Exactly one of `to_user_id`, `group_id`, `conversation_id`.
    pub to_user_id: Option<Uuid>,
    /// A message to this group.
    pub group_id: Option<Uuid>,
    /// `direct:<smaller user id>:<larger user id>` or `group:<group id>`.
    pub conversation_id: Option<String>,
    /// Chosen by the client, 1–64 of `A-Z a-z 0-9 _ -`: a resend with the same one answers the original.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub client_msg_id: String,
    /// `text`, `markdown`, `reply`, `image`, `file`, `voice`, `video`,
    /// `emoji`, `location`, `card`, `link` or `forward` (`system` is the server's only).
    #[serde(rename = "type")]
    pub kind: String,
    /// An object whose fields depend on `type` (no others): `text`, `markdown`,
    /// `reply`: `{text}` (1–8,192 bytes); `image`: `{url, width?, height?, size?}`;
    /// `file`: `{url, name, size}`; `voice`: `{url, duration_ms}`; `video`:
    /// `{url, duration_ms, cover_url?}`; `emoji`: `{code}` (1–64 characters);
    /// `location`: `{latitude, longitude, name?}`; `card`: `{user_id}`; `link`:
    /// `{url, title?}`; `forward`: `{messages: [{conversation_id, message_id}]
    /// (1–100), title?}`. URLs are http(s) or absolute paths (≤ 2,048 characters).
    #[schema(value_type = Object)]
    pub content: Value,
    /// Group members the message mentions (group messages only).
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    /// A message of the same conversation (required for `type: reply`).
    pub reply_to: Option<Uuid>,
}

/// Sends one message as `me`: checks, appends `MessageSent`, and waits for the
/// sequencer's answer. Every entry point calls this, so HTTP and WebSocket
/// sends have the same rules, idempotency and answer.
///
/// The checks that need no state come first (nothing is read for a
/// malformed send), then the sender's standing and the message's references
/// are loaded and [`rules::decide`] decides.
pub async fn send(s: &SendPath, me: Uuid, correlation: String, req: SendRequest) -> Result<Sent, ApiError> {
    rules::check_client_msg_id(&req.client_msg_id)?;
    let target = rules::resolve_target(me, req.to_user_id, req.group_id, req.conversation_id.as_deref(), &req.mentions)?;
    let refs = rules::validate_content(&req.kind, &req.content, req.reply_to)?;
    let conversation_id = rules::conversation_id(target);
    let sender = match target {
        ConversationRef::Direct(..) => {
            let peer = rules::peer_of(me, target).expect("a direct conversation has a peer");
            let view = direct_view(s, me, peer).await?;
            let peer_exists = peer == me || view.friends || users::exists(&s.pool, peer).await?;
            SenderView::Direct { peer, view, peer_exists }
        }
        ConversationRef::Group(group) => {
            let (view, mentions_are_members) = match group_send_view(s, group, me, &req.mentions).await? {
                Some(found) => found,
                None => group_send_view_from_db(s, group, me, &req.mentions).await?,
            };
            SenderView::Group { view, mentions_are_members }
        }
    };
    let mut references = ReferencesFound::default();
    if req.reply_to.is_some() || !refs.forwarded.is_empty() {
        // These name stored messages: read them once everything answered is stored.
        caught_up(s).await?;
    }
    if let Some(reply_to) = req.reply_to {
        references.reply_in_conversation = conversation::conversation_of(&s.pool, reply_to).await?.as_deref() == Some(conversation_id.as_str());
    }
    if let Some(card) = refs.card_user {
        references.card_user_exists = users::exists(&s.pool, card).await?;
    }
    if !refs.files.is_empty() {
        references.files_stored = beaver_readmodel::files::all_stored(&s.pool, &refs.files).await?;
    }
    for (conv, message) in &refs.forwarded {
        let readable = match ConversationRef::parse(conv) {
            Some(source) => {
                conversation::conversation_of(&s.pool, *message).await?.as_deref() == Some(conv.as_str())
                    && conversation::can_read(&s.pool, source, me).await?
            }
            None => false,
        };
        references.forwards_readable.push(readable);
    }
    let state = ConversationState {
        conversation_id: conversation_id.clone(),
        sender: Some(sender),
        references,
        require_friendship: s.require_friendship,
        ..Default::default()
    };
    let command = ConversationCommand::Send(NewMessage {
        conversation: target,
        client_msg_id: req.client_msg_id,
        kind: req.kind,
        content: req.content,
        mentions: req.mentions,
        reply_to: req.reply_to,
    });
    let mut events = rules::decide(&state, command, &Ctx::live(me))?;
    let Some(event @ MessageEvent::MessageSent(_)) = events.pop() else { unreachable!("a send decides one MessageSent") };
    let MessageEvent::MessageSent(sent) = &event else { unreachable!() };
    let message_id = sent.message_id;

    // Idempotency past the sequencer's window: the read model's unique key.
    // (Within the window the sequencer itself answers a repeat with the original.)
    if may_be_stored(s, &conversation_id, me, &sent.client_msg_id).await {
        if let Some(original) = stored_answer(&s.pool, &conversation_id, me, &sent.client_msg_id).await {
            return Ok(Sent { numbered: true, data: original });
        }
    }
    // Register before appending, so the sequencer's answer cannot be missed.
    let waiter = s.answers.register(message_id);
    s.producer.append(&Envelope::new(event, Actor::User(me), correlation, None)).await.map_err(|e| ApiError::Unavailable(e.into()))?;
    Ok(match waiter.wait(s.sequencer_wait).await {
        Some(a) => Sent {
            numbered: true,
            data: SendAnswer { message_id: a.message_id, conversation_id: a.conversation_id, seq: Some(a.seq), sent_at: Some(rfc3339(a.sent_at)) },
        },
        // In the log, not yet numbered (or the answer was lost): safe to resend.
        None => Sent { numbered: false, data: SendAnswer { message_id, conversation_id, seq: None, sent_at: None } },
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The stored answer to an earlier send of `(sender, client_msg_id)` in a
/// conversation, from the read model's unique key. Bounded: if MariaDB is
/// slow or down the send goes on (the sequencer's window still catches
/// repeats), so MariaDB never blocks the send path.
async fn stored_answer(pool: &MySqlPool, conversation_id: &str, sender: Uuid, client_msg_id: &str) -> Option<SendAnswer> {
    let lookup = conversation::sent(pool, conversation_id, sender, client_msg_id);
    match tokio::time::timeout(STORED_ANSWER_BUDGET, lookup).await {
        Ok(Ok(Some((message_id, seq, sent_at)))) => {
            Some(SendAnswer { message_id: Uuid::try_parse(&message_id).ok()?, conversation_id: conversation_id.to_owned(), seq: Some(seq), sent_at: Some(rfc3339(sent_at.assume_utc())) })
        }
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "idempotency lookup failed; relying on the sequencer's window");
            None
        }
        Err(_) => {
            metrics::counter!("send_idempotency_lookup_timeouts_total").increment(1);
            None
        }
    }
}

/// Whether the read model may hold `(sender, client_msg_id)` in this
/// conversation: false only when the trusted sent-key filter says it was
/// never stored. Redis errors and an untrusted filter answer true (ask).
async fn may_be_stored(s: &SendPath, conversation_id: &str, sender: Uuid, client_msg_id: &str) -> bool {
    if !s.sent_filter {
        return true;
    }
    let answer = match sent_filter::check(&mut s.redis.clone(), conversation_id, sender, client_msg_id).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::debug!(error = %e, "sent-key filter check failed; asking the read model");
            Check::Untrusted
        }
    };
    let label = match answer {
        Check::Absent => "absent",
        Check::Maybe => "maybe",
        Check::Untrusted => "untrusted",
    };
    metrics::counter!("send_sent_filter_checks_total", "answer" => label).increment(1);
    answer != Check::Absent
}

/// How long a send waits for the read model's idempotency answer.
const STORED_ANSWER_BUDGET: Duration = Duration::from_millis(250);

/// What a group send checks, from the hash the groups projector keeps (one
/// round trip): the sender's standing, mute-all, and whether each mentioned
/// user is a member. `None` when the hash is absent (a dissolved group, or
/// one the projector has not written yet): then MariaDB decides.
async fn group_send_view(s: &SendPath, group: Uuid, me: Uuid, mentions: &[Uuid]) -> Result<Option<(GroupSendView, Vec<bool>)>, ApiError> {
    let mut fields = vec!["mute_all".to_owned(), keys::group_send_member(me)];
    fields.extend(mentions.iter().map(|m| keys::group_send_member(*m)));
    let values: Vec<Option<String>> = redis::cmd("HMGET").arg(keys::group_send_state(group)).arg(&fields).query_async(&mut s.redis.clone()).await?;
    let Some(mute_all) = values.first().cloned().flatten() else { return Ok(None) };
    let standing = values.get(1).cloned().flatten().and_then(|v| {
        let (role, until) = v.split_once('|')?;
        let until: i64 = until.parse().ok()?;
        let muted_until = (until > 0).then(|| OffsetDateTime::from_unix_timestamp_nanos(until as i128 * 1_000_000).ok()).flatten();
        Some((Role::parse(role)?, muted_until))
    });
    let view = GroupSendView { role: standing.map(|s| s.0), muted_until: standing.and_then(|s| s.1), mute_all: mute_all == "1" };
    Ok(Some((view, values[2..].iter().map(Option::is_some).collect())))
}

/// [`group_send_view`] from the read model.
async fn group_send_view_from_db(s: &SendPath, group: Uuid, me: Uuid, mentions: &[Uuid]) -> Result<(GroupSendView, Vec<bool>), ApiError> {
    let mute_all = group::mute_all(&s.pool, group).await?.ok_or_else(|| ApiError::NotFound("group not found".into()))?;
    let standing = role_in(&s.pool, group, me).await?;
    let view = GroupSendView { role: standing.map(|s| s.0), muted_until: standing.and_then(|s| s.1).map(|m| m.assume_utc()), mute_all };
    let mut members = Vec::with_capacity(mentions.len());
    for m in mentions {
        members.push(role_in(&s.pool, group, *m).await?.is_some());
    }
    Ok((view, members))
}

/// Friendship and blocks between `me` and `peer`, from the Redis sets the
/// relations projector keeps: one round trip, no database query.
async fn direct_view(s: &SendPath, me: Uuid, peer: Uuid) -> Result<DirectView, ApiError> {
    let (friends, i_blocked, they_blocked): (bool, bool, bool) = redis::pipe()
        .sismember(keys::friends(me), peer.to_string())
        .sismember(keys::blocks(me), peer.to_string())
        .sismember(keys::blocks(peer), me.to_string())
        .query_async(&mut s.redis.clone())
        .await?;
    Ok(DirectView { friends, i_blocked_them: i_blocked, they_blocked_me: they_blocked })
}

