//! The transactional loop: read `beaver.messages.v1` (read_committed), decide
//! each record with [`crate::core`], and write the output in ONE Kafka
//! transaction per batch. About once a second (`offsets_every_ms`) that
//! transaction also carries the state changes since the last time, each
//! partition's checkpoint and the input offsets; a transaction that writes
//! only output touches half the partitions (fewer produce requests and
//! commit markers). A restart restores the state topic, then replays the
//! output written after the checkpoints ([`crate::core::PartitionState::replay`]).
//!
//! A session owns `turns` transactional producers that take turns, one
//! transaction each (`transactional.id` `<base>-<instance>`, then
//! `<base>-<instance>-t1`, …), and one consumer with a static share of the input
//! partitions (`partition % instances == instance`). It starts with
//! `init_transactions` on each, which fences any older process with the same
//! ids and aborts its open transactions; then restores its partitions' state from the
//! compacted state topic and checks it against the committed input offsets.
//! Any error ends the session; the next one starts from what was committed,
//! so nothing is half-applied. A fenced session ends the process.

use crate::{
    core::{Change, Numbering, PartitionState},
    Committed, Config, Status,
};
use beaver_platform::sequencing::SendAnswer;
use anyhow::{bail, Context};
use beaver_events::{
    message::MessageEvent,
    sequenced::{MessageSequenced, SequencedEvent},
    topics, Envelope, RawEnvelope,
};
use beaver_platform::kafka::headers_of;
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, Headers, Message, OwnedHeaders},
    producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer},
    ClientContext,
    util::Timeout,
    Offset, TopicPartitionList,
};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;

/// Namespace of the derived `MessageSequenced` event ids.
const SEQUENCED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6265_6176_6572_2d73_6571_7565_6e63_6572);

/// Records, per partition of the output topic, the end offset of what was
/// delivered. `commit_transaction` returns only after every delivery report
/// was served, so after a commit these are the ends of committed data. The
/// map is shared by the producers taking turns: a transaction that writes
/// nothing to a partition (a repeat) answers with the end of the one that did.
struct Deliveries {
    output_topic: String,
    ends: Arc<Mutex<HashMap<i32, i64>>>,
    acks: Arc<Acks>,
}

/// Records produced and delivery reports served, shared by the producers
/// taking turns (one transaction at a time): the session waits on it until
/// every record of its transaction is acknowledged, woken by the report
/// that completes it instead of polling.
#[derive(Default)]
struct Acks {
    /// (records produced, reports served), since the session started.
    counts: Mutex<(u64, u64)>,
    done: std::sync::Condvar,
}

impl Acks {
    fn produced(&self) {
        self.counts.lock().expect("acks lock").0 += 1;
    }

    fn reported(&self) {
        let mut counts = self.counts.lock().expect("acks lock");
        counts.1 += 1;
        if counts.1 >= counts.0 {
            self.done.notify_all();
        }
    }

    /// Waits until every record produced has its report, or `deadline`.
    fn wait_all(&self, deadline: Instant) -> bool {
        let mut counts = self.counts.lock().expect("acks lock");
        while counts.1 < counts.0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            counts = self.done.wait_timeout(counts, left).expect("acks lock").0;
        }
        true
    }
}

impl ClientContext for Deliveries {}

/// Counts a delivery report once the output end it carries is recorded.
struct ReportOnDrop<'a>(&'a Acks);

impl Drop for ReportOnDrop<'_> {
    fn drop(&mut self) {
        self.0.reported();
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        // A failed record is reported too; the transaction then fails at its commit.
        let _report = ReportOnDrop(&self.acks);
        if let Ok(m) = result {
            if m.topic() == self.output_topic {
                let mut ends = self.ends.lock().expect("ends lock");
                let end = ends.entry(m.partition()).or_insert(0);
                *end = (*end).max(m.offset() + 1);
            }
        }
    }
}

