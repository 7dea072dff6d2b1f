//! `GET /api/chat/messages`, `/api/chat/messages/{id}/edits`,
//! `/api/chat/conversations`, `/api/chat/receipts`.

use crate::{
    views::{can_read, rfc3339},
    AppState,
};
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_events::message::ConversationRef;
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::{mysql::MySqlRow, MySqlPool, Row};
use std::collections::HashMap;
use uuid::Uuid;

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

fn content_of(row: &MySqlRow) -> Result<Value, sqlx::Error> {
    Ok(row.try_get::<Option<String>, _>("content")?.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or(Value::Null))
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
    Ok(ok(json!({ "messages": messages, "has_more": has_more })))
}

/// Which page of a conversation's history.
#[derive(Clone, Copy, Debug)]
pub enum Page {
    /// The oldest messages after this seq, oldest first.
    After(i64),
    /// The newest messages before this seq, returned oldest first.
    Before(i64),
}

/// One page of what `user` may see of a conversation (cleared, deleted-for-me
/// and hidden messages left out), oldest first, and whether there is more.
/// The caller checks that the user may read the conversation. ws-push sends
/// the same shape for a `sync` and for live messages.
pub async fn history(pool: &MySqlPool, user: Uuid, conversation_id: &str, page: Page, limit: u32) -> Result<(Vec<Value>, bool), sqlx::Error> {
    let me = user.to_string();
    let (condition, order, bound) = match page {
        Page::Before(before) => ("m.seq < ?", "DESC", before),
        Page::After(after) => ("m.seq > ?", "ASC", after),
    };
    let sql = format!(
        "SELECT m.* FROM messages m \
         LEFT JOIN user_conversations uc ON uc.user_id = ? AND uc.conversation_id = m.conversation_id \
         WHERE m.conversation_id = ? AND {condition} AND m.seq > COALESCE(uc.cleared_seq, 0) \
           AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.user_id = ? AND h.message_id = m.message_id) \
         ORDER BY m.seq {order} LIMIT ?"
    );
    let mut rows = sqlx::query(&sql)
        .bind(&me)
        .bind(conversation_id)
        .bind(bound)
        .bind(&me)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    if matches!(page, Page::Before(_)) {
        rows.reverse();
    }
    let ids: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>("message_id")).collect::<Result<_, _>>()?;
    let reactions = reactions_of(pool, &ids, &me).await?;
    let messages = rows
        .iter()
        .map(|r| {
            let id: String = r.try_get("message_id")?;
            let (counts, mine) = reactions.get(&id).cloned().unwrap_or_default();
            Ok(json!({
                "message_id": id,
                "conversation_id": r.try_get::<String, _>("conversation_id")?,
                "seq": r.try_get::<i64, _>("seq")?,
                "sender_id": r.try_get::<String, _>("sender_id")?,
                "type": r.try_get::<String, _>("kind")?,
                "content": content_of(r)?,
                "mentions": serde_json::from_str::<Value>(&r.try_get::<String, _>("mentions")?).unwrap_or(json!([])),
                "reply_to": r.try_get::<Option<String>, _>("reply_to")?,
                "sent_at": rfc3339(r.try_get("sent_at")?),
                "edited_at": r.try_get::<Option<time::PrimitiveDateTime>, _>("edited_at")?.map(rfc3339),
                "recalled": r.try_get::<bool, _>("recalled")?,
                "reactions": Value::Object(counts),
                "my_reactions": mine,
            }))
        })
        .collect::<Result<Vec<Value>, sqlx::Error>>()?;
    Ok((messages, has_more))
}

/// Per message: emoji → count, and the caller's own emoji.
async fn reactions_of(pool: &MySqlPool, ids: &[String], me: &str) -> Result<HashMap<String, (Map<String, Value>, Vec<String>)>, sqlx::Error> {
    let mut out: HashMap<String, (Map<String, Value>, Vec<String>)> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut q = sqlx::QueryBuilder::new("SELECT message_id, emoji, COUNT(*) AS n, CAST(SUM(user_id = ");
    q.push_bind(me);
    q.push(") AS SIGNED) AS mine FROM message_reactions WHERE message_id IN (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(id);
    }
    q.push(") GROUP BY message_id, emoji ORDER BY emoji");
    for r in q.build().fetch_all(pool).await? {
        let id: String = r.try_get("message_id")?;
        let emoji = String::from_utf8_lossy(&r.try_get::<Vec<u8>, _>("emoji")?).into_owned();
        let entry = out.entry(id).or_default();
        entry.0.insert(emoji.clone(), json!(r.try_get::<i64, _>("n")?));
        if r.try_get::<i64, _>("mine")? > 0 {
            entry.1.push(emoji);
        }
    }
    Ok(out)
}

