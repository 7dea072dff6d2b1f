//! Offset storage: a projection's progress lives in MariaDB, not in Kafka.
//!
//! `projector_offsets (projector, topic, partition_id) → next_offset` is the
//! truth about what a projection has applied. This module reads it (with
//! retries: without the stored offset the consumer must not read, it could
//! skip or repeat), locks and moves it inside a batch's transaction, and
//! positions newly assigned partitions at it from the consumer's rebalance
//! callback. The callback also tells the loop's [`Reader`](super::batch::Reader)
//! where each partition is read from, through [`SeekToStoredOffsets::changes`].

use super::batch::Partition;
use beaver_events::topics;
use rdkafka::{
    consumer::{BaseConsumer, Consumer, ConsumerContext},
    statistics::Statistics,
    types::RDKafkaRespErr,
    ClientContext, Offset, TopicPartitionList,
};
use sqlx::{MySql, MySqlPool, QueryBuilder, Row, Transaction};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    time::Duration,
};
use tokio::runtime::Handle;

/// A change of assignment the rebalance callback made, for the loop's reader.
#[derive(Debug)]
pub enum Change {
    /// The partition was assigned at this offset (0: the log's beginning).
    Assigned(Partition, i64),
    Revoked(Partition),
    /// Everything was unassigned after a rebalance error.
    Unassigned,
}

/// The consumer's context: positions partitions at the offsets stored in
/// MariaDB when they are assigned, and keeps `/healthz` and the lag metric current.
pub struct SeekToStoredOffsets {
    pub projector: &'static str,
    pub pool: MySqlPool,
    pub handle: Handle,
    /// Broker reachability for `/healthz` (see [`beaver_platform::kafka::HealthContext`]).
    pub kafka: beaver_platform::kafka::HealthContext,
    /// Assignment changes since the loop last looked. The callback runs inside
    /// `poll` on the loop's own thread, so the loop drains this after every
    /// poll, before the record that poll returned.
    pub changes: Mutex<Vec<Change>>,
    /// Records not yet applied, summed over the assigned partitions (from
    /// the last statistics; see [`super::progress`]).
    pub lag: std::sync::atomic::AtomicU64,
    /// The group membership as the last statistics described it.
    pub group: Mutex<Option<GroupState>>,
}

/// librdkafka's view of the consumer's group membership (its statistics'
/// `cgrp` object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState {
    pub state: String,
    pub join_state: String,
    /// Milliseconds since the last assignment or revocation.
    pub rebalance_age_ms: i64,
    pub assignment_size: i32,
}

impl From<&rdkafka::statistics::ConsumerGroup> for GroupState {
    fn from(g: &rdkafka::statistics::ConsumerGroup) -> Self {
        GroupState { state: g.state.clone(), join_state: g.join_state.clone(), rebalance_age_ms: g.rebalance_age, assignment_size: g.assignment_size }
    }
}

/// How long a consumer may stay between a revocation and its next
/// assignment before it is taken for stuck: a healthy rejoin takes a session
/// timeout (10 s) at most, a broker restart about 10 s more. Was 60 s: after
/// a 70 s broker stall a consumer stuck looking for its coordinator
/// (`query-coord`) then kept new registrations from logging in for 60–90 s.
pub const STUCK_REJOIN: Duration = Duration::from_secs(30);

/// Watches whether a consumer is stuck out of its group. After a broker
/// restart or stall a consumer was seen to revoke its partitions and never
/// join again: the coordinator called the group empty while the consumer
/// polled on, and the projection stopped until the process was restarted.
/// A member that is in the group, even with no partitions (more instances
/// than partitions), is `steady`; a consumer not seen `steady` for longer
/// than [`STUCK_REJOIN`] is stuck — counted on this process's clock from
/// when it was last seen steady, or created: a consumer that never joined
/// reports a `rebalance_age` of 0 for ever (seen: a consumer created while
/// the broker was stopped, which the first version of this rule, on
/// `rebalance_age`, left out of its group).
#[derive(Debug)]
pub struct Membership {
    last_steady: std::time::Instant,
}

impl Membership {
    /// A consumer created at `now`.
    pub fn new(now: std::time::Instant) -> Self {
        Membership { last_steady: now }
    }

