//! `/api/chat/…`: send, read cursor, message operations, clear and flags.
//! Sends take no lock and write no database (docs/chat.md, "Sequencing").

use crate::{
    app::{conversation as app, Answer, Origin},
    AppState,
};
use axum::extract::State;
use beaver_platform::{
    http::{ApiJson, ApiPath},
    openapi::Envelope,
};
use beaver_writemodel::send::{SendAnswer, SendRequest};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(read))
        .routes(routes!(edit))
        .routes(routes!(delete_for_me))
        .routes(routes!(recall))
        .routes(routes!(react))
        .routes(routes!(unreact))
        .routes(routes!(clear))
        .routes(routes!(settings))
}

/// Sends a message to a user, a group or a conversation (idempotent by `client_msg_id`).
///
/// 200 once the sequencer numbered it (a resend answers the original); 202
/// with `seq` and `sent_at` null when it is in the log but was not numbered
/// in time: resend with the same `client_msg_id` to learn its seq
/// (docs/chat.md, "Idempotent sends").
#[utoipa::path(post, path = "/api/chat/send", tag = "chat", operation_id = "chat_send", request_body = SendRequest,
    responses(
        (status = 200, description = "Numbered: the message's seq and time.", body = Envelope<SendAnswer>),
        (status = 202, description = "In the log, not numbered in time: `seq` and `sent_at` are null.", body = Envelope<SendAnswer>),
        (status = 403, description = "1:1: `not_friends`, or `user_blocked` (you blocked them); group: `not_a_member` or `muted` (muted, or mute-all and not an admin); `not_a_participant`: a direct conversation of two other users."),
        (status = 404, description = "`not_found`: no such recipient, or no such (or a dissolved) group."),
        (status = 422, description = "`invalid_field`: the target (not exactly one of `to_user_id`, `group_id`, `conversation_id`; yourself), `client_msg_id`, `type`, `content`, `mentions` (a non-member, or in a 1:1 message), `reply_to` (not of this conversation)."),
    ))]
async fn send(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<SendRequest>) -> Answer<SendAnswer> {
    app::send(&s, &origin, req).await
}

/// Recalls a message: it becomes a tombstone for everyone.
#[utoipa::path(post, path = "/api/chat/messages/{message_id}/recall", tag = "chat", operation_id = "chat_recall",
    params(("message_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Recalled>),
        (status = 403, description = "`forbidden`: not the sender (nor a group admin or owner); `window_expired`: the sender's 2 minutes have passed."),
        (status = 404, description = "`not_found`: no such message, or one the caller cannot read."),
        (status = 409, description = "`already_recalled`."),
    ))]
async fn recall(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>) -> Answer<app::Recalled> {
    app::recall(&s, &origin, message_id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = chat::Edit)]
#[serde(deny_unknown_fields)]
struct Edit {
    /// The new content, as for a send of the message's type.
    #[schema(value_type = Object)]
    content: Value,
    /// The message's type; absent keeps it (another type is 403).
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Edits the caller's own message (within 24 hours, same type).
#[utoipa::path(put, path = "/api/chat/messages/{message_id}", tag = "chat", operation_id = "chat_edit", request_body = Edit,
    params(("message_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Edited>),
        (status = 403, description = "`forbidden`: not the sender, a recalled message, or another `type`; `window_expired`: the 24 hours have passed."),
        (status = 404, description = "`not_found`: no such message, or one the caller cannot read."),
        (status = 422, description = "`invalid_field`: `content` (or `reply_to`) not acceptable for the type."),
    ))]
async fn edit(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Edit>) -> Answer<app::Edited> {
    app::edit(&s, &origin, message_id, req.kind, req.content).await
}

/// Deletes a message for the caller only.
#[utoipa::path(delete, path = "/api/chat/messages/{message_id}", tag = "chat", operation_id = "chat_delete_for_me",
    params(("message_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Deleted>),
        (status = 404, description = "`not_found`: no such message, or one the caller cannot read."),
    ))]
async fn delete_for_me(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>) -> Answer<app::Deleted> {
    app::delete_for_me(&s, &origin, message_id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = chat::React)]
#[serde(deny_unknown_fields)]
struct React {
    /// 1–64 characters, no spaces or control characters.
    #[schema(min_length = 1, max_length = 64)]
    emoji: String,
}

