//! `/api/chat/…`: send, read cursor, message operations, clear and flags.
//! Sends take no lock and write no database (docs/chat.md, "Sequencing").

use crate::{
    app::{conversation as app, Answer, Origin},
    AppState,
};
use axum::{
    extract::State,
    routing::{delete, post, put},
    Router,
};
use beaver_platform::http::{ApiJson, ApiPath};
use beaver_writemodel::send::{SendAnswer, SendRequest};
use serde::Deserialize;
use serde_json::Value;
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

async fn send(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<SendRequest>) -> Answer<SendAnswer> {
    app::send(&s, &origin, req).await
}

async fn recall(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>) -> Answer<app::Recalled> {
    app::recall(&s, &origin, message_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    content: Value,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn edit(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Edit>) -> Answer<app::Edited> {
    app::edit(&s, &origin, message_id, req.kind, req.content).await
}

async fn delete_for_me(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>) -> Answer<app::Deleted> {
    app::delete_for_me(&s, &origin, message_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct React {
    emoji: String,
}

async fn react(State(s): State<AppState>, origin: Origin, ApiPath(message_id): ApiPath<Uuid>, ApiJson(req): ApiJson<React>) -> Answer<app::Reactions> {
    app::react(&s, &origin, message_id, req.emoji, true).await
}

async fn unreact(State(s): State<AppState>, origin: Origin, ApiPath((message_id, emoji)): ApiPath<(Uuid, String)>) -> Answer<app::Reactions> {
    app::react(&s, &origin, message_id, emoji, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    conversation_id: String,
    seq: i64,
}

async fn read(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Read>) -> Answer<app::ReadCursor> {
    app::read(&s, &origin, req.conversation_id, req.seq).await
}

async fn clear(State(s): State<AppState>, origin: Origin, ApiPath(conversation_id): ApiPath<String>) -> Answer<app::Cleared> {
    app::clear(&s, &origin, conversation_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    pinned: Option<bool>,
    muted: Option<bool>,
    hidden: Option<bool>,
}

async fn settings(State(s): State<AppState>, origin: Origin, ApiPath(conversation_id): ApiPath<String>, ApiJson(req): ApiJson<Settings>) -> Answer<app::Flags> {
    app::change_settings(&s, &origin, conversation_id, req.pinned, req.muted, req.hidden).await
}
