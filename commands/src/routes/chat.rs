//! Chat commands: send, read cursor, and message operations. Sends take no
//! lock and write no database: the handler checks the sender may send (Redis
//! in the common case), appends `MessageSent`, and answers with the seq the
//! sequencer gives it, delivered over Redis after the sequencer's Kafka
//! transaction commits (docs/chat.md, "Sequencing").

use super::groups::standing as role_in;
use crate::{
    domain::chat::{self as rules, MessageView},
    written, AppState,
};
use axum::{
    extract::State,
    response::Response,
    routing::{delete, post, put},
    Extension, Router,
};
use beaver_events::{
    message::*,
    topics, Actor, Envelope, MessageEvent,
};
use beaver_platform::{
    auth::AuthUser,
    http::{ApiError, ApiJson, ApiPath, CorrelationId},
};
use beaver_readmodel::{conversation, progress::MESSAGES_PROJECTOR};
use beaver_writemodel::send::SendRequest;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::MySqlPool;
use std::time::Duration;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
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
    Ok(conversation::can_read(pool, conversation, user).await?)
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

/// `POST /api/chat/send`: the shared send path ([`beaver_writemodel::send`]).
async fn send(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiJson(req): ApiJson<SendRequest>) -> Result<Response, ApiError> {
    let sent = beaver_writemodel::send::send(&s.send, user.user_id, c.0, req).await?;
    Ok(written(sent.numbered, sent.data))
}

/// A message the caller can read, with what operations need; 404 otherwise.
async fn readable_message(s: &AppState, message_id: Uuid, user: Uuid) -> Result<(ConversationRef, String, i64, MessageView), ApiError> {
    caught_up(s).await?;
    let pool = &s.pool;
    let row = conversation::message(pool, message_id).await?.ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    let conversation = ConversationRef::parse(&row.conversation_id).ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    if !can_read(pool, conversation, user).await? {
        return Err(ApiError::NotFound("message not found".into()));
    }
    let view = MessageView { sender_id: row.sender_id, kind: row.kind, sent_at: row.sent_at.assume_utc(), recalled: row.recalled };
    Ok((conversation, row.conversation_id, row.seq, view))
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
    let (edited_at, edit_count) = conversation::edit_state(&s.pool, message_id).await?;
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
    Ok(Value::Object(conversation::reaction_counts(pool, message_id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct React {
    emoji: String,
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
    if !conversation::has_reacted(&s.pool, message_id, user.user_id, &req.emoji).await? {
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
    if conversation::has_reacted(&s.pool, message_id, user.user_id, &emoji).await? {
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
    Ok((conversation::max_seq(pool, conversation_id).await?, conversation::read_seq(pool, user, conversation_id).await?))
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
    let (pinned, muted, hidden) = conversation::flags(&s.pool, user.user_id, &conversation_id).await?;
    Ok(written(visible, json!({ "conversation_id": conversation_id, "pinned": pinned, "muted": muted, "hidden": hidden })))
}
