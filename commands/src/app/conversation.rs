//! Conversation use cases: sending (the shared send path), the operations on
//! a message, and a participant's read cursor, clear and flags. None takes a
//! lock: each is decided on the state the messages projection had stored
//! once it caught up with everything the sequencer committed, and the
//! sequencer orders the events. See [`conversation::decide`].

use super::{Origin, Written};
use crate::AppState;
use beaver_events::message::ConversationRef;
use beaver_platform::http::ApiError;
use beaver_readmodel::{conversation as read, progress::MESSAGES_PROJECTOR};
use beaver_writemodel::{
    domain::{
        conversation::{self, ConversationCommand, ConversationState, MessageView},
        Ctx,
    },
    send::{self, SendAnswer, SendRequest},
};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = chat::Recalled)]
pub struct Recalled {
    pub message_id: Uuid,
    pub recalled: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = chat::Edited)]
pub struct Edited {
    pub message_id: Uuid,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    pub edit_count: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = chat::Deleted)]
pub struct Deleted {
    pub message_id: Uuid,
    pub deleted: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = chat::Reactions)]
pub struct Reactions {
    pub message_id: Uuid,
    /// Emoji → how many reacted with it.
    pub reactions: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = chat::ReadCursor)]
pub struct ReadCursor {
    pub conversation_id: String,
    pub read_seq: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = chat::Cleared)]
pub struct Cleared {
    pub conversation_id: String,
    pub cleared_seq: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = chat::Flags)]
pub struct Flags {
    pub conversation_id: String,
    pub pinned: bool,
    pub muted: bool,
    pub hidden: bool,
}

/// `POST /api/chat/send`: the send path shared with ws-push's socket sends.
pub async fn send(s: &AppState, origin: &Origin, req: SendRequest) -> Result<Written<SendAnswer>, ApiError> {
    let sent = send::send(&s.send, origin.actor, origin.correlation.clone(), req).await?;
    Ok(Written::new(sent.numbered, sent.data))
}

/// Waits until the messages projection has stored everything the sequencer
/// had committed (bounded), so a command on a message whose send was just
/// answered finds it.
async fn caught_up(s: &AppState) -> Result<(), ApiError> {
    let wait = Duration::from_millis(s.config.projection_wait_ms);
    beaver_platform::sequencing::await_projection(&s.redis, &s.pool, wait).await?;
    Ok(())
}

/// The state of the message `message_id`'s conversation for `me`: the
/// message only if `me` may read it; with `me`'s group role for a recall and
/// whether `me` reacted with `emoji` for reactions.
async fn message_state(s: &AppState, message_id: Uuid, me: Uuid, command: &ConversationCommand) -> Result<ConversationState, ApiError> {
    caught_up(s).await?;
    let pool = &s.pool;
    let Some(row) = read::message(pool, message_id).await? else { return Ok(ConversationState::default()) };
    let Some(conversation) = ConversationRef::parse(&row.conversation_id) else { return Ok(ConversationState::default()) };
    if !read::can_read(pool, conversation, me).await? {
        return Ok(ConversationState::default());
    }
    let mut state = ConversationState {
        conversation_id: row.conversation_id,
        readable: true,
        message: Some(MessageView { sender_id: row.sender_id, kind: row.kind, sent_at: row.sent_at.assume_utc(), recalled: row.recalled }),
        ..Default::default()
    };
    match (command, conversation) {
        (ConversationCommand::Recall { .. }, ConversationRef::Group(g)) => state.actor_group_role = super::group::standing(pool, g, me).await?.map(|s| s.0),
        (ConversationCommand::React { emoji, .. } | ConversationCommand::Unreact { emoji, .. }, _) => {
            state.has_reacted = read::has_reacted(pool, message_id, me, emoji).await?
        }
        _ => {}
    }
    Ok(state)
}

/// The conversation `conversation_id` as `me` sees it: whether `me` is in it,
/// its end and `me`'s read cursor.
async fn participant_state(s: &AppState, conversation_id: &str, me: Uuid) -> Result<ConversationState, ApiError> {
    caught_up(s).await?;
    let pool = &s.pool;
    let conversation = ConversationRef::parse(conversation_id).ok_or_else(|| ApiError::invalid("conversation_id", "not a conversation id"))?;
    let mut state = ConversationState { conversation_id: conversation_id.to_owned(), ..Default::default() };
    if read::can_read(pool, conversation, me).await? {
        state.readable = true;
        state.max_seq = read::max_seq(pool, conversation_id).await?;
        state.read_seq = read::read_seq(pool, me, conversation_id).await?;
    }
    Ok(state)
}

