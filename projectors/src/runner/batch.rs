//! The runner's pure core: what a poll's records mean for the read model.
//!
//! No I/O happens here. A [`Reader`] follows where the consumer reads each
//! partition from (the offset it was assigned or sought to, then one past
//! every record it delivered) and gathers the delivered records into a
//! [`Batch`], one [`Run`] per partition. [`plan`] then decides, given the
//! stored next offsets locked in the batch's transaction, which records to
//! apply, which to skip and where each partition's offset moves.
//!
//! The one rule that keeps a record from ever being skipped: **a partition is
//! applied only if the consumer read it from at or before its stored offset**
//! (`run.from <= stored`). Then every deliverable record from the stored
//! offset on is in the run or still to come, so the records below the stored
//! offset (a redelivery, or a zombie instance behind the partition's new
//! owner) are skipped and the rest applied in order. A run read from past the
//! stored offset (`from > stored`) has a hole: records in `[stored, from)`
//! were delivered once but never applied — the consumer went on after a
//! failed batch because seeking it back failed. Such a run is *refused*:
//! nothing of it is applied, its offset stays, and the runner seeks the
//! partition back to the stored offset and re-reads it.
//!
//! Contiguity is judged by the read position, not by the first record's
//! offset: records are not contiguous on a `read_committed` consumer (each
//! transaction's commit marker, and aborted records, take offsets it never
//! sees), so a first record after the stored offset is normal and not a hole.

use beaver_events::RawEnvelope;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A topic partition.
pub type Partition = (String, i32);

/// One record as the runner keeps it (the borrowed message cannot outlive the poll).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub offset: i64,
    pub value: Option<Vec<u8>>,
    /// For records of `beaver.sequenced.v1`: the `beaver.messages.v1`
    /// partition and offset the sequencer made it from.
    pub source: Option<(i32, i64)>,
}

/// What one batch took from one partition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    /// Where the consumer read the partition from when it delivered the first
    /// record: the offset it was assigned or sought to, or one past the last
    /// record it delivered before. `None` when the consumer was positioned in
    /// a way the runner did not see (a record out of order), so nothing can
    /// be said about holes.
    pub from: Option<i64>,
    /// Offsets strictly increasing, each at or past `from`.
    pub records: Vec<Record>,
}

/// One poll's records, per partition in key order (which is also the order
/// the offset rows are locked in).
pub type Batch = BTreeMap<Partition, Run>;

/// Follows the consumer: where it reads each assigned partition from, the
/// batch being gathered, and which partitions must be sought back to their
/// stored offset before anything more of them can be applied.
#[derive(Debug, Default)]
pub struct Reader {
    /// The offset the consumer delivers each assigned partition from next.
    next: HashMap<Partition, i64>,
    /// Partitions read past their stored offset (their batch failed or was
    /// refused): the loop seeks them back, until a seek succeeds.
    rewind: BTreeSet<Partition>,
    /// The records delivered since the last [`Reader::take_batch`].
    batch: Batch,
    /// How many records `batch` holds.
    len: usize,
}

impl Reader {
    /// The consumer was assigned or sought to `offset` (0 for the log's
    /// beginning). Records of the partition gathered before are dropped:
    /// the consumer delivers them again if they are not applied yet.
    pub fn positioned(&mut self, partition: Partition, offset: i64) {
        self.drop_run(&partition);
        self.rewind.remove(&partition);
        self.next.insert(partition, offset);
    }

    /// The partition was taken away: its new owner starts from the stored
    /// offset, so its gathered records are dropped and it needs no rewind.
    pub fn revoked(&mut self, partition: &Partition) {
        self.drop_run(partition);
        self.rewind.remove(partition);
        self.next.remove(partition);
    }

    /// Every partition was taken away.
    pub fn unassigned(&mut self) {
        *self = Reader::default();
    }

