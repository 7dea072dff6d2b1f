//! Chat commands: send, read cursor, and message operations. Sends take no
//! lock and write no database: the handler checks the sender may send (Redis
//! in the common case), appends `MessageSent`, and answers with the seq the
//! sequencer gives it, delivered over Redis after the sequencer's Kafka
//! transaction commits (docs/chat.md, "Sequencing").

use super::{friends::ensure_user, groups::standing as role_in};
use crate::{
    domain::chat::{self as rules, DirectView, GroupSendView, MessageView},
    written, AppState,
};
use axum::{
    extract::State,
    response::Response,
    routing::{delete, post, put},
    Extension, Router,
};
use beaver_events::{
    group::Role,
    message::*,
    topics, Actor, Envelope, MessageEvent,
};
use beaver_platform::{
    auth::AuthUser,
    http::{ApiError, ApiJson, ApiPath, CorrelationId},
    readiness::MESSAGES_PROJECTOR,
    redis_keys,
};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{MySqlPool, Row};
use std::time::Duration;
use time::{format_description::well_known::Rfc3339, OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat/send", post(send))
        .route("/api/chat/read", put(read))
        .route("/api/chat/messages/{message_id}", put(edit).delete(delete_for_me))
        .route("/api/chat/messages/{message_id}/recall", post(recall))
        .route("/api/chat/messages/{message_id}/reactions", post(react))
        .route("/api/chat/messages/{message_id}/reactions/{emoji}", delete(unreact))
        .route("/api/chat/conversations/{conversation_id}/clear", post(clear))
        .route("/api/chat/conversations/{conversation_id}/settings", put(settings))
}

async fn can_read(pool: &MySqlPool, conversation: ConversationRef, user: Uuid) -> Result<bool, ApiError> {
    Ok(beaver_query_api::views::can_read(pool, conversation, user).await?)
}

/// Waits until the messages projection has stored everything the sequencer
/// had committed (bounded), so a command on a message whose send was just
/// answered finds it.
async fn caught_up(s: &AppState) -> Result<(), ApiError> {
    let wait = Duration::from_millis(s.config.projection_wait_ms);
    beaver_platform::sequencing::await_projection(&s.redis, &s.pool, wait).await?;
    Ok(())
}

fn parse_conversation(id: &str) -> Result<ConversationRef, ApiError> {
    ConversationRef::parse(id).ok_or_else(|| ApiError::invalid("conversation_id", "not a conversation id"))
}

