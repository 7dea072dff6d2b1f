//! Workers: stream processors in the projectors process that read topics
//! and append derived events (never read models), each its own consumer
//! group (`<group_prefix><name>`), so starting more projector processes
//! spreads their partitions too.
//!
//! - [`notifier`]: relations and groups events → inbox items on `beaver.notifications.v1`;
//! - [`push`]: new messages and inbox items → offline push jobs on `beaver.push.v1`;
//! - [`sender`]: push jobs → the configured [`sender::PushSender`]s.
//!
//! Delivery is at least once: a record's offset is stored (and committed
//! by the consumer every 500 ms) only after everything it made was
//! acknowledged by Kafka. What a worker appends has an id derived from the
//! source event and the recipient, so a record handled twice makes the same
//! item (the notifications projection applies it once) or the same job
//! (senders dedupe by `job_id`). A new group starts at the end of its
//! topics: a worker added to a running system does not re-notify history.

pub mod notifier;
pub mod push;
pub mod sender;

use beaver_events::{topics, RawEnvelope};
use crate::runner::{
    offsets::{GroupState, Membership},
    Fetching,
};
use beaver_platform::kafka::{EventProducer, HealthContext, RECONNECT_BACKOFF_MAX_MS};
use rdkafka::{
    consumer::{Consumer, ConsumerContext, StreamConsumer},
    error::KafkaError,
    statistics::Statistics,
    ClientContext, Message,
};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// A worker consumer's context: Kafka's health, and its group membership
/// from librdkafka's statistics, for the same rejoin watchdog as the
/// projections' ([`Membership`], docs/operations.md).
#[derive(Default)]
struct WorkerKafka {
    health: HealthContext,
    group: Mutex<Option<GroupState>>,
}