async fn edits(State(s): State<AppState>, user: AuthUser, ApiPath(message_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    let row: Option<(String,)> = sqlx::query_as("SELECT conversation_id FROM messages WHERE message_id = ?")
        .bind(message_id.to_string())
        .fetch_optional(&s.pool)
        .await?;
    let conversation = row.and_then(|r| ConversationRef::parse(&r.0)).ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    if !can_read(&s.pool, conversation, user.user_id).await? {
        return Err(ApiError::NotFound("message not found".into()));
    }
    // A message never edited has one version: itself.
    let rows = sqlx::query(
        "SELECT edit_no, content, edited_at FROM message_edits WHERE message_id = ? \
         UNION ALL SELECT 0, content, sent_at FROM messages m WHERE m.message_id = ? AND m.content IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM message_edits e WHERE e.message_id = m.message_id) \
         ORDER BY 1",
    )
    .bind(message_id.to_string())
    .bind(message_id.to_string())
    .fetch_all(&s.pool)
    .await?;
    let versions = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "version": r.try_get::<i32, _>("edit_no")?,
                "content": serde_json::from_str::<Value>(&r.try_get::<String, _>("content")?).unwrap_or(Value::Null),
                "at": rfc3339(r.try_get("edited_at")?),
            }))
        })
        .collect::<Result<Vec<Value>, sqlx::Error>>()?;
    Ok(ok(json!({ "message_id": message_id, "versions": versions })))
}

#[derive(Debug, Deserialize)]
struct ConversationsQuery {
    since_version: Option<i64>,
}

async fn conversations(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ConversationsQuery>) -> Result<Response, ApiError> {
    caught_up(&s).await?;
    let me = user.user_id.to_string();
    let since = q.since_version.unwrap_or(-1);
    let rows = sqlx::query(
        "SELECT x.conversation_id, x.group_id, c.max_seq, c.last_at, GREATEST(COALESCE(c.changed_version, 0), COALESCE(uc.changed_version, 0)) AS changed, \
                COALESCE(uc.read_seq, 0) AS read_seq, COALESCE(uc.cleared_seq, 0) AS cleared_seq, \
                COALESCE(uc.pinned, FALSE) AS pinned, COALESCE(uc.muted, FALSE) AS muted, COALESCE(uc.hidden, FALSE) AS hidden \
         FROM ( \
             SELECT conversation_id, NULL AS group_id FROM user_conversations WHERE user_id = ? AND conversation_id LIKE 'direct:%' \
             UNION ALL \
             SELECT CONCAT('group:', group_id), group_id FROM group_members WHERE user_id = ? AND status = 'active' \
         ) x \
         LEFT JOIN conversations c ON c.conversation_id = x.conversation_id \
         LEFT JOIN user_conversations uc ON uc.user_id = ? AND uc.conversation_id = x.conversation_id \
         HAVING changed > ? \
         ORDER BY pinned DESC, c.last_at DESC, x.conversation_id LIMIT 500",
    )
    .bind(&me)
    .bind(&me)
    .bind(&me)
    .bind(since)
    .fetch_all(&s.pool)
    .await?;
    let mut version = q.since_version.unwrap_or(0);
    let mut list = Vec::with_capacity(rows.len());
    for r in &rows {
        let conversation_id: String = r.try_get("conversation_id")?;
        let changed: i64 = r.try_get("changed")?;
        version = version.max(changed);
        let read_seq: i64 = r.try_get("read_seq")?;
        let cleared_seq: i64 = r.try_get("cleared_seq")?;
        let floor = read_seq.max(cleared_seq);
        let (unread,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM messages m WHERE m.conversation_id = ? AND m.seq > ? AND m.sender_id <> ? AND m.kind <> 'system' \
             AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.user_id = ? AND h.message_id = m.message_id)",
        )
        .bind(&conversation_id)
        .bind(floor)
        .bind(&me)
        .bind(&me)
        .fetch_one(&s.pool)
        .await?;
        let last = sqlx::query(
            "SELECT m.message_id, m.seq, m.sender_id, m.kind, m.content, m.sent_at, m.recalled FROM messages m \
             WHERE m.conversation_id = ? AND m.seq > ? \
               AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.user_id = ? AND h.message_id = m.message_id) \
             ORDER BY m.seq DESC LIMIT 1",
        )
        .bind(&conversation_id)
        .bind(cleared_seq)
        .bind(&me)
        .fetch_optional(&s.pool)
        .await?;
        let last_message = match &last {
            Some(m) => json!({
                "message_id": m.try_get::<String, _>("message_id")?,
                "seq": m.try_get::<i64, _>("seq")?,
                "sender_id": m.try_get::<String, _>("sender_id")?,
                "type": m.try_get::<String, _>("kind")?,
                "text": preview(&m.try_get::<String, _>("kind")?, &content_of(m)?, m.try_get("recalled")?),
                "sent_at": rfc3339(m.try_get("sent_at")?),
            }),
            None => Value::Null,
        };
        let (kind, peer_or_group) = match ConversationRef::parse(&conversation_id) {
            Some(ConversationRef::Direct(a, b)) => ("direct", json!({ "peer_user_id": if a == user.user_id { b } else { a } })),
            _ => ("group", json!({ "group_id": r.try_get::<Option<String>, _>("group_id")? })),
        };
        let mut entry = json!({
            "conversation_id": conversation_id,
            "kind": kind,
            "last_message": last_message,
            "max_seq": r.try_get::<Option<i64>, _>("max_seq")?.unwrap_or(0),
            "read_seq": read_seq,
            "unread": unread,
            "pinned": r.try_get::<bool, _>("pinned")?,
            "muted": r.try_get::<bool, _>("muted")?,
            "hidden": r.try_get::<bool, _>("hidden")?,
            "version": changed,
        });
        if let (Some(e), Some(extra)) = (entry.as_object_mut(), peer_or_group.as_object()) {
            e.extend(extra.clone());
        }
        list.push(entry);
    }
    Ok(ok(json!({ "conversations": list, "version": version })))
}