/// Decides `command` on `state` and appends what it decides.
async fn execute(s: &AppState, origin: &Origin, state: &ConversationState, command: ConversationCommand) -> Result<bool, ApiError> {
    let events = conversation::decide(state, command, &Ctx::live(origin.actor))?;
    s.append_all(events, origin, MESSAGES_PROJECTOR).await
}

pub async fn recall(s: &AppState, origin: &Origin, message_id: Uuid) -> Result<Written<Recalled>, ApiError> {
    let command = ConversationCommand::Recall { message_id };
    let state = message_state(s, message_id, origin.actor, &command).await?;
    let visible = execute(s, origin, &state, command).await?;
    Ok(Written::new(visible, Recalled { message_id, recalled: true }))
}

pub async fn edit(s: &AppState, origin: &Origin, message_id: Uuid, kind: Option<String>, content: Value) -> Result<Written<Edited>, ApiError> {
    let command = ConversationCommand::Edit { message_id, kind, content };
    let state = message_state(s, message_id, origin.actor, &command).await?;
    let visible = execute(s, origin, &state, command).await?;
    let (edited_at, edit_count) = read::edit_state(&s.pool, message_id).await?;
    let edited_at = edited_at.map(|t| t.assume_utc().format(&Rfc3339).unwrap_or_default());
    Ok(Written::new(visible, Edited { message_id, edited_at, edit_count }))
}

pub async fn delete_for_me(s: &AppState, origin: &Origin, message_id: Uuid) -> Result<Written<Deleted>, ApiError> {
    let command = ConversationCommand::DeleteForMe { message_id };
    let state = message_state(s, message_id, origin.actor, &command).await?;
    let visible = execute(s, origin, &state, command).await?;
    Ok(Written::new(visible, Deleted { message_id, deleted: true }))
}

/// Adds (`on`) or removes `me`'s reaction `emoji`; answers the counts after.
pub async fn react(s: &AppState, origin: &Origin, message_id: Uuid, emoji: String, on: bool) -> Result<Written<Reactions>, ApiError> {
    let command = if on { ConversationCommand::React { message_id, emoji } } else { ConversationCommand::Unreact { message_id, emoji } };
    let state = message_state(s, message_id, origin.actor, &command).await?;
    let visible = execute(s, origin, &state, command).await?;
    Ok(Written::new(visible, Reactions { message_id, reactions: read::reaction_counts(&s.pool, message_id).await? }))
}

pub async fn read(s: &AppState, origin: &Origin, conversation_id: String, seq: i64) -> Result<Written<ReadCursor>, ApiError> {
    let mut state = participant_state(s, &conversation_id, origin.actor).await?;
    state.hide_read_receipts = !beaver_readmodel::settings::privacy(&s.pool, origin.actor).await?.read_receipts;
    let events = conversation::decide(&state, ConversationCommand::Read { seq }, &Ctx::live(origin.actor))?;
    let read_seq = seq.min(state.max_seq).max(state.read_seq);
    let visible = s.append_all(events, origin, MESSAGES_PROJECTOR).await?;
    Ok(Written::new(visible, ReadCursor { conversation_id, read_seq }))
}

pub async fn clear(s: &AppState, origin: &Origin, conversation_id: String) -> Result<Written<Cleared>, ApiError> {
    let state = participant_state(s, &conversation_id, origin.actor).await?;
    let visible = execute(s, origin, &state, ConversationCommand::Clear).await?;
    Ok(Written::new(visible, Cleared { conversation_id, cleared_seq: state.max_seq }))
}

pub async fn change_settings(
    s: &AppState,
    origin: &Origin,
    conversation_id: String,
    pinned: Option<bool>,
    muted: Option<bool>,
    hidden: Option<bool>,
) -> Result<Written<Flags>, ApiError> {
    let state = participant_state(s, &conversation_id, origin.actor).await?;
    let visible = execute(s, origin, &state, ConversationCommand::ChangeSettings { pinned, muted, hidden }).await?;
    let (pinned, muted, hidden) = read::flags(&s.pool, origin.actor, &conversation_id).await?;
    Ok(Written::new(visible, Flags { conversation_id, pinned, muted, hidden }))
}