/// Why a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// Asked to stop.
    Stopped,
    /// A newer process with the same transactional id took over.
    Fenced(anyhow::Error),
    /// Anything else: start a new session.
    Failed(anyhow::Error),
}

/// One input record, copied out of the consumer's buffer.
struct Input {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn is_fencing_code(code: RDKafkaErrorCode) -> bool {
    matches!(code, RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
}

fn is_fencing(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| match cause.downcast_ref::<KafkaError>() {
        Some(KafkaError::Transaction(t)) => t.is_fatal() || is_fencing_code(t.code()),
        Some(other) => other.rdkafka_error_code().is_some_and(is_fencing_code),
        None => false,
    })
}

fn phase(name: &'static str, since: Instant) {
    metrics::histogram!("sequencer_phase_seconds", "phase" => name).record(since.elapsed().as_secs_f64());
}

/// Runs one session until it fails, is fenced, or `status.stop` is set.
pub fn run_session(cfg: &Config, status: &Arc<Status>, answers: &UnboundedSender<Committed>) -> SessionEnd {
    let mut session = match Session::start(cfg, status) {
        Ok(s) => s,
        Err(e) if is_fencing(&e) => return SessionEnd::Fenced(e),
        Err(e) => return SessionEnd::Failed(e),
    };
    status.set_ready(true);
    let end = loop {
        if status.stop.load(Ordering::Relaxed) {
            if let Err(e) = session.settle_offsets() {
                tracing::warn!(error = %e, "the last offsets were not committed (the checkpoints in the state topic stand)");
            }
            break SessionEnd::Stopped;
        }
        match session.step(answers) {
            Ok(()) => status.beat(),
            Err(e) => {
                // A fenced producer may first fail a produce call with a bare
                // "fatal" error; the cause is in its fatal-error state. A new
                // session would fence the newer process in turn.
                let fatal = session.producers.iter().find_map(|p| p.client().fatal_error());
                let fenced = is_fencing(&e) || fatal.as_ref().is_some_and(|(code, _)| is_fencing_code(*code));
                let _ = session.producer().abort_transaction(Timeout::After(Duration::from_secs(5)));
                let e = match fatal {
                    Some((code, reason)) => e.context(format!("producer fatal error {code:?}: {reason}")),
                    None => e,
                };
                break if fenced { SessionEnd::Fenced(e) } else { SessionEnd::Failed(e) };
            }
        }
    };
    status.set_ready(false);
    end
}

struct Session<'a> {
    cfg: &'a Config,
    /// The input, output and state topics as Kafka names them (in this
    /// process's namespace, `beaver_events::topics::resolve`).
    input_topic: String,
    output_topic: String,
    state_topic: String,
    /// Producers taking turns: after a commit the broker still writes the
    /// transaction's markers, and the same producer's next transaction is
    /// refused (`CONCURRENT_TRANSACTIONS`, retried with back-off) until they
    /// are written; the next producer need not wait. A transaction begins only
    /// after the previous one committed, so the log order is the order of
    /// the decisions, and a read_committed reader sees the transactions in
    /// their order (Kafka's last stable offset stops at the first open one).
    producers: Vec<ThreadedProducer<Deliveries>>,
    turn: usize,
    consumer: BaseConsumer,
    states: BTreeMap<i32, PartitionState>,
    /// State changes not yet written to the state topic, per partition
    /// (coalesced by key: a send that enters and leaves the window between
    /// two flushes is never written).
    dirty: Dirty,
    /// Each partition's `next_offset` as last written to the state topic.
    flushed: BTreeMap<i32, i64>,
    /// The output's end offsets (shared with the producers' delivery reports).
    ends: Arc<Mutex<HashMap<i32, i64>>>,
    /// When the state changes were last written.
    state_flushed: Instant,
    acks: Arc<Acks>,
    /// When the input offsets last went to the consumer group, and whether
    /// transactions have moved past them since.
    offsets_sent: Instant,
    offsets_behind: bool,
}