/// Adds the caller's reaction to a message (adding it twice changes nothing).
#[utoipa::path(post, path = "/api/chat/messages/{message_id}/reactions", tag = "chat", operation_id = "chat_react", request_body = React,
    params(("message_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The message's reaction counts after the change.", body = Envelope<app::Reactions>),
        (status = 404, description = "`not_found`: no such message, or one the caller cannot read."),
    ))]
async fn react(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>, ApiJson(req): ApiJson<React>) -> Answer<app::Reactions> {
    app::react(&s, &origin, message_id, req.emoji, true).await
}

/// Removes the caller's reaction from a message (removing an absent one changes nothing).
#[utoipa::path(delete, path = "/api/chat/messages/{message_id}/reactions/{emoji}", tag = "chat", operation_id = "chat_unreact",
    params(("message_id" = Uuid, Path), ("emoji" = String, Path, description = "The reaction, percent-encoded.")),
    responses(
        (status = 200, description = "The message's reaction counts after the change.", body = Envelope<app::Reactions>),
        (status = 404, description = "`not_found`: no such message, or one the caller cannot read."),
    ))]
async fn unreact(State(s): State<AppState>, origin: Origin, ApiPath((message_id, emoji)): ApiPath<(Uuid, String)>) -> Answer<app::Reactions> {
    app::react(&s, &origin, message_id, emoji, false).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = chat::Read)]
#[serde(deny_unknown_fields)]
struct Read {
    /// `direct:<smaller user id>:<larger user id>` or `group:<group id>`.
    conversation_id: String,
    /// Read up to here: never moves the cursor back; above the conversation's end it is clamped.
    #[schema(minimum = 0)]
    seq: i64,
}

/// Moves the caller's read cursor in a conversation forward.
#[utoipa::path(put, path = "/api/chat/read", tag = "chat", operation_id = "chat_read", request_body = Read,
    responses(
        (status = 200, description = "The cursor after the move.", body = Envelope<app::ReadCursor>),
        (status = 403, description = "`forbidden`: the caller is not in this conversation."),
        (status = 422, description = "`invalid_field`: `conversation_id` (not a conversation id) or `seq` (negative)."),
    ))]
async fn read(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Read>) -> Answer<app::ReadCursor> {
    app::read(&s, &origin, req.conversation_id, req.seq).await
}

/// Hides everything sent so far in a conversation, for the caller only.
#[utoipa::path(post, path = "/api/chat/conversations/{conversation_id}/clear", tag = "chat", operation_id = "chat_clear",
    params(("conversation_id" = String, Path, description = "`direct:<smaller user id>:<larger user id>` or `group:<group id>`.")),
    responses(
        (status = 200, description = "Cleared up to `cleared_seq` (the conversation's end).", body = Envelope<app::Cleared>),
        (status = 403, description = "`forbidden`: the caller is not in this conversation."),
        (status = 404, description = "Not answered by this operation: an unknown conversation is 403 like any the caller is not in."),
        (status = 422, description = "`invalid_field` (`conversation_id`): not a conversation id."),
    ))]
async fn clear(State(s): State<AppState>, origin: Origin, ApiPath(conversation_id): ApiPath<String>) -> Answer<app::Cleared> {
    app::clear(&s, &origin, conversation_id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = chat::ConversationSettings)]
#[serde(deny_unknown_fields)]
struct Settings {
    pinned: Option<bool>,
    muted: Option<bool>,
    hidden: Option<bool>,
}

/// Sets the caller's flags on a conversation: pinned, muted, hidden (at least one).
#[utoipa::path(put, path = "/api/chat/conversations/{conversation_id}/settings", tag = "chat", operation_id = "chat_conversation_settings", request_body = Settings,
    params(("conversation_id" = String, Path, description = "`direct:<smaller user id>:<larger user id>` or `group:<group id>`.")),
    responses(
        (status = 200, description = "The three flags after the change.", body = Envelope<app::Flags>),
        (status = 403, description = "`forbidden`: the caller is not in this conversation."),
        (status = 404, description = "Not answered by this operation: an unknown conversation is 403 like any the caller is not in."),
        (status = 422, description = "`invalid_field`: `conversation_id` (not a conversation id), or `body` (none of the flags given)."),
    ))]
async fn settings(State(s): State<AppState>, origin: Origin, ApiPath(conversation_id): ApiPath<String>, ApiJson(req): ApiJson<Settings>) -> Answer<app::Flags> {
    app::change_settings(&s, &origin, conversation_id, req.pinned, req.muted, req.hidden).await
}