    /// Adds a record the consumer delivered to the batch.
    pub fn deliver(&mut self, partition: Partition, record: Record) {
        let expected = self.next.get(&partition).copied();
        let run = self.batch.entry(partition.clone()).or_insert_with(|| Run { from: expected, records: Vec::new() });
        if expected.is_none_or(|next| record.offset < next) {
            // Not where the consumer was known to read: trust nothing before it.
            run.from = None;
        }
        self.next.insert(partition, record.offset + 1);
        run.records.push(record);
        self.len += 1;
    }

    /// Records gathered since the last batch was taken.
    pub fn gathered(&self) -> usize {
        self.len
    }

    /// Hands over the gathered batch and starts a new one.
    pub fn take_batch(&mut self) -> Batch {
        self.len = 0;
        std::mem::take(&mut self.batch)
    }

    /// The batch's transaction committed: the refused partitions must be
    /// sought back; the applied ones are read from at or before their stored
    /// offset and need no rewind any more.
    pub fn committed(&mut self, plan: &Plan) {
        for (partition, _) in &plan.progress {
            self.rewind.remove(partition);
        }
        for (partition, _) in &plan.refused {
            self.mark_rewind(partition);
        }
    }

    /// The batch's transaction failed: the consumer is past records that were
    /// never applied, so every partition of the batch must be sought back.
    pub fn failed(&mut self, batch: &Batch) {
        for partition in batch.keys() {
            self.mark_rewind(partition);
        }
    }

    /// Partitions to seek back to their stored offset, in key order.
    pub fn to_rewind(&self) -> Vec<Partition> {
        self.rewind.iter().cloned().collect()
    }

    fn mark_rewind(&mut self, partition: &Partition) {
        // A partition revoked meanwhile is its new owner's to read.
        if self.next.contains_key(partition) {
            self.rewind.insert(partition.clone());
        }
    }

    fn drop_run(&mut self, partition: &Partition) {
        if let Some(run) = self.batch.remove(partition) {
            self.len -= run.records.len();
        }
    }
}

/// What one batch's transaction does.
#[derive(Debug, Default)]
pub struct Plan {
    /// The new events, one list per partition in offset order (what
    /// `Projection::apply_partitions` takes).
    pub events: Vec<Vec<RawEnvelope>>,
    /// Every applied partition and its next offset after the batch (the
    /// stored one when all its records were below it): published for
    /// read-your-writes waiters and committed to Kafka for lag dashboards.
    pub progress: Vec<(Partition, i64)>,
    /// The partitions whose offset row moves, and where to.
    pub moved: Vec<(Partition, i64)>,
    /// The `beaver.messages.v1` progress the applied records carried:
    /// source partition → one past the highest source offset.
    pub sources: BTreeMap<i32, i64>,
    /// Partitions read from past their stored offset (or from an unknown
    /// position), with that stored offset: nothing of them is applied and
    /// the consumer must go back to the stored offset.
    pub refused: Vec<(Partition, i64)>,
    /// Records passed over because they are not Beaver envelopes: partition,
    /// offset and why. The offset still moves past them, so that one foreign
    /// record cannot stall a partition.
    pub unreadable: Vec<(Partition, i64, Unreadable)>,
}

/// Why a record was passed over.
#[derive(Debug, PartialEq)]
pub enum Unreadable {
    NoValue,
    /// Not a Beaver envelope (the decoder's message).
    NotAnEnvelope(String),
}

impl Plan {
    /// How many events the transaction applies.
    pub fn applied(&self) -> usize {
        self.events.iter().map(Vec::len).sum()
    }
}

