//! Beaver's sequencer: the one place where a message gets its number. It is a
//! Kafka stream processor between the commands tier and everything that
//! reads conversations: it consumes `beaver.messages.v1` (read_committed) and,
//! in one Kafka transaction per batch, writes every conversation event in log
//! order to `beaver.sequenced.v1` — each new `MessageSent` as its
//! `MessageSequenced`, with the conversation's next seq; repeats of a
//! `(sender, client_msg_id)` within the dedup window dropped; everything else
//! passed through — together with its state changes (compacted
//! `beaver.sequencer-state.v1`, with each partition's checkpoint: the next
//! input offset; the consumer group's offsets follow once a second). After
//! each commit it answers the waiting senders over Redis. The messages
//! projector and ws-push read only its output, so MariaDB is off the send
//! path (docs/chat.md, "Sequencing").
//!
//! # Layout
//! - [`core`]: the pure rules (seqs, dedup window, state records).
//! - [`worker`]: sessions of the transactional loop (fencing, restore, batches).
//! - [`run`]: the worker thread, the answer publisher, `/healthz` and `/metrics`.

pub mod core;
pub mod worker;

use beaver_platform::{sequencing::SendAnswer, serve};
use beaver_readmodel::keys::{answers_channel, sequenced_ends};
use serde::{Deserialize, Serialize};
use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::sync::mpsc;

/// Sequencer configuration (`BEAVER_*` variables override, e.g. `BEAVER_INSTANCE`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address (health and metrics only), Kafka, Redis and the namespace;
    /// the database and JWT settings are not used here.
    #[serde(flatten)]
    pub common: beaver_platform::config::Common,
    /// This process's share: input partitions `p` with `p % instances == instance`.
    pub instance: u32,
    pub instances: u32,
    /// Transactional lanes in this process: its share is split again, lane
    /// `k` taking the partitions with `p % (instances·lanes) == instance·lanes + k`,
    /// each with its own producer (`transactional.id` `<base>-<instance·lanes + k>`)
    /// and consumer, so that several transactions are in flight at once.
    /// Change it only with the old process stopped (its lanes would not be fenced).
    pub lanes: u32,
    /// `transactional.id` is `<namespace><base>-<instance>` (and `…-t1`, … for
    /// the other turns): a restarted instance fences its predecessor.
    pub transactional_id_base: String,
    /// Transactional producers per lane taking turns, one transaction each,
    /// so that a transaction need not wait for the broker to finish writing
    /// the previous one's commit markers. Lower it only with the old process
    /// stopped (its extra producers would not be fenced).
    pub turns: u32,
    /// Consumer group whose committed offsets are part of a transaction at
    /// most every `offsets_every_ms` (in the namespace).
    pub group_id: String,
    /// How often a transaction also commits the input offsets to the consumer
    /// group (`send_offsets_to_transaction`, two more round trips and a marker).
    /// A restart resumes from the state topic's checkpoints plus the output
    /// written since; the group's offsets are for `beaver-admin groups status`
    /// and may trail by this much. 0: in every transaction.
    pub offsets_every_ms: u64,
    /// How often a transaction also writes the state changes and checkpoints
    /// to the state topic (always when it commits offsets). A restart
    /// replays the output written since (at most this much). 0: in every
    /// transaction, which doubles the partitions each one writes.
    pub state_every_ms: u64,
    /// Base names; Kafka's are in the process's namespace (`beaver_events::topics::resolve`).
    pub output_topic: String,
    pub state_topic: String,
    /// How long (log time) a `(sender, client_msg_id)` is remembered.
    pub window_secs: u64,
    /// Most input records per transaction.
    pub batch_max: usize,
    /// How long a batch keeps filling after its first record.
    pub linger_ms: u64,
    /// Longest wait for a first record.
    pub fetch_wait_max_ms: u64,
    /// The producer's own batching delay inside a transaction.
    pub producer_linger_ms: u64,
    /// Bounds every transactional call and the broker's transaction timeout.
    pub transaction_timeout_ms: u64,
    pub restore_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            common: beaver_platform::config::Common::serving("127.0.0.1:21085"),
            instance: 0,
            instances: 1,
            lanes: 1,
            transactional_id_base: "beaver-sequencer".into(),
            turns: 2,
            group_id: "beaver-sequencer".into(),
            offsets_every_ms: 1000,
            state_every_ms: 1000,
            output_topic: beaver_events::topics::SEQUENCED.into(),
            state_topic: beaver_events::topics::SEQUENCER_STATE.into(),
            window_secs: 600,
            batch_max: 2000,
            linger_ms: 0,
            fetch_wait_max_ms: 100,
            producer_linger_ms: 0,
            transaction_timeout_ms: 10_000,
            restore_timeout_secs: 120,
        }
    }
}

/// What the worker thread reports to `/healthz`.
#[derive(Default)]
pub struct Status {
    pub stop: AtomicBool,
    ready: AtomicBool,
    fenced: AtomicBool,
    /// Unix ms of the worker's last completed step.
    last_beat_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    partitions: Mutex<Vec<i32>>,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Status {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
        if ready {
            *self.last_error.lock().expect("status lock") = None;
        }
    }
    pub fn beat(&self) {
        self.last_beat_ms.store(now_ms(), Ordering::Relaxed);
    }
    fn set_partitions(&self, partitions: Vec<i32>) {
        *self.partitions.lock().expect("status lock") = partitions;
    }
    fn check(&self, stall: Duration) -> anyhow::Result<()> {
        if self.fenced.load(Ordering::Relaxed) {
            anyhow::bail!("fenced by a newer sequencer with the same transactional id");
        }
        if !self.ready.load(Ordering::Relaxed) {
            let error = self.last_error.lock().expect("status lock").clone();
            anyhow::bail!("not running a session{}", error.map(|e| format!(": {e}")).unwrap_or_default());
        }
        let since = now_ms() - self.last_beat_ms.load(Ordering::Relaxed);
        if since > stall.as_millis() as i64 {
            anyhow::bail!("no batch step completed for {since} ms");
        }
        Ok(())
    }
}

