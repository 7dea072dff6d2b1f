//! The conversation read models (from `beaver.sequenced.v1`): messages with
//! their edits, reactions and per-user hiding, conversations (max seq, last
//! activity) and each user's state in a conversation (read and cleared
//! cursors, pinned/muted/hidden). Who may read a conversation is decided
//! here too, from the membership read models.

use crate::rfc3339;
use beaver_events::message::ConversationRef;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::{mysql::MySqlRow, MySqlPool, Row};
use std::collections::HashMap;
use time::PrimitiveDateTime;
use uuid::Uuid;

/// May `user` read `conversation`? The two users of a direct conversation,
/// or the current members of a group.
pub async fn can_read(pool: &MySqlPool, conversation: ConversationRef, user: Uuid) -> Result<bool, sqlx::Error> {
    match conversation {
        ConversationRef::Direct(a, b) => Ok(user == a || user == b),
        ConversationRef::Group(g) => crate::group::is_member(pool, g, user).await,
    }
}

/// A message as clients see it: the entries of `GET /api/chat/messages`,
/// of a WebSocket `sync`, and (with `client_msg_id`) of a live `message` frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub message_id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub content: Value,
    pub mentions: Value,
    pub reply_to: Option<String>,
    pub sent_at: String,
    pub edited_at: Option<String>,
    pub recalled: bool,
    /// Emoji → how many users reacted with it.
    pub reactions: Map<String, Value>,
    /// The viewer's own emoji.
    pub my_reactions: Vec<String>,
    /// Only in live frames, so the sender's other devices can match their sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// Which page of a conversation's history.
#[derive(Clone, Copy, Debug)]
pub enum Page {
    /// The oldest messages after this seq, oldest first.
    After(i64),
    /// The newest messages before this seq, returned oldest first.
    Before(i64),
}

fn content_of(row: &MySqlRow) -> Result<Value, sqlx::Error> {
    Ok(row.try_get::<Option<String>, _>("content")?.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or(Value::Null))
}

/// One page of what `user` may see of a conversation (cleared, deleted-for-me
/// and hidden messages left out), oldest first, and whether there is more.
/// The caller checks that the user may read the conversation.
pub async fn history(pool: &MySqlPool, user: Uuid, conversation_id: &str, page: Page, limit: u32) -> Result<(Vec<Message>, bool), sqlx::Error> {
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
    let mut rows = sqlx::query(&sql).bind(&me).bind(conversation_id).bind(bound).bind(&me).bind(limit + 1).fetch_all(pool).await?;
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
            let message_id: String = r.try_get("message_id")?;
            let (reactions, my_reactions) = reactions.get(&message_id).cloned().unwrap_or_default();
            Ok(Message {
                message_id,
                conversation_id: r.try_get("conversation_id")?,
                seq: r.try_get("seq")?,
                sender_id: r.try_get("sender_id")?,
                kind: r.try_get("kind")?,
                content: content_of(r)?,
                mentions: serde_json::from_str(&r.try_get::<String, _>("mentions")?).unwrap_or(json!([])),
                reply_to: r.try_get("reply_to")?,
                sent_at: rfc3339(r.try_get("sent_at")?),
                edited_at: r.try_get::<Option<PrimitiveDateTime>, _>("edited_at")?.map(rfc3339),
                recalled: r.try_get("recalled")?,
                reactions,
                my_reactions,
                client_msg_id: None,
            })
        })
        .collect::<Result<Vec<Message>, sqlx::Error>>()?;
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

/// What the message commands check about a stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: Uuid,
    pub kind: String,
    pub sent_at: PrimitiveDateTime,
    pub recalled: bool,
}

pub async fn message(pool: &MySqlPool, message_id: Uuid) -> Result<Option<MessageRow>, sqlx::Error> {
    let row: Option<(String, i64, String, String, PrimitiveDateTime, bool)> =
        sqlx::query_as("SELECT conversation_id, seq, sender_id, kind, sent_at, recalled FROM messages WHERE message_id = ?")
            .bind(message_id.to_string())
            .fetch_optional(pool)
            .await?;
    row.map(|(conversation_id, seq, sender, kind, sent_at, recalled)| {
        Ok(MessageRow { conversation_id, seq, sender_id: crate::uuid(&sender)?, kind, sent_at, recalled })
    })
    .transpose()
}

/// The conversation a stored message belongs to.
pub async fn conversation_of(pool: &MySqlPool, message_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT conversation_id FROM messages WHERE message_id = ?")
        .bind(message_id.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.0))
}

/// The stored answer to a send of `(sender, client_msg_id)` in a
/// conversation (the read model's unique key): message id, seq, sent at.
pub async fn sent(pool: &MySqlPool, conversation_id: &str, sender: Uuid, client_msg_id: &str) -> Result<Option<(String, i64, PrimitiveDateTime)>, sqlx::Error> {
    sqlx::query_as("SELECT message_id, seq, sent_at FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?")
        .bind(conversation_id)
        .bind(sender.to_string())
        .bind(client_msg_id)
        .fetch_optional(pool)
        .await
}

/// When a message was last edited, and how often.
pub async fn edit_state(pool: &MySqlPool, message_id: Uuid) -> Result<(Option<PrimitiveDateTime>, i32), sqlx::Error> {
    let row: Option<(Option<PrimitiveDateTime>, i32)> =
        sqlx::query_as("SELECT edited_at, edit_count FROM messages WHERE message_id = ?").bind(message_id.to_string()).fetch_optional(pool).await?;
    Ok(row.unwrap_or((None, 0)))
}

