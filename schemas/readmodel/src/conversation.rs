//! The conversation read models (from `beaver.sequenced.v1`): messages with
//! their edits, reactions and per-user hiding, conversations (max seq, last
//! activity) and each user's state in a conversation (read and cleared
//! cursors, pinned/muted/hidden). Who may read a conversation is decided
//! here too, from the membership read models.

use crate::rfc3339;
use beaver_events::message::ConversationRef;
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, MySqlPool, Row};
use std::collections::{BTreeMap, HashMap};
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
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Message {
    #[schema(format = Uuid)]
    pub message_id: String,
    /// `direct:<user id>:<user id>` or `group:<group id>`.
    pub conversation_id: String,
    pub seq: i64,
    #[schema(format = Uuid)]
    pub sender_id: String,
    /// `text`, `markdown`, `reply`, `image`, `file`, `voice`, `video`,
    /// `emoji`, `location`, `card`, `link`, `forward`, or `system` (a notice
    /// of the server's).
    #[serde(rename = "type")]
    pub kind: String,
    /// The content for its type (docs/chat.md); `null` once recalled.
    #[schema(value_type = Option<Object>, required = true)]
    pub content: Value,
    /// Mentioned user ids.
    pub mentions: Vec<String>,
    /// The message this one replies to.
    #[schema(required = true)]
    pub reply_to: Option<String>,
    #[schema(format = DateTime)]
    pub sent_at: String,
    #[schema(format = DateTime, required = true)]
    pub edited_at: Option<String>,
    pub recalled: bool,
    /// Emoji → how many users reacted with it.
    pub reactions: BTreeMap<String, i64>,
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

/// Stored JSON text as a value (null when absent, e.g. recalled).
fn json_of(text: Option<&str>) -> Value {
    text.and_then(|c| serde_json::from_str(c).ok()).unwrap_or(Value::Null)
}

/// A `messages` row as history reads it.
#[derive(FromRow)]
struct StoredMessage {
    message_id: String,
    conversation_id: String,
    seq: i64,
    sender_id: String,
    kind: String,
    content: Option<String>,
    mentions: String,
    reply_to: Option<String>,
    sent_at: PrimitiveDateTime,
    edited_at: Option<PrimitiveDateTime>,
    recalled: bool,
}

const STORED_MESSAGE_COLUMNS: &str =
    "m.message_id, m.conversation_id, m.seq, m.sender_id, m.kind, m.content, m.mentions, m.reply_to, m.sent_at, m.edited_at, m.recalled";

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
        "SELECT {STORED_MESSAGE_COLUMNS} FROM messages m \
         LEFT JOIN user_conversations uc ON uc.user_id = ? AND uc.conversation_id = m.conversation_id \
         WHERE m.conversation_id = ? AND {condition} AND m.seq > COALESCE(uc.cleared_seq, 0) \
           AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.user_id = ? AND h.message_id = m.message_id) \
         ORDER BY m.seq {order} LIMIT ?"
    );
    let mut rows: Vec<StoredMessage> = sqlx::query_as(&sql).bind(&me).bind(conversation_id).bind(bound).bind(&me).bind(limit + 1).fetch_all(pool).await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    if matches!(page, Page::Before(_)) {
        rows.reverse();
    }
    let ids: Vec<String> = rows.iter().map(|r| r.message_id.clone()).collect();
    let mut reactions = reactions_of(pool, &ids, &me).await?;
    let messages = rows
        .into_iter()
        .map(|r| {
            let (reactions, my_reactions) = reactions.remove(&r.message_id).unwrap_or_default();
            Message {
                content: json_of(r.content.as_deref()),
                mentions: serde_json::from_str(&r.mentions).unwrap_or_default(),
                message_id: r.message_id,
                conversation_id: r.conversation_id,
                seq: r.seq,
                sender_id: r.sender_id,
                kind: r.kind,
                reply_to: r.reply_to,
                sent_at: rfc3339(r.sent_at),
                edited_at: r.edited_at.map(rfc3339),
                recalled: r.recalled,
                reactions,
                my_reactions,
                client_msg_id: None,
            }
        })
        .collect();
    Ok((messages, has_more))
}