impl ClientContext for WorkerKafka {
    fn stats(&self, statistics: Statistics) {
        if let Some(g) = &statistics.cgrp {
            *self.group.lock().expect("group lock") = Some(GroupState::from(g));
        }
        self.health.stats(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.health.error(error, reason);
    }
}

impl ConsumerContext for WorkerKafka {}

/// The workers this build knows, by name.
pub const ALL: &[&str] = &[notifier::NAME, push::NAME, sender::NAME];

/// What a worker may use.
#[derive(Clone)]
pub struct WorkerContext {
    pub pool: sqlx::MySqlPool,
    pub redis: redis::aio::ConnectionManager,
    pub producer: EventProducer,
}

/// Where a record was read: its topic (base name), partition and offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Source {
    /// Waits (up to `limit`) until `projector` has applied this record;
    /// false when it did not in time.
    pub async fn applied_by(&self, ctx: &WorkerContext, projector: &str, limit: Duration) -> anyhow::Result<bool> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if beaver_readmodel::progress::next_offset(&ctx.pool, projector, &self.topic, self.partition).await? > self.offset {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn topics(&self) -> &'static [&'static str];
    /// Handles one record; an error retries it (nothing is skipped).
    async fn handle(&self, ctx: &WorkerContext, source: &Source, env: RawEnvelope) -> anyhow::Result<()>;
    /// Work on a clock rather than on a record, called every [`TICK`]
    /// between records (an error is logged and tried again next time).
    async fn tick(&self, _ctx: &WorkerContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// How often [`Worker::tick`] runs.
pub const TICK: Duration = Duration::from_secs(5);

/// The worker called `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn Worker>> {
    match name {
        notifier::NAME => Some(Arc::new(notifier::Notifier)),
        push::NAME => Some(Arc::new(push::PushWorker)),
        sender::NAME => Some(Arc::new(sender::Sender::logging())),
        _ => None,
    }
}

fn consumer(brokers: &str, group: &str, worker: &dyn Worker, fetching: Fetching) -> anyhow::Result<StreamConsumer<WorkerKafka>> {
    let consumer: StreamConsumer<WorkerKafka> = fetching
        .client_config()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("client.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "latest")
        // beaver.sequenced.v1 is transactional: only what committed.
        .set("isolation.level", "read_committed")
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS)
        .set("statistics.interval.ms", "1000")
        .create_with_context(WorkerKafka::default())?;
    let resolved: Vec<String> = worker.topics().iter().map(|t| topics::resolve(t).into_owned()).collect();
    consumer.subscribe(&resolved.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(consumer)
}

/// Runs `worker` until `stop` is set; `alive` goes false if it gives up.
pub async fn run(
    worker: Arc<dyn Worker>,
    ctx: WorkerContext,
    brokers: String,
    group_prefix: String,
    fetching: Fetching,
    stop: Arc<AtomicBool>,
    alive: Arc<AtomicBool>,
) {
    let name = worker.name();
    let group = topics::scoped(&format!("{group_prefix}{name}"));
    let mut consumer = match consumer(&brokers, &group, worker.as_ref(), fetching) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(worker = name, error = %e, "cannot start worker");
            alive.store(false, Ordering::Relaxed);
            return;
        }
    };
    tracing::info!(worker = name, group, topics = ?worker.topics(), "worker started");
    // Exported from the start (as 0), so that dashboards and alerts see the series before a first error.
    metrics::counter!("worker_errors_total", "worker" => name).increment(0);
    metrics::counter!("worker_records_total", "worker" => name).increment(0);
    metrics::counter!("projector_group_rejoins_total", "projector" => name).increment(0);
    match name {
        notifier::NAME => metrics::counter!("notifications_created_total").increment(0),
        push::NAME => {
            for reason in ["message", "notification"] {
                metrics::counter!("push_jobs_queued_total", "reason" => reason).increment(0);
            }
        }
        sender::NAME => metrics::counter!("push_jobs_sent_total", "sender" => "log").increment(0),
        _ => {}
    }
    let mut next_tick = std::time::Instant::now();
    let mut membership = Membership::new(Instant::now());
    while !stop.load(Ordering::Relaxed) {
        let state = consumer.context().group.lock().expect("group lock").clone();
        if membership.stuck(state.as_ref(), Instant::now()) {
            metrics::counter!("projector_group_rejoins_total", "projector" => name).increment(1);
            tracing::error!(worker = name, group = ?state, "out of the consumer group for too long; joining again with a new consumer");
            let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Async);
            consumer.unsubscribe();
            consumer = match self::consumer(&brokers, &group, worker.as_ref(), fetching) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(worker = name, error = %e, "cannot replace the worker's consumer");
                    alive.store(false, Ordering::Relaxed);
                    return;
                }
            };
            membership = Membership::new(Instant::now());
            continue;
        }
        if std::time::Instant::now() >= next_tick {
            if let Err(e) = worker.tick(&ctx).await {
                tracing::warn!(worker = name, error = %e, "periodic work failed; trying again later");
            }
            next_tick = std::time::Instant::now() + TICK;
        }
        let record = match tokio::time::timeout(Duration::from_millis(250), consumer.recv()).await {
            Err(_) => continue,
            Ok(Err(e)) => {
                tracing::warn!(worker = name, error = %e, "Kafka consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Ok(Ok(m)) => m,
        };
        let topic = topics::base_name(record.topic()).to_owned();
        let source = Source { topic: topic.clone(), partition: record.partition(), offset: record.offset() };
        match record.payload().map(RawEnvelope::from_slice) {
            Some(Ok(env)) => {
                let mut backoff = Duration::from_millis(100);
                loop {
                    match worker.handle(&ctx, &source, env.clone()).await {
                        Ok(()) => break,
                        Err(e) => {
                            metrics::counter!("worker_errors_total", "worker" => name).increment(1);
                            tracing::warn!(worker = name, event_id = %env.event_id, error = %e, "handling failed; retrying");
                            if stop.load(Ordering::Relaxed) {
                                return; // not stored: handled again after a restart
                            }
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
                metrics::counter!("worker_records_total", "worker" => name).increment(1);
            }
            _ => tracing::warn!(worker = name, topic, offset = record.offset(), "undecodable record skipped"),
        }
        if let Err(e) = consumer.store_offset_from_message(&record) {
            tracing::warn!(worker = name, error = %e, "could not store the offset");
        }
    }
    // Commit what was handled before leaving the group.
    let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
}