/// A one-line preview of a message for conversation lists.
pub fn preview(kind: &str, content: &Value, recalled: bool) -> String {
    if recalled {
        return "[recalled]".into();
    }
    match content.get("text").and_then(Value::as_str) {
        Some(text) if matches!(kind, "text" | "markdown" | "reply") => text.chars().take(100).collect(),
        _ => format!("[{kind}]"),
    }
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
            let read: Option<(i64,)> = sqlx::query_as("SELECT read_seq FROM user_conversations WHERE user_id = ? AND conversation_id = ?")
                .bind(peer.to_string())
                .bind(&q.conversation_id)
                .fetch_optional(&s.pool)
                .await?;
            Ok(ok(json!({ "conversation_id": q.conversation_id, "peer_user_id": peer, "peer_read_seq": read.map(|r| r.0).unwrap_or(0) })))
        }
        ConversationRef::Group(g) => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT uc.user_id FROM user_conversations uc \
                 JOIN group_members gm ON gm.group_id = ? AND gm.user_id = uc.user_id AND gm.status = 'active' \
                 WHERE uc.conversation_id = ? AND uc.read_seq >= ? \
                   AND uc.user_id <> COALESCE((SELECT sender_id FROM messages WHERE conversation_id = ? AND seq = ?), '') \
                 ORDER BY uc.user_id",
            )
            .bind(g.to_string())
            .bind(&q.conversation_id)
            .bind(q.seq)
            .bind(&q.conversation_id)
            .bind(q.seq)
            .fetch_all(&s.pool)
            .await?;
            let readers: Vec<String> = rows.into_iter().map(|r| r.0).collect();
            Ok(ok(json!({ "conversation_id": q.conversation_id, "seq": q.seq, "read_count": readers.len(), "readers": readers })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::preview;
    use serde_json::json;

    #[test]
    fn previews_show_text_or_a_type_label() {
        assert_eq!(preview("text", &json!({ "text": "hello" }), false), "hello");
        assert_eq!(preview("image", &json!({ "url": "/x" }), false), "[image]");
        assert_eq!(preview("text", &json!(null), true), "[recalled]");
        assert_eq!(preview("text", &json!({ "text": "x".repeat(300) }), false).len(), 100);
    }
}
