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
//! - A batch of one partition is applied in ONE transaction that first locks
//!   the partition's offset row, skips records below it (a zombie instance or
//!   a redelivery cannot apply anything twice), applies the rest and moves the
//!   offset past the batch.
//! - Kafka's own committed offset is written afterwards, for lag dashboards only.
//! Redis side effects are written inside `apply` before the commit and must be
//! replay-safe (absolute values), because a crash after them replays the batch.

use crate::projection::{ApplyContext, Projection};
use beaver_events::RawEnvelope;
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext},
    error::KafkaResult,
    message::{BorrowedMessage, Message},
    types::RDKafkaRespErr,
    ClientContext, Offset, TopicPartitionList,
};
use sqlx::{MySqlPool, Row};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::runtime::Handle;
use tracing::Instrument;

/// Tuning for one projection's consumer.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    pub brokers: String,
    pub group_prefix: String,
    /// Most records applied in one transaction.
    pub batch_size: usize,
    /// How long to keep filling a batch once the first record arrived.
    pub batch_window: Duration,
}

/// Positions partitions at the offsets stored in MariaDB when they are assigned.
struct SeekToStoredOffsets {
    projector: &'static str,
    pool: MySqlPool,
    handle: Handle,
}

impl ClientContext for SeekToStoredOffsets {}

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
    };
    let consumer: BaseConsumer<SeekToStoredOffsets> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", format!("{}{}", config.group_prefix, name))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", "10")
        .create_with_context(context)?;
    consumer.subscribe(projection.topics())?;
    tracing::info!(projector = name, topics = ?projection.topics(), "projection started");

    let mut last_lag_report = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let batch = match next_batch(&consumer, &config) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(projector = name, error = %e, "consume error");
                continue;
            }
        };
        for ((topic, partition), records) in batch {
            match handle.block_on(apply_batch(projection.as_ref(), &ctx, &topic, partition, &records)) {
                Ok(next) => {
                    let mut tpl = TopicPartitionList::new();
                    let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(next));
                    let _ = consumer.commit(&tpl, CommitMode::Async);
                }
                Err(e) => {
                    // Nothing of the batch was committed: go back to the stored
                    // offset and try again after a pause.
                    tracing::error!(projector = name, topic, partition, error = ?e, "batch failed; will retry");
                    metrics::counter!("projector_batch_failures_total", "projector" => name).increment(1);
                    std::thread::sleep(Duration::from_millis(500));
                    if let Ok(next) = handle.block_on(stored_offset(&ctx.pool, name, &topic, partition)) {
                        let offset = if next > 0 { Offset::Offset(next) } else { Offset::Beginning };
                        if let Err(e) = consumer.seek(&topic, partition, offset, Duration::from_secs(5)) {
                            tracing::error!(projector = name, error = %e, "seek after failure failed");
                        }
                    }
                }
            }
        }
        if last_lag_report.elapsed() > Duration::from_secs(2) {
            report_lag(&consumer, name, &ctx.pool, &handle);
            last_lag_report = Instant::now();
        }
    }
    tracing::info!(projector = name, "projection stopping");
    consumer.unsubscribe();
    Ok(())
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

/// Applies one partition's records in one transaction; returns the new next offset.
#[tracing::instrument(skip_all, fields(projector = projection.name(), topic, partition, first = records.first().map(|r| r.offset)))]
async fn apply_batch(
    projection: &dyn Projection,
    ctx: &ApplyContext,
    topic: &str,
    partition: i32,
    records: &[Record],
) -> anyhow::Result<i64> {
    let name = projection.name();
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("INSERT IGNORE INTO projector_offsets (projector, topic, partition_id, next_offset) VALUES (?, ?, ?, 0)")
        .bind(name)
        .bind(topic)
        .bind(partition)
        .execute(&mut *tx)
        .await?;
    let stored: i64 = sqlx::query(
        "SELECT next_offset FROM projector_offsets WHERE projector = ? AND topic = ? AND partition_id = ? FOR UPDATE",
    )
    .bind(name)
    .bind(topic)
    .bind(partition)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let mut next = stored;
    let mut applied = 0u64;
    for record in records.iter().filter(|r| r.offset >= stored) {
        match record.value.as_deref().map(RawEnvelope::from_slice) {
            Some(Ok(envelope)) => {
                let span = tracing::info_span!("apply", offset = record.offset, event_id = %envelope.event_id, event_type = %envelope.event_type);
                projection.apply(&mut tx, ctx, envelope).instrument(span).await?;
                applied += 1;
            }
            Some(Err(e)) => {
                // Not ours: log it and move on rather than stall the partition.
                tracing::error!(offset = record.offset, error = %e, "skipping a record that is not a Beaver envelope");
                metrics::counter!("projector_skipped_records_total", "projector" => name).increment(1);
            }
            None => tracing::warn!(offset = record.offset, "skipping a record without a value"),
        }
        next = record.offset + 1;
    }
    if next != stored {
        sqlx::query("UPDATE projector_offsets SET next_offset = ? WHERE projector = ? AND topic = ? AND partition_id = ?")
            .bind(next)
            .bind(name)
            .bind(topic)
            .bind(partition)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    metrics::counter!("projector_events_applied_total", "projector" => name, "topic" => topic.to_owned()).increment(applied);
    Ok(next)
}

/// Publishes `projector_lag` (high watermark minus stored next offset) per
/// assigned partition.
fn report_lag(consumer: &BaseConsumer<SeekToStoredOffsets>, name: &'static str, pool: &MySqlPool, handle: &Handle) {
    let Ok(assignment) = consumer.assignment() else { return };
    for e in assignment.elements() {
        let Ok((_, high)) = consumer.fetch_watermarks(e.topic(), e.partition(), Duration::from_millis(500)) else { continue };
        if high < 0 {
            continue;
        }
        if let Ok(next) = handle.block_on(stored_offset(pool, name, e.topic(), e.partition())) {
            metrics::gauge!("projector_lag", "projector" => name, "topic" => e.topic().to_owned(), "partition" => e.partition().to_string())
                .set((high - next).max(0) as f64);
        }
    }
}
