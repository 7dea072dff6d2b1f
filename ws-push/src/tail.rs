//! The node's Kafka consumers (one for the busy sequenced topic, one for the
//! rest): every partition of the topics ws-push reads,
//! assigned directly (no consumer group coordination: each node reads
//! everything and keeps what its own connections need), starting at the end —
//! a client that was away resumes with `sync`, not from this node's offsets.

use crate::{
    hub::{Frame, Outbound},
    membership::Members,
    routing::{route, Audience, Broadcast, Push, Routed},
    Shared,
};
use beaver_events::{message::ConversationRef, topics, GroupEvent, RawEnvelope};
use beaver_platform::kafka::{HealthContext, RECONNECT_BACKOFF_MAX_MS};
use beaver_readmodel::{
    call, group, keys, moment, notification,
    progress::{self, CALLS_PROJECTOR, GROUPS_PROJECTOR, MOMENTS_PROJECTOR, NOTIFICATIONS_PROJECTOR, RELATIONS_PROJECTOR},
};
use rdkafka::{
    config::ClientConfig,
    consumer::{Consumer, StreamConsumer},
    Message, Offset, TopicPartitionList,
};
use redis::AsyncCommands;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};
use uuid::Uuid;

/// What ws-push reads, in two consumers.
/// Conversation events come only from the sequencer's output, so every frame
/// about a conversation is committed and in the conversation's final order.
///
/// A fetch lists every partition its consumer reads (librdkafka has no
/// incremental fetch sessions), and the broker walks them all each time the
/// fetch is answered. Every sequencer commit answers the sequenced topic's
/// fetch, so that topic gets a consumer of its own: its 12 partitions, not
/// the 66 of all these topics, are walked per commit (docs/benchmarks.md,
/// "Send path, sixth pass").
pub const HOT: &[&str] = &[topics::SEQUENCED];
/// Everything else ws-push reads: rare events, fetched by the second consumer.
pub const COLD: &[&str] = &[topics::RELATIONS, topics::GROUPS, topics::SESSIONS, topics::FEEDBACK, topics::SYSTEM, topics::EMOJI, topics::NOTIFICATIONS, topics::MOMENTS, topics::CALLS];

/// How long the broker holds a fetch that finds nothing (it answers as soon
/// as data arrives). Kept short: with 500 ms, a node's consumers stopped
/// receiving for good after the broker stalled for 50 s (SIGSTOP), while at
/// 50 ms they resume (docs/benchmarks.md, "Send path, sixth pass").
const FETCH_WAIT_MAX_MS: &str = "50";