/// Every version of a message, oldest first: `{version, content, at}` (a
/// message never edited has one version, itself).
pub async fn edits(pool: &MySqlPool, message_id: Uuid) -> Result<Vec<Value>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT edit_no, content, edited_at FROM message_edits WHERE message_id = ? \
         UNION ALL SELECT 0, content, sent_at FROM messages m WHERE m.message_id = ? AND m.content IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM message_edits e WHERE e.message_id = m.message_id) \
         ORDER BY 1",
    )
    .bind(message_id.to_string())
    .bind(message_id.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "version": r.try_get::<i32, _>("edit_no")?,
                "content": serde_json::from_str::<Value>(&r.try_get::<String, _>("content")?).unwrap_or(Value::Null),
                "at": rfc3339(r.try_get("edited_at")?),
            }))
        })
        .collect()
}

/// Emoji → count of a message's reactions.
pub async fn reaction_counts(pool: &MySqlPool, message_id: Uuid) -> Result<Map<String, Value>, sqlx::Error> {
    let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as("SELECT emoji, COUNT(*) FROM message_reactions WHERE message_id = ? GROUP BY emoji ORDER BY emoji")
        .bind(message_id.to_string())
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|(e, n)| (String::from_utf8_lossy(&e).into_owned(), json!(n))).collect())
}

pub async fn has_reacted(pool: &MySqlPool, message_id: Uuid, user: Uuid, emoji: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM message_reactions WHERE message_id = ? AND user_id = ? AND emoji = ?")
        .bind(message_id.to_string())
        .bind(user.to_string())
        .bind(emoji)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// The highest seq of a conversation (0 before its first message).
pub async fn max_seq(pool: &MySqlPool, conversation_id: &str) -> Result<i64, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT max_seq FROM conversations WHERE conversation_id = ?").bind(conversation_id).fetch_optional(pool).await?;
    Ok(row.map(|r| r.0).unwrap_or(0))
}

/// A user's read cursor in a conversation (0 when never read).
pub async fn read_seq(pool: &MySqlPool, user: Uuid, conversation_id: &str) -> Result<i64, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT read_seq FROM user_conversations WHERE user_id = ? AND conversation_id = ?")
        .bind(user.to_string())
        .bind(conversation_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.0).unwrap_or(0))
}

/// A user's `(pinned, muted, hidden)` flags of a conversation (all false by default).
pub async fn flags(pool: &MySqlPool, user: Uuid, conversation_id: &str) -> Result<(bool, bool, bool), sqlx::Error> {
    let row: Option<(bool, bool, bool)> = sqlx::query_as("SELECT pinned, muted, hidden FROM user_conversations WHERE user_id = ? AND conversation_id = ?")
        .bind(user.to_string())
        .bind(conversation_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.unwrap_or_default())
}

/// The members of a group who have read up to `seq` (its sender left out), by id.
pub async fn group_readers(pool: &MySqlPool, group_id: Uuid, conversation_id: &str, seq: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT uc.user_id FROM user_conversations uc \
         JOIN group_members gm ON gm.group_id = ? AND gm.user_id = uc.user_id AND gm.status = 'active' \
         WHERE uc.conversation_id = ? AND uc.read_seq >= ? \
           AND uc.user_id <> COALESCE((SELECT sender_id FROM messages WHERE conversation_id = ? AND seq = ?), '') \
         ORDER BY uc.user_id",
    )
    .bind(group_id.to_string())
    .bind(conversation_id)
    .bind(seq)
    .bind(conversation_id)
    .bind(seq)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// `user`'s conversations changed after `since_version` (direct ones they
/// took part in, groups they are in), pinned first, then by last activity:
/// `{conversations, version}`.
pub async fn list(pool: &MySqlPool, user: Uuid, since_version: Option<i64>) -> Result<Value, sqlx::Error> {
    let me = user.to_string();
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
    .bind(since_version.unwrap_or(-1))
    .fetch_all(pool)
    .await?;
    let mut version = since_version.unwrap_or(0);
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
        .fetch_one(pool)
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
        .fetch_optional(pool)
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
            Some(ConversationRef::Direct(a, b)) => ("direct", json!({ "peer_user_id": if a == user { b } else { a } })),
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
    Ok(json!({ "conversations": list, "version": version }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_show_text_or_a_type_label() {
        assert_eq!(preview("text", &json!({ "text": "hello" }), false), "hello");
        assert_eq!(preview("image", &json!({ "url": "/x" }), false), "[image]");
        assert_eq!(preview("text", &json!(null), true), "[recalled]");
        assert_eq!(preview("text", &json!({ "text": "x".repeat(300) }), false).len(), 100);
    }

    #[test]
    fn a_history_message_has_no_client_msg_id_and_a_live_one_does() {
        let mut m = Message {
            message_id: "m".into(),
            conversation_id: "c".into(),
            seq: 1,
            sender_id: "s".into(),
            kind: "text".into(),
            content: json!({ "text": "hi" }),
            mentions: json!([]),
            reply_to: None,
            sent_at: "2026-01-01T00:00:00Z".into(),
            edited_at: None,
            recalled: false,
            reactions: Map::new(),
            my_reactions: vec![],
            client_msg_id: None,
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["type"], "text");
        assert!(v.get("client_msg_id").is_none());
        assert!(v["edited_at"].is_null() && v["reply_to"].is_null());
        m.client_msg_id = Some("c1".into());
        assert_eq!(serde_json::to_value(&m).unwrap()["client_msg_id"], "c1");
    }
}
