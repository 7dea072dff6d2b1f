//! `rebuild`: how fast the messages projector replays its topic from offset 0
//! into a fresh read model.
//!
//! The live topics and the live `beaver` database are never touched:
//! - the log is synthetic, `<prefix>beaver.sequenced.v1` (default prefix
//!   `bench.`), holding `MessageSequenced` events as the sequencer writes
//!   them (seqs 1, 2, … per conversation), with the same key and headers; it
//!   is produced once and reused by later runs;
//! - the read model is a scratch database `beaver_rebuild_<hex>` on the
//!   stack's MariaDB (migrated, dropped afterwards unless `--keep`) and a
//!   separate Redis logical database (flushed first);
//! - the projector is the release binary, started as child processes in a
//!   consumer group of their own with `BEAVER_TOPIC_PREFIX`, exactly as an
//!   operator would start it.
//!
//! Progress is the sum of `next_offset` in the scratch `projector_offsets`,
//! which the projector writes in the same transaction as the rows.

use crate::common::*;
use anyhow::{bail, Context, Result};
use beaver_events::{
    message::direct_conversation_id,
    sequenced::{MessageSequenced, SequencedEvent},
    topics, Actor, Envelope,
};
use beaver_projectors::Config as ProjectorsConfig;
use clap::Args;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    producer::{DeliveryFuture, FutureProducer, FutureRecord},
};
use serde_json::json;
use std::{
    collections::VecDeque,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};
use uuid::Uuid;

#[derive(Args)]
pub(crate) struct RebuildArgs {
    /// `MessageSequenced` events in the synthetic log.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Direct conversations the messages go round-robin over, each between
    /// two synthetic users who take turns sending.
    #[arg(long, default_value_t = 10_000)]
    conversations: u64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// The synthetic log is `<prefix>beaver.messages.v1`; must not be empty
    /// (that would be the live topic).
    #[arg(long, default_value = "bench.")]
    topic_prefix: String,
    /// Partitions of the synthetic topic when it is created (the live topic
    /// has 12, deploy/topics.conf).
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Delete and produce the synthetic topic again even if it already holds
    /// enough events (e.g. after changing --conversations or --size).
    #[arg(long)]
    recreate_topic: bool,
    /// Projector processes in the one consumer group (operators scale out this way).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// The projectors binary (build it with `cargo build --release -p beaver-projectors`).
    #[arg(long, default_value = "target/release/beaver-projectors")]
    projectors_bin: PathBuf,
    /// Most records per transaction (the projector's `batch_size`).
    #[arg(long, default_value_t = ProjectorsConfig::default().batch_size)]
    batch_size: usize,
    /// How long the projector keeps filling a batch (its `batch_window_ms`).
    #[arg(long, default_value_t = ProjectorsConfig::default().batch_window_ms)]
    batch_window_ms: u64,
    #[arg(long, env = "BEAVER_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The stack's MariaDB: the scratch database is created next to the one named here.
    #[arg(long, env = "BEAVER_DATABASE_URL", default_value = "mysql://beaver:beaver@127.0.0.1:3306/beaver")]
    database_url: String,
    /// The stack's Redis, without a database number.
    #[arg(long, env = "BEAVER_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Redis logical database the projector writes to; flushed before the run.
    /// Not 0: that is the live one.
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(1..))]
    redis_db: u32,
    /// Keep the scratch database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,
    /// Where the projector processes log (truncated at the start).
    #[arg(long, default_value = ".state/logs/bench-rebuild.log")]
    log: PathBuf,
    /// Give up when the applied offsets have not moved for this many seconds.
    #[arg(long, default_value_t = 60)]
    stall_secs: u64,
}

/// How often the scratch `projector_offsets` is read.
const POLL: Duration = Duration::from_millis(250);
/// How often progress is printed.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Records the producer may have unacknowledged (librdkafka queues up to 100,000).
const MAX_IN_FLIGHT: usize = 50_000;
/// Steady state is measured between these fractions of the events applied:
/// it leaves out the start-up (process start, group join, first fetches) and
/// the tail, where partitions that finished early leave fewer to work on.
const STEADY: (f64, f64) = (0.10, 0.90);