    /// Takes the latest statistics (`None`: none yet) at `now`; true when the consumer is stuck.
    pub fn stuck(&mut self, group: Option<&GroupState>, now: std::time::Instant) -> bool {
        if group.is_some_and(|g| g.join_state == "steady") {
            self.last_steady = now;
            return false;
        }
        now.saturating_duration_since(self.last_steady) > STUCK_REJOIN
    }
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
        if let Some(g) = &statistics.cgrp {
            *self.group.lock().expect("group lock") = Some(GroupState::from(g));
        }
        let mut total = 0u64;
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    total += p.consumer_lag as u64;
                    metrics::gauge!("projector_lag", "projector" => self.projector, "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
        self.lag.store(total, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ConsumerContext for SeekToStoredOffsets {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Kafka names the topics in this process's namespace; the
                // stored offsets and the reader use base names.
                let wanted: Vec<Partition> = tpl.elements().iter().map(|e| (topics::base_name(e.topic()).to_owned(), e.partition())).collect();
                let mut positioned = TopicPartitionList::new();
                let mut assigned = Vec::with_capacity(wanted.len());
                for (topic, partition) in wanted {
                    let next = stored_offset_with_retry(&self.pool, &self.handle, self.projector, &topic, partition, None)
                        .expect("retried until the database answers");
                    positioned
                        .add_partition_offset(&topics::resolve(&topic), partition, seek_target(next))
                        .expect("adding a partition to a fresh list cannot fail");
                    tracing::info!(projector = self.projector, topic, partition, next_offset = next, "partition assigned");
                    assigned.push(Change::Assigned((topic, partition), next));
                }
                match consumer.assign(&positioned) {
                    Ok(()) => self.record(assigned),
                    Err(e) => tracing::error!(projector = self.projector, error = %e, "assign failed"),
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(projector = self.projector, partitions = tpl.count(), "partitions revoked");
                if let Err(e) = consumer.unassign() {
                    tracing::error!(projector = self.projector, error = %e, "unassign failed");
                }
                self.record(tpl.elements().iter().map(|e| Change::Revoked((topics::base_name(e.topic()).to_owned(), e.partition()))).collect());
            }
            other => {
                tracing::error!(projector = self.projector, error = ?other, "rebalance error");
                let _ = consumer.unassign();
                self.record(vec![Change::Unassigned]);
            }
        }
    }
}

impl SeekToStoredOffsets {
    fn record(&self, changes: Vec<Change>) {
        self.changes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(changes);
    }

