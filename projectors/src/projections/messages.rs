//! `beaver.messages.v1` → `conversations`, `messages`, `message_edits`,
//! `message_reactions`, `message_hidden`, `user_conversations`, and the Redis
//! values `beaver:conv:<id>:max_seq` and `beaver:read:<user>`.
//!
//! This projection is the sequencer: being the single consumer of a
//! conversation's partition (see the runner), it numbers each conversation's
//! new messages 1, 2, 3, … in log order, in the transaction that stores them.
//! A repeated `(sender, client_msg_id)` in a conversation gets no number. The
//! numbering is therefore a pure function of the log: unique, gap-free,
//! increasing, and the same on every replay.

use super::sync::{bump, utc};
use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{
    message::{ConversationRef, MessageSent},
    topics, MessageEvent, RawEnvelope,
};
use beaver_platform::{readiness::MESSAGES_PROJECTOR, redis_keys};
use redis::AsyncCommands;
use sqlx::{MySql, Row, Transaction};
use time::PrimitiveDateTime;
use uuid::Uuid;

pub struct Messages;

type Tx = Transaction<'static, MySql>;

/// Takes the next value of the commit-ordered change counter of conversation
/// lists (see `changed_version` in the migration).
async fn next_change(tx: &mut Tx) -> Result<i64, sqlx::Error> {
    bump(tx, "*", "conversations").await
}

/// Creates the participant row if needed, stamps it with change `v`, and applies `set` (a SQL assignment list).
async fn touch_user(tx: &mut Tx, v: i64, user: Uuid, conversation: &str, set: &str, value: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_conversations (user_id, conversation_id, changed_version) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE changed_version = VALUES(changed_version)",
    )
    .bind(user.to_string())
    .bind(conversation)
    .bind(v)
    .execute(&mut **tx)
    .await?;
    let q = format!("UPDATE user_conversations SET {set} WHERE user_id = ? AND conversation_id = ?");
    let mut q = sqlx::query(&q);
    if let Some(v) = value {
        q = q.bind(v);
    }
    q.bind(user.to_string()).bind(conversation).execute(&mut **tx).await?;
    Ok(())
}

async fn hide(tx: &mut Tx, user: Uuid, message_id: Uuid, conversation: &str, seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT IGNORE INTO message_hidden (user_id, message_id, conversation_id, seq) VALUES (?, ?, ?, ?)")
        .bind(user.to_string())
        .bind(message_id.to_string())
        .bind(conversation)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn seq_of(tx: &mut Tx, message_id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT seq FROM messages WHERE message_id = ?")
        .bind(message_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|r| r.0))
}