/// Ensures the synthetic log, replays it into a scratch read model, prints
/// the figures, and drops the scratch database (unless `--keep`).
pub(crate) async fn rebuild_scenario(_c: Arc<Client>, pid_dir: PathBuf, a: RebuildArgs) -> Result<()> {
    println!("command: {}", command_line());
    if a.topic_prefix.is_empty() {
        bail!("--topic-prefix must not be empty: the unprefixed topic is the live one");
    }
    if a.events == 0 || a.conversations == 0 || a.instances == 0 || a.partitions < 1 {
        bail!("--events, --conversations, --instances and --partitions must be positive");
    }
    if !a.projectors_bin.is_file() {
        bail!("{} not found: build it with `cargo build --release -p beaver-projectors` (or give --projectors-bin)", a.projectors_bin.display());
    }
    let topic = format!("{}{}", a.topic_prefix, topics::SEQUENCED);
    let log = ensure_log(&a, &topic).await?;

    let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let scratch = ScratchDatabase::create(&a.database_url, &format!("beaver_rebuild_{run}")).await?;
    let result = replay(&a, &pid_dir, &topic, &log, &scratch, &run).await;
    if a.keep {
        println!("kept scratch database {} ({})", scratch.name, scratch.url);
    } else if let Err(e) = scratch.drop_database().await {
        eprintln!("could not drop scratch database {}: {e:#}", scratch.name);
    }
    result
}

// ---------------------------------------------------------------------------
// The synthetic log.

/// The synthetic topic as the replay finds it.
struct LogShape {
    partitions: usize,
    /// Sum of the partitions' high watermarks: where the projector is done.
    records: u64,
}

/// Makes sure `topic` holds at least `--events` records: reuses it if so,
/// else (re)creates it and produces them.
async fn ensure_log(a: &RebuildArgs, topic: &str) -> Result<LogShape> {
    // A consumer, not a producer, asks for metadata: librdkafka producers may
    // auto-create a topic they ask about, with the broker's default partitions.
    let probe: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &a.brokers).create().context("Failed to create a Kafka client")?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &a.brokers).create().context("Failed to create a Kafka admin client")?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    match log_shape(&probe, topic)? {
        Some(shape) if shape.records >= a.events && !a.recreate_topic => {
            println!(
                "log: reusing {topic}: {} partitions, {} records ≥ --events {} (produced by an earlier run, with its --conversations and --size; every record is replayed)",
                shape.partitions, shape.records, a.events
            );
            return Ok(shape);
        }
        Some(shape) if shape.records == 0 && shape.partitions == a.partitions as usize => {
            println!("log: {topic} exists and is empty; producing into it");
        }
        Some(shape) => {
            println!("log: {topic} holds {} records in {} partitions; deleting it to produce {} afresh", shape.records, shape.partitions, a.events);
            delete_topic(&admin, &opts, &probe, topic).await?;
            create_topic(&admin, &opts, &probe, topic, a.partitions).await?;
        }
        None => create_topic(&admin, &opts, &probe, topic, a.partitions).await?,
    }
    produce(a, topic).await?;
    let shape = log_shape(&probe, topic)?.context("the topic vanished after producing")?;
    if shape.records != a.events {
        bail!("produced {} events but {topic} holds {} records", a.events, shape.records);
    }
    Ok(shape)
}

/// Partitions and total records (sum of high watermarks) of `topic`; `None` if it does not exist.
fn log_shape(probe: &BaseConsumer, topic: &str) -> Result<Option<LogShape>> {
    let metadata = probe.fetch_metadata(Some(topic), Duration::from_secs(10)).context("Failed to fetch Kafka metadata")?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else { return Ok(None) };
    if t.error().is_some() || t.partitions().is_empty() {
        return Ok(None);
    }
    let mut records = 0;
    for p in t.partitions() {
        let (_, high) = probe.fetch_watermarks(topic, p.id(), Duration::from_secs(10)).with_context(|| format!("Failed to read the watermarks of {topic}/{}", p.id()))?;
        records += high.max(0) as u64;
    }
    Ok(Some(LogShape { partitions: t.partitions().len(), records }))
}

