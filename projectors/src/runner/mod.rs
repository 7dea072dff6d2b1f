//! Running one projection as a Kafka consumer group.
//!
//! Each projection gets its own consumer group (`<group_prefix><name>`) and
//! its own OS thread driving an rdkafka `BaseConsumer`; database work runs on
//! the tokio runtime through `Handle::block_on`. Operators scale a projection
//! by starting more processes: Kafka spreads the partitions over the group.
//!
//! Exactly-once effect on the read model:
//! - Offsets live in MariaDB (`projector_offsets`), not in Kafka. On every
//!   partition assignment the consumer is positioned at the stored
//!   `next_offset` (0 when there is none — that is how a rebuild starts).
//! - A poll's records (of every assigned partition) are applied in ONE
//!   transaction that first locks the partitions' offset rows, skips records
//!   below it (a zombie instance or a redelivery cannot apply anything twice),
//!   applies the rest and moves the offsets past them. After the commit the
//!   new positions are published on Redis for read-your-writes waiters.
//! - Kafka's own committed offset is written afterwards, for lag dashboards only.
//! - After a failed batch every partition of it is sought back to its stored
//!   offset, retried every turn until the seek succeeds; meanwhile, and
//!   whatever else moved the consumer, a partition read from past its stored
//!   offset is refused by the batch core, so no record is ever skipped.
//!
//! Redis side effects are written inside `apply` before the commit and must be
//! replay-safe (absolute values), because a crash after them replays the batch.
//!
//! # Layout
//! - this module: the consumer loop (poll, transact, publish, seek back).
//! - [`offsets`]: `projector_offsets` — read, lock, move; positioning on assignment.
//! - [`batch`]: the pure core — read positions, skip below, next offsets, refusal of holes.

pub mod batch;
pub mod offsets;
pub mod progress;

use crate::projection::{ApplyContext, Projection};
use batch::{Batch, Plan, Reader, Record, Unreadable};
use beaver_events::topics;
use beaver_platform::readiness::progress_message;
use beaver_readmodel::keys::progress_channel;
use offsets::{Change, SeekToStoredOffsets};
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, CommitMode, Consumer},
    message::{BorrowedMessage, Headers, Message},
    Offset, TopicPartitionList,
};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::runtime::Handle;

/// Tuning for one projection's consumer.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    pub brokers: String,
    /// Consumer group names are `<namespace><group_prefix><projection>`.
    pub group_prefix: String,
    /// Most records applied in one transaction.
    pub batch_size: usize,
    /// How long to keep filling a batch once the first record arrived.
    pub batch_window: Duration,
    /// Kept current by every projection's consumer; `/healthz` reports it.
    pub kafka: beaver_platform::kafka::KafkaHealth,
    /// How the broker answers this projection's fetches: eagerly when a
    /// request may be waiting on the projection, else paced.
    pub fetching: Fetching,
    /// Publish each commit's offsets on the readiness channel. A rebuild's
    /// shadow runner (`beaver-admin projections rebuild`) turns it off: its
    /// offsets are not the live read model's, so no command may wait on them.
    pub publish_progress: bool,
}

/// How the broker answers a consumer's fetches (Kafka's `fetch.max.wait.ms`
/// and `fetch.min.bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetching {
    /// At the first record; a fetch that finds nothing is answered (empty)
    /// after `idle_wait`, which costs the broker a request per `idle_wait`
    /// per idle consumer and delays nothing.
    Eager { idle_wait: Duration },
    /// Held until `wait` has passed or `min_bytes` are there. For consumers
    /// off the send path (the messages projection, the push worker): under
    /// load they are woken a few dozen times a second instead of once per
    /// sequencer transaction, so each wake-up, database transaction and
    /// offset commit carries many records (docs/benchmarks.md, "Send path,
    /// eighth pass"). A record waits at most `wait` longer to be applied.
    Paced { wait: Duration, min_bytes: u32 },
}