/// The hot path: 7 round trips per new message (change counter, repeat
/// check, seq, message, two cursors, one Redis pipeline).
async fn send(tx: &mut Tx, ctx: &ApplyContext, e: MessageSent, when: PrimitiveDateTime) -> Result<(), ApplyError> {
    let conv = e.conversation_id.as_str();
    let Some(target) = ConversationRef::parse(conv) else {
        tracing::error!(conversation = conv, "MessageSent for a malformed conversation id; not projected");
        return Ok(());
    };
    let repeat: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM messages WHERE message_id = ? OR (conversation_id = ? AND sender_id = ? AND client_msg_id = ?) LIMIT 1",
    )
    .bind(e.message_id.to_string())
    .bind(conv)
    .bind(e.sender_id.to_string())
    .bind(&e.client_msg_id)
    .fetch_optional(&mut **tx)
    .await?;
    if repeat.is_some() {
        return Ok(());
    }
    let v = next_change(tx).await?;
    let (kind, group) = match target {
        ConversationRef::Direct(..) => ("direct", None),
        ConversationRef::Group(g) => ("group", Some(g.to_string())),
    };
    // The seq: max_seq + 1, taken and stored in one statement.
    let seq = sqlx::query(
        "INSERT INTO conversations (conversation_id, kind, group_id, max_seq, last_message_id, last_at, changed_version) \
         VALUES (?, ?, ?, LAST_INSERT_ID(1), ?, ?, ?) \
         ON DUPLICATE KEY UPDATE max_seq = LAST_INSERT_ID(max_seq + 1), last_message_id = VALUES(last_message_id), \
           last_at = VALUES(last_at), changed_version = VALUES(changed_version)",
    )
    .bind(conv)
    .bind(kind)
    .bind(group)
    .bind(e.message_id.to_string())
    .bind(when)
    .bind(v)
    .execute(&mut **tx)
    .await?
    .last_insert_id() as i64;
    sqlx::query(
        "INSERT INTO messages (conversation_id, seq, message_id, client_msg_id, sender_id, kind, content, mentions, reply_to, sent_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(conv)
    .bind(seq)
    .bind(e.message_id.to_string())
    .bind(&e.client_msg_id)
    .bind(e.sender_id.to_string())
    .bind(&e.kind)
    .bind(e.content.to_string())
    .bind(serde_json::to_string(&e.mentions).unwrap_or_else(|_| "[]".into()))
    .bind(e.reply_to.map(|r| r.to_string()))
    .bind(when)
    .execute(&mut **tx)
    .await?;
    // The sender has read their own message; a new message un-hides the conversation.
    sqlx::query(
        "INSERT INTO user_conversations (user_id, conversation_id, read_seq, changed_version) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE read_seq = GREATEST(read_seq, VALUES(read_seq)), hidden = FALSE, changed_version = VALUES(changed_version)",
    )
    .bind(e.sender_id.to_string())
    .bind(conv)
    .bind(seq)
    .bind(v)
    .execute(&mut **tx)
    .await?;
    if let ConversationRef::Direct(a, b) = target {
        let peer = if a == e.sender_id { b } else { a };
        if e.hidden_from == Some(peer) {
            hide(tx, peer, e.message_id, conv, seq).await?;
        } else {
            sqlx::query(
                "INSERT INTO user_conversations (user_id, conversation_id, changed_version) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE hidden = FALSE, changed_version = VALUES(changed_version)",
            )
            .bind(peer.to_string())
            .bind(conv)
            .bind(v)
            .execute(&mut **tx)
            .await?;
        }
    }
    let _: () = redis::pipe()
        .set(redis_keys::conversation_max_seq(conv), seq)
        .ignore()
        .hset(redis_keys::read_cursors(e.sender_id), conv, seq)
        .ignore()
        .query_async(&mut ctx.redis.clone())
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Projection for Messages {
    fn name(&self) -> &'static str {
        MESSAGES_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::MESSAGES]
    }

    async fn apply(&self, tx: &mut Tx, ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = utc(env.occurred_at);
        let event = env.decode::<MessageEvent>()?.payload;
        if let MessageEvent::MessageSent(e) = event {
            return send(tx, ctx, e, when).await;
        }
        let v = next_change(tx).await?;
        match event {
            MessageEvent::MessageSent(_) => unreachable!("handled above"),
            MessageEvent::MessageRecalled(e) => {
                sqlx::query("UPDATE messages SET recalled = TRUE, content = NULL WHERE message_id = ?")
                    .bind(e.message_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("UPDATE conversations SET changed_version = ? WHERE conversation_id = ?")
                    .bind(v)
                    .bind(&e.conversation_id)
                    .execute(&mut **tx)
                    .await?;
            }
            MessageEvent::MessageEdited(e) => {
                // History keeps the original as version 0, copied on the first edit.
                sqlx::query(
                    "INSERT IGNORE INTO message_edits (message_id, edit_no, content, edited_at) \
                     SELECT message_id, 0, content, sent_at FROM messages WHERE message_id = ? AND NOT recalled",
                )
                .bind(e.message_id.to_string())
                .execute(&mut **tx)
                .await?;
                let content = e.content.to_string();
                let done = sqlx::query("UPDATE messages SET content = ?, edited_at = ?, edit_count = edit_count + 1 WHERE message_id = ? AND NOT recalled")
                    .bind(&content)
                    .bind(when)
                    .bind(e.message_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 1 {
                    sqlx::query(
                        "INSERT INTO message_edits (message_id, edit_no, content, edited_at) \
                         SELECT ?, edit_count, ?, ? FROM messages WHERE message_id = ?",
                    )
                    .bind(e.message_id.to_string())
                    .bind(&content)
                    .bind(when)
                    .bind(e.message_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                }
            }
            MessageEvent::MessageDeletedForUser(e) => {
                if let Some(seq) = seq_of(tx, e.message_id).await? {
                    hide(tx, e.user_id, e.message_id, &e.conversation_id, seq).await?;
                    touch_user(tx, v, e.user_id, &e.conversation_id, "changed_version = changed_version", None).await?;
                }
            }
            MessageEvent::ConversationCleared(e) => {
                touch_user(tx, v, e.user_id, &e.conversation_id, "cleared_seq = GREATEST(cleared_seq, ?)", Some(e.up_to_seq)).await?;
            }
            MessageEvent::MessageReactionAdded(e) => {
                sqlx::query("INSERT IGNORE INTO message_reactions (message_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)")
                    .bind(e.message_id.to_string())
                    .bind(e.user_id.to_string())
                    .bind(&e.emoji)
                    .bind(when)
                    .execute(&mut **tx)
                    .await?;
            }
            MessageEvent::MessageReactionRemoved(e) => {
                sqlx::query("DELETE FROM message_reactions WHERE message_id = ? AND user_id = ? AND emoji = ?")
                    .bind(e.message_id.to_string())
                    .bind(e.user_id.to_string())
                    .bind(&e.emoji)
                    .execute(&mut **tx)
                    .await?;
            }
            MessageEvent::ConversationRead(e) => {
                touch_user(tx, v, e.user_id, &e.conversation_id, "read_seq = GREATEST(read_seq, ?)", Some(e.seq)).await?;
                let read: i64 = sqlx::query("SELECT read_seq FROM user_conversations WHERE user_id = ? AND conversation_id = ?")
                    .bind(e.user_id.to_string())
                    .bind(&e.conversation_id)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get(0)?;
                let _: () = ctx.redis.clone().hset(redis_keys::read_cursors(e.user_id), &e.conversation_id, read).await?;
            }
            MessageEvent::ConversationSettingsChanged(e) => {
                for (column, value) in [("pinned", e.pinned), ("muted", e.muted), ("hidden", e.hidden)] {
                    if let Some(flag) = value {
                        touch_user(tx, v, e.user_id, &e.conversation_id, &format!("{column} = ?"), Some(flag as i64)).await?;
                    }
                }
            }
        }
        Ok(())
    }
}