/// Per message: emoji → count, and the caller's own emoji.
type Reactions = (BTreeMap<String, i64>, Vec<String>);

async fn reactions_of(pool: &MySqlPool, ids: &[String], me: &str) -> Result<HashMap<String, Reactions>, sqlx::Error> {
    let mut out: HashMap<String, Reactions> = HashMap::new();
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
        entry.0.insert(emoji.clone(), r.try_get::<i64, _>("n")?);
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

/// One version of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = chat::MessageVersion)]
pub struct Edit {
    /// 0 for the original.
    pub version: i32,
    #[schema(value_type = Object)]
    pub content: Value,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
}

/// Every version of a message, oldest first (a message never edited has one
/// version, itself).
/// A message's versions as `user` may see them: `None` if the message is
/// not in their history (cleared, deleted for them, hidden), none once it
/// is recalled (a recall removes every version, not only the last).
pub async fn edits(pool: &MySqlPool, message_id: Uuid, user: Uuid) -> Result<Option<Vec<Edit>>, sqlx::Error> {
    let visible: Option<(bool,)> = sqlx::query_as(
        "SELECT m.recalled FROM messages m \
         LEFT JOIN user_conversations uc ON uc.user_id = ? AND uc.conversation_id = m.conversation_id \
         WHERE m.message_id = ? AND m.seq > COALESCE(uc.cleared_seq, 0) \
           AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.user_id = ? AND h.message_id = m.message_id)",
    )
    .bind(user.to_string())
    .bind(message_id.to_string())
    .bind(user.to_string())
    .fetch_optional(pool)
    .await?;
    match visible {
        None => return Ok(None),
        Some((true,)) => return Ok(Some(Vec::new())),
        Some((false,)) => {}
    }
    let rows: Vec<(i32, String, PrimitiveDateTime)> = sqlx::query_as(
        "SELECT edit_no, content, edited_at FROM message_edits WHERE message_id = ? \
         UNION ALL SELECT 0, content, sent_at FROM messages m WHERE m.message_id = ? AND m.content IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM message_edits e WHERE e.message_id = m.message_id) \
         ORDER BY 1",
    )
    .bind(message_id.to_string())
    .bind(message_id.to_string())
    .fetch_all(pool)
    .await?;
    Ok(Some(rows.into_iter().map(|(version, content, at)| Edit { version, content: json_of(Some(&content)), at: rfc3339(at) }).collect()))
}

/// Emoji → count of a message's reactions.
pub async fn reaction_counts(pool: &MySqlPool, message_id: Uuid) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as("SELECT emoji, COUNT(*) FROM message_reactions WHERE message_id = ? GROUP BY emoji ORDER BY emoji")
        .bind(message_id.to_string())
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|(e, n)| (String::from_utf8_lossy(&e).into_owned(), n)).collect())
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
pub async fn group_readers(pool: &MySqlPool, group_id: Uuid, conversation_id: &str, seq: i64, viewer: Uuid) -> Result<Vec<String>, sqlx::Error> {
    // Users who turned read receipts off are not listed (docs/services.md,
    // "Settings"), except to themselves.
    let rows: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT uc.user_id FROM user_conversations uc \
         JOIN group_members gm ON gm.group_id = ? AND gm.user_id = uc.user_id AND gm.status = 'active' \
         WHERE uc.conversation_id = ? AND uc.read_seq >= ? \
           AND uc.user_id <> COALESCE((SELECT sender_id FROM messages WHERE conversation_id = ? AND seq = ?), '') \
           AND (uc.user_id = ? OR {}) \
         ORDER BY uc.user_id",
        crate::settings::sends_receipts_predicate("uc.user_id")
    ))
    .bind(group_id.to_string())
    .bind(conversation_id)
    .bind(seq)
    .bind(conversation_id)
    .bind(seq)
    .bind(viewer.to_string())
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A conversation in its participant's list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConversationEntry {
    pub conversation_id: String,
    /// `direct` or `group`.
    pub kind: &'static str,
    /// The other user (direct) or the group (group).
    #[serde(flatten)]
    pub counterpart: Counterpart,
    /// The newest message the participant can see, as a preview.
    #[schema(required = true)]
    pub last_message: Option<LastMessage>,
    pub max_seq: i64,
    pub read_seq: i64,
    /// Messages from others after the read cursor that the participant can see.
    pub unread: i64,
    pub pinned: bool,
    pub muted: bool,
    pub hidden: bool,
    /// The list version of this entry's last change.
    pub version: i64,
}

