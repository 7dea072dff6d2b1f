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
//!
//! Redis side effects are written inside `apply` before the commit and must be
//! replay-safe (absolute values), because a crash after them replays the batch.

use crate::projection::{ApplyContext, Projection};
use anyhow::Context;
use beaver_events::{topics, RawEnvelope};
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext},
    error::KafkaResult,
    message::{BorrowedMessage, Headers, Message},
    types::RDKafkaRespErr,
    statistics::Statistics,
    ClientContext, Offset, TopicPartitionList,
};
use sqlx::{MySqlPool, QueryBuilder, Row};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use beaver_platform::readiness::{progress_message, PROGRESS_CHANNEL};
use tokio::runtime::Handle;

/// Tuning for one projection's consumer.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    pub brokers: String,
    pub group_prefix: String,
    /// Prepended to the projection's topic names (see `Config::topic_prefix`).
    pub topic_prefix: String,
    /// Most records applied in one transaction.
    pub batch_size: usize,
    /// How long to keep filling a batch once the first record arrived.
    pub batch_window: Duration,
    /// Kept current by every projection's consumer; `/healthz` reports it.
    pub kafka: beaver_platform::kafka::KafkaHealth,
    /// Publish each commit's offsets on the readiness channel. A rebuild's
    /// shadow runner (`beaver-admin projections rebuild`) turns it off: its
    /// offsets are not the live read model's, so no command may wait on them.
    pub publish_progress: bool,
}

/// Positions partitions at the offsets stored in MariaDB when they are assigned.
struct SeekToStoredOffsets {
    projector: &'static str,
    pool: MySqlPool,
    handle: Handle,
    /// Broker reachability for `/healthz` (see [`beaver_platform::kafka::HealthContext`]).
    kafka: beaver_platform::kafka::HealthContext,
}

