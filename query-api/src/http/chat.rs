//! `GET /api/chat/messages`, `/api/chat/messages/{id}/edits`,
//! `/api/chat/conversations`, `/api/chat/receipts`.

use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_events::message::ConversationRef;
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::conversation::{self, can_read, history, Page};
use serde::{Deserialize, Serialize};
use sqlx::MySqlPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

/// One page of history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
struct HistoryPage {
    messages: Vec<conversation::Message>,
    /// More in the paging direction.
    has_more: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = chat::MessageEdits)]
struct Versions {
    message_id: Uuid,
    /// Oldest first: the original (0), then each edit.
    versions: Vec<conversation::Edit>,
}

/// Who has read a message: the peer's cursor, or a group's readers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum Receipts {
    /// A direct conversation: `peer_read_seq` is `null` while the peer has read receipts off.
    #[schema(title = "DirectReceipts")]
    Direct {
        conversation_id: String,
        peer_user_id: Uuid,
        #[schema(required = true)]
        peer_read_seq: Option<i64>,
    },
    /// A group conversation: the members (other than the sender) whose read
    /// cursor is at or past `seq`, leaving out those with read receipts off.
    #[schema(title = "GroupReceipts")]
    Group {
        conversation_id: String,
        seq: i64,
        read_count: usize,
        /// User ids.
        readers: Vec<String>,
    },
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(messages))
        .routes(routes!(edits))
        .routes(routes!(conversations))
        .routes(routes!(receipts))
}

/// Answers after checking the caller may read the conversation.
async fn readable(pool: &MySqlPool, conversation_id: &str, user: Uuid) -> Result<ConversationRef, ApiError> {
    let conversation = ConversationRef::parse(conversation_id).ok_or_else(|| ApiError::invalid("conversation_id", "not a conversation id"))?;
    if !can_read(pool, conversation, user).await? {
        return Err(ApiError::Forbidden { kind: "forbidden", message: "you are not in this conversation".into() });
    }
    Ok(conversation)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// `direct:<user id>:<user id>` (the smaller id first) or `group:<group id>`.
    conversation_id: String,
    /// The oldest messages after this seq (default 0: from the start); not with `before_seq`.
    after_seq: Option<i64>,
    /// The newest messages before this seq (still answered oldest first); not with `after_seq`.
    before_seq: Option<i64>,
    #[param(minimum = 1, maximum = 100, default = 50)]
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

/// One page of a conversation's history, oldest first.
///
/// Messages deleted for the caller, cleared by them or hidden from them are
/// left out, so seqs may have gaps. Like every chat read, it answers once
/// the messages projection has stored what the sequencer committed
/// (waiting at most 2 s, then answering what is there).
#[utoipa::path(get, path = "/api/chat/messages", tag = "chat",
    params(MessagesQuery),
    responses(
        (status = 200, description = "The page, and whether there are more in its direction.", body = Envelope<HistoryPage>),
        (status = 403, description = "`forbidden`: the caller is not one of the two users or a current member of the group."),
        (status = 422, description = "`invalid_field`: `conversation_id` is not a conversation id, `limit` is not 1 to 100, or both `after_seq` and `before_seq` are given (`before_seq`)."),
    ))]
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

/// Every version of a message, oldest first (a message never edited has one: itself; a recalled one, none).
#[utoipa::path(get, path = "/api/chat/messages/{message_id}/edits", tag = "chat",
    params(("message_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The versions.", body = Envelope<Versions>),
        (status = 404, description = "`not_found`: no such message, the caller may not read its conversation, or it is not in their history (cleared, deleted for them)."),
    ))]
async fn edits(State(s): State<AppState>, user: AuthUser, ApiPath(message_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    let conversation = conversation::conversation_of(&s.pool, message_id).await?;
    let conversation = conversation.as_deref().and_then(ConversationRef::parse).ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    if !can_read(&s.pool, conversation, user.user_id).await? {
        return Err(ApiError::NotFound("message not found".into()));
    }
    let versions = conversation::edits(&s.pool, message_id, user.user_id).await?.ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    Ok(ok(Versions { message_id, versions }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConversationsQuery {
    /// The `version` of the client's last answer: only the conversations changed after it.
    since_version: Option<i64>,
}

/// The caller's conversations changed after `since_version`, pinned first, then by last activity.
///
/// Direct conversations the caller took part in and the groups they are in
/// (at most 500), hidden ones included (`hidden: true`).
#[utoipa::path(get, path = "/api/chat/conversations", tag = "chat",
    params(ConversationsQuery),
    responses((status = 200, description = "The conversations and the list's version now (the next `since_version`).", body = Envelope<conversation::ConversationList>)))]
async fn conversations(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ConversationsQuery>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    Ok(ok(conversation::list(&s.pool, user.user_id, q.since_version).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReceiptsQuery {
    /// `direct:<user id>:<user id>` or `group:<group id>`.
    conversation_id: String,
    /// The message's seq: required for a group; a direct conversation answers the peer's cursor and ignores it.
    seq: Option<i64>,
}

/// Who has read a conversation: the peer's read cursor (direct) or the readers of a message (group).
#[utoipa::path(get, path = "/api/chat/receipts", tag = "chat",
    params(ReceiptsQuery),
    responses(
        (status = 200, description = "`DirectReceipts` for a direct conversation, `GroupReceipts` for a group.", body = Envelope<Receipts>),
        (status = 403, description = "`forbidden`: the caller is not one of the two users or a current member of the group."),
        (status = 422, description = "`invalid_field` (`conversation_id`): not a conversation id."),
    ))]
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
            let seq = q.seq.ok_or_else(|| ApiError::invalid("seq", "seq is required for a group conversation"))?;
            let readers = conversation::group_readers(&s.pool, g, &q.conversation_id, seq, user.user_id).await?;
            Ok(ok(Receipts::Group { conversation_id: q.conversation_id, seq, read_count: readers.len(), readers }))
        }
    }
}
