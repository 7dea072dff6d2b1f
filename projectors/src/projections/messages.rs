//! `beaver.sequenced.v1` → `conversations`, `messages`, `message_edits`,
//! `message_reactions`, `message_hidden`, `user_conversations`, and the Redis
//! values `beaver:conv:<id>:max_seq` and `beaver:read:<user>`.
//!
//! The sequencer (`beaver-sequencer`) has already numbered every message and
//! dropped repeats, so this projection only stores: idempotent inserts keyed
//! by `(conversation, seq)`, off the send path. The other conversation events
//! (recall, edit, reactions, cursors, settings) arrive in the same log, in
//! order after the messages they touch. Each record carries the
//! `beaver.messages.v1` position it was made from; the runner records that
//! progress too, so commands waiting on their `beaver.messages.v1` offset
//! still read their writes.

use super::sync::{bump, utc};
use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{
    message::ConversationRef,
    sequenced::{MessageSequenced, SequencedEvent},
    topics, MessageEvent, RawEnvelope,
};
use beaver_readmodel::{keys, progress::MESSAGES_PROJECTOR, sent_filter};
use redis::AsyncCommands;
use sqlx::{MySql, QueryBuilder, Row, Transaction};
use std::collections::HashMap;
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

/// Stores a run of consecutive `MessageSequenced` events with set-based SQL:
/// about six statements for the whole run, whatever its length (change
/// counter, the conversations' tops, multi-row inserts of messages, cursors
/// and hidden rows, one Redis pipeline). Seqs come from the sequencer, so
/// applying is idempotent: a message already stored is skipped by its key and
/// a conversation's top only moves up.
async fn store_run(tx: &mut Tx, ctx: &ApplyContext, run: Vec<(MessageSequenced, PrimitiveDateTime)>) -> Result<(), ApplyError> {
    let run: Vec<Stored> = run
        .into_iter()
        .filter_map(|(e, when)| match ConversationRef::parse(&e.conversation_id) {
            Some(target) => Some((e, when, target)),
            None => {
                tracing::error!(conversation = e.conversation_id, "MessageSequenced for a malformed conversation id; not projected");
                None
            }
        })
        .collect();
    if run.is_empty() {
        return Ok(());
    }
    let v = next_change(tx).await?;

    // Each conversation's newest message of the run.
    let mut order: Vec<&str> = Vec::new();
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (e, ..)) in run.iter().enumerate() {
        let c = e.conversation_id.as_str();
        match last.get(c) {
            None => {
                order.push(c);
                last.insert(c, i);
            }
            Some(&j) if run[j].0.seq < e.seq => {
                last.insert(c, i);
            }
            Some(_) => {}
        }
    }
    let mut q = QueryBuilder::new("INSERT INTO conversations (conversation_id, kind, group_id, max_seq, last_message_id, last_at, changed_version) ");
    q.push_values(&order, |mut b, c| {
        let (e, when, target) = &run[last[c]];
        let (kind, group) = match target {
            ConversationRef::Direct(..) => ("direct", None),
            ConversationRef::Group(g) => ("group", Some(g.to_string())),
        };
        b.push_bind(*c).push_bind(kind).push_bind(group).push_bind(e.seq).push_bind(e.message_id.to_string()).push_bind(*when).push_bind(v);
    });
    // Assignments run left to right: max_seq moves last.
    q.push(
        " ON DUPLICATE KEY UPDATE last_message_id = IF(VALUES(max_seq) > max_seq, VALUES(last_message_id), last_message_id), \
         last_at = IF(VALUES(max_seq) > max_seq, VALUES(last_at), last_at), \
         changed_version = VALUES(changed_version), max_seq = GREATEST(max_seq, VALUES(max_seq))",
    );
    q.build().execute(&mut **tx).await?;

    let mut q = QueryBuilder::new(
        "INSERT IGNORE INTO messages (conversation_id, seq, message_id, client_msg_id, sender_id, kind, content, mentions, reply_to, sent_at) ",
    );
    q.push_values(&run, |mut b, (e, when, _)| {
        b.push_bind(e.conversation_id.clone())
            .push_bind(e.seq)
            .push_bind(e.message_id.to_string())
            .push_bind(e.client_msg_id.clone())
            .push_bind(e.sender_id.to_string())
            .push_bind(e.kind.clone())
            .push_bind(e.content.to_string())
            .push_bind(serde_json::to_string(&e.mentions).unwrap_or_else(|_| "[]".into()))
            .push_bind(e.reply_to.map(|r| r.to_string()))
            .push_bind(*when);
    });
    q.build().execute(&mut **tx).await?;

    // The sender has read their own message; a new message un-hides the conversation.
    let mut q = QueryBuilder::new("INSERT INTO user_conversations (user_id, conversation_id, read_seq, changed_version) ");
    q.push_values(&run, |mut b, (e, ..)| {
        b.push_bind(e.sender_id.to_string()).push_bind(e.conversation_id.clone()).push_bind(e.seq).push_bind(v);
    });
    q.push(" ON DUPLICATE KEY UPDATE read_seq = GREATEST(read_seq, VALUES(read_seq)), hidden = FALSE, changed_version = VALUES(changed_version)");
    q.build().execute(&mut **tx).await?;

    let mut peers = Vec::new();
    let mut hidden = Vec::new();
    for (e, _, target) in &run {
        if let ConversationRef::Direct(a, b) = target {
            let peer = if *a == e.sender_id { *b } else { *a };
            if e.hidden_from == Some(peer) {
                hidden.push((peer, e.message_id, e.conversation_id.as_str(), e.seq));
            } else {
                peers.push((peer, e.conversation_id.as_str()));
            }
        }
    }
    if !peers.is_empty() {
        let mut q = QueryBuilder::new("INSERT INTO user_conversations (user_id, conversation_id, changed_version) ");
        q.push_values(&peers, |mut b, (peer, conv)| {
            b.push_bind(peer.to_string()).push_bind(*conv).push_bind(v);
        });
        q.push(" ON DUPLICATE KEY UPDATE hidden = FALSE, changed_version = VALUES(changed_version)");
        q.build().execute(&mut **tx).await?;
    }
    if !hidden.is_empty() {
        let mut q = QueryBuilder::new("INSERT IGNORE INTO message_hidden (user_id, message_id, conversation_id, seq) ");
        q.push_values(&hidden, |mut b, (user, message, conv, seq)| {
            b.push_bind(user.to_string()).push_bind(message.to_string()).push_bind(*conv).push_bind(*seq);
        });
        q.build().execute(&mut **tx).await?;
    }

    let mut pipe = redis::pipe();
    for c in &order {
        pipe.set(keys::conversation_max_seq(c), run[last[c]].0.seq).ignore();
    }
    for (e, ..) in &run {
        pipe.hset(keys::read_cursors(e.sender_id), &e.conversation_id, e.seq).ignore();
        // Before the commit: a stored row's key is always in the filter.
        sent_filter::add(&mut pipe, &e.conversation_id, e.sender_id, &e.client_msg_id);
    }
    let _: () = pipe.query_async(&mut ctx.redis.clone()).await?;
    Ok(())
}