/// Whom a conversation is with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Counterpart {
    /// A direct conversation: the other user.
    #[schema(title = "DirectCounterpart")]
    Direct { peer_user_id: Uuid },
    /// A group conversation: the group.
    #[schema(title = "GroupCounterpart")]
    Group {
        #[schema(format = Uuid, required = true)]
        group_id: Option<String>,
    },
}

/// A conversation's newest visible message, shortened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LastMessage {
    #[schema(format = Uuid)]
    pub message_id: String,
    pub seq: i64,
    #[schema(format = Uuid)]
    pub sender_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// [`preview`] of the message: its first 100 characters (text,
    /// markdown, reply), `[<type>]` otherwise, `[recalled]` once recalled.
    pub text: String,
    #[schema(format = DateTime)]
    pub sent_at: String,
}

/// A participant's conversation list: `{conversations, version}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<ConversationEntry>,
    pub version: i64,
}

#[derive(FromRow)]
struct ListRow {
    conversation_id: String,
    group_id: Option<String>,
    max_seq: Option<i64>,
    changed: i64,
    read_seq: i64,
    cleared_seq: i64,
    pinned: bool,
    muted: bool,
    hidden: bool,
}

#[derive(FromRow)]
struct LastRow {
    conversation_id: String,
    message_id: String,
    seq: i64,
    sender_id: String,
    kind: String,
    content: Option<String>,
    sent_at: PrimitiveDateTime,
    recalled: bool,
}