/// Decides what to apply given the stored next offsets of the batch's
/// partitions (a partition without one is refused).
pub fn plan(batch: &Batch, stored: &HashMap<Partition, i64>) -> Plan {
    let mut plan = Plan::default();
    for (partition, run) in batch {
        let Some(&stored) = stored.get(partition) else {
            plan.refused.push((partition.clone(), 0));
            continue;
        };
        if run.from.is_none_or(|from| from > stored) {
            plan.refused.push((partition.clone(), stored));
            continue;
        }
        let mut next = stored;
        let mut events = Vec::new();
        for record in run.records.iter().filter(|r| r.offset >= stored) {
            if let Some((source_partition, source_offset)) = record.source {
                let source_next = plan.sources.entry(source_partition).or_insert(0);
                *source_next = (*source_next).max(source_offset + 1);
            }
            match record.value.as_deref().map(RawEnvelope::from_slice) {
                Some(Ok(envelope)) => events.push(envelope),
                Some(Err(e)) => plan.unreadable.push((partition.clone(), record.offset, Unreadable::NotAnEnvelope(e.to_string()))),
                None => plan.unreadable.push((partition.clone(), record.offset, Unreadable::NoValue)),
            }
            next = record.offset + 1;
        }
        if !events.is_empty() {
            plan.events.push(events);
        }
        if next != stored {
            plan.moved.push((partition.clone(), next));
        }
        plan.progress.push((partition.clone(), next));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(topic: &str, partition: i32) -> Partition {
        (topic.to_owned(), partition)
    }

    /// A record whose envelope names its offset in `correlation_id`.
    fn record(offset: i64) -> Record {
        let envelope = serde_json::json!({
            "event_id": "0190f3c4-7e5a-7000-8000-000000000000",
            "event_type": "Tested",
            "schema_version": 1,
            "aggregate_type": "test",
            "aggregate_id": "a",
            "occurred_at": "2026-01-01T00:00:00Z",
            "actor": {"kind": "system"},
            "correlation_id": offset.to_string(),
            "causation_id": null,
            "payload": {}
        });
        Record { offset, value: Some(serde_json::to_vec(&envelope).unwrap()), source: None }
    }

    fn offsets_of(events: &[RawEnvelope]) -> Vec<i64> {
        events.iter().map(|e| e.correlation_id.parse().unwrap()).collect()
    }

    fn stored(entries: &[(Partition, i64)]) -> HashMap<Partition, i64> {
        entries.iter().cloned().collect()
    }

    /// A reader positioned at `from` on `partition` that delivered `offsets`.
    fn delivered(partition: &Partition, from: i64, offsets: &[i64]) -> Reader {
        let mut reader = Reader::default();
        reader.positioned(partition.clone(), from);
        for &offset in offsets {
            reader.deliver(partition.clone(), record(offset));
        }
        reader
    }

    #[test]
    fn records_below_the_stored_offset_are_skipped() {
        // A redelivery: the consumer re-reads 0..5 but 0..3 were applied.
        let a = p("t", 0);
        let batch = delivered(&a, 0, &[0, 1, 2, 3, 4]).take_batch();
        let plan = plan(&batch, &stored(&[(a.clone(), 3)]));
        assert_eq!(plan.events.len(), 1);
        assert_eq!(offsets_of(&plan.events[0]), vec![3, 4]);
        assert_eq!(plan.moved, vec![(a.clone(), 5)]);
        assert_eq!(plan.progress, vec![(a, 5)]);
        assert!(plan.refused.is_empty());
    }

    #[test]
    fn a_zombie_behind_the_new_owner_applies_nothing_and_moves_nothing() {
        // Another instance already applied up to 10: everything here is old.
        let a = p("t", 0);
        let batch = delivered(&a, 4, &[4, 5, 6]).take_batch();
        let plan = plan(&batch, &stored(&[(a.clone(), 10)]));
        assert!(plan.events.is_empty());
        assert!(plan.moved.is_empty());
        assert_eq!(plan.progress, vec![(a, 10)]);
        assert!(plan.refused.is_empty());
    }

    #[test]
    fn each_partition_of_a_batch_moves_to_one_past_its_last_record() {
        let (a, b, c) = (p("t", 0), p("t", 1), p("u", 0));
        let mut reader = Reader::default();
        reader.positioned(a.clone(), 10);
        reader.positioned(b.clone(), 0);
        reader.positioned(c.clone(), 7);
        // Partitions interleave as the consumer fetched them.
        for (partition, offset) in [(&b, 0), (&a, 10), (&b, 1), (&c, 7), (&a, 11), (&b, 2)] {
            reader.deliver(partition.clone(), record(offset));
        }
        assert_eq!(reader.gathered(), 6);
        let batch = reader.take_batch();
        assert_eq!(reader.gathered(), 0);
        let plan = plan(&batch, &stored(&[(a.clone(), 10), (b.clone(), 0), (c.clone(), 7)]));
        // Grouped per partition, in key order, each in offset order.
        let grouped: Vec<Vec<i64>> = plan.events.iter().map(|e| offsets_of(e)).collect();
        assert_eq!(grouped, vec![vec![10, 11], vec![0, 1, 2], vec![7]]);
        assert_eq!(plan.moved, vec![(a.clone(), 12), (b.clone(), 3), (c.clone(), 8)]);
        assert_eq!(plan.progress, plan.moved);
        assert_eq!(plan.applied(), 6);
    }

    #[test]
    fn a_gap_between_records_read_from_the_stored_offset_is_not_a_hole() {
        // read_committed: the transaction markers at 5 and 7 are never delivered.
        let a = p("beaver.sequenced.v1", 3);
        let batch = delivered(&a, 5, &[6, 8, 9]).take_batch();
        let plan = plan(&batch, &stored(&[(a.clone(), 5)]));
        assert_eq!(offsets_of(&plan.events[0]), vec![6, 8, 9]);
        assert_eq!(plan.moved, vec![(a, 10)]);
    }

    #[test]
    fn a_partition_read_from_past_its_stored_offset_is_refused() {
        // The batch 5..8 failed and the seek back did not happen: the consumer
        // went on at 8. Applying 8 and 9 would skip 5, 6 and 7 for good.
        let (a, b) = (p("t", 0), p("t", 1));
        let mut reader = delivered(&a, 8, &[8, 9]);
        reader.positioned(b.clone(), 0);
        reader.deliver(b.clone(), record(0));
        let batch = reader.take_batch();
        let plan = plan(&batch, &stored(&[(a.clone(), 5), (b.clone(), 0)]));
        assert_eq!(plan.refused, vec![(a.clone(), 5)]);
        // The other partition is applied as usual.
        assert_eq!(plan.events.len(), 1);
        assert_eq!(offsets_of(&plan.events[0]), vec![0]);
        assert_eq!(plan.moved, vec![(b.clone(), 1)]);
        assert_eq!(plan.progress, vec![(b, 1)]);
        reader.committed(&plan);
        assert_eq!(reader.to_rewind(), vec![a]);
    }

    #[test]
    fn a_batch_lost_before_its_transaction_is_read_again() {
        // The records 5..8 were delivered and then dropped (the old runner
        // dropped a half-gathered batch on a consume error): the consumer
        // reads on from 8, which is refused until it is back at 5.
        let a = p("t", 0);
        let mut reader = delivered(&a, 5, &[5, 6, 7]);
        let _lost = reader.take_batch();
        reader.deliver(a.clone(), record(8));
        let refused = plan(&reader.take_batch(), &stored(&[(a.clone(), 5)]));
        assert_eq!(refused.refused, vec![(a.clone(), 5)]);
        reader.committed(&refused);
        assert_eq!(reader.to_rewind(), vec![a.clone()]);
        reader.positioned(a.clone(), 5);
        assert!(reader.to_rewind().is_empty());
        for offset in 5..=8 {
            reader.deliver(a.clone(), record(offset));
        }
        let again = plan(&reader.take_batch(), &stored(&[(a.clone(), 5)]));
        assert_eq!(offsets_of(&again.events[0]), vec![5, 6, 7, 8]);
        assert_eq!(again.moved, vec![(a, 9)]);
    }

    #[test]
    fn a_record_from_an_unseen_position_is_refused() {
        let a = p("t", 0);
        // Never assigned, as far as the reader knows.
        let mut reader = Reader::default();
        reader.deliver(a.clone(), record(3));
        assert_eq!(plan(&reader.take_batch(), &stored(&[(a.clone(), 3)])).refused, vec![(a.clone(), 3)]);
        // A record behind the read position: the consumer moved without us.
        let mut reader = delivered(&a, 3, &[3, 4]);
        reader.deliver(a.clone(), record(2));
        let behind = plan(&reader.take_batch(), &stored(&[(a.clone(), 2)]));
        assert_eq!(behind.refused, vec![(a.clone(), 2)]);
        assert!(behind.events.is_empty() && behind.moved.is_empty() && behind.progress.is_empty());
        // A partition without a stored offset is refused too.
        assert_eq!(plan(&delivered(&a, 0, &[0]).take_batch(), &HashMap::new()).refused, vec![(a, 0)]);
    }

    #[test]
    fn an_empty_batch_plans_nothing() {
        let mut reader = Reader::default();
        reader.positioned(p("t", 0), 0);
        let batch = reader.take_batch();
        assert!(batch.is_empty());
        let plan = plan(&batch, &HashMap::new());
        assert!(plan.events.is_empty() && plan.progress.is_empty() && plan.moved.is_empty() && plan.refused.is_empty());
    }

    #[test]
    fn a_reassignment_in_the_middle_of_a_batch_drops_what_was_read_before_it() {
        // A rebalance gave the partition back at its stored offset while the
        // batch was being gathered: 5..8 come again, and must be applied once.
        let a = p("t", 0);
        let mut reader = delivered(&a, 5, &[5, 6, 7]);
        reader.positioned(a.clone(), 5);
        for offset in [5, 6] {
            reader.deliver(a.clone(), record(offset));
        }
        assert_eq!(reader.gathered(), 2);
        let plan = plan(&reader.take_batch(), &stored(&[(a.clone(), 5)]));
        assert_eq!(offsets_of(&plan.events[0]), vec![5, 6]);
        assert_eq!(plan.moved, vec![(a, 7)]);
    }

    #[test]
    fn a_revoked_partition_is_neither_applied_nor_sought_back() {
        let (a, b) = (p("t", 0), p("t", 1));
        let mut reader = delivered(&a, 0, &[0, 1]);
        reader.positioned(b.clone(), 0);
        reader.deliver(b.clone(), record(0));
        let batch = reader.take_batch();
        reader.failed(&batch);
        assert_eq!(reader.to_rewind(), vec![a.clone(), b.clone()]);
        reader.revoked(&a);
        assert_eq!(reader.to_rewind(), vec![b.clone()]);
        reader.deliver(b.clone(), record(1));
        reader.revoked(&b);
        assert_eq!(reader.gathered(), 0);
        assert!(reader.take_batch().is_empty());
        assert!(reader.to_rewind().is_empty());
    }

    #[test]
    fn unreadable_records_are_passed_over_and_sources_are_recorded() {
        let a = p("beaver.sequenced.v1", 0);
        let mut reader = Reader::default();
        reader.positioned(a.clone(), 0);
        let mut first = record(0);
        first.source = Some((2, 40));
        let mut second = record(1);
        second.value = Some(b"not json".to_vec());
        second.source = Some((2, 41));
        let mut third = record(2);
        third.value = None;
        third.source = Some((5, 7));
        for r in [first, second, third] {
            reader.deliver(a.clone(), r);
        }
        let plan = plan(&reader.take_batch(), &stored(&[(a.clone(), 0)]));
        assert_eq!(offsets_of(&plan.events[0]), vec![0]);
        assert_eq!(plan.unreadable.iter().map(|(_, offset, _)| *offset).collect::<Vec<_>>(), vec![1, 2]);
        assert!(matches!(plan.unreadable[0].2, Unreadable::NotAnEnvelope(_)));
        assert_eq!(plan.unreadable[1].2, Unreadable::NoValue);
        assert_eq!(plan.moved, vec![(a, 3)]);
        assert_eq!(plan.sources, BTreeMap::from([(2, 42), (5, 8)]));
    }

    /// A one-partition log behind a consumer whose seeks can be made to fail,
    /// and a read model whose transactions can be made to fail, driven the
    /// way `run_projection` drives them: seek back what must be, poll, plan
    /// against the stored offset, apply and commit (or fail).
    struct Simulation {
        partition: Partition,
        /// The offsets in the log (with gaps, like a transactional topic).
        log: Vec<i64>,
        /// Index in `log` of the next record the consumer delivers.
        position: usize,
        stored: i64,
        applied: Vec<i64>,
        reader: Reader,
        /// How many of the next transactions / seeks fail.
        failing_transactions: usize,
        failing_seeks: usize,
        /// Every stored offset after a turn.
        stored_history: Vec<i64>,
    }

    impl Simulation {
        fn new(log: Vec<i64>) -> Self {
            let partition = p("beaver.sequenced.v1", 0);
            let mut reader = Reader::default();
            reader.positioned(partition.clone(), 0);
            Simulation {
                partition,
                log,
                position: 0,
                stored: 0,
                applied: Vec::new(),
                reader,
                failing_transactions: 0,
                failing_seeks: 0,
                stored_history: Vec::new(),
            }
        }

        fn seek(&mut self, offset: i64) -> Result<(), &'static str> {
            if self.failing_seeks > 0 {
                self.failing_seeks -= 1;
                return Err("seek timed out");
            }
            self.position = self.log.iter().position(|&o| o >= offset).unwrap_or(self.log.len());
            Ok(())
        }

        /// One turn of the consumer loop, reading at most `max` records.
        fn turn(&mut self, max: usize) {
            for partition in self.reader.to_rewind() {
                let stored = self.stored;
                if self.seek(stored).is_ok() {
                    self.reader.positioned(partition, stored);
                }
            }
            for _ in 0..max {
                let Some(&offset) = self.log.get(self.position) else { break };
                self.position += 1;
                self.reader.deliver(self.partition.clone(), record(offset));
            }
            let batch = self.reader.take_batch();
            if !batch.is_empty() {
                let plan = plan(&batch, &stored(&[(self.partition.clone(), self.stored)]));
                if self.failing_transactions > 0 {
                    self.failing_transactions -= 1;
                    self.reader.failed(&batch);
                } else {
                    for events in &plan.events {
                        self.applied.extend(offsets_of(events));
                    }
                    if let Some((_, next)) = plan.moved.first() {
                        self.stored = *next;
                    }
                    self.reader.committed(&plan);
                }
            }
            self.stored_history.push(self.stored);
        }

        /// Turns until the log is read and nothing waits to be sought back.
        fn run_to_end(&mut self, max: usize) {
            for _ in 0..1000 {
                if self.position == self.log.len() && self.reader.to_rewind().is_empty() {
                    return;
                }
                self.turn(max);
            }
            panic!("the simulation does not finish");
        }
    }

    #[test]
    fn a_failed_seek_back_never_lets_the_runner_go_past_a_failed_batch() {
        let log: Vec<i64> = (0..40).filter(|o| o % 5 != 4).collect(); // gaps: markers at 4, 9, …
        let mut sim = Simulation::new(log.clone());
        sim.turn(3); // 0, 1, 2 applied
        assert_eq!(sim.stored, 3);
        // The next batch (3, 5, 6) fails, and so do the next ten seeks back
        // (more than the eight the runner used to try before going on).
        sim.failing_transactions = 1;
        sim.failing_seeks = 10;
        sim.turn(3);
        for _ in 0..10 {
            // The consumer goes on past the failed batch; what it reads is refused.
            sim.turn(3);
            assert_eq!(sim.stored, 3, "the stored offset moved past records never applied");
            assert_eq!(sim.applied, vec![0, 1, 2]);
        }
        // The eleventh seek works: the failed batch is read again and applied.
        sim.run_to_end(3);
        assert_eq!(sim.applied, log, "every record applied exactly once, in order");
        assert_eq!(sim.stored, 39);
        assert!(sim.stored_history.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn batches_that_keep_failing_are_retried_from_the_stored_offset() {
        let log: Vec<i64> = (0..12).collect();
        let mut sim = Simulation::new(log.clone());
        sim.failing_transactions = 4;
        for _ in 0..4 {
            sim.turn(5);
            assert_eq!(sim.stored, 0);
        }
        sim.run_to_end(5);
        assert_eq!(sim.applied, log);
    }
}
