//! The push worker: new messages (`MessageSequenced`) and inbox items
//! (`NotificationCreated`) → one `PushJobQueued` on `beaver.push.v1` per
//! recipient who is not connected and wants it (docs/services.md,
//! "Offline push jobs"; the rule is
//! `beaver_writemodel::domain::notification::push::decide`).

use super::{Source, Worker, WorkerContext};
use beaver_events::{
    message::ConversationRef,
    notification::{push_job_id, NotificationCreated, PushJobQueued, PushTarget},
    sequenced::MessageSequenced,
    topics, Actor, Envelope, NotificationEvent, PushEvent, RawEnvelope, SequencedEvent,
};
use beaver_readmodel::{
    conversation, keys, notification as read, presence,
    progress::{MESSAGES_PROJECTOR, NOTIFICATIONS_PROJECTOR},
    settings,
};
use std::{collections::BTreeMap, time::Duration};
use beaver_writemodel::domain::notification::push::{decide, reachable, About, Facts};
use redis::AsyncCommands;
use serde_json::json;
use uuid::Uuid;

pub const NAME: &str = "push";

pub struct PushWorker;

/// One push to consider: for whom, about what, and its text when previews are on.
struct Candidate {
    user: Uuid,
    about: About,
    reason: &'static str,
    title: String,
    body: String,
    generic_body: &'static str,
    data: serde_json::Value,
}

#[async_trait::async_trait]
impl Worker for PushWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::SEQUENCED, topics::NOTIFICATIONS]
    }

    async fn handle(&self, ctx: &WorkerContext, record: &Source, env: RawEnvelope) -> anyhow::Result<()> {
        let (source, correlation) = (env.event_id, env.correlation_id.clone());
        let topic = record.topic.as_str();
        let candidates = if topic == topics::SEQUENCED {
            if env.event_type != "MessageSequenced" {
                return Ok(());
            }
            let SequencedEvent::MessageSequenced(m) = env.decode::<SequencedEvent>()?.payload;
            let Some(recipients) = message_recipients(ctx, &m).await? else { return Ok(()) };
            let targets = reachable_of(ctx, recipients).await?;
            if targets.is_empty() {
                return Ok(());
            }
            for_message(ctx, m, targets).await?
        } else {
            match env.decode::<NotificationEvent>()?.payload {
                NotificationEvent::NotificationCreated(n) => {
                    let mut targets = reachable_of(ctx, vec![n.user_id]).await?;
                    match targets.remove(&n.user_id) {
                        Some(tokens) => vec![(for_item(ctx, n).await?, tokens)],
                        None => return Ok(()),
                    }
                }
                _ => return Ok(()),
            }
        };
        let mut caught_up = false;
        for (c, tokens) in candidates {
            let (prefs, _) = settings::load(&ctx.pool, c.user).await?;
            let facts = Facts { online: false, has_tokens: !tokens.is_empty(), settings: &prefs.notifications, now: time::OffsetDateTime::now_utc() };
            let preview = match decide(c.about, &facts) {
                Ok(preview) => preview,
                Err(skip) => {
                    metrics::counter!("push_jobs_skipped_total", "why" => skip.as_str()).increment(1);
                    continue;
                }
            };
            // The badge is read from the read models: let the projection that
            // stores this record catch up first (once per record, and only when
            // a job is made), so that it counts the message or item itself.
            if !caught_up {
                let projector = if topic == topics::SEQUENCED { MESSAGES_PROJECTOR } else { NOTIFICATIONS_PROJECTOR };
                if !record.applied_by(ctx, projector, Duration::from_secs(5)).await? {
                    metrics::counter!("push_badge_before_projection_total").increment(1);
                }
                caught_up = true;
            }
            let unread = read::unread(&mut ctx.redis.clone(), c.user).await?;
            let badge = read::unread_messages(&ctx.pool, c.user).await? + unread.total;
            let (title, body) = if preview { (c.title, c.body) } else { ("Beaver".to_owned(), c.generic_body.to_owned()) };
            let job = PushJobQueued {
                job_id: push_job_id(source, c.user),
                user_id: c.user,
                reason: c.reason.into(),
                source_event_id: source,
                tokens,
                title,
                body,
                data: c.data,
                badge,
            };
            ctx.producer.append(&Envelope::new(PushEvent::PushJobQueued(job), Actor::System, correlation.clone(), Some(source))).await?;
            metrics::counter!("push_jobs_queued_total", "reason" => c.reason).increment(1);
        }
        Ok(())
    }
}