/// A `MessageSequenced` of a run, with its time and parsed conversation.
type Stored = (MessageSequenced, PrimitiveDateTime, ConversationRef);

/// One record of `beaver.sequenced.v1`: a numbered message, or another
/// conversation event passed through by the sequencer.
enum Record {
    Sequenced(MessageSequenced),
    Other(MessageEvent),
}

fn decode(env: RawEnvelope) -> Result<Record, ApplyError> {
    if env.event_type == "MessageSequenced" {
        let SequencedEvent::MessageSequenced(m) = env.decode::<SequencedEvent>()?.payload;
        Ok(Record::Sequenced(m))
    } else {
        Ok(Record::Other(env.decode::<MessageEvent>()?.payload))
    }
}

impl Messages {
    /// Applies one conversation event other than a numbered message.
    async fn apply_one(&self, tx: &mut Tx, ctx: &ApplyContext, event: MessageEvent, when: PrimitiveDateTime) -> Result<(), ApplyError> {
        let v = next_change(tx).await?;
        match event {
            MessageEvent::MessageSent(e) => {
                // The sequencer never passes one through; a log written by hand might.
                tracing::error!(message_id = %e.message_id, "an unsequenced MessageSent in beaver.sequenced.v1; not projected");
            }
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
                let _: () = ctx.redis.clone().hset(keys::read_cursors(e.user_id), &e.conversation_id, read).await?;
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

#[async_trait::async_trait]
impl Projection for Messages {
    fn name(&self) -> &'static str {
        MESSAGES_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::SEQUENCED]
    }

    async fn apply(&self, tx: &mut Tx, ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        self.apply_all(tx, ctx, vec![env]).await
    }

    async fn apply_all(&self, tx: &mut Tx, ctx: &ApplyContext, events: Vec<RawEnvelope>) -> Result<(), ApplyError> {
        let mut run = Vec::new();
        for env in events {
            let when = utc(env.occurred_at);
            match decode(env)? {
                Record::Sequenced(m) => {
                    let sent_at = utc(m.sent_at);
                    run.push((m, sent_at));
                }
                Record::Other(other) => {
                    // Keep log order: store what came before, then apply this.
                    store_run(tx, ctx, std::mem::take(&mut run)).await?;
                    self.apply_one(tx, ctx, other, when).await?;
                }
            }
        }
        store_run(tx, ctx, run).await
    }

    /// Every message event is keyed by its conversation, so partitions share
    /// no conversation: their events are sequenced in one pass (one repeat
    /// check, one seq upsert, one insert and one publication per poll).
    async fn apply_partitions(&self, tx: &mut Tx, ctx: &ApplyContext, partitions: Vec<Vec<RawEnvelope>>) -> Result<(), ApplyError> {
        self.apply_all(tx, ctx, partitions.into_iter().flatten().collect()).await
    }
}