impl ClientContext for SeekToStoredOffsets {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.kafka.error(error, reason);
    }

    /// librdkafka's periodic statistics carry each partition's lag (high
    /// watermark minus committed offset, which we commit after every batch):
    /// exported as `projector_lag` without any request to the broker.
    fn stats(&self, statistics: Statistics) {
        self.kafka.health.observe(&statistics);
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!("projector_lag", "projector" => self.projector, "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for SeekToStoredOffsets {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let wanted: Vec<(String, i32)> =
                    tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
                let mut positioned = TopicPartitionList::new();
                for (topic, partition) in wanted {
                    let next = self.stored_offset_with_retry(&topic, partition);
                    let offset = if next > 0 { Offset::Offset(next) } else { Offset::Beginning };
                    positioned
                        .add_partition_offset(&topic, partition, offset)
                        .expect("adding a partition to a fresh list cannot fail");
                    tracing::info!(projector = self.projector, topic, partition, next_offset = next, "partition assigned");
                }
                if let Err(e) = consumer.assign(&positioned) {
                    tracing::error!(projector = self.projector, error = %e, "assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(projector = self.projector, partitions = tpl.count(), "partitions revoked");
                if let Err(e) = consumer.unassign() {
                    tracing::error!(projector = self.projector, error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(projector = self.projector, error = ?other, "rebalance error");
                let _ = consumer.unassign();
            }
        }
    }
}

impl SeekToStoredOffsets {
    /// Without the stored offset we must not consume (we could skip or
    /// repeat), so keep asking the database until it answers.
    fn stored_offset_with_retry(&self, topic: &str, partition: i32) -> i64 {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.handle.block_on(stored_offset(&self.pool, self.projector, topic, partition)) {
                Ok(next) => return next,
                Err(e) => {
                    tracing::error!(projector = self.projector, topic, partition, error = %e, "cannot read stored offset; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

async fn stored_offset(pool: &MySqlPool, projector: &str, topic: &str, partition: i32) -> Result<i64, sqlx::Error> {
    beaver_platform::readiness::projected_until(pool, projector, topic, partition).await
}

/// One record as the batcher keeps it (the borrowed message cannot outlive the poll).
struct Record {
    offset: i64,
    value: Option<Vec<u8>>,
    /// For records of `beaver.sequenced.v1`: the `beaver.messages.v1`
    /// partition and offset the sequencer made it from.
    source: Option<(i32, i64)>,
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

/// Runs `projection` until `stop` is set. Blocks the calling thread.
pub fn run_projection(
    projection: Arc<dyn Projection>,
    config: RunnerConfig,
    ctx: ApplyContext,
    handle: Handle,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let name = projection.name();
    let context = SeekToStoredOffsets {
        projector: name,
        pool: ctx.pool.clone(),
        handle: handle.clone(),
        kafka: beaver_platform::kafka::HealthContext { health: config.kafka.clone() },
    };
    let consumer: BaseConsumer<SeekToStoredOffsets> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", format!("{}{}", config.group_prefix, name))
        // Names the member in `beaver-admin groups status` and broker logs.
        .set("client.id", format!("{}{}", config.group_prefix, name))
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
        // Only bounds an empty fetch: the broker answers as soon as data arrives.
        .set("fetch.wait.max.ms", "100")
        .create_with_context(context)?;
    let topics: Vec<String> = projection.topics().iter().map(|t| format!("{}{t}", config.topic_prefix)).collect();
    consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    tracing::info!(projector = name, ?topics, "projection started");

    while !stop.load(Ordering::Relaxed) {
        let batch = match next_batch(&consumer, &config) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(projector = name, error = %e, "consume error");
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        match handle.block_on(apply_batch(projection.as_ref(), &ctx, &batch)) {
            Ok((progress, sources)) => {
                let mut tpl = TopicPartitionList::new();
                let mut redis = ctx.redis.clone();
                let mut publish = redis::pipe();
                for (topic, partition, next) in progress {
                    let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(next));
                    publish.cmd("PUBLISH").arg(PROGRESS_CHANNEL).arg(progress_message(name, &topic, partition, next)).ignore();
                }
                for (partition, next) in sources {
                    publish.cmd("PUBLISH").arg(PROGRESS_CHANNEL).arg(progress_message(name, topics::MESSAGES, partition, next)).ignore();
                }
                // Wake commands waiting to read their writes (best effort).
                if config.publish_progress {
                    let published: redis::RedisResult<()> = handle.block_on(publish.query_async(&mut redis));
                    if let Err(e) = published {
                        tracing::debug!(error = %e, "could not publish progress");
                    }
                }
                let _ = consumer.commit(&tpl, CommitMode::Async);
            }
            Err(e) => {
                // Nothing of the batch was committed: go back to the stored
                // offsets and try again after a pause.
                tracing::error!(projector = name, error = ?e, "batch failed; will retry");
                metrics::counter!("projector_batch_failures_total", "projector" => name).increment(1);
                std::thread::sleep(Duration::from_millis(500));
                // Rewind to the stored offsets; never go on from the failed
                // batch's end (that would skip its records for good).
                for (topic, partition) in batch.keys() {
                    let next = context_stored_offset(&ctx, &handle, name, topic, *partition, &stop);
                    let offset = if next > 0 { Offset::Offset(next) } else { Offset::Beginning };
                    // A partition revoked meanwhile cannot be sought (its new
                    // owner starts from the stored offset): give up after ~10 s.
                    let mut pause = Duration::from_millis(100);
                    for attempt in 1..=8 {
                        match consumer.seek(topic, *partition, offset, Duration::from_secs(5)) {
                            Ok(()) => break,
                            Err(e) => {
                                tracing::error!(projector = name, topic, partition, attempt, error = %e, "seek after failure failed");
                                if stop.load(Ordering::Relaxed) {
                                    break;
                                }
                                std::thread::sleep(pause);
                                pause = (pause * 2).min(Duration::from_secs(2));
                            }
                        }
                    }
                }
            }
        }
    }
    tracing::info!(projector = name, "projection stopping");
    consumer.unsubscribe();
    Ok(())
}

/// The stored offset of a partition, asked until MariaDB answers (or `stop`).
fn context_stored_offset(ctx: &ApplyContext, handle: &Handle, name: &str, topic: &str, partition: i32, stop: &AtomicBool) -> i64 {
    let mut pause = Duration::from_millis(100);
    loop {
        match handle.block_on(stored_offset(&ctx.pool, name, topic, partition)) {
            Ok(next) => return next,
            Err(e) if !stop.load(Ordering::Relaxed) => {
                tracing::error!(projector = name, topic, partition, error = %e, "cannot read the stored offset to rewind; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(_) => return 0,
        }
    }
}

/// Polls until one record arrives (or 100 ms pass), then keeps draining for
/// `batch_window` or until `batch_size`. Records are grouped per partition in
/// offset order.
fn next_batch(
    consumer: &BaseConsumer<SeekToStoredOffsets>,
    config: &RunnerConfig,
) -> KafkaResult<BTreeMap<(String, i32), Vec<Record>>> {
    let mut batch: BTreeMap<(String, i32), Vec<Record>> = BTreeMap::new();
    let mut take = |m: BorrowedMessage<'_>| {
        batch.entry((m.topic().to_owned(), m.partition())).or_default().push(Record {
            offset: m.offset(),
            value: m.payload().map(<[u8]>::to_vec),
            source: source_of(&m),
        });
    };
    match consumer.poll(Duration::from_millis(100)) {
        None => return Ok(batch),
        Some(m) => take(m?),
    }
    let deadline = Instant::now() + config.batch_window;
    let mut count = 1;
    while count < config.batch_size {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.poll(left) {
            Some(m) => {
                take(m?);
                count += 1;
            }
            None => break,
        }
    }
    Ok(batch)
}

/// Applies one poll's records — every partition's — in ONE transaction, so a
/// poll costs one commit. The partitions' offset rows are created if new and
/// locked with one statement each (in key order, so two instances cannot
/// deadlock), records below the stored offset are skipped, and the new
/// offsets are written with one statement. Returns each partition's new next
/// offset, and the `beaver.messages.v1` progress the applied records carried
/// (recorded under that topic as well, so a command waiting for its
/// `beaver.messages.v1` offset sees the sequenced result).
#[tracing::instrument(skip_all, fields(projector = projection.name(), partitions = batch.len()))]
async fn apply_batch(
    projection: &dyn Projection,
    ctx: &ApplyContext,
    batch: &BTreeMap<(String, i32), Vec<Record>>,
) -> anyhow::Result<(Vec<(String, i32, i64)>, BTreeMap<i32, i64>)> {
    let name = projection.name();
    let mut tx = ctx.pool.begin().await?;
    let mut q = QueryBuilder::new("INSERT IGNORE INTO projector_offsets (projector, topic, partition_id, next_offset) ");
    q.push_values(batch.keys(), |mut b, (topic, partition)| {
        b.push_bind(name).push_bind(topic).push_bind(*partition).push_bind(0i64);
    });
    q.build().execute(&mut *tx).await?;
    let mut q = QueryBuilder::new("SELECT topic, partition_id, next_offset FROM projector_offsets WHERE projector = ");
    q.push_bind(name).push(" AND (topic, partition_id) IN (");
    let mut keys = q.separated(", ");
    for (topic, partition) in batch.keys() {
        keys.push("(").push_bind_unseparated(topic).push_unseparated(", ").push_bind_unseparated(*partition).push_unseparated(")");
    }
    q.push(") ORDER BY topic, partition_id FOR UPDATE");
    let mut stored: HashMap<(String, i32), i64> = HashMap::new();
    for row in q.build().fetch_all(&mut *tx).await? {
        stored.insert((row.try_get("topic")?, row.try_get("partition_id")?), row.try_get("next_offset")?);
    }
    let mut progress = Vec::with_capacity(batch.len());
    let mut moved = Vec::new();
    let mut partitions = Vec::with_capacity(batch.len());
    let mut applied = 0u64;
    let mut sources: BTreeMap<i32, i64> = BTreeMap::new();
    for ((topic, partition), records) in batch {
        let partition = *partition;
        let stored = stored.get(&(topic.clone(), partition)).copied().context("an offset row vanished inside its transaction")?;
        let mut next = stored;
        let mut events = Vec::new();
        for record in records.iter().filter(|r| r.offset >= stored) {
            if let Some((sp, so)) = record.source {
                let next = sources.entry(sp).or_insert(0);
                *next = (*next).max(so + 1);
            }
            match record.value.as_deref().map(RawEnvelope::from_slice) {
                Some(Ok(envelope)) => events.push(envelope),
                Some(Err(e)) => {
                    // Not ours: log it and move on rather than stall the partition.
                    tracing::error!(partition, offset = record.offset, error = %e, "skipping a record that is not a Beaver envelope");
                    metrics::counter!("projector_skipped_records_total", "projector" => name).increment(1);
                }
                None => tracing::warn!(partition, offset = record.offset, "skipping a record without a value"),
            }
            next = record.offset + 1;
        }
        applied += events.len() as u64;
        if !events.is_empty() {
            partitions.push(events);
        }
        if next != stored {
            moved.push((topic, partition, next));
        }
        progress.push((topic.clone(), partition, next));
    }
    projection.apply_partitions(&mut tx, ctx, partitions).await?;
    if !moved.is_empty() {
        let mut q = QueryBuilder::new("INSERT INTO projector_offsets (projector, topic, partition_id, next_offset) ");
        q.push_values(&moved, |mut b, (topic, partition, next)| {
            b.push_bind(name).push_bind(*topic).push_bind(*partition).push_bind(*next);
        });
        q.push(" ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)");
        q.build().execute(&mut *tx).await?;
    }
    if !sources.is_empty() {
        let mut q = QueryBuilder::new("INSERT INTO projector_offsets (projector, topic, partition_id, next_offset) ");
        q.push_values(&sources, |mut b, (partition, next)| {
            b.push_bind(name).push_bind(topics::MESSAGES).push_bind(*partition).push_bind(*next);
        });
        q.push(" ON DUPLICATE KEY UPDATE next_offset = GREATEST(next_offset, VALUES(next_offset))");
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    metrics::counter!("projector_events_applied_total", "projector" => name).increment(applied);
    Ok((progress, sources))
}