fn consumer(s: &Shared, topics_read: &[&str], role: &str) -> anyhow::Result<StreamConsumer<HealthContext>> {
    let consumer: StreamConsumer<HealthContext> = ClientConfig::new()
        .set("bootstrap.servers", &s.config.common.kafka_brokers)
        .set("group.id", topics::scoped(&format!("beaver-ws-push-{}", s.node)))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)
        // beaver.sequenced.v1 is written in transactions: deliver only what committed.
        .set("isolation.level", "read_committed")
        .set("client.id", format!("beaver-ws-push-{}-{role}", s.node))
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS)
        .set("statistics.interval.ms", "1000")
        .create_with_context(HealthContext { health: s.kafka.clone() })?;
    let mut tpl = TopicPartitionList::new();
    for topic in topics_read {
        // The Kafka boundary: topics in this process's namespace; records map back to base names below.
        let topic = topics::resolve(topic);
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        for t in metadata.topics() {
            if t.partitions().is_empty() {
                anyhow::bail!("topic {topic} has no partitions (run deploy/infra-up)");
            }
            for p in t.partitions() {
                tpl.add_partition_offset(t.name(), p.id(), Offset::End)?;
            }
        }
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Both consumers, or the first error.
fn consumers(s: &Shared) -> anyhow::Result<(StreamConsumer<HealthContext>, StreamConsumer<HealthContext>)> {
    Ok((consumer(s, HOT, "hot")?, consumer(s, COLD, "cold")?))
}

/// Consumes until `stop`, retrying the set-up while Kafka is unreachable.
pub async fn run(s: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let (hot, cold) = loop {
        let made = {
            let s = s.clone();
            tokio::task::spawn_blocking(move || consumers(&s)).await
        };
        match made {
            Ok(Ok(c)) => break c,
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot tail Kafka yet"),
            Err(e) => tracing::error!(error = %e, "consumer set-up panicked"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    s.tailing.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(hot = ?HOT, cold = ?COLD, "tailing Kafka");
    let mut applied = Applied::default();
    loop {
        let record = tokio::select! {
            _ = stop.changed() => return,
            r = hot.recv() => r,
            r = cold.recv() => r,
        };
        let (topic, envelope, position) = match record {
            Ok(m) => match m.payload().map(RawEnvelope::from_slice) {
                Some(Ok(env)) => (topics::base_name(m.topic()).to_owned(), env, (m.partition(), m.offset())),
                _ => {
                    tracing::warn!(topic = m.topic(), offset = m.offset(), "undecodable record skipped");
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "Kafka consumer error");
                continue;
            }
        };
        if topic == topics::SEQUENCED {
            let lag = time::OffsetDateTime::now_utc() - envelope.occurred_at;
            metrics::histogram!("ws_sequenced_lag_seconds").record(lag.as_seconds_f64().max(0.0));
            apply_notice(&s, &envelope);
        } else if topic == topics::GROUPS {
            // Membership changes patch the node's cache before anything later is dispatched.
            if let Ok(e) = envelope.clone().decode::<GroupEvent>() {
                s.memberships.apply(&e.payload);
            }
        }
        if topic == topics::NOTIFICATIONS {
            badge(&s, &envelope, position);
        }
        let routed = route(&topic, envelope);
        if !matches!(routed, Routed::Nothing) && !s.hub.is_empty() {
            if let Some(projector) = projection_of(&topic) {
                applied.wait(&s.pool, projector, &topic, position).await;
            }
        }
        dispatch(&s, routed).await;
    }
}

/// The projection a frame from `topic` tells its reader to re-read: a
/// `friend`, `group`, `moment.*` or `call.*` frame is sent once that
/// projection has stored the record, so a client that reads the list right
/// after the frame sees the change (docs/push.md, "Frames and reads").
/// Conversation frames need no wait here: chat reads wait for the messages
/// projection themselves (the read barrier).
fn projection_of(topic: &str) -> Option<&'static str> {
    match topic {
        topics::RELATIONS => Some(RELATIONS_PROJECTOR),
        topics::GROUPS => Some(GROUPS_PROJECTOR),
        topics::MOMENTS => Some(MOMENTS_PROJECTOR),
        topics::CALLS => Some(CALLS_PROJECTOR),
        _ => None,
    }
}

/// How long a frame waits for its projection before it is sent anyway.
const APPLIED_WAIT: Duration = Duration::from_secs(2);
/// After a wait gave up (the projection is down or far behind), frames of
/// that projection go out at once for this long, so a stopped projector
/// delays the node's other frames by at most one wait per this period.
const APPLIED_BACKOFF: Duration = Duration::from_secs(5);

/// What this node last read of the projections' stored offsets.
#[derive(Default)]
struct Applied {
    next: HashMap<(&'static str, i32), i64>,
    gave_up: HashMap<&'static str, Instant>,
}

impl Applied {
    /// Returns once `projector` has stored `offset` of `topic`/`partition`,
    /// or after [`APPLIED_WAIT`], or at once if its progress cannot be read.
    /// Frames keep their log order: the loop waits in line.
    async fn wait(&mut self, pool: &sqlx::MySqlPool, projector: &'static str, topic: &str, (partition, offset): (i32, i64)) {
        if self.next.get(&(projector, partition)).is_some_and(|next| *next > offset) {
            return;
        }
        if self.gave_up.get(projector).is_some_and(|at| at.elapsed() < APPLIED_BACKOFF) {
            return;
        }
        let started = Instant::now();
        loop {
            match progress::next_offset(pool, projector, topic, partition).await {
                Ok(next) => {
                    self.next.insert((projector, partition), next);
                    if next > offset {
                        metrics::histogram!("ws_projection_wait_seconds").record(started.elapsed().as_secs_f64());
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, projector, "cannot read a projection's progress; frame sent without waiting");
                    return;
                }
            }
            if started.elapsed() > APPLIED_WAIT {
                metrics::counter!("ws_projection_wait_given_up_total").increment(1);
                tracing::warn!(projector, partition, offset, "projection not caught up; frames sent without waiting for a while");
                self.gave_up.insert(projector, Instant::now());
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// After an inbox change of a connected user (an item made, read,
/// deleted), their unread counts once the notifications projection has
/// applied it: `notification.badge` to their devices. Waits for the
/// projection's stored offset in the background (up to 5 s, then gives up:
/// the next change or `GET /api/notification/badge` has the counts).
fn badge(s: &Arc<Shared>, envelope: &RawEnvelope, (partition, offset): (i32, i64)) {
    if !matches!(envelope.event_type.as_str(), "NotificationCreated" | "NotificationsRead" | "NotificationDeleted") {
        return;
    }
    let Some(user) = envelope.payload.get("user_id").and_then(|u| u.as_str()).and_then(|u| Uuid::try_parse(u).ok()) else { return };
    if !s.hub.has(user) {
        return;
    }
    let s = s.clone();
    tokio::spawn(async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match progress::next_offset(&s.pool, NOTIFICATIONS_PROJECTOR, topics::NOTIFICATIONS, partition).await {
                Ok(next) if next > offset => break,
                Err(e) => tracing::warn!(error = %e, "cannot read the notifications projection's progress"),
                Ok(_) => {}
            }
            if std::time::Instant::now() > deadline {
                metrics::counter!("ws_badge_given_up_total").increment(1);
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let unread = match notification::unread(&mut s.redis.clone(), user).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read unread notification counts");
                return;
            }
        };
        let frame: Frame = crate::protocol::frame(crate::protocol::ServerFrame::NotificationBadge, serde_json::to_value(unread).unwrap_or_default(), None).into();
        let delivered = s.hub.deliver(user, &Outbound::Frame(frame));
        metrics::counter!("ws_frames_queued_total").increment(delivered as u64);
    });
}

/// A group's system notice patches the node's membership cache before the
/// messages after it in the conversation are dispatched (see [`crate::membership`]).
fn apply_notice(s: &Shared, envelope: &RawEnvelope) {
    let p = &envelope.payload;
    if p.get("kind").and_then(|k| k.as_str()) != Some("system") {
        return;
    }
    let group = p.get("conversation_id").and_then(|c| c.as_str()).and_then(ConversationRef::parse);
    if let (Some(ConversationRef::Group(g)), Some(content)) = (group, p.get("content")) {
        s.memberships.apply_notice(g, content);
    }
}

/// Delivers one routed event to this node's connections.
pub async fn dispatch(s: &Arc<Shared>, routed: Routed) {
    match routed {
        Routed::Nothing => {}
        Routed::Many(all) => {
            for one in all {
                Box::pin(dispatch(s, one)).await;
            }
        }
        Routed::Device { user, device_id, except, frame } => {
            let frame: Frame = frame.into();
            let mut delivered = 0;
            for conn in s.hub.of(user) {
                if (conn.device.device_id == device_id) != except {
                    delivered += usize::from(conn.offer(Outbound::Frame(frame.clone())));
                }
            }
            metrics::counter!("ws_frames_queued_total").increment(delivered as u64);
        }
        Routed::EndSession(session) => s.hub.end_session(session),
        Routed::Broadcast(b) => {
            let now = time::OffsetDateTime::now_utc();
            let wait = b.starts_at - now;
            if wait <= time::Duration::ZERO {
                broadcast(s, &b);
            } else if wait <= MAX_ANNOUNCEMENT_WAIT {
                // Kept in memory: a socket connecting later (or to a node
                // started later) reads GET /api/system/announcements instead.
                let s = s.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait.unsigned_abs()).await;
                    broadcast(&s, &b);
                });
            }
        }
        Routed::Push(push) => {
            if s.hub.is_empty() {
                return;
            }
            let users = match recipients(s, &push).await {
                Ok(users) => users,
                Err(e) => {
                    tracing::warn!(error = %e, "could not resolve recipients; frame not delivered live");
                    return;
                }
            };
            let Push { except, frame, seq, .. } = push;
            // Serialised once; every recipient's queue shares these bytes.
            let frame: Frame = frame.into();
            let (out, skip) = match seq {
                Some((conversation, seq)) => {
                    let conversation: Arc<str> = conversation.into();
                    (
                        Outbound::Message { conversation: conversation.clone(), seq, frame },
                        Some(Outbound::Skip { conversation, seq }),
                    )
                }
                None => (Outbound::Frame(frame), None),
            };
            let mut delivered = 0;
            for user in users {
                if Some(user) == except {
                    if let Some(skip) = &skip {
                        s.hub.deliver(user, skip);
                    }
                } else {
                    delivered += s.hub.deliver(user, &out);
                }
            }
            metrics::counter!("ws_frames_queued_total").increment(delivered as u64);
        }
    }
}

/// Announcements further ahead than this are not timed by the node (a
/// client lists the current ones when it connects).
const MAX_ANNOUNCEMENT_WAIT: time::Duration = time::Duration::days(7);

/// Queues an announcement for every socket of its platforms, unless it has ended.
fn broadcast(s: &Shared, b: &Broadcast) {
    let hub = &s.hub;
    if b.ends_at.is_some_and(|end| end <= time::OffsetDateTime::now_utc()) {
        return;
    }
    let frame: Frame = b.frame.clone().into();
    let mut delivered = 0;
    for conn in hub.all() {
        if b.platforms.is_empty() || b.platforms.iter().any(|p| p == conn.device.platform.as_str()) {
            delivered += usize::from(conn.offer(Outbound::Frame(frame.clone())));
        }
    }
    metrics::counter!("ws_frames_queued_total").increment(delivered as u64);
}

/// A group's members: from the node's cache, else from the Redis set the
/// groups projector keeps (then cached).
async fn group_members(s: &Shared, group: Uuid) -> anyhow::Result<Members> {
    let now = std::time::Instant::now();
    if let Some(members) = s.memberships.get(group, now) {
        metrics::counter!("ws_membership_cache_hits_total").increment(1);
        return Ok(members);
    }
    metrics::counter!("ws_membership_cache_misses_total").increment(1);
    let members: Vec<String> = s.redis.clone().smembers(keys::group_members(group)).await?;
    Ok(s.memberships.put(group, members.iter().filter_map(|m| Uuid::try_parse(m).ok()).collect(), now))
}

/// The users of an audience who have a connection on this node.
async fn recipients(s: &Shared, push: &Push) -> anyhow::Result<Vec<Uuid>> {
    let mut users = HashSet::new();
    for audience in &push.audience {
        match audience {
            Audience::User(u) => {
                users.insert(*u);
            }
            Audience::Conversation(ConversationRef::Direct(a, b)) => {
                users.insert(*a);
                users.insert(*b);
            }
            Audience::Conversation(ConversationRef::Group(g)) => {
                users.extend(group_members(s, *g).await?.iter().copied());
            }
            Audience::GroupAdmins(g) => {
                users.extend(group::admins(&s.pool, *g).await?);
            }
            Audience::MomentAudience { author, visibility, users: listed } => {
                let mut redis = s.redis.clone();
                let friends: Vec<String> = redis.smembers(keys::friends(*author)).await?;
                let friends: Vec<Uuid> = friends.iter().filter_map(|f| Uuid::try_parse(f).ok()).filter(|f| s.hub.has(*f)).collect();
                let blocked_by_author: Vec<String> = redis.smembers(keys::blocks(*author)).await?;
                for f in moment::audience(*visibility, listed, friends) {
                    let blocks_author: bool = redis.sismember(keys::blocks(f), author.to_string()).await?;
                    if !blocks_author && !blocked_by_author.contains(&f.to_string()) {
                        users.insert(f);
                    }
                }
            }
            Audience::CallParties(call_id) => {
                if let Some((_, parts)) = call::load(&s.pool, *call_id).await? {
                    users.extend(parts.iter().filter_map(|p| Uuid::try_parse(&p.user_id).ok()));
                }
            }
            Audience::MomentViewer { user, moment: m } => {
                if s.hub.has(*user) && moment::may_see(&s.pool, *user, *m).await? {
                    users.insert(*user);
                }
            }
        }
    }
    Ok(users.into_iter().filter(|u| s.hub.has(*u)).collect())
}