/// Everyone a message may push to: the other participant of a direct
/// conversation or the other members of a group, not the sender, not a user
/// it is hidden from. `None` for a system notice.
async fn message_recipients(ctx: &WorkerContext, m: &MessageSequenced) -> anyhow::Result<Option<Vec<Uuid>>> {
    if m.kind == "system" {
        return Ok(None);
    }
    let recipients: Vec<Uuid> = match ConversationRef::parse(&m.conversation_id) {
        Some(ConversationRef::Direct(a, b)) => vec![if a == m.sender_id { b } else { a }],
        Some(ConversationRef::Group(g)) => {
            let members: Vec<String> = ctx.redis.clone().smembers(keys::group_members(g)).await?;
            members.iter().filter_map(|s| Uuid::try_parse(s).ok()).collect()
        }
        None => return Ok(None),
    };
    Ok(Some(recipients.into_iter().filter(|u| *u != m.sender_id && Some(*u) != m.hidden_from).collect()))
}

/// The recipients a push can reach (`push::reachable`: no live socket, a
/// usable token) with their tokens. Presence comes from Redis and tokens are
/// read only for those offline, so a message between users who are online
/// costs no MariaDB query here; the others are counted as skipped. Ordered
/// by user, so a message's jobs are queued in the same order on a replay.
async fn reachable_of(ctx: &WorkerContext, users: Vec<Uuid>) -> anyhow::Result<BTreeMap<Uuid, Vec<PushTarget>>> {
    let mut out = BTreeMap::new();
    for user in users {
        let online = presence::live_connections(&mut ctx.redis.clone(), user).await? > 0;
        let tokens = if online { vec![] } else { read::push_targets(&ctx.pool, user).await? };
        match reachable(online, !tokens.is_empty()) {
            Ok(()) => {
                out.insert(user, tokens);
            }
            Err(skip) => metrics::counter!("push_jobs_skipped_total", "why" => skip.as_str()).increment(1),
        }
    }
    Ok(out)
}

/// A candidate per reachable recipient of a message (with its tokens).
async fn for_message(ctx: &WorkerContext, m: MessageSequenced, targets: BTreeMap<Uuid, Vec<PushTarget>>) -> anyhow::Result<Vec<(Candidate, Vec<PushTarget>)>> {
    let group = match ConversationRef::parse(&m.conversation_id) {
        Some(ConversationRef::Group(g)) => Some(g),
        _ => None,
    };
    let sender = read::display_name(&ctx.pool, m.sender_id).await?.unwrap_or_default();
    let title = match group {
        Some(g) => read::group_name(&ctx.pool, g).await?.unwrap_or_default(),
        None => sender.clone(),
    };
    let text = conversation::preview(&m.kind, &m.content, false);
    let body = if group.is_some() { format!("{sender}: {text}") } else { text };
    let mut out = Vec::new();
    for (user, tokens) in targets {
        let (_, muted, _) = conversation::flags(&ctx.pool, user, &m.conversation_id).await?;
        out.push((Candidate {
            user,
            about: About::Message { group: group.is_some(), mentioned: m.mentions.contains(&user), muted },
            reason: "message",
            title: title.clone(),
            body: body.clone(),
            generic_body: "New message",
            data: json!({ "conversation_id": m.conversation_id, "seq": m.seq, "message_id": m.message_id }),
        }, tokens));
    }
    Ok(out)
}

/// The phrase an item shows when it has no text of its own.
fn phrase(kind: &str) -> &'static str {
    match kind {
        "friend_request" => "wants to be your friend",
        "friend_accepted" => "accepted your friend request",
        "added" => "added you to a group",
        "removed" => "removed you from a group",
        "join_request" => "asks to join your group",
        "join_approved" => "approved your request to join",
        "join_rejected" => "declined your request to join",
        "call_missed" => "tried to call you",
        _ => "",
    }
}

async fn for_item(ctx: &WorkerContext, n: NotificationCreated) -> anyhow::Result<Candidate> {
    let actor = read::display_name(&ctx.pool, n.actor_id).await?.unwrap_or_default();
    let body = if n.text.is_empty() { format!("{actor} {}", phrase(&n.kind)) } else { n.text.clone() };
    Ok(Candidate {
        user: n.user_id,
        about: About::Notification,
        reason: "notification",
        title: actor,
        body,
        generic_body: "New notification",
        data: json!({ "notification_id": n.notification_id, "category": n.category, "kind": n.kind }),
    })
}