    /// Takes the assignment changes made since the last call.
    pub fn take_changes(&self) -> Vec<Change> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// Where to position a partition whose stored next offset is `next`.
pub fn seek_target(next: i64) -> Offset {
    if next > 0 {
        Offset::Offset(next)
    } else {
        Offset::Beginning
    }
}

/// The stored next offset of a partition (0 when there is none).
pub async fn stored_offset(pool: &MySqlPool, projector: &str, topic: &str, partition: i32) -> Result<i64, sqlx::Error> {
    beaver_readmodel::progress::next_offset(pool, projector, topic, partition).await
}

/// The stored next offset, asked until MariaDB answers; `None` only when
/// `stop` is set meanwhile.
pub fn stored_offset_with_retry(
    pool: &MySqlPool,
    handle: &Handle,
    projector: &str,
    topic: &str,
    partition: i32,
    stop: Option<&AtomicBool>,
) -> Option<i64> {
    let mut pause = Duration::from_millis(100);
    loop {
        match handle.block_on(stored_offset(pool, projector, topic, partition)) {
            Ok(next) => return Some(next),
            Err(_) if stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) => return None,
            Err(e) => {
                tracing::error!(projector, topic, partition, error = %e, "cannot read the stored offset; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Creates the partitions' offset rows if new and locks them (one statement
/// each, in key order, so that two instances cannot deadlock); returns their
/// next offsets. Held until the transaction ends, so a zombie instance waits
/// and then sees the offsets the owner moved.
pub async fn lock(
    tx: &mut Transaction<'static, MySql>,
    projector: &str,
    partitions: &[&Partition],
) -> anyhow::Result<HashMap<Partition, i64>> {
    let mut q = QueryBuilder::new("INSERT IGNORE INTO projector_offsets (projector, topic, partition_id, next_offset) ");
    q.push_values(partitions, |mut b, (topic, partition)| {
        b.push_bind(projector).push_bind(topic).push_bind(*partition).push_bind(0i64);
    });
    q.build().execute(&mut **tx).await?;
    let mut q = QueryBuilder::new("SELECT topic, partition_id, next_offset FROM projector_offsets WHERE projector = ");
    q.push_bind(projector).push(" AND (topic, partition_id) IN (");
    let mut keys = q.separated(", ");
    for (topic, partition) in partitions {
        keys.push("(").push_bind_unseparated(topic).push_unseparated(", ").push_bind_unseparated(*partition).push_unseparated(")");
    }
    q.push(") ORDER BY topic, partition_id FOR UPDATE");
    let mut stored = HashMap::with_capacity(partitions.len());
    for row in q.build().fetch_all(&mut **tx).await? {
        stored.insert((row.try_get("topic")?, row.try_get("partition_id")?), row.try_get("next_offset")?);
    }
    anyhow::ensure!(stored.len() == partitions.len(), "an offset row vanished inside its transaction");
    Ok(stored)
}

/// Moves the offset rows (one statement) and records the
/// `beaver.messages.v1` progress the applied records carried, never moving
/// it backwards (records of several sequenced partitions may carry it).
pub async fn store(
    tx: &mut Transaction<'static, MySql>,
    projector: &str,
    moved: &[(Partition, i64)],
    sources: &BTreeMap<i32, i64>,
) -> Result<(), sqlx::Error> {
    if !moved.is_empty() {
        let mut q = QueryBuilder::new("INSERT INTO projector_offsets (projector, topic, partition_id, next_offset) ");
        q.push_values(moved, |mut b, ((topic, partition), next)| {
            b.push_bind(projector).push_bind(topic).push_bind(*partition).push_bind(*next);
        });
        q.push(" ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)");
        q.build().execute(&mut **tx).await?;
    }
    if !sources.is_empty() {
        let mut q = QueryBuilder::new("INSERT INTO projector_offsets (projector, topic, partition_id, next_offset) ");
        q.push_values(sources, |mut b, (partition, next)| {
            b.push_bind(projector).push_bind(topics::MESSAGES).push_bind(*partition).push_bind(*next);
        });
        q.push(" ON DUPLICATE KEY UPDATE next_offset = GREATEST(next_offset, VALUES(next_offset))");
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod group_tests {
    use super::*;
    use std::time::Instant;

    fn group(join_state: &str, rebalance_age_ms: i64, assignment_size: i32) -> GroupState {
        GroupState { state: "up".into(), join_state: join_state.into(), rebalance_age_ms, assignment_size }
    }

    #[test]
    fn a_member_in_its_group_is_never_stuck_even_without_partitions() {
        let start = Instant::now();
        let mut m = Membership::new(start);
        assert!(!m.stuck(Some(&group("steady", 3_600_000, 6)), start + Duration::from_secs(3600)));
        assert!(!m.stuck(Some(&group("steady", 0, 0)), start + Duration::from_secs(7200)), "an instance beyond the partition count stays a member");
    }

    #[test]
    fn out_of_the_group_is_stuck_only_after_the_bound_since_last_seen_steady() {
        let start = Instant::now();
        for join_state in ["init", "wait-join", "wait-metadata", "wait-sync", "wait-unassign-to-complete"] {
            let mut m = Membership::new(start);
            let left = start + Duration::from_secs(500);
            assert!(!m.stuck(Some(&group("steady", 0, 6)), left));
            assert!(!m.stuck(Some(&group(join_state, 0, 0)), left + Duration::from_secs(5)), "{join_state}: a rejoin in progress");
            assert!(!m.stuck(Some(&group(join_state, 0, 0)), left + STUCK_REJOIN), "{join_state}: at the bound");
            assert!(m.stuck(Some(&group(join_state, 0, 0)), left + STUCK_REJOIN + Duration::from_millis(1)), "{join_state}: past the bound");
        }
    }

    #[test]
    fn a_consumer_that_never_joins_is_stuck_whatever_its_rebalance_age_says() {
        let start = Instant::now();
        let mut m = Membership::new(start);
        let never = group("init", 0, 0);
        assert!(!m.stuck(None, start + Duration::from_secs(10)), "no statistics yet");
        assert!(!m.stuck(Some(&never), start + STUCK_REJOIN));
        assert!(m.stuck(Some(&never), start + STUCK_REJOIN + Duration::from_secs(1)));
        let mut m = Membership::new(start);
        assert!(m.stuck(None, start + STUCK_REJOIN + Duration::from_secs(1)), "no statistics at all for the whole bound");
    }
}