/// Whether every lane is assigned and committing (none stalled).
fn lanes_healthy(lanes: &[Arc<Status>], stall: Duration) -> anyhow::Result<()> {
    for (k, lane) in lanes.iter().enumerate() {
        let partitions = lane.partitions.lock().expect("status lock").clone();
        lane.check(stall).map_err(|e| e.context(format!("lane {k} (partitions {partitions:?})")))?;
    }
    Ok(())
}

/// What one committed transaction tells the rest of the system.
pub struct Committed {
    /// One per `MessageSent` read.
    pub answers: Vec<SendAnswer>,
    /// (partition, end offset) of the output written.
    pub ends: Vec<(i32, i64)>,
}

/// Publishes each committed batch: first the output ends (the read barrier
/// of `sequencing::await_projection`), then the answers. Best effort: a lost
/// answer costs its sender a 202 and a resend, never a wrong answer.
async fn publish_answers(mut rx: mpsc::UnboundedReceiver<Committed>, redis: redis::aio::ConnectionManager) {
    while let Some(committed) = rx.recv().await {
        let mut pipe = redis::pipe();
        if !committed.ends.is_empty() {
            pipe.hset_multiple(sequenced_ends(), &committed.ends).ignore();
        }
        if !committed.answers.is_empty() {
            let payload = serde_json::to_vec(&committed.answers).expect("answers serialise");
            pipe.cmd("PUBLISH").arg(answers_channel()).arg(payload).ignore();
        }
        let sent: redis::RedisResult<()> = pipe.query_async(&mut redis.clone()).await;
        if let Err(e) = sent {
            metrics::counter!("sequencer_answers_lost_total").increment(committed.answers.len() as u64);
            tracing::warn!(error = %e, lost = committed.answers.len(), "could not publish answers");
        }
    }
}

/// Runs the sequencer until `shutdown` resolves or it is fenced (then it
/// returns an error: a newer process owns its partitions).
pub async fn run(config: Config, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    beaver_platform::telemetry::prometheus();
    // Exported from the start, so that alert rules find them (deploy/observability).
    for counter in ["sequencer_session_failures_total", "sequencer_answers_lost_total", "sequencer_messages_sequenced_total", "sequencer_repeats_total"] {
        metrics::counter!(counter).increment(0);
    }
    config.common.enter_namespace()?;
    let redis = beaver_platform::connect_redis(config.common.redis_url()).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(publish_answers(rx, redis.clone()));

    let lanes = config.lanes.max(1);
    let mut statuses = Vec::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<anyhow::Result<()>>();
    for k in 0..lanes {
        let status = Arc::new(Status::default());
        statuses.push(status.clone());
        let mut lane = config.clone();
        lane.instance = config.instance * lanes + k;
        lane.instances = config.instances.max(1) * lanes;
        let (tx, done_tx) = (tx.clone(), done_tx.clone());
        std::thread::Builder::new().name(format!("sequencer-{k}")).spawn(move || {
            let _ = done_tx.send(run_lane(&lane, &status, &tx));
        })?;
    }
    drop(tx);
    let stall = Duration::from_millis(config.transaction_timeout_ms * 2 + config.fetch_wait_max_ms + 1000);
    let statuses = Arc::new(statuses);
    let lanes = statuses.clone();
    let health = serve::HealthChecks::new()
        .check("kafka_transactions", move || std::future::ready(lanes_healthy(&lanes, stall)))
        .redis(redis);
    let app = health.route();
    let server = tokio::spawn(serve::serve(listener, app, shutdown));
    let stop_all = || statuses.iter().for_each(|s| s.stop.store(true, Ordering::Relaxed));
    tokio::select! {
        served = server => {
            stop_all();
            served??;
            Ok(())
        }
        // A lane ends only when fenced (or stopped): then this process is stale.
        lane = done_rx.recv() => {
            stop_all();
            lane.unwrap_or_else(|| Err(anyhow::anyhow!("the sequencer threads died")))
        }
    }
}

/// Runs one lane's sessions until it is stopped or fenced; a failed session is followed by a new one.
fn run_lane(config: &Config, status: &Arc<Status>, tx: &mpsc::UnboundedSender<Committed>) -> anyhow::Result<()> {
    let mut pause = Duration::from_millis(100);
    loop {
        match worker::run_session(config, status, tx) {
            worker::SessionEnd::Stopped => return Ok(()),
            worker::SessionEnd::Fenced(e) => {
                status.fenced.store(true, Ordering::Relaxed);
                tracing::error!(error = ?e, lane = config.instance, "fenced by a newer sequencer; exiting");
                return Err(e.context("fenced"));
            }
            worker::SessionEnd::Failed(e) => {
                tracing::error!(error = ?e, lane = config.instance, "session failed; starting a new one");
                metrics::counter!("sequencer_session_failures_total").increment(1);
                *status.last_error.lock().expect("status lock") = Some(format!("{e:#}"));
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
