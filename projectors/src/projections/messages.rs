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
//!
//! Before the batch commits, each newly numbered message is also appended to
//! `beaver.sequenced.v1` for the push tier (see [`publish`], docs/push.md).

use super::sync::{bump, utc};
use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{
    message::{ConversationRef, MessageSent},
    sequenced::{MessageSequenced, SequencedEvent},
    topics, Actor, Envelope, MessageEvent, RawEnvelope,
};
use beaver_platform::{readiness::MESSAGES_PROJECTOR, redis_keys};
use redis::AsyncCommands;
use sqlx::{MySql, QueryBuilder, Row, Transaction};
use std::collections::{HashMap, HashSet};
use time::PrimitiveDateTime;
use uuid::Uuid;

pub struct Messages;

type Tx = Transaction<'static, MySql>;

/// A `MessageSent` of a run, with its time and parsed conversation.
type Sent = (MessageSent, PrimitiveDateTime, ConversationRef);

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

/// Sequences and stores a run of consecutive `MessageSent` events with
/// set-based SQL: about eight statements for the whole run, whatever its
/// length (repeat check, change counter, the conversations' tops read and moved,
/// multi-row inserts of messages, cursors and hidden rows, one Redis
/// pipeline). The result is exactly that of applying them one by one: each
/// conversation's new messages get the next seqs in log order, repeats of a
/// `(sender, client_msg_id)` or a message id get none.
async fn send_run(tx: &mut Tx, ctx: &ApplyContext, run: Vec<(MessageSent, PrimitiveDateTime, Origin)>) -> Result<(), ApplyError> {
    let (run, origins): (Vec<Sent>, HashMap<Uuid, Origin>) = run
        .into_iter()
        .filter_map(|(e, when, origin)| match ConversationRef::parse(&e.conversation_id) {
            Some(target) => Some(((e, when, target), origin)),
            None => {
                tracing::error!(conversation = e.conversation_id, "MessageSent for a malformed conversation id; not projected");
                None
            }
        })
        .map(|(item, origin)| {
            let id = item.0.message_id;
            (item, (id, origin))
        })
        .unzip();
    if run.is_empty() {
        return Ok(());
    }
    // Repeats of what is already stored: two index lookups. (One `WHERE id IN
    // (…) OR (…) OR …` made MariaDB scan the whole table past ~100 ORs.)
    let mut q = QueryBuilder::new("SELECT message_id, conversation_id, sender_id, client_msg_id FROM messages WHERE message_id IN (");
    let mut ids = q.separated(", ");
    for (e, ..) in &run {
        ids.push_bind(e.message_id.to_string());
    }
    q.push(") UNION ALL SELECT message_id, conversation_id, sender_id, client_msg_id FROM messages WHERE (conversation_id, sender_id, client_msg_id) IN (");
    let mut keys = q.separated(", ");
    for (e, ..) in &run {
        keys.push("(")
            .push_bind_unseparated(e.conversation_id.clone())
            .push_unseparated(", ")
            .push_bind_unseparated(e.sender_id.to_string())
            .push_unseparated(", ")
            .push_bind_unseparated(e.client_msg_id.clone())
            .push_unseparated(")");
    }
    q.push(")");
    let mut seen_ids = HashSet::new();
    let mut seen_keys = HashSet::new();
    for row in q.build().fetch_all(&mut **tx).await? {
        seen_ids.insert(row.try_get::<String, _>("message_id")?);
        seen_keys.insert((row.try_get::<String, _>("conversation_id")?, row.try_get::<String, _>("sender_id")?, row.try_get::<String, _>("client_msg_id")?));
    }
    // …and within the run.
    let fresh: Vec<_> = run
        .into_iter()
        .filter(|(e, ..)| {
            seen_ids.insert(e.message_id.to_string())
                && seen_keys.insert((e.conversation_id.clone(), e.sender_id.to_string(), e.client_msg_id.clone()))
        })
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    let v = next_change(tx).await?;

    // Seqs: per conversation, one upsert moves max_seq by the number of new messages.
    let mut order: Vec<&str> = Vec::new();
    let mut count: HashMap<&str, i64> = HashMap::new();
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (e, ..)) in fresh.iter().enumerate() {
        let c = e.conversation_id.as_str();
        if !count.contains_key(c) {
            order.push(c);
        }
        *count.entry(c).or_insert(0) += 1;
        last.insert(c, i);
    }
    // The conversations' current tops, locked; then one multi-row upsert
    // moves each by its number of new messages.
    let mut q = QueryBuilder::new("SELECT conversation_id, max_seq FROM conversations WHERE conversation_id IN (");
    let mut convs = q.separated(", ");
    for c in &order {
        convs.push_bind(*c);
    }
    q.push(") FOR UPDATE");
    let mut current: HashMap<String, i64> = HashMap::new();
    for row in q.build().fetch_all(&mut **tx).await? {
        current.insert(row.try_get("conversation_id")?, row.try_get("max_seq")?);
    }
    let mut next_seq: HashMap<&str, i64> = HashMap::new();
    let mut max_seq: HashMap<&str, i64> = HashMap::new();
    for c in &order {
        let top = current.get(*c).copied().unwrap_or(0) + count[c];
        next_seq.insert(c, top - count[c] + 1);
        max_seq.insert(c, top);
    }
    let mut q = QueryBuilder::new("INSERT INTO conversations (conversation_id, kind, group_id, max_seq, last_message_id, last_at, changed_version) ");
    q.push_values(&order, |mut b, c| {
        let (e, when, target) = &fresh[last[c]];
        let (kind, group) = match target {
            ConversationRef::Direct(..) => ("direct", None),
            ConversationRef::Group(g) => ("group", Some(g.to_string())),
        };
        b.push_bind(*c).push_bind(kind).push_bind(group).push_bind(max_seq[c]).push_bind(e.message_id.to_string()).push_bind(*when).push_bind(v);
    });
    q.push(
        " ON DUPLICATE KEY UPDATE max_seq = VALUES(max_seq), last_message_id = VALUES(last_message_id), \
         last_at = VALUES(last_at), changed_version = VALUES(changed_version)",
    );
    q.build().execute(&mut **tx).await?;
    let mut seqs = Vec::with_capacity(fresh.len());
    for (e, ..) in &fresh {
        let slot = next_seq.get_mut(e.conversation_id.as_str()).expect("every conversation has a seq range");
        seqs.push(*slot);
        *slot += 1;
    }

    let mut q = QueryBuilder::new(
        "INSERT INTO messages (conversation_id, seq, message_id, client_msg_id, sender_id, kind, content, mentions, reply_to, sent_at) ",
    );
    q.push_values(fresh.iter().zip(&seqs), |mut b, ((e, when, _), seq)| {
        b.push_bind(e.conversation_id.clone())
            .push_bind(*seq)
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
    q.push_values(fresh.iter().zip(&seqs), |mut b, ((e, ..), seq)| {
        b.push_bind(e.sender_id.to_string()).push_bind(e.conversation_id.clone()).push_bind(*seq).push_bind(v);
    });
    q.push(" ON DUPLICATE KEY UPDATE read_seq = GREATEST(read_seq, VALUES(read_seq)), hidden = FALSE, changed_version = VALUES(changed_version)");
    q.build().execute(&mut **tx).await?;

    let mut peers = Vec::new();
    let mut hidden = Vec::new();
    for ((e, _, target), seq) in fresh.iter().zip(&seqs) {
        if let ConversationRef::Direct(a, b) = target {
            let peer = if *a == e.sender_id { *b } else { *a };
            if e.hidden_from == Some(peer) {
                hidden.push((peer, e.message_id, e.conversation_id.as_str(), *seq));
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
    for (c, top) in &max_seq {
        pipe.set(redis_keys::conversation_max_seq(c), *top).ignore();
    }
    for ((e, ..), seq) in fresh.iter().zip(&seqs) {
        pipe.hset(redis_keys::read_cursors(e.sender_id), &e.conversation_id, *seq).ignore();
    }
    let _: () = pipe.query_async(&mut ctx.redis.clone()).await?;
    publish(ctx, &fresh, &seqs, &origins).await
}

/// What a `MessageSent` envelope contributes to its `MessageSequenced`.
struct Origin {
    event_id: Uuid,
    correlation_id: String,
    occurred_at: time::OffsetDateTime,
}

impl Origin {
    fn of(env: &RawEnvelope) -> Origin {
        Origin { event_id: env.event_id, correlation_id: env.correlation_id.clone(), occurred_at: env.occurred_at }
    }
}

/// Appends each newly numbered message to `beaver.sequenced.v1` and waits for
/// the broker, before the caller commits the batch: a crash in between makes
/// the batch (and this publication, with the same seqs) happen again, so a
/// number is never stored without having been published. Messages older than
/// the sink's `max_age` (a rebuild) are not published.
async fn publish(ctx: &ApplyContext, fresh: &[Sent], seqs: &[i64], origins: &HashMap<Uuid, Origin>) -> Result<(), ApplyError> {
    let Some(sink) = &ctx.sequenced else { return Ok(()) };
    let now = time::OffsetDateTime::now_utc();
    let envelopes: Vec<Envelope<SequencedEvent>> = fresh
        .iter()
        .zip(seqs)
        .filter_map(|((e, ..), seq)| {
            let origin = origins.get(&e.message_id)?;
            if now - origin.occurred_at > sink.max_age {
                return None;
            }
            let event = SequencedEvent::MessageSequenced(MessageSequenced {
                message_id: e.message_id,
                conversation_id: e.conversation_id.clone(),
                seq: *seq,
                client_msg_id: e.client_msg_id.clone(),
                sender_id: e.sender_id,
                kind: e.kind.clone(),
                content: e.content.clone(),
                mentions: e.mentions.clone(),
                reply_to: e.reply_to,
                hidden_from: e.hidden_from,
                sent_at: origin.occurred_at,
            });
            Some(Envelope::new(event, Actor::System, origin.correlation_id.clone(), Some(origin.event_id)))
        })
        .collect();
    if !envelopes.is_empty() {
        sink.producer.append_all(&envelopes).await?;
    }
    Ok(())
}

impl Messages {
    /// Applies one event (a lone `MessageSent` is a run of one).
    async fn apply_one(&self, tx: &mut Tx, ctx: &ApplyContext, event: MessageEvent, when: PrimitiveDateTime, origin: Origin) -> Result<(), ApplyError> {
        if let MessageEvent::MessageSent(e) = event {
            return send_run(tx, ctx, vec![(e, when, origin)]).await;
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
        let origin = Origin::of(&env);
        let event = env.decode::<MessageEvent>()?.payload;
        self.apply_one(tx, ctx, event, when, origin).await
    }

    async fn apply_all(&self, tx: &mut Tx, ctx: &ApplyContext, events: Vec<RawEnvelope>) -> Result<(), ApplyError> {
        let mut run = Vec::new();
        for env in events {
            let when = utc(env.occurred_at);
            let origin = Origin::of(&env);
            match env.decode::<MessageEvent>()?.payload {
                MessageEvent::MessageSent(e) => run.push((e, when, origin)),
                other => {
                    // Keep log order: sequence what came before, then apply this.
                    send_run(tx, ctx, std::mem::take(&mut run)).await?;
                    self.apply_one(tx, ctx, other, when, origin).await?;
                }
            }
        }
        send_run(tx, ctx, run).await
    }

    /// Every message event is keyed by its conversation, so partitions share
    /// no conversation: their events are sequenced in one pass (one repeat
    /// check, one seq upsert, one insert and one publication per poll).
    async fn apply_partitions(&self, tx: &mut Tx, ctx: &ApplyContext, partitions: Vec<Vec<RawEnvelope>>) -> Result<(), ApplyError> {
        self.apply_all(tx, ctx, partitions.into_iter().flatten().collect()).await
    }
}