/// Deletes `topic` and waits until the broker no longer lists it.
async fn delete_topic(admin: &AdminClient<DefaultClientContext>, opts: &AdminOptions, probe: &BaseConsumer, topic: &str) -> Result<()> {
    for result in admin.delete_topics(&[topic], opts).await.context("Failed to delete the topic")? {
        if let Err((name, code)) = result {
            bail!("Kafka refused to delete {name}: {code}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    // Errors (a partition without a leader) mean the deletion is under way.
    while !matches!(log_shape(probe, topic), Ok(None)) {
        if Instant::now() > deadline {
            bail!("{topic} still exists 60 s after its deletion");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Creates `topic` (replication 1, as every local topic) and waits until all
/// its partitions have a leader. Retries while a deletion is still settling.
async fn create_topic(admin: &AdminClient<DefaultClientContext>, opts: &AdminOptions, probe: &BaseConsumer, topic: &str, partitions: i32) -> Result<()> {
    println!("log: creating {topic} with {partitions} partitions");
    let deadline = Instant::now() + Duration::from_secs(60);
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    loop {
        let results = admin.create_topics([&new], opts).await.context("Failed to create the topic")?;
        match results.into_iter().next() {
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Some(Err((name, code))) => bail!("Kafka refused to create {name}: {code}"),
            _ => break,
        }
    }
    // Ready once every partition has a leader that answers for its watermarks.
    loop {
        let not_yet = match log_shape(probe, topic) {
            Ok(Some(shape)) if shape.partitions == partitions as usize => return Ok(()),
            Ok(_) => anyhow::anyhow!("not every partition is listed yet"),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(not_yet.context(format!("{topic} is not ready 60 s after its creation")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Produces `--events` `MessageSequenced` envelopes into `topic`, as the
/// sequencer writes them: `Envelope::new` with the sender as actor and a UUIDv7
/// correlation id, the conversation id as key, and the tiers' headers
/// (`beaver_platform::kafka::headers_of`; `EventProducer` itself cannot be
/// reused: it always writes to the event's own topic). The producer is idempotent with
/// `acks=all` and lz4 like the tiers', but lingers longer to batch more.
async fn produce(a: &RebuildArgs, topic: &str) -> Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("message.timeout.ms", "120000")
        .set("client.id", "beaver-bench-rebuild")
        .create()
        .context("Failed to create the Kafka producer")?;
    let pairs: Vec<(Uuid, Uuid)> = (0..a.conversations).map(|_| (Uuid::new_v4(), Uuid::new_v4())).collect();
    let conversations: Vec<String> = pairs.iter().map(|(x, y)| direct_conversation_id(*x, *y)).collect();
    let content = json!({ "text": "x".repeat(a.size) });
    let mut seqs = vec![0i64; conversations.len()];
    println!(
        "log: producing {} MessageSequenced events ({} B of text each) over {} direct conversations between {} synthetic users; \
         producer idempotent, acks=all, lz4, linger.ms=20, ≤ {MAX_IN_FLIGHT} unacknowledged",
        a.events,
        a.size,
        a.conversations,
        2 * a.conversations
    );
    let (started, own_cpu0) = (Instant::now(), own_cpu_seconds());
    let mut last_report = started;
    let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::with_capacity(MAX_IN_FLIGHT + 1);
    let mut bytes = 0u64;
    for k in 0..a.events {
        let c = (k % a.conversations) as usize;
        let (x, y) = pairs[c];
        let sender = if (k / a.conversations).is_multiple_of(2) { x } else { y };
        seqs[c] += 1;
        let event = SequencedEvent::MessageSequenced(MessageSequenced {
            message_id: Uuid::now_v7(),
            conversation_id: conversations[c].clone(),
            seq: seqs[c],
            client_msg_id: Uuid::new_v4().simple().to_string(),
            sender_id: sender,
            kind: "text".into(),
            content: content.clone(),
            mentions: Vec::new(),
            reply_to: None,
            hidden_from: None,
            sent_at: time::OffsetDateTime::now_utc(),
        });
        let envelope = Envelope::new(event, Actor::User(sender), Uuid::now_v7().to_string(), None);
        let value = serde_json::to_vec(&envelope)?;
        bytes += value.len() as u64;
        let headers = beaver_platform::kafka::headers_of(&envelope);
        let mut record = FutureRecord::to(topic).key(envelope.aggregate_id.as_str()).payload(&value).headers(headers);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    in_flight.push_back(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    match in_flight.pop_front() {
                        Some(delivery) => settle(delivery).await?,
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((e, _)) => return Err(e).context("Failed to enqueue a record"),
            }
        }
        while in_flight.len() > MAX_IN_FLIGHT {
            settle(in_flight.pop_front().expect("the queue is not empty")).await?;
        }
        if last_report.elapsed() >= REPORT_EVERY {
            last_report = Instant::now();
            println!("  produced {:>9} / {}  ({:.1} s)", k + 1, a.events, started.elapsed().as_secs_f64());
        }
    }
    for delivery in in_flight {
        settle(delivery).await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "log: produced {} events in {elapsed:.1} s: {:.0} events/s, {:.1} MB of JSON values (avg {} B), load generator CPU {:.1} s",
        a.events,
        a.events as f64 / elapsed,
        bytes as f64 / 1e6,
        bytes / a.events,
        own_cpu_seconds() - own_cpu0
    );
    Ok(())
}

/// Waits for the broker's acknowledgement of one record.
async fn settle(delivery: DeliveryFuture) -> Result<()> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e).context("Kafka did not acknowledge a record"),
        Err(_) => bail!("the producer dropped a record before it was acknowledged"),
    }
}

// ---------------------------------------------------------------------------
// The fresh read model.

/// A database created for this run on the stack's MariaDB.
struct ScratchDatabase {
    name: String,
    /// The URL of the scratch database (the live URL with its name swapped).
    url: String,
    /// The live URL, to drop the scratch database from.
    admin_url: String,
}

impl ScratchDatabase {
    /// Creates `name` next to the database of `live_url` and applies the migrations.
    async fn create(live_url: &str, name: &str) -> Result<ScratchDatabase> {
        let (base, query) = live_url.split_once('?').map_or((live_url, None), |(b, q)| (b, Some(q)));
        let (server, _) = base.rsplit_once('/').context("the database URL names no database")?;
        let url = format!("{server}/{name}{}", query.map_or(String::new(), |q| format!("?{q}")));
        let admin = beaver_platform::connect_mysql(live_url, 1).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.with_context(|| format!("Failed to create database {name}"))?;
        let scratch = ScratchDatabase { name: name.to_owned(), url, admin_url: live_url.to_owned() };
        if let Err(e) = beaver_projectors::migrate(&scratch.url).await {
            let _ = scratch.drop_database().await;
            return Err(e);
        }
        Ok(scratch)
    }

    /// Drops the scratch database.
    async fn drop_database(&self) -> Result<()> {
        let admin = beaver_platform::connect_mysql(&self.admin_url, 1).await?;
        sqlx::query(&format!("DROP DATABASE {}", self.name)).execute(&admin).await?;
        Ok(())
    }
}

/// `redis_url` (any database number removed) with database `db`.
fn redis_db_url(redis_url: &str, db: u32) -> String {
    let url = redis_url.trim_end_matches('/');
    let url = match url.rsplit_once('/') {
        Some((server, n)) if !server.ends_with('/') && n.parse::<u32>().is_ok() => server,
        _ => url,
    };
    format!("{url}/{db}")
}

// ---------------------------------------------------------------------------
// The replay.

/// The projector child processes; stopped (SIGTERM, then SIGKILL after 10 s)
/// by [`Projectors::stop`] or when dropped.
struct Projectors(Vec<Child>);

impl Projectors {
    /// Starts `instances` projector processes with `env`, logging to `log`.
    fn spawn(bin: &Path, instances: usize, env: &[(&str, String)], log: &Path) -> Result<Projectors> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
        }
        let file = std::fs::File::create(log).with_context(|| format!("Failed to create {}", log.display()))?;
        let mut children = Projectors(Vec::new());
        for _ in 0..instances {
            let mut cmd = Command::new(bin);
            cmd.arg("run").envs(env.iter().map(|(k, v)| (*k, v))).stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file.try_clone()?);
            // SAFETY: prctl is async-signal-safe; it only asks the kernel to
            // send SIGTERM to the child if this (spawning) thread dies, so an
            // interrupted benchmark leaves no projector behind.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            children.0.push(cmd.spawn().with_context(|| format!("Failed to start {}", bin.display()))?);
        }
        Ok(children)
    }

    /// The instances' process ids, as /proc names them.
    fn pids(&self) -> Vec<String> {
        self.0.iter().map(|c| c.id().to_string()).collect()
    }

    /// Fails if an instance has exited.
    fn check_running(&mut self, log: &Path) -> Result<()> {
        for (i, child) in self.0.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                bail!("projector instance {} exited ({status}); see {}", i + 1, log.display());
            }
        }
        Ok(())
    }

    /// Asks every instance to stop and waits for it (SIGKILL after 10 s).
    fn stop(&mut self) {
        for child in &self.0 {
            // SAFETY: kill(2) on the pid of a child we have not reaped yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.0 {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.0.clear();
    }
}

impl Drop for Projectors {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The infrastructure processes whose CPU is reported, by pid file name.
const INFRA: &[&str] = &["mariadb", "kafka", "redis"];

/// CPU seconds of one process named by its pid file (`<dir>/<name>.pid`).
fn cpu_of_pid_file(dir: &Path, name: &str) -> Option<f64> {
    let pid = std::fs::read_to_string(dir.join(format!("{name}.pid"))).ok()?;
    cpu_seconds_of(pid.trim())
}

/// CPU readings at one instant: each of [`INFRA`], every pid file together, the bench.
struct CpuReading {
    infra: Vec<Option<f64>>,
    all_servers: f64,
    own: f64,
}

impl CpuReading {
    /// Reads them all now.
    fn now(pid_dir: &Path) -> CpuReading {
        CpuReading {
            infra: INFRA.iter().map(|name| cpu_of_pid_file(pid_dir, name)).collect(),
            all_servers: server_cpu_seconds(&pid_dir.to_path_buf()),
            own: own_cpu_seconds(),
        }
    }
}

/// Applied offsets at one instant since the projectors were started.
struct Sample {
    at: Duration,
    done: u64,
}

/// The sum of `next_offset` of the messages projector in `topic`.
async fn applied(pool: &sqlx::MySqlPool, topic: &str) -> Result<u64> {
    let (sum,): (i64,) = sqlx::query_as("SELECT CAST(COALESCE(SUM(next_offset), 0) AS SIGNED) FROM projector_offsets WHERE projector = 'messages' AND topic = ?")
        .bind(topic)
        .fetch_one(pool)
        .await
        .context("Failed to read projector_offsets")?;
    Ok(sum.max(0) as u64)
}

/// Starts the projectors on the scratch read model, follows them until they
/// applied the whole topic, and prints the figures.
async fn replay(a: &RebuildArgs, pid_dir: &Path, topic: &str, log: &LogShape, scratch: &ScratchDatabase, run: &str) -> Result<()> {
    let redis_url = redis_db_url(&a.redis_url, a.redis_db);
    let mut redis = beaver_platform::connect_redis(&redis_url).await?;
    let _: () = redis::cmd("FLUSHDB").query_async(&mut redis).await.context("Failed to flush the scratch Redis database")?;
    let pool = beaver_platform::connect_mysql(&scratch.url, 2).await?;
    let (flush, buffer_pool): (i64, i64) = sqlx::query_as("SELECT CAST(@@innodb_flush_log_at_trx_commit AS SIGNED), CAST(@@innodb_buffer_pool_size AS SIGNED)").fetch_one(&pool).await?;
    let group_prefix = format!("bench-rebuild-{run}-");
    // The projector's group carries its namespace (BEAVER_TOPIC_PREFIX) too.
    let group = format!("{}{group_prefix}messages", a.topic_prefix);
    let target = log.records;
    let defaults = ProjectorsConfig::default();

    println!(
        "scenario: rebuild of the messages read model: replay {target} events of {topic} ({} partitions) from offset 0 into the fresh database {} and Redis db {}",
        log.partitions, scratch.name, a.redis_db
    );
    println!(
        "settings: {} projector process(es) of {} in consumer group {group}; batches of ≤ {} records / {} ms window (projector defaults {} / {}), \
         one transaction per poll, consumer fetch.wait.max.ms=100; sequenced publication off; MariaDB innodb_flush_log_at_trx_commit={flush}, \
         buffer pool {} MiB; logs in {}",
        a.instances,
        a.projectors_bin.display(),
        a.batch_size,
        a.batch_window_ms,
        defaults.batch_size,
        defaults.batch_window_ms,
        buffer_pool / (1 << 20),
        a.log.display()
    );
    println!("steady state: events/s between {:.0} % and {:.0} % of the events applied (leaves out start-up and the tail)", STEADY.0 * 100.0, STEADY.1 * 100.0);

    let env = [
        ("BEAVER_DATABASE_URL", scratch.url.clone()),
        ("BEAVER_REDIS_URL", redis_url.clone()),
        ("BEAVER_KAFKA_BROKERS", a.brokers.clone()),
        ("BEAVER_PROJECTIONS", "messages".to_owned()),
        ("BEAVER_GROUP_PREFIX", group_prefix.clone()),
        ("BEAVER_TOPIC_PREFIX", a.topic_prefix.clone()),
        ("BEAVER_PUBLISH_PROGRESS", "false".to_owned()),
        ("BEAVER_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("BEAVER_BATCH_SIZE", a.batch_size.to_string()),
        ("BEAVER_BATCH_WINDOW_MS", a.batch_window_ms.to_string()),
    ];
    let cpu0 = CpuReading::now(pid_dir);
    let started = Instant::now();
    let mut projectors = Projectors::spawn(&a.projectors_bin, a.instances, &env, &a.log)?;
    let pids = projectors.pids();
    println!("started projector pid(s) {}", pids.join(", "));

    // The projector runs in the `--topic-prefix` namespace: it reads `<prefix>beaver.sequenced.v1`
    // but stores its offsets under the base name.
    let samples = follow(&mut projectors, &pool, topics::SEQUENCED, target, started, a).await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu1 = CpuReading::now(pid_dir);
    let projector_cpu: Vec<Option<f64>> = pids.iter().map(|p| cpu_seconds_of(p)).collect();
    let peak_rss: Vec<Option<u64>> = pids.iter().map(|p| peak_rss_kib(p)).collect();
    projectors.stop();
    delete_group(&a.brokers, &group).await;

    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(&pool).await?;
    let (conversations, seqs): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(max_seq), 0) AS SIGNED) FROM conversations").fetch_one(&pool).await?;
    let redis_keys: i64 = redis::cmd("DBSIZE").query_async(&mut redis).await?;

    let steady = steady_rate(&samples, target);
    println!("events: {target} applied in {wall:.1} s from spawn to done: {:.0} events/s overall", target as f64 / wall);
    println!(
        "steady state: {}",
        match steady {
            Some((rate, from, to)) => format!("{rate:.0} events/s ({from:.1} s → {to:.1} s)"),
            None => "n/a (too few samples; use more --events)".into(),
        }
    );
    if let Some(first) = samples.iter().find(|s| s.done > 0).map(|s| s.at) {
        println!("start-up: first batch committed {:.2} s after spawn (offsets polled every {} ms)", first.as_secs_f64(), POLL.as_millis());
    }
    let check = if rows as u64 == target && seqs as u64 == target { "ok" } else { "MISMATCH" };
    println!("read model: {rows} rows in messages, {conversations} conversations with max_seq summing to {seqs}, expected {target}: {check}; {redis_keys} Redis keys in db {}", a.redis_db);
    if check != "ok" {
        println!("!!!!! MISMATCH: the rebuilt read model does not hold every event once !!!!!");
    }
    let projector_total: f64 = projector_cpu.iter().flatten().sum();
    println!(
        "cpu (s, cores over the {wall:.1} s): projector{} {projector_total:.1} ({:.2}){}",
        if pids.len() > 1 { "s" } else { "" },
        projector_total / wall,
        if pids.len() > 1 { format!(" [{}]", projector_cpu.iter().map(|c| c.map_or("?".into(), |c| format!("{c:.1}"))).collect::<Vec<_>>().join(", ")) } else { String::new() }
    );
    let mut infra_total = 0.0;
    for (i, name) in INFRA.iter().enumerate() {
        match (cpu0.infra[i], cpu1.infra[i]) {
            (Some(before), Some(after)) => {
                infra_total += after - before;
                println!("  {name:<8} {:.1} ({:.2})", after - before, (after - before) / wall);
            }
            _ => println!("  {name:<8} ? (no readable {name}.pid under {})", pid_dir.display()),
        }
    }
    let others = cpu1.all_servers - cpu0.all_servers - infra_total;
    println!("  other processes with pid files (live tiers, gateway) {others:.1} ({:.2})", others / wall);
    println!("  load generator {:.1} ({:.2})", cpu1.own - cpu0.own, (cpu1.own - cpu0.own) / wall);
    println!(
        "memory: projector peak RSS (VmHWM) {}",
        peak_rss.iter().map(|k| k.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))).collect::<Vec<_>>().join(", ")
    );
    if check != "ok" {
        bail!("the rebuilt read model holds {rows} messages, expected {target}");
    }
    Ok(())
}

/// Reads the applied offsets every [`POLL`] until they reach `target`,
/// printing progress every [`REPORT_EVERY`]. Fails if an instance exits or
/// nothing moves for `--stall-secs`. Returns every reading, the first at zero.
async fn follow(projectors: &mut Projectors, pool: &sqlx::MySqlPool, topic: &str, target: u64, started: Instant, a: &RebuildArgs) -> Result<Vec<Sample>> {
    let mut samples = vec![Sample { at: Duration::ZERO, done: 0 }];
    let (mut last_report, mut last_move) = (Duration::ZERO, Duration::ZERO);
    loop {
        tokio::time::sleep(POLL).await;
        projectors.check_running(&a.log)?;
        let done = applied(pool, topic).await?;
        let at = started.elapsed();
        if done > samples.last().expect("samples start with zero").done {
            last_move = at;
        } else if at - last_move > Duration::from_secs(a.stall_secs) {
            bail!("no progress for {} s at {done} / {target} events; see {}", a.stall_secs, a.log.display());
        }
        samples.push(Sample { at, done });
        if done >= target {
            return Ok(samples);
        }
        if at - last_report >= REPORT_EVERY {
            let since = samples.iter().rev().find(|s| s.at <= last_report).expect("the first sample is at zero");
            let rate = (done - since.done) as f64 / (at - since.at).as_secs_f64();
            println!("  {:6.1} s  {done:>9} / {target} events  {rate:>8.0} events/s over the last {:.1} s", at.as_secs_f64(), (at - since.at).as_secs_f64());
            last_report = at;
        }
    }
}

/// Events per second between the first samples at which [`STEADY`]'s
/// fractions of `target` were applied, with those instants in seconds.
fn steady_rate(samples: &[Sample], target: u64) -> Option<(f64, f64, f64)> {
    let reached = |fraction: f64| samples.iter().find(|s| s.done as f64 >= fraction * target as f64);
    let (from, to) = (reached(STEADY.0)?, reached(STEADY.1)?);
    let span = (to.at - from.at).as_secs_f64();
    (span > 0.0).then(|| ((to.done - from.done) as f64 / span, from.at.as_secs_f64(), to.at.as_secs_f64()))
}

/// Deletes the run's consumer group (best effort: Kafka would expire it anyway).
async fn delete_group(brokers: &str, group: &str) {
    let admin: Result<AdminClient<DefaultClientContext>, _> = ClientConfig::new().set("bootstrap.servers", brokers).create();
    let deleted = match admin {
        Ok(admin) => admin.delete_groups(&[group], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))).await,
        Err(e) => Err(e),
    };
    match deleted {
        Ok(results) => {
            for (name, code) in results.into_iter().filter_map(Result::err) {
                eprintln!("could not delete consumer group {name}: {code}");
            }
        }
        Err(e) => eprintln!("could not delete consumer group {group}: {e}"),
    }
}