/// `user`'s conversations changed after `since_version` (direct ones they
/// took part in, groups they are in), pinned first, then by last activity.
///
/// The group ids are converted to ASCII inside the union: `group_members`
/// is utf8mb4, and a utf8mb4 column joined to the ASCII `conversations` key
/// cannot use its index (measured: a full index scan per conversation, 48 ms
/// of MariaDB for a list of 150; 7 ms with the conversion).
pub async fn list(pool: &MySqlPool, user: Uuid, since_version: Option<i64>) -> Result<ConversationList, sqlx::Error> {
    let me = user.to_string();
    let rows: Vec<ListRow> = sqlx::query_as(
        "SELECT x.conversation_id, x.group_id, c.max_seq, c.last_at, GREATEST(COALESCE(c.changed_version, 0), COALESCE(uc.changed_version, 0)) AS changed, \
                COALESCE(uc.read_seq, 0) AS read_seq, COALESCE(uc.cleared_seq, 0) AS cleared_seq, \
                COALESCE(uc.pinned, FALSE) AS pinned, COALESCE(uc.muted, FALSE) AS muted, COALESCE(uc.hidden, FALSE) AS hidden \
         FROM ( \
             SELECT conversation_id, NULL AS group_id FROM user_conversations WHERE user_id = ? AND conversation_id LIKE 'direct:%' \
             UNION ALL \
             SELECT CONVERT(CONCAT('group:', group_id) USING ascii), group_id FROM group_members WHERE user_id = ? AND status = 'active' \
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
    let (unread, mut last) = unread_and_last(pool, &me, &rows).await?;
    let mut conversations = Vec::with_capacity(rows.len());
    for r in rows {
        version = version.max(r.changed);
        let unread = unread.get(&r.conversation_id).copied().unwrap_or(0);
        let last_message = last.remove(&r.conversation_id).map(|m| LastMessage {
            text: preview(&m.kind, &json_of(m.content.as_deref()), m.recalled),
            message_id: m.message_id,
            seq: m.seq,
            sender_id: m.sender_id,
            kind: m.kind,
            sent_at: rfc3339(m.sent_at),
        });
        let (kind, counterpart) = match ConversationRef::parse(&r.conversation_id) {
            Some(ConversationRef::Direct(a, b)) => ("direct", Counterpart::Direct { peer_user_id: if a == user { b } else { a } }),
            _ => ("group", Counterpart::Group { group_id: r.group_id }),
        };
        conversations.push(ConversationEntry {
            conversation_id: r.conversation_id,
            kind,
            counterpart,
            last_message,
            max_seq: r.max_seq.unwrap_or(0),
            read_seq: r.read_seq,
            unread,
            pinned: r.pinned,
            muted: r.muted,
            hidden: r.hidden,
            version: r.changed,
        });
    }
    Ok(ConversationList { conversations, version })
}

/// Conversations per statement when finding the last messages: one round
/// trip for many conversations instead of one each.
const LIST_CHUNK: usize = 100;

/// Per conversation of `rows`: the unread count (messages from others after
/// the read or clear cursor, not hidden from `me`, not system notices) and
/// the newest message after the clear cursor not hidden from `me`.
///
/// The counts are one statement: the conversations and their cursors go in
/// as one JSON parameter read by `JSON_TABLE`, joined to `messages` by its
/// key. The last messages are one `ORDER BY seq DESC LIMIT 1` per
/// conversation (it stops at the first visible one), in `UNION ALL`s of
/// [`LIST_CHUNK`].
async fn unread_and_last(
    pool: &MySqlPool,
    me: &str,
    rows: &[ListRow],
) -> Result<(HashMap<String, i64>, HashMap<String, LastRow>), sqlx::Error> {
    const NOT_HIDDEN: &str = "NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.user_id = ? AND h.message_id = m.message_id)";
    let mut last = HashMap::with_capacity(rows.len());
    if rows.is_empty() {
        return Ok((HashMap::new(), last));
    }
    let cursors = Value::Array(rows.iter().map(|r| serde_json::json!({ "c": r.conversation_id, "f": r.read_seq.max(r.cleared_seq) })).collect());
    let unread: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT x.c, COUNT(*) FROM JSON_TABLE(?, '$[*]' COLUMNS (c VARCHAR(96) CHARACTER SET ascii PATH '$.c', f BIGINT PATH '$.f')) x \
         JOIN messages m ON m.conversation_id = x.c AND m.seq > x.f \
         WHERE m.sender_id <> ? AND m.kind <> 'system' AND {NOT_HIDDEN} GROUP BY x.c"
    ))
    .bind(cursors.to_string())
    .bind(me)
    .bind(me)
    .fetch_all(pool)
    .await?;
    for chunk in rows.chunks(LIST_CHUNK) {
        let newest = vec![
            format!(
                "(SELECT m.conversation_id, m.message_id, m.seq, m.sender_id, m.kind, m.content, m.sent_at, m.recalled FROM messages m \
                  WHERE m.conversation_id = ? AND m.seq > ? AND {NOT_HIDDEN} ORDER BY m.seq DESC LIMIT 1)"
            );
            chunk.len()
        ]
        .join(" UNION ALL ");
        let mut q = sqlx::query_as::<_, LastRow>(&newest);
        for r in chunk {
            q = q.bind(&r.conversation_id).bind(r.cleared_seq).bind(me);
        }
        last.extend(q.fetch_all(pool).await?.into_iter().map(|m| (m.conversation_id.clone(), m)));
    }
    Ok((unread.into_iter().collect(), last))
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
    use serde_json::json;

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
            mentions: vec![],
            reply_to: None,
            sent_at: "2026-01-01T00:00:00Z".into(),
            edited_at: None,
            recalled: false,
            reactions: BTreeMap::new(),
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