impl<'a> Session<'a> {
    fn start(cfg: &'a Config, status: &Status) -> anyhow::Result<Self> {
        let (input_topic, output_topic, state_topic) = (kafka_name(topics::MESSAGES), kafka_name(&cfg.output_topic), kafka_name(&cfg.state_topic));
        let ends: Arc<Mutex<HashMap<i32, i64>>> = Arc::default();
        let acks: Arc<Acks> = Arc::default();
        let producers = (0..cfg.turns.max(1))
            .map(|k| {
                let id = match k {
                    0 => format!("{}-{}", cfg.transactional_id_base, cfg.instance),
                    k => format!("{}-{}-t{k}", cfg.transactional_id_base, cfg.instance),
                };
                transactional_producer(cfg, &topics::scoped(&id), &output_topic, &ends, &acks)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &cfg.common.kafka_brokers)
            .set("group.id", topics::scoped(&cfg.group_id))
            .set("client.id", "beaver-sequencer")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", cfg.fetch_wait_max_ms.to_string())
            .create()
            .context("creating the input consumer")?;
        let partitions = mine(&consumer, cfg)?;
        let window_ms = (cfg.window_secs * 1000) as i64;
        let (states, dirty) = restore(cfg, &partitions, window_ms)?;
        // Where the output stands (init_transactions aborted anything left
        // open): the lower bound of the first checkpoints' `output_from`.
        for p in &partitions {
            let (_, high) = consumer.fetch_watermarks(&output_topic, *p, Timeout::After(Duration::from_secs(30))).context("output watermarks")?;
            ends.lock().expect("ends lock").insert(*p, high);
        }
        // Replayed changes are not in the state topic yet: the first flush writes them.
        let flushed = states.iter().map(|(p, s)| (*p, if dirty.contains_key(p) { -1 } else { s.next_offset })).collect();

        // The state must be exactly as of the committed input offsets (both
        // are written by the same transactions).
        let mut wanted = TopicPartitionList::new();
        for p in &partitions {
            wanted.add_partition(&input_topic, *p);
        }
        let committed = consumer.committed_offsets(wanted, Timeout::After(Duration::from_secs(30))).context("reading committed offsets")?;
        let mut assign = TopicPartitionList::new();
        for e in committed.elements() {
            let committed = match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            let checkpoint = states[&e.partition()].next_offset;
            // The group's offset trails the checkpoint by at most
            // `offsets_every_ms` of transactions; ahead of it, the state lost records.
            if committed > checkpoint {
                bail!(
                    "partition {}: state checkpoint {checkpoint} is behind the committed offset {committed}; \
                     the state topic {} was changed outside the sequencer (docs/operations: the sequencer refuses to guess)",
                    e.partition(),
                    cfg.state_topic
                );
            }
            assign.add_partition_offset(&input_topic, e.partition(), Offset::Offset(checkpoint))?;
        }
        consumer.assign(&assign).context("assigning input partitions")?;
        let remembered: usize = states.values().map(PartitionState::window_len).sum();
        tracing::info!(?partitions, remembered, "session started");
        status.set_partitions(partitions);
        let offsets_behind = !dirty.is_empty();
        Ok(Session {
            cfg,
            input_topic,
            output_topic,
            state_topic,
            producers,
            turn: 0,
            consumer,
            states,
            dirty,
            flushed,
            ends,
            state_flushed: Instant::now(),
            acks,
            offsets_sent: Instant::now(),
            offsets_behind,
        })
    }

    fn producer(&self) -> &ThreadedProducer<Deliveries> {
        &self.producers[self.turn]
    }

    /// Reads one batch and commits it in one transaction.
    fn step(&mut self, answers: &UnboundedSender<Committed>) -> anyhow::Result<()> {
        let batch = self.next_batch()?;
        if batch.is_empty() {
            // Idle: bring the group's offsets level with the checkpoints, so
            // that `groups status` shows no lag that is not there.
            if self.offsets_sent.elapsed() >= Duration::from_millis(self.cfg.offsets_every_ms) {
                self.settle_offsets()?;
            }
            return Ok(());
        }
        let started = Instant::now();
        self.producer().begin_transaction().context("begin_transaction")?;
        let mut replies = Vec::new();
        let mut touched = BTreeSet::new();
        let (mut fresh, mut repeats) = (0u64, 0u64);
        for input in &batch {
            let state = self.states.get_mut(&input.partition).context("a record of a partition not ours")?;
            if input.offset < state.next_offset {
                continue;
            }
            let mut changes = Vec::new();
            let output = output_of(state, input, &mut changes, &mut replies, &mut fresh, &mut repeats);
            state.next_offset = input.offset + 1;
            touched.insert(input.partition);
            if let Some((value, mut headers)) = output {
                let (p, o) = (input.partition.to_string(), input.offset.to_string());
                headers = headers
                    .insert(Header { key: topics::HEADER_SOURCE_PARTITION, value: Some(p.as_str()) })
                    .insert(Header { key: topics::HEADER_SOURCE_OFFSET, value: Some(o.as_str()) });
                self.produce(&self.output_topic, input.partition, input.key.as_deref(), Some(&value), Some(headers))?;
            }
            if !changes.is_empty() {
                let dirty = self.dirty.entry(input.partition).or_default();
                dirty.extend(changes.into_iter().map(|c| (c.key, c.value)));
            }
        }
        self.offsets_behind |= !touched.is_empty();
        let timeout = Timeout::After(Duration::from_millis(self.cfg.transaction_timeout_ms));
        // Offsets go only with a flush: the group's committed offsets are
        // then never ahead of the state topic's checkpoints.
        let offsets_due = self.offsets_sent.elapsed() >= Duration::from_millis(self.cfg.offsets_every_ms);
        if offsets_due || self.state_flushed.elapsed() >= Duration::from_millis(self.cfg.state_every_ms) {
            self.flush_state()?;
        }
        phase("produce", started);
        if offsets_due {
            self.send_offsets(timeout)?;
        }
        let t = Instant::now();
        self.await_deliveries(Duration::from_millis(self.cfg.transaction_timeout_ms))?;
        phase("deliveries", t);
        let t = Instant::now();
        self.producer().commit_transaction(timeout).context("commit_transaction")?;
        phase("commit", t);
        let took = started.elapsed();
        metrics::histogram!("sequencer_transaction_seconds").record(took.as_secs_f64());
        metrics::counter!("sequencer_records_total").increment(batch.len() as u64);
        metrics::counter!("sequencer_messages_sequenced_total").increment(fresh);
        metrics::counter!("sequencer_repeats_total").increment(repeats);
        metrics::gauge!("sequencer_window_entries").set(self.states.values().map(PartitionState::window_len).sum::<usize>() as f64);
        tracing::debug!(records = batch.len(), fresh, repeats, took_ms = took.as_millis() as u64, "batch committed");
        let ends: Vec<(i32, i64)> = {
            let ends = self.producer().context().ends.lock().expect("ends lock");
            touched.iter().filter_map(|p| ends.get(p).map(|end| (*p, *end))).collect()
        };
        self.turn = (self.turn + 1) % self.producers.len();
        let _ = answers.send(Committed { answers: replies, ends });
        Ok(())
    }

    /// Writes the state changes since the last flush and the checkpoint of
    /// every partition that moved, into the open transaction. A checkpoint's
    /// `output_from` is the output's end before this transaction's records
    /// were acknowledged or any time since: at or before the first record of
    /// the next transaction, which is the first a restart must replay.
    fn flush_state(&mut self) -> anyhow::Result<()> {
        let mut written = 0u64;
        let moved: Vec<i32> = self.states.iter().filter(|(p, s)| self.flushed.get(p) != Some(&s.next_offset)).map(|(p, _)| *p).collect();
        for p in moved {
            for (key, value) in self.dirty.remove(&p).unwrap_or_default() {
                self.produce(&self.state_topic, p, Some(key.as_bytes()), value.as_deref(), None)?;
                written += 1;
            }
            let output_from = self.ends.lock().expect("ends lock").get(&p).copied().context("no output end for a partition of ours")?;
            let checkpoint = self.states[&p].checkpoint(output_from);
            self.produce(&self.state_topic, p, Some(checkpoint.key.as_bytes()), checkpoint.value.as_deref(), None)?;
            self.flushed.insert(p, self.states[&p].next_offset);
        }
        self.state_flushed = Instant::now();
        metrics::counter!("sequencer_state_records_total").increment(written);
        Ok(())
    }

    /// Adds every partition's checkpoint to the open transaction as the
    /// consumer group's offsets.
    fn send_offsets(&mut self, timeout: Timeout) -> anyhow::Result<()> {
        let t = Instant::now();
        let mut offsets = TopicPartitionList::new();
        for (p, state) in &self.states {
            offsets.add_partition_offset(&self.input_topic, *p, Offset::Offset(state.next_offset))?;
        }
        let metadata = self.consumer.group_metadata().context("consumer has no group metadata")?;
        self.producer().send_offsets_to_transaction(&offsets, &metadata, timeout).context("send_offsets_to_transaction")?;
        self.offsets_sent = Instant::now();
        self.offsets_behind = false;
        phase("send_offsets", t);
        Ok(())
    }

    /// When idle and on a clean stop: a transaction with the state changes
    /// and the offsets, so that the group's offsets equal the checkpoints.
    fn settle_offsets(&mut self) -> anyhow::Result<()> {
        if !self.offsets_behind {
            return Ok(());
        }
        let timeout = Timeout::After(Duration::from_millis(self.cfg.transaction_timeout_ms));
        self.producer().begin_transaction().context("begin_transaction")?;
        self.flush_state()?;
        self.send_offsets(timeout)?;
        self.await_deliveries(Duration::from_millis(self.cfg.transaction_timeout_ms))?;
        self.producer().commit_transaction(timeout).context("commit_transaction")?;
        self.turn = (self.turn + 1) % self.producers.len();
        Ok(())
    }

    /// Waits until every record of the transaction is acknowledged. rust-rdkafka's
    /// `commit_transaction` flushes first, and its flush polls the event queue
    /// in steps of up to 100 ms — while the ThreadedProducer's own thread is
    /// the one that receives the delivery reports, so each step ran its full
    /// 100 ms (measured: every transaction took 100–250 ms). Waiting here
    /// until nothing is outstanding makes that flush return at once. The wait
    /// is on [`Acks`], woken by the last report (it was a 200 µs sleep loop:
    /// at 700 msg/s this thread's context switches fell from ~4,300/s to
    /// ~2,600/s); the sleep loop is left for whatever librdkafka still
    /// counts after that.
    fn await_deliveries(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        if !self.acks.wait_all(deadline) {
            bail!("records of the transaction not acknowledged within {limit:?}");
        }
        while self.producer().in_flight_count() > 0 {
            if Instant::now() >= deadline {
                bail!("records of the transaction not acknowledged within {limit:?}");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    fn produce(&self, topic: &str, partition: i32, key: Option<&[u8]>, value: Option<&[u8]>, headers: Option<OwnedHeaders>) -> anyhow::Result<()> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(partition);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        loop {
            match self.producer().send(record) {
                Ok(()) => {
                    self.acks.produced();
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e).context("producing in the transaction"),
            }
        }
    }

    /// Waits up to `fetch_wait_max_ms` for a first record, then keeps reading
    /// for `linger_ms` or until `batch_max` records.
    fn next_batch(&self) -> anyhow::Result<Vec<Input>> {
        let mut batch = Vec::new();
        let first = self.consumer.poll(Duration::from_millis(self.cfg.fetch_wait_max_ms.max(1)));
        match first {
            None => return Ok(batch),
            Some(m) => batch.push(copy(&m.context("consuming")?)),
        }
        let deadline = Instant::now() + Duration::from_millis(self.cfg.linger_ms);
        while batch.len() < self.cfg.batch_max {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.consumer.poll(beaver_platform::kafka::poll_timeout(left)) {
                Some(m) => batch.push(copy(&m.context("consuming")?)),
                None => break,
            }
        }
        Ok(batch)
    }
}

fn copy(m: &rdkafka::message::BorrowedMessage<'_>) -> Input {
    let headers = m
        .headers()
        .map(|hs| hs.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    Input { partition: m.partition(), offset: m.offset(), key: m.key().map(<[u8]>::to_vec), value: m.payload().map(<[u8]>::to_vec), headers }
}

/// What one input record becomes on the output topic (value and headers),
/// if anything. A new `MessageSent` becomes its `MessageSequenced`; a repeat
/// becomes nothing (its sender gets the original's answer); every other
/// record — other conversation events, or anything undecodable — passes
/// through unchanged, so the output is the whole conversation log in order.
fn output_of(
    state: &mut PartitionState,
    input: &Input,
    changes: &mut Vec<Change>,
    replies: &mut Vec<SendAnswer>,
    fresh: &mut u64,
    repeats: &mut u64,
) -> Option<(Vec<u8>, OwnedHeaders)> {
    let pass_through = || {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &input.headers {
            headers = headers.insert(Header { key: k.as_str(), value: v.as_deref() });
        }
        input.value.clone().map(|v| (v, headers))
    };
    let Some(raw) = input.value.as_deref().and_then(|v| RawEnvelope::from_slice(v).ok()) else {
        return pass_through();
    };
    if raw.event_type != "MessageSent" {
        return pass_through();
    }
    let (source_id, occurred_at, actor, correlation) = (raw.event_id, raw.occurred_at, raw.actor.clone(), raw.correlation_id.clone());
    let Ok(Envelope { payload: MessageEvent::MessageSent(sent), .. }) = raw.decode::<MessageEvent>() else {
        return pass_through();
    };
    let at_ms = (occurred_at.unix_timestamp_nanos() / 1_000_000) as i64;
    match state.number_sent(&sent.conversation_id, sent.sender_id, &sent.client_msg_id, sent.message_id, at_ms, changes) {
        Numbering::Repeat(original) => {
            *repeats += 1;
            let sent_at = time::OffsetDateTime::from_unix_timestamp_nanos(original.at_ms as i128 * 1_000_000).unwrap_or(occurred_at);
            replies.push(SendAnswer { request: sent.message_id, message_id: original.message_id, conversation_id: sent.conversation_id, seq: original.seq, sent_at });
            None
        }
        Numbering::Fresh { seq } => {
            *fresh += 1;
            replies.push(SendAnswer {
                request: sent.message_id,
                message_id: sent.message_id,
                conversation_id: sent.conversation_id.clone(),
                seq,
                sent_at: occurred_at,
            });
            let event = SequencedEvent::MessageSequenced(MessageSequenced {
                message_id: sent.message_id,
                conversation_id: sent.conversation_id,
                seq,
                client_msg_id: sent.client_msg_id,
                sender_id: sent.sender_id,
                kind: sent.kind,
                content: sent.content,
                mentions: sent.mentions,
                reply_to: sent.reply_to,
                hidden_from: sent.hidden_from,
                sent_at: occurred_at,
            });
            let mut envelope = Envelope::new(event, actor, correlation, Some(source_id));
            // Derived from the log alone, so a rebuilt log is identical.
            envelope.event_id = Uuid::new_v5(&SEQUENCED_ID_NAMESPACE, source_id.as_bytes());
            envelope.occurred_at = occurred_at;
            let value = serde_json::to_vec(&envelope).expect("an envelope serialises");
            Some((value, headers_of(&envelope)))
        }
    }
}

/// The Kafka name of a base topic name in this process's namespace.
fn kafka_name(base: &str) -> String {
    topics::resolve(base).into_owned()
}

/// One transactional producer, initialised: `init_transactions` fences every
/// older process with this id and aborts its open transaction.
fn transactional_producer(
    cfg: &Config,
    transactional_id: &str,
    output_topic: &str,
    ends: &Arc<Mutex<HashMap<i32, i64>>>,
    acks: &Arc<Acks>,
) -> anyhow::Result<ThreadedProducer<Deliveries>> {
    let deliveries = Deliveries { output_topic: output_topic.to_owned(), ends: ends.clone(), acks: acks.clone() };
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", &cfg.common.kafka_brokers)
        .set("client.id", "beaver-sequencer")
        .set("transactional.id", transactional_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", cfg.producer_linger_ms.to_string())
        .set("retry.backoff.ms", "2")
        // CONCURRENT_TRANSACTIONS right after a commit is retried with exponential back-off: keep it short.
        .set("retry.backoff.max.ms", "20")
        .set("transaction.timeout.ms", cfg.transaction_timeout_ms.to_string())
        .set("message.timeout.ms", cfg.transaction_timeout_ms.to_string())
        .create_with_context(deliveries)
        .context("creating the transactional producer")?;
    producer.init_transactions(Timeout::After(Duration::from_secs(30))).context("init_transactions")?;
    tracing::info!(transactional_id, "transactions initialised");
    Ok(producer)
}

/// This instance's share of the input partitions.
fn mine(consumer: &BaseConsumer, cfg: &Config) -> anyhow::Result<Vec<i32>> {
    let count = |topic: &str| -> anyhow::Result<usize> {
        let md = consumer.fetch_metadata(Some(topic), Timeout::After(Duration::from_secs(30))).with_context(|| format!("metadata of {topic}"))?;
        let n = md.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
        if n == 0 {
            bail!("topic {topic} does not exist (deploy/infra-up creates it)");
        }
        Ok(n)
    };
    let input = count(&kafka_name(topics::MESSAGES))?;
    for topic in [&cfg.output_topic, &cfg.state_topic] {
        let n = count(&kafka_name(topic))?;
        if n < input {
            bail!("{topic} has {n} partitions, fewer than the {input} of {}: each input partition writes to its own number", topics::MESSAGES);
        }
    }
    let instances = cfg.instances.max(1) as i32;
    Ok((0..input as i32).filter(|p| p % instances == cfg.instance as i32).collect())
}

/// The state reader asks to be told when it reaches a partition's end;
/// librdkafka also reports that through the error callback, which rdkafka
/// logs at ERROR. It is not one.
struct EndIsNoError;

impl ClientContext for EndIsNoError {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(%error, reason, "librdkafka error while restoring the state");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EndIsNoError {}

/// Restores this instance's partitions: reads their state partitions from
/// the beginning to their end, then the output written after each
/// partition's checkpoint, deciding its `MessageSequenced`s again (and
/// checking each gets its seq). Both read_committed, after
/// `init_transactions`: nothing is left open. Returns the states and the
/// changes the replay made, which are not in the state topic yet (a
/// partition whose checkpoint the replay moved is listed even without any).
fn restore(cfg: &Config, partitions: &[i32], window_ms: i64) -> anyhow::Result<(BTreeMap<i32, PartitionState>, Dirty)> {
    let started = Instant::now();
    let mut states: BTreeMap<i32, PartitionState> = partitions.iter().map(|p| (*p, PartitionState::new(window_ms))).collect();
    let consumer: BaseConsumer<EndIsNoError> = ClientConfig::new()
        .set("bootstrap.servers", &cfg.common.kafka_brokers)
        .set("group.id", topics::scoped(&format!("{}-restore", cfg.group_id)))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create_with_context(EndIsNoError)
        .context("creating the state reader")?;
    let deadline = Instant::now() + Duration::from_secs(cfg.restore_timeout_secs);
    let state_topic = kafka_name(&cfg.state_topic);
    let from_start: Vec<(i32, i64)> = partitions.iter().map(|p| (*p, 0)).collect();
    let state_records = read_to_end(&consumer, &state_topic, &from_start, deadline, |m| {
        let key = std::str::from_utf8(m.key().unwrap_or_default()).context("a state key is not UTF-8")?;
        let state = states.get_mut(&m.partition()).context("state of a partition not ours")?;
        state.restore(key, m.payload()).with_context(|| format!("state record at {}:{}", m.partition(), m.offset()))
    })?;
    for state in states.values_mut() {
        state.restored();
    }

    let output_topic = kafka_name(&cfg.output_topic);
    let tails: Vec<(i32, i64)> = states.iter().filter_map(|(p, s)| s.replay_from.map(|o| (*p, o))).collect();
    let mut dirty = Dirty::new();
    let mut replayed = 0u64;
    let output_records = read_to_end(&consumer, &output_topic, &tails, deadline, |m| {
        let p = m.partition();
        let state = states.get_mut(&p).context("output of a partition not ours")?;
        let source = m
            .headers()
            .and_then(|hs| hs.iter().find(|h| h.key == topics::HEADER_SOURCE_OFFSET).and_then(|h| h.value))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
            .with_context(|| format!("output record {p}:{} has no {} header", m.offset(), topics::HEADER_SOURCE_OFFSET))?;
        if source < state.next_offset {
            return Ok(()); // decided before the checkpoint: in the state already
        }
        let mut changes = Vec::new();
        if let Some(raw) = m.payload().and_then(|v| RawEnvelope::from_slice(v).ok()).filter(|r| r.event_type == "MessageSequenced") {
            let Envelope { payload: SequencedEvent::MessageSequenced(e), .. } =
                raw.decode::<SequencedEvent>().with_context(|| format!("output record {p}:{}", m.offset()))?;
            let at_ms = (e.sent_at.unix_timestamp_nanos() / 1_000_000) as i64;
            state
                .replay(&e.conversation_id, e.sender_id, &e.client_msg_id, e.message_id, e.seq, at_ms, &mut changes)
                .with_context(|| format!("output record {p}:{}", m.offset()))?;
            replayed += 1;
        }
        state.next_offset = source + 1;
        dirty.entry(p).or_default().extend(changes.into_iter().map(|c| (c.key, c.value)));
        Ok(())
    })?;
    tracing::info!(state_records, output_records, replayed, took_ms = started.elapsed().as_millis() as u64, "state restored");
    Ok((states, dirty))
}

/// State changes per partition, by key.
type Dirty = BTreeMap<i32, HashMap<String, Option<Vec<u8>>>>;

/// Reads `topic`'s partitions from the given offsets to their (read_committed)
/// end, handing each record to `apply`. Returns how many it read.
fn read_to_end(
    consumer: &BaseConsumer<EndIsNoError>,
    topic: &str,
    from: &[(i32, i64)],
    deadline: Instant,
    mut apply: impl FnMut(&rdkafka::message::BorrowedMessage<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut assign = TopicPartitionList::new();
    let mut pending = BTreeSet::new();
    for (p, offset) in from {
        let (low, high) = consumer.fetch_watermarks(topic, *p, Timeout::After(Duration::from_secs(30)))?;
        if high > low.max(*offset) {
            assign.add_partition_offset(topic, *p, Offset::Offset(low.max(*offset)))?;
            pending.insert(*p);
        }
    }
    if pending.is_empty() {
        return Ok(0);
    }
    consumer.assign(&assign)?;
    let mut records = 0u64;
    while !pending.is_empty() {
        if Instant::now() > deadline {
            bail!("restoring the state took longer than the restore timeout (reading {topic})");
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => return Err(e).with_context(|| format!("reading {topic}")),
            Some(Ok(m)) => {
                apply(&m)?;
                records += 1;
            }
        }
    }
    consumer.unassign()?;
    Ok(records)
}