impl Fetching {
    /// The consumer settings.
    pub fn settings(self) -> [(&'static str, String); 2] {
        let (wait, min_bytes) = match self {
            Fetching::Eager { idle_wait } => (idle_wait, 1),
            Fetching::Paced { wait, min_bytes } => (wait, min_bytes.max(1)),
        };
        [("fetch.wait.max.ms", wait.as_millis().max(1).to_string()), ("fetch.min.bytes", min_bytes.to_string())]
    }

    /// A client configuration holding these settings, for a consumer to add its own to.
    pub fn client_config(self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in self.settings() {
            config.set(key, value);
        }
        config
    }
}

/// Turns in a row whose seek back failed before the consumer is dropped and
/// a new one joins the group (which assigns every partition at its stored
/// offset). Until then the partition is refused, never skipped.
const FAILED_REWINDS_BEFORE_NEW_CONSUMER: u32 = 20;

/// Runs `projection` until `stop` is set. Blocks the calling thread.
pub fn run_projection(
    projection: Arc<dyn Projection>,
    config: RunnerConfig,
    ctx: ApplyContext,
    handle: Handle,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let name = projection.name();
    // Exported from the start (not only once something happens), so that
    // dashboards and alert rules find them (deploy/observability).
    metrics::gauge!("projector_catchup_events_per_second", "projector" => name).set(0.0);
    metrics::gauge!("projector_catchup_eta_seconds", "projector" => name).set(0.0);
    metrics::counter!("projector_batch_failures_total", "projector" => name).increment(0);
    metrics::counter!("projector_group_rejoins_total", "projector" => name).increment(0);
    while !stop.load(Ordering::Relaxed) {
        let consumer = subscribe(projection.as_ref(), &config, &ctx, &handle)?;
        let stuck = consume(&consumer, projection.as_ref(), &config, &ctx, &handle, &stop);
        consumer.unsubscribe();
        match stuck {
            Some(Stuck::Rewinds) => tracing::error!(projector = name, "seeking back keeps failing; joining the group again with a new consumer"),
            Some(Stuck::OutOfGroup(g)) => {
                metrics::counter!("projector_group_rejoins_total", "projector" => name).increment(1);
                tracing::error!(projector = name, group = ?g, "out of the consumer group for too long; joining again with a new consumer")
            }
            None => {}
        }
    }
    tracing::info!(projector = name, "projection stopping");
    Ok(())
}

/// A consumer of the projection's topics in its group, positioned at the
/// stored offsets on every assignment.
fn subscribe(
    projection: &dyn Projection,
    config: &RunnerConfig,
    ctx: &ApplyContext,
    handle: &Handle,
) -> anyhow::Result<BaseConsumer<SeekToStoredOffsets>> {
    let name = projection.name();
    let context = SeekToStoredOffsets {
        projector: name,
        pool: ctx.pool.clone(),
        handle: handle.clone(),
        kafka: beaver_platform::kafka::HealthContext { health: config.kafka.clone() },
        changes: Mutex::new(Vec::new()),
        lag: Default::default(),
        group: Mutex::new(None),
    };
    let consumer: BaseConsumer<SeekToStoredOffsets> = config
        .fetching
        .client_config()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", topics::scoped(&format!("{}{}", config.group_prefix, name)))
        // Names the member in `beaver-admin groups status` and broker logs.
        .set("client.id", topics::scoped(&format!("{}{}", config.group_prefix, name)))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // beaver.sequenced.v1 is written in transactions: read only what committed.
        .set("isolation.level", "read_committed")
        .set("partition.assignment.strategy", "range")
        .set("statistics.interval.ms", "1000")
        .set("reconnect.backoff.max.ms", beaver_platform::kafka::RECONNECT_BACKOFF_MAX_MS)
        .set("session.timeout.ms", "10000")
        // Also the rebalance timeout: after a broker restart the coordinator
        // can hold a group in PreparingRebalance waiting for a member id that
        // no longer exists until this passes (librdkafka's default, 300 s,
        // froze the sessions projection for five minutes in the fault suite).
        .set("max.poll.interval.ms", "20000")
        .set("heartbeat.interval.ms", "1000")
        .create_with_context(context)?;
    // The Kafka boundary: subscribe to the topics in this process's
    // namespace; everything past it (offsets, progress) uses base names.
    let topics: Vec<String> = projection.topics().iter().map(|t| topics::resolve(t).into_owned()).collect();
    consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    tracing::info!(projector = name, ?topics, "projection started");
    Ok(consumer)
}

/// Why the loop gave its consumer up.
enum Stuck {
    /// Seeking back failed [`FAILED_REWINDS_BEFORE_NEW_CONSUMER`] turns in a row.
    Rewinds,
    /// The consumer stayed out of its group (see [`offsets::Membership`]);
    /// its last statistics, if any.
    OutOfGroup(Option<offsets::GroupState>),
}

/// The consumer loop: seek back what must be, gather a batch, apply it in one
/// transaction, publish. Returns when `stop` is set (`None`), or why the
/// consumer must be replaced.
fn consume(
    consumer: &BaseConsumer<SeekToStoredOffsets>,
    projection: &dyn Projection,
    config: &RunnerConfig,
    ctx: &ApplyContext,
    handle: &Handle,
    stop: &AtomicBool,
) -> Option<Stuck> {
    let name = projection.name();
    let mut reader = Reader::default();
    let mut failed_rewinds = 0;
    let mut catch_up = progress::CatchUp::new(Instant::now());
    let mut membership = offsets::Membership::new(Instant::now());
    while !stop.load(Ordering::Relaxed) {
        report_progress(&mut catch_up, consumer.context().lag.load(Ordering::Relaxed), name);
        let group = consumer.context().group.lock().expect("group lock").clone();
        if membership.stuck(group.as_ref(), Instant::now()) {
            return Some(Stuck::OutOfGroup(group));
        }
        if rewind(consumer, ctx, handle, name, &mut reader, stop) {
            failed_rewinds = 0;
        } else {
            failed_rewinds += 1;
            if failed_rewinds >= FAILED_REWINDS_BEFORE_NEW_CONSUMER {
                return Some(Stuck::Rewinds);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let batch = next_batch(consumer, config, name, &mut reader);
        if batch.is_empty() {
            continue;
        }
        let records: usize = batch.values().map(|run| run.records.len()).sum();
        match handle.block_on(apply_batch(projection, ctx, &batch)) {
            Ok(plan) => {
                catch_up.applied(records as u64);
                reader.committed(&plan);
                if !plan.refused.is_empty() {
                    tracing::warn!(projector = name, refused = ?plan.refused, "partitions read from past their stored offset are not applied; seeking them back");
                    metrics::counter!("projector_refused_partitions_total", "projector" => name).increment(plan.refused.len() as u64);
                }
                publish(consumer, config, ctx, handle, name, &plan);
            }
            Err(_) if stop.load(Ordering::Relaxed) => {
                // Stopping (e.g. a rebuild's shadow runner whose tables were
                // just swapped in): nothing was committed, and nothing is retried.
                tracing::debug!(projector = name, "batch abandoned while stopping");
            }
            Err(e) => {
                // Nothing of the batch was committed: go back to the stored
                // offsets (next turn) and try again after a pause.
                tracing::error!(projector = name, error = ?e, "batch failed; will retry");
                metrics::counter!("projector_batch_failures_total", "projector" => name).increment(1);
                reader.failed(&batch);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    None
}

/// Logs and exports catch-up progress when there is some to report.
fn report_progress(catch_up: &mut progress::CatchUp, lag: u64, name: &'static str) {
    match catch_up.report(Instant::now(), lag) {
        Some(progress::Report::Behind { events_per_sec, lag, eta }) => {
            let eta_secs = eta.map(|d| d.as_secs());
            tracing::info!(projector = name, events_per_sec = events_per_sec.round(), lag, eta_secs, "catching up");
            metrics::gauge!("projector_catchup_events_per_second", "projector" => name).set(events_per_sec);
            metrics::gauge!("projector_catchup_eta_seconds", "projector" => name).set(eta.map_or(-1.0, |d| d.as_secs_f64()));
        }
        Some(progress::Report::CaughtUp { events_per_sec }) => {
            tracing::info!(projector = name, events_per_sec = events_per_sec.round(), "caught up");
            metrics::gauge!("projector_catchup_events_per_second", "projector" => name).set(0.0);
            metrics::gauge!("projector_catchup_eta_seconds", "projector" => name).set(0.0);
        }
        None => {}
    }
}

/// Seeks the partitions the reader wants back to their stored offsets.
/// False when a seek failed: the partition stays refused and is tried again
/// next turn.
fn rewind(
    consumer: &BaseConsumer<SeekToStoredOffsets>,
    ctx: &ApplyContext,
    handle: &Handle,
    name: &'static str,
    reader: &mut Reader,
    stop: &AtomicBool,
) -> bool {
    let mut all = true;
    for (topic, partition) in reader.to_rewind() {
        let Some(next) = offsets::stored_offset_with_retry(&ctx.pool, handle, name, &topic, partition, Some(stop)) else {
            return false;
        };
        match consumer.seek(&topics::resolve(&topic), partition, offsets::seek_target(next), Duration::from_secs(5)) {
            Ok(()) => {
                tracing::info!(projector = name, topic, partition, next_offset = next, "sought back to the stored offset");
                reader.positioned((topic, partition), next);
            }
            Err(e) => {
                tracing::error!(projector = name, topic, partition, error = %e, "seek back failed; the partition is not applied until it succeeds");
                all = false;
            }
        }
    }
    all
}

/// Polls until one record arrives (or 100 ms pass), then keeps draining for
/// `batch_window` or until `batch_size`.
fn next_batch(consumer: &BaseConsumer<SeekToStoredOffsets>, config: &RunnerConfig, name: &str, reader: &mut Reader) -> Batch {
    if poll_once(consumer, name, reader, Duration::from_millis(100)) {
        let deadline = Instant::now() + config.batch_window;
        while reader.gathered() < config.batch_size {
            if !poll_once(consumer, name, reader, deadline.saturating_duration_since(Instant::now())) {
                break;
            }
        }
    }
    reader.take_batch()
}

/// One poll: first the assignment changes the rebalance callback made in it,
/// then the record it returned. False when nothing came before `timeout`.
fn poll_once(consumer: &BaseConsumer<SeekToStoredOffsets>, name: &str, reader: &mut Reader, timeout: Duration) -> bool {
    let polled = consumer.poll(beaver_platform::kafka::poll_timeout(timeout));
    for change in consumer.context().take_changes() {
        match change {
            Change::Assigned(partition, next) => reader.positioned(partition, next),
            Change::Revoked(partition) => reader.revoked(&partition),
            Change::Unassigned => reader.unassigned(),
        }
    }
    match polled {
        None => false,
        Some(Ok(m)) => {
            let record = Record { offset: m.offset(), value: m.payload().map(<[u8]>::to_vec), source: source_of(&m) };
            reader.deliver((topics::base_name(m.topic()).to_owned(), m.partition()), record);
            true
        }
        Some(Err(e)) => {
            tracing::warn!(projector = name, error = %e, "consume error");
            true
        }
    }
}

/// The source position headers the sequencer puts on its records.
fn source_of(m: &BorrowedMessage<'_>) -> Option<(i32, i64)> {
    let headers = m.headers()?;
    let find = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    Some((find(topics::HEADER_SOURCE_PARTITION)? as i32, find(topics::HEADER_SOURCE_OFFSET)?))
}

/// Applies one poll's records — every partition's — in ONE transaction, so a
/// poll costs one commit: lock the offset rows, plan (skip below, refuse
/// holes), apply, move the offsets. The `beaver.messages.v1` progress the
/// applied records carried is recorded under that topic as well, so a
/// command waiting for its `beaver.messages.v1` offset sees the sequenced result.
#[tracing::instrument(skip_all, fields(projector = projection.name(), partitions = batch.len()))]
async fn apply_batch(projection: &dyn Projection, ctx: &ApplyContext, batch: &Batch) -> anyhow::Result<Plan> {
    let name = projection.name();
    let mut tx = ctx.pool.begin().await?;
    let stored = offsets::lock(&mut tx, name, &batch.keys().collect::<Vec<_>>()).await?;
    let mut plan = batch::plan(batch, &stored);
    for ((_, partition), offset, why) in &plan.unreadable {
        match why {
            // Not ours: log it and move on rather than stall the partition.
            Unreadable::NotAnEnvelope(error) => {
                tracing::error!(partition, offset, error, "skipping a record that is not a Beaver envelope");
                metrics::counter!("projector_skipped_records_total", "projector" => name).increment(1);
            }
            Unreadable::NoValue => tracing::warn!(partition, offset, "skipping a record without a value"),
        }
    }
    let applied = plan.applied() as u64;
    projection.apply_partitions(&mut tx, ctx, std::mem::take(&mut plan.events)).await?;
    offsets::store(&mut tx, name, &plan.moved, &plan.sources).await?;
    tx.commit().await?;
    metrics::counter!("projector_events_applied_total", "projector" => name).increment(applied);
    Ok(plan)
}

/// After the commit: wakes commands waiting to read their writes (best
/// effort) and commits the offsets to Kafka for lag dashboards.
fn publish(consumer: &BaseConsumer<SeekToStoredOffsets>, config: &RunnerConfig, ctx: &ApplyContext, handle: &Handle, name: &str, plan: &Plan) {
    let mut tpl = TopicPartitionList::new();
    let mut publish = redis::pipe();
    for ((topic, partition), next) in &plan.progress {
        let _ = tpl.add_partition_offset(&topics::resolve(topic), *partition, Offset::Offset(*next));
        publish.cmd("PUBLISH").arg(progress_channel()).arg(progress_message(name, topic, *partition, *next)).ignore();
    }
    for (partition, next) in &plan.sources {
        publish.cmd("PUBLISH").arg(progress_channel()).arg(progress_message(name, topics::MESSAGES, *partition, *next)).ignore();
    }
    if config.publish_progress {
        let mut redis = ctx.redis.clone();
        let published: redis::RedisResult<()> = handle.block_on(publish.query_async(&mut redis));
        if let Err(e) = published {
            tracing::debug!(error = %e, "could not publish progress");
        }
    }
    if !plan.progress.is_empty() {
        let _ = consumer.commit(&tpl, CommitMode::Async);
    }
}