/// Appends one conversation event and waits until it is projected.
async fn append(s: &AppState, actor: Uuid, correlation: String, event: MessageEvent) -> Result<bool, ApiError> {
    let position = s.append(&Envelope::new(event, Actor::User(actor), correlation, None)).await?;
    s.visible(MESSAGES_PROJECTOR, topics::MESSAGES, position).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Send {
    to_user_id: Option<Uuid>,
    group_id: Option<Uuid>,
    conversation_id: Option<String>,
    client_msg_id: String,
    #[serde(rename = "type")]
    kind: String,
    content: Value,
    #[serde(default)]
    mentions: Vec<Uuid>,
    reply_to: Option<Uuid>,
}

async fn send(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiJson(req): ApiJson<Send>) -> Result<Response, ApiError> {
    let me = user.user_id;
    rules::check_client_msg_id(&req.client_msg_id)?;
    let targets = [req.to_user_id.is_some(), req.group_id.is_some(), req.conversation_id.is_some()];
    if targets.iter().filter(|t| **t).count() != 1 {
        return Err(ApiError::invalid("to_user_id", "give exactly one of to_user_id, group_id, conversation_id"));
    }
    let target = match (req.to_user_id, req.group_id, req.conversation_id.as_deref()) {
        (Some(peer), _, _) => ConversationRef::Direct(me.min(peer), me.max(peer)),
        (_, Some(group), _) => ConversationRef::Group(group),
        (_, _, Some(id)) => parse_conversation(id)?,
        _ => unreachable!("exactly one target was checked"),
    };
    let refs = rules::validate_content(&req.kind, &req.content, req.reply_to)?;
    let now = OffsetDateTime::now_utc();
    let (conversation_id, hidden_from) = match target {
        ConversationRef::Direct(a, b) => {
            if me != a && me != b {
                return Err(ApiError::Forbidden { kind: "not_a_participant", message: "you are not in this conversation".into() });
            }
            let peer = req.to_user_id.unwrap_or(if a == me { b } else { a });
            if !req.mentions.is_empty() {
                return Err(ApiError::invalid("mentions", "mentions are for group messages"));
            }
            let view = direct_view(&s, me, peer).await?;
            if peer != me && !view.friends {
                ensure_user(&s.pool, peer).await?;
            }
            let hidden = rules::check_direct_send(me, peer, view, s.config.chat_require_friendship)?;
            (direct_conversation_id(me, peer), hidden.then_some(peer))
        }
        ConversationRef::Group(group) => {
            let (view, members) = match group_send_view(&s, group, me, &req.mentions).await? {
                Some(found) => found,
                None => group_send_view_from_db(&s, group, me, &req.mentions).await?,
            };
            rules::check_group_send(view, now)?;
            if let Some((m, _)) = req.mentions.iter().zip(&members).find(|(_, member)| !**member) {
                return Err(ApiError::invalid("mentions", format!("{m} is not a member of this group")));
            }
            (group_conversation_id_of(group), None)
        }
    };
    if req.reply_to.is_some() || !refs.forwarded.is_empty() {
        // These name stored messages: read them once everything answered is stored.
        caught_up(&s).await?;
    }
    if let Some(reply_to) = req.reply_to {
        let found: Option<(String,)> = sqlx::query_as("SELECT conversation_id FROM messages WHERE message_id = ?")
            .bind(reply_to.to_string())
            .fetch_optional(&s.pool)
            .await?;
        if found.map(|f| f.0) != Some(conversation_id.clone()) {
            return Err(ApiError::invalid("reply_to", "reply_to must be a message of this conversation"));
        }
    }
    if let Some(card) = refs.card_user {
        ensure_user(&s.pool, card).await.map_err(|_| ApiError::invalid("content", "content.user_id is not a user"))?;
    }
    for (conv, message) in &refs.forwarded {
        let source = ConversationRef::parse(conv).ok_or_else(|| ApiError::invalid("content", "a forwarded conversation id is malformed"))?;
        let found: Option<(String,)> = sqlx::query_as("SELECT conversation_id FROM messages WHERE message_id = ?")
            .bind(message.to_string())
            .fetch_optional(&s.pool)
            .await?;
        if found.map(|f| f.0).as_deref() != Some(conv.as_str()) || !can_read(&s.pool, source, me).await? {
            return Err(ApiError::invalid("content", format!("message {message} cannot be forwarded")));
        }
    }

    // Idempotency past the sequencer's window: the read model's unique key.
    // (Within the window the sequencer itself answers a repeat with the original.)
    if let Some(original) = stored_answer(&s.pool, &conversation_id, me, &req.client_msg_id).await {
        return Ok(written(true, original));
    }
    let message_id = Uuid::now_v7();
    let event = MessageEvent::MessageSent(MessageSent {
        message_id,
        conversation_id: conversation_id.clone(),
        client_msg_id: req.client_msg_id,
        sender_id: me,
        kind: req.kind,
        content: req.content,
        mentions: req.mentions,
        reply_to: req.reply_to,
        hidden_from,
    });
    // Register before appending, so the sequencer's answer cannot be missed.
    let waiter = s.answers.register(message_id);
    s.append(&Envelope::new(event, Actor::User(me), c.0, None)).await?;
    match waiter.wait(Duration::from_millis(s.config.sequencer_wait_ms)).await {
        Some(a) => Ok(written(true, json!({ "message_id": a.message_id, "conversation_id": a.conversation_id, "seq": a.seq, "sent_at": rfc3339(a.sent_at) }))),
        // In the log, not yet numbered (or the answer was lost): safe to resend.
        None => Ok(written(false, json!({ "message_id": message_id, "conversation_id": conversation_id, "seq": null, "sent_at": null }))),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The stored answer to an earlier send of `(sender, client_msg_id)` in a
/// conversation, from the read model's unique key. Bounded: if MariaDB is
/// slow or down the send goes on (the sequencer's window still catches
/// repeats), so MariaDB never blocks the send path.
async fn stored_answer(pool: &MySqlPool, conversation_id: &str, sender: Uuid, client_msg_id: &str) -> Option<Value> {
    let lookup = sqlx::query_as::<_, (String, i64, PrimitiveDateTime)>(
        "SELECT message_id, seq, sent_at FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?",
    )
    .bind(conversation_id)
    .bind(sender.to_string())
    .bind(client_msg_id)
    .fetch_optional(pool);
    match tokio::time::timeout(STORED_ANSWER_BUDGET, lookup).await {
        Ok(Ok(Some((message_id, seq, sent_at)))) => {
            Some(json!({ "message_id": message_id, "conversation_id": conversation_id, "seq": seq, "sent_at": rfc3339(sent_at.assume_utc()) }))
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

/// How long a send waits for the read model's idempotency answer.
const STORED_ANSWER_BUDGET: Duration = Duration::from_millis(250);

/// What a group send checks, from the hash the groups projector keeps (one
/// round trip): the sender's standing, mute-all, and whether each mentioned
/// user is a member. `None` when the hash is absent (a dissolved group, or
/// one the projector has not written yet): then MariaDB decides.
async fn group_send_view(s: &AppState, group: Uuid, me: Uuid, mentions: &[Uuid]) -> Result<Option<(GroupSendView, Vec<bool>)>, ApiError> {
    let mut fields = vec!["mute_all".to_owned(), redis_keys::group_send_member(me)];
    fields.extend(mentions.iter().map(|m| redis_keys::group_send_member(*m)));
    let values: Vec<Option<String>> = redis::cmd("HMGET").arg(redis_keys::group_send_state(group)).arg(&fields).query_async(&mut s.redis.clone()).await?;
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
async fn group_send_view_from_db(s: &AppState, group: Uuid, me: Uuid, mentions: &[Uuid]) -> Result<(GroupSendView, Vec<bool>), ApiError> {
    let row: Option<(bool,)> = sqlx::query_as("SELECT mute_all FROM chat_groups WHERE group_id = ? AND status = 'active'")
        .bind(group.to_string())
        .fetch_optional(&s.pool)
        .await?;
    let (mute_all,) = row.ok_or_else(|| ApiError::NotFound("group not found".into()))?;
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
async fn direct_view(s: &AppState, me: Uuid, peer: Uuid) -> Result<DirectView, ApiError> {
    let (friends, i_blocked, they_blocked): (bool, bool, bool) = redis::pipe()
        .sismember(redis_keys::friends(me), peer.to_string())
        .sismember(redis_keys::blocks(me), peer.to_string())
        .sismember(redis_keys::blocks(peer), me.to_string())
        .query_async(&mut s.redis.clone())
        .await?;
    Ok(DirectView { friends, i_blocked_them: i_blocked, they_blocked_me: they_blocked })
}

fn group_conversation_id_of(group: Uuid) -> String {
    beaver_events::group::group_conversation_id(group)
}

/// A message the caller can read, with what operations need; 404 otherwise.
async fn readable_message(s: &AppState, message_id: Uuid, user: Uuid) -> Result<(ConversationRef, String, i64, MessageView), ApiError> {
    caught_up(s).await?;
    let pool = &s.pool;
    let row = sqlx::query("SELECT conversation_id, seq, sender_id, kind, sent_at, recalled FROM messages WHERE message_id = ?")
        .bind(message_id.to_string())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    let conversation_id: String = row.try_get("conversation_id")?;
    let conversation = ConversationRef::parse(&conversation_id).ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    if !can_read(pool, conversation, user).await? {
        return Err(ApiError::NotFound("message not found".into()));
    }
    let sender: String = row.try_get("sender_id")?;
    let view = MessageView {
        sender_id: Uuid::try_parse(&sender).map_err(|e| ApiError::Internal(e.into()))?,
        kind: row.try_get("kind")?,
        sent_at: row.try_get::<PrimitiveDateTime, _>("sent_at")?.assume_utc(),
        recalled: row.try_get("recalled")?,
    };
    Ok((conversation, conversation_id, row.try_get("seq")?, view))
}

async fn recall(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(message_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let (conversation, conversation_id, _, m) = readable_message(&s, message_id, user.user_id).await?;
    let role = match conversation {
        ConversationRef::Group(g) => role_in(&s.pool, g, user.user_id).await?.map(|r| r.0),
        ConversationRef::Direct(..) => None,
    };
    rules::check_recall(user.user_id, role, &m, OffsetDateTime::now_utc())?;
    let event = MessageEvent::MessageRecalled(MessageRecalled { message_id, conversation_id, by: user.user_id });
    let visible = append(&s, user.user_id, c.0, event).await?;
    Ok(written(visible, json!({ "message_id": message_id, "recalled": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    content: Value,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn edit(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(message_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<Edit>,
) -> Result<Response, ApiError> {
    let (_, conversation_id, _, m) = readable_message(&s, message_id, user.user_id).await?;
    let kind = req.kind.clone().unwrap_or_else(|| m.kind.clone());
    rules::check_edit(user.user_id, &m, &kind, OffsetDateTime::now_utc())?;
    rules::validate_content(&kind, &req.content, (kind == "reply").then_some(message_id))?;
    let event = MessageEvent::MessageEdited(MessageEdited { message_id, conversation_id, by: user.user_id, content: req.content });
    let visible = append(&s, user.user_id, c.0, event).await?;
    let (edited_at, edit_count): (Option<PrimitiveDateTime>, i32) = sqlx::query_as("SELECT edited_at, edit_count FROM messages WHERE message_id = ?")
        .bind(message_id.to_string())
        .fetch_one(&s.pool)
        .await?;
    let edited_at = edited_at.map(|t| t.assume_utc().format(&Rfc3339).unwrap_or_default());
    Ok(written(visible, json!({ "message_id": message_id, "edited_at": edited_at, "edit_count": edit_count })))
}

async fn delete_for_me(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(message_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let (_, conversation_id, _, _) = readable_message(&s, message_id, user.user_id).await?;
    let event = MessageEvent::MessageDeletedForUser(MessageDeletedForUser { message_id, conversation_id, user_id: user.user_id });
    let visible = append(&s, user.user_id, c.0, event).await?;
    Ok(written(visible, json!({ "message_id": message_id, "deleted": true })))
}

async fn reactions(pool: &MySqlPool, message_id: Uuid) -> Result<Value, ApiError> {
    let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as("SELECT emoji, COUNT(*) FROM message_reactions WHERE message_id = ? GROUP BY emoji ORDER BY emoji")
        .bind(message_id.to_string())
        .fetch_all(pool)
        .await?;
    Ok(Value::Object(rows.into_iter().map(|(e, n)| (String::from_utf8_lossy(&e).into_owned(), json!(n))).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct React {
    emoji: String,
}

async fn has_reacted(pool: &MySqlPool, message_id: Uuid, user: Uuid, emoji: &str) -> Result<bool, ApiError> {
    let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM message_reactions WHERE message_id = ? AND user_id = ? AND emoji = ?")
        .bind(message_id.to_string())
        .bind(user.to_string())
        .bind(emoji)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

async fn react(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(message_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<React>,
) -> Result<Response, ApiError> {
    rules::check_emoji(&req.emoji)?;
    let (_, conversation_id, _, _) = readable_message(&s, message_id, user.user_id).await?;
    let mut visible = true;
    if !has_reacted(&s.pool, message_id, user.user_id, &req.emoji).await? {
        let event = MessageEvent::MessageReactionAdded(MessageReaction { message_id, conversation_id, user_id: user.user_id, emoji: req.emoji });
        visible = append(&s, user.user_id, c.0, event).await?;
    }
    Ok(written(visible, json!({ "message_id": message_id, "reactions": reactions(&s.pool, message_id).await? })))
}

async fn unreact(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath((message_id, emoji)): ApiPath<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let (_, conversation_id, _, _) = readable_message(&s, message_id, user.user_id).await?;
    let mut visible = true;
    if has_reacted(&s.pool, message_id, user.user_id, &emoji).await? {
        let event = MessageEvent::MessageReactionRemoved(MessageReaction { message_id, conversation_id, user_id: user.user_id, emoji });
        visible = append(&s, user.user_id, c.0, event).await?;
    }
    Ok(written(visible, json!({ "message_id": message_id, "reactions": reactions(&s.pool, message_id).await? })))
}

/// The conversation's max seq and the caller's read cursor, after checking they may read it.
async fn participant_state(s: &AppState, conversation_id: &str, user: Uuid) -> Result<(i64, i64), ApiError> {
    caught_up(s).await?;
    let pool = &s.pool;
    let conversation = parse_conversation(conversation_id)?;
    if !can_read(pool, conversation, user).await? {
        return Err(ApiError::Forbidden { kind: "forbidden", message: "you are not in this conversation".into() });
    }
    let max: Option<(i64,)> = sqlx::query_as("SELECT max_seq FROM conversations WHERE conversation_id = ?")
        .bind(conversation_id)
        .fetch_optional(pool)
        .await?;
    let read: Option<(i64,)> = sqlx::query_as("SELECT read_seq FROM user_conversations WHERE user_id = ? AND conversation_id = ?")
        .bind(user.to_string())
        .bind(conversation_id)
        .fetch_optional(pool)
        .await?;
    Ok((max.map(|m| m.0).unwrap_or(0), read.map(|r| r.0).unwrap_or(0)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    conversation_id: String,
    seq: i64,
}

async fn read(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiJson(req): ApiJson<Read>) -> Result<Response, ApiError> {
    if req.seq < 0 {
        return Err(ApiError::invalid("seq", "seq must not be negative"));
    }
    let (max_seq, read_seq) = participant_state(&s, &req.conversation_id, user.user_id).await?;
    let target = req.seq.min(max_seq);
    if target <= read_seq {
        return Ok(written(true, json!({ "conversation_id": req.conversation_id, "read_seq": read_seq })));
    }
    let event = MessageEvent::ConversationRead(ConversationRead { conversation_id: req.conversation_id.clone(), user_id: user.user_id, seq: target });
    let visible = append(&s, user.user_id, c.0, event).await?;
    Ok(written(visible, json!({ "conversation_id": req.conversation_id, "read_seq": target })))
}

async fn clear(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(conversation_id): ApiPath<String>) -> Result<Response, ApiError> {
    let (max_seq, _) = participant_state(&s, &conversation_id, user.user_id).await?;
    let event = MessageEvent::ConversationCleared(ConversationCleared { conversation_id: conversation_id.clone(), user_id: user.user_id, up_to_seq: max_seq });
    let visible = append(&s, user.user_id, c.0, event).await?;
    Ok(written(visible, json!({ "conversation_id": conversation_id, "cleared_seq": max_seq })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    pinned: Option<bool>,
    muted: Option<bool>,
    hidden: Option<bool>,
}

async fn settings(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(conversation_id): ApiPath<String>,
    ApiJson(req): ApiJson<Settings>,
) -> Result<Response, ApiError> {
    participant_state(&s, &conversation_id, user.user_id).await?;
    if req.pinned.is_none() && req.muted.is_none() && req.hidden.is_none() {
        return Err(ApiError::invalid("body", "give at least one of pinned, muted, hidden"));
    }
    let event = MessageEvent::ConversationSettingsChanged(ConversationSettingsChanged {
        conversation_id: conversation_id.clone(),
        user_id: user.user_id,
        pinned: req.pinned,
        muted: req.muted,
        hidden: req.hidden,
    });
    let visible = append(&s, user.user_id, c.0, event).await?;
    let flags: Option<(bool, bool, bool)> = sqlx::query_as("SELECT pinned, muted, hidden FROM user_conversations WHERE user_id = ? AND conversation_id = ?")
        .bind(user.user_id.to_string())
        .bind(&conversation_id)
        .fetch_optional(&s.pool)
        .await?;
    let (pinned, muted, hidden) = flags.unwrap_or_default();
    Ok(written(visible, json!({ "conversation_id": conversation_id, "pinned": pinned, "muted": muted, "hidden": hidden })))
}
