//! `GET /api/chat/messages`, `/api/chat/messages/{id}/edits`,
//! `/api/chat/conversations`, `/api/chat/receipts`.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_events::message::ConversationRef;
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use beaver_readmodel::conversation::{self, can_read, history, Page};
use serde::{Deserialize, Serialize};
use sqlx::MySqlPool;
use uuid::Uuid;

/// One page of history, oldest first.
#[derive(Debug, Serialize)]
struct HistoryPage {
    messages: Vec<conversation::Message>,
    /// More in the paging direction.
    has_more: bool,
}

#[derive(Debug, Serialize)]
struct Versions {
    message_id: Uuid,
    versions: Vec<conversation::Edit>,
}

/// Who has read a message: the peer's cursor, or a group's readers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Receipts {
    /// `peer_read_seq` is `null` while the peer has read receipts off.
    Direct { conversation_id: String, peer_user_id: Uuid, peer_read_seq: Option<i64> },
    Group { conversation_id: String, seq: i64, read_count: usize, readers: Vec<String> },
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat/messages", get(messages))
        .route("/api/chat/messages/{message_id}/edits", get(edits))
        .route("/api/chat/conversations", get(conversations))
        .route("/api/chat/receipts", get(receipts))
}

/// Answers after checking the caller may read the conversation.
async fn readable(pool: &MySqlPool, conversation_id: &str, user: Uuid) -> Result<ConversationRef, ApiError> {
    let conversation = ConversationRef::parse(conversation_id).ok_or_else(|| ApiError::invalid("conversation_id", "not a conversation id"))?;
    if !can_read(pool, conversation, user).await? {
        return Err(ApiError::Forbidden { kind: "forbidden", message: "you are not in this conversation".into() });
    }
    Ok(conversation)
}

#[derive(Debug, Deserialize)]
struct MessagesQuery {
    conversation_id: String,
    after_seq: Option<i64>,
    before_seq: Option<i64>,
    limit: Option<u32>,
}

/// Every chat read starts after the messages projection has stored what the
/// sequencer had committed, so a message whose send was answered is there
/// (bounded: a lagging projection gives a stale read, not a hang).
async fn caught_up(s: &AppState) -> Result<(), ApiError> {
    beaver_platform::sequencing::await_projection(&s.redis, &s.pool, READ_BARRIER).await?;
    Ok(())
}

const READ_BARRIER: std::time::Duration = std::time::Duration::from_secs(2);

async fn messages(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<MessagesQuery>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    readable(&s.pool, &q.conversation_id, user.user_id).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be 1 to 100"));
    }
    if q.after_seq.is_some() && q.before_seq.is_some() {
        return Err(ApiError::invalid("before_seq", "give after_seq or before_seq, not both"));
    }
    let page = match q.before_seq {
        Some(before) => Page::Before(before),
        None => Page::After(q.after_seq.unwrap_or(0)),
    };
    let (messages, has_more) = history(&s.pool, user.user_id, &q.conversation_id, page, limit).await?;
    Ok(ok(HistoryPage { messages, has_more }))
}

async fn edits(State(s): State<AppState>, user: AuthUser, ApiPath(message_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    let conversation = conversation::conversation_of(&s.pool, message_id).await?;
    let conversation = conversation.as_deref().and_then(ConversationRef::parse).ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    if !can_read(&s.pool, conversation, user.user_id).await? {
        return Err(ApiError::NotFound("message not found".into()));
    }
    Ok(ok(Versions { message_id, versions: conversation::edits(&s.pool, message_id).await? }))
}

#[derive(Debug, Deserialize)]
struct ConversationsQuery {
    since_version: Option<i64>,
}

async fn conversations(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ConversationsQuery>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    Ok(ok(conversation::list(&s.pool, user.user_id, q.since_version).await?))
}

#[derive(Debug, Deserialize)]
struct ReceiptsQuery {
    conversation_id: String,
    seq: i64,
}

async fn receipts(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ReceiptsQuery>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    match readable(&s.pool, &q.conversation_id, user.user_id).await? {
        ConversationRef::Direct(a, b) => {
            let peer = if a == user.user_id { b } else { a };
            let read = match beaver_readmodel::settings::privacy(&s.pool, peer).await?.read_receipts {
                true => Some(conversation::read_seq(&s.pool, peer, &q.conversation_id).await?),
                false => None,
            };
            Ok(ok(Receipts::Direct { conversation_id: q.conversation_id, peer_user_id: peer, peer_read_seq: read }))
        }
        ConversationRef::Group(g) => {
            let readers = conversation::group_readers(&s.pool, g, &q.conversation_id, q.seq, user.user_id).await?;
            Ok(ok(Receipts::Group { conversation_id: q.conversation_id, seq: q.seq, read_count: readers.len(), readers }))
        }
    }
}
