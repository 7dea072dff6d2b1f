//! `topics list|describe|tail|export`.
//!
//! Records are printed as JSON lines: the envelope, upcast to the current
//! schema version of its event type by `beaver_events::upcast` (the same
//! path the projectors decode through), with `topic`, `partition`, `offset`,
//! `timestamp` (Kafka's, in ms) and `key` added at the top level so that a
//! line loads as one flat row (DuckDB `read_json_auto`, pandas `read_json(lines=True)`).

use crate::{kafka, Global};
use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    message::{BorrowedMessage, Message},
    Offset, TopicPartitionList,
};
use serde_json::{json, Map, Value};
use std::{
    collections::BTreeSet,
    io::Write,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// List the topics with their partition counts and record counts.
    List,
    /// One topic: per-partition offsets, and its retention/compaction/compression settings.
    Describe {
        /// Topic name, e.g. beaver.sequenced.v1.
        topic: String,
    },
    /// Print a topic's envelopes as JSON lines (upcast to the current schema
    /// version, with topic, partition, offset, Kafka timestamp and key).
    ///
    /// Starts at the end and follows new records until Ctrl-C, unless told
    /// where to start. Reads with isolation.level=read_committed, so records
    /// of aborted transactions (beaver.sequenced.v1) never show.
    ///
    /// Examples:
    ///   beaver-admin topics tail beaver.users.v1 --from-beginning --no-follow
    ///   beaver-admin topics tail beaver.sequenced.v1 --since 15m --event-type MessageSequenced
    ///   beaver-admin topics tail beaver.messages.v1 --correlation-id 3f6c… --max 1
    #[command(verbatim_doc_comment)]
    Tail {
        /// Topic name, e.g. beaver.users.v1 (see `topics list`).
        topic: String,
        #[command(flatten)]
        read: ReadArgs,
        /// Stop at the end of the topic instead of waiting for new records.
        #[arg(long)]
        no_follow: bool,
    },
    /// Write a topic's envelopes to a JSON-lines file, from the beginning to
    /// the current end, with a progress bar. The same filters as `tail`.
    ///
    /// Load the file with DuckDB (`SELECT * FROM read_json_auto('users.jsonl')`)
    /// or pandas (`pd.read_json('users.jsonl', lines=True)`).
    #[command(verbatim_doc_comment)]
    Export {
        /// Topic name, e.g. beaver.sequenced.v1.
        topic: String,
        /// File to write (`-` for standard output).
        #[arg(long, short)]
        output: String,
        #[command(flatten)]
        filter: Filter,
    },
}

/// Where to start and which records to print.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Start at the first record still in the topic.
    #[arg(long, conflicts_with_all = ["offset", "since", "last"])]
    pub from_beginning: bool,
    /// Start at this offset (in every selected partition).
    #[arg(long, conflicts_with_all = ["since", "last"])]
    pub offset: Option<i64>,
    /// Start at the first record written at or after this time: RFC 3339
    /// (2026-12-06T10:00:00Z) or an age (90s, 15m, 2h, 7d).
    #[arg(long, conflicts_with = "last")]
    pub since: Option<String>,
    /// Start this many records before the end of each selected partition.
    #[arg(long)]
    pub last: Option<i64>,
    /// Read only this partition (repeatable).
    #[arg(long)]
    pub partition: Vec<i32>,
    /// Stop after printing this many records.
    #[arg(long)]
    pub max: Option<u64>,
    #[command(flatten)]
    pub filter: Filter,
}

/// Record filters (all given must match).
#[derive(Debug, Clone, Default, Args)]
pub struct Filter {
    /// Only envelopes of this event type (repeatable), e.g. MessageSequenced.
    #[arg(long)]
    pub event_type: Vec<String>,
    /// Only envelopes of this aggregate (a user, group or conversation id).
    #[arg(long)]
    pub aggregate_id: Option<String>,
    /// Only envelopes of this correlation id (one client request).
    #[arg(long)]
    pub correlation_id: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.event_type.is_empty() && self.aggregate_id.is_none() && self.correlation_id.is_none()
    }

    fn matches(&self, line: &Map<String, Value>) -> bool {
        let field = |name: &str| line.get(name).and_then(Value::as_str);
        if line.contains_key("error") {
            return self.is_empty();
        }
        (self.event_type.is_empty() || field("event_type").is_some_and(|t| self.event_type.iter().any(|e| e == t)))
            && self.aggregate_id.as_deref().is_none_or(|a| field("aggregate_id") == Some(a))
            && self.correlation_id.as_deref().is_none_or(|c| field("correlation_id") == Some(c))
    }
}

pub async fn run(global: &Global, cmd: TopicsCommand) -> anyhow::Result<ExitCode> {
    let global = global.clone();
    tokio::task::spawn_blocking(move || match cmd {
        TopicsCommand::List => list(&global),
        TopicsCommand::Describe { topic } => describe_blocking(&global, &topic),
        TopicsCommand::Tail { topic, read, no_follow } => tail(&global, &topic, read, no_follow),
        TopicsCommand::Export { topic, output, filter } => export(&global, &topic, &output, filter),
    })
    .await?
}

fn list(global: &Global) -> anyhow::Result<ExitCode> {
    let consumer = kafka::reader(&global.brokers, "beaver-admin")?;
    let mut rows = Vec::new();
    for t in kafka::topics(&consumer, None)? {
        let mut records = 0;
        for p in &t.partitions {
            let (low, high) = kafka::watermarks(&consumer, &t.name, *p)?;
            records += high - low;
        }
        rows.push(json!({ "topic": t.name, "partitions": t.partitions.len(), "records": records }));
    }
    if global.json {
        println!("{}", Value::Array(rows));
    } else {
        println!("{:<32} {:>10} {:>12}", "TOPIC", "PARTITIONS", "RECORDS");
        for r in rows {
            println!("{:<32} {:>10} {:>12}", r["topic"].as_str().unwrap_or(""), r["partitions"].to_string(), r["records"].to_string());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_blocking(global: &Global, topic: &str) -> anyhow::Result<ExitCode> {
    let consumer = kafka::reader(&global.brokers, "beaver-admin")?;
    let metadata = consumer.fetch_metadata(Some(topic), kafka::TIMEOUT)?;
    let t = metadata.topics().iter().find(|t| t.name() == topic).with_context(|| format!("no topic named {topic:?}"))?;
    anyhow::ensure!(t.error().is_none() && !t.partitions().is_empty(), "no topic named {topic:?}");
    let mut partitions = Vec::new();
    let mut ids: Vec<_> = t.partitions().iter().map(|p| (p.id(), p.leader(), p.replicas().len())).collect();
    ids.sort_unstable();
    for (id, leader, replicas) in ids {
        let (low, high) = kafka::watermarks(&consumer, topic, id)?;
        partitions.push(json!({ "partition": id, "leader": leader, "replicas": replicas, "low": low, "high": high, "records": high - low }));
    }
    let configs = topic_configs(&global.brokers, topic)?;
    let doc = json!({ "topic": topic, "partitions": partitions, "configs": configs });
    if global.json {
        println!("{doc}");
    } else {
        println!("topic {topic}");
        for (name, value) in configs.as_object().into_iter().flatten() {
            println!("  {name} = {}", value.as_str().unwrap_or("-"));
        }
        println!("{:>10} {:>7} {:>12} {:>12} {:>12}", "PARTITION", "LEADER", "LOW", "HIGH", "RECORDS");
        for p in doc["partitions"].as_array().into_iter().flatten() {
            let cell = |name: &str| p[name].to_string();
            println!("{:>10} {:>7} {:>12} {:>12} {:>12}", cell("partition"), cell("leader"), cell("low"), cell("high"), cell("records"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The settings an operator or analyst asks about first (the effective
/// values, defaults included).
fn topic_configs(brokers: &str, topic: &str) -> anyhow::Result<Value> {
    const SHOWN: &[&str] = &["cleanup.policy", "retention.ms", "retention.bytes", "compression.type", "min.compaction.lag.ms", "segment.ms", "message.timestamp.type"];
    let admin = kafka::admin(brokers)?;
    let spec = rdkafka::admin::ResourceSpecifier::Topic(topic);
    let opts = rdkafka::admin::AdminOptions::new().request_timeout(Some(kafka::TIMEOUT));
    let handle = tokio::runtime::Handle::current();
    let results = handle.block_on(admin.describe_configs([&spec], &opts)).context("Failed to describe the topic's configs")?;
    let mut out = Map::new();
    for result in results {
        let resource = result.map_err(|e| anyhow::anyhow!("describe configs: {e}"))?;
        for entry in resource.entries {
            if SHOWN.contains(&entry.name.as_str()) {
                out.insert(entry.name, entry.value.map(Value::String).unwrap_or(Value::Null));
            }
        }
    }
    Ok(Value::Object(out))
}

/// Parses `--since`: RFC 3339, or an age such as `15m`.
pub fn parse_since(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: i64 = number.parse().with_context(|| format!("--since {text:?}: expected RFC 3339 or an age like 15m"))?;
    let age = match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => anyhow::bail!("--since {text:?}: the unit must be s, m, h or d"),
    };
    Ok(now - age)
}

/// One record as a flat JSON object (see the module docs).
pub fn record_json(m: &BorrowedMessage<'_>) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert("topic".into(), m.topic().into());
    line.insert("partition".into(), m.partition().into());
    line.insert("offset".into(), m.offset().into());
    line.insert("timestamp".into(), m.timestamp().to_millis().map(Value::from).unwrap_or(Value::Null));
    line.insert("key".into(), m.key().map(|k| Value::String(String::from_utf8_lossy(k).into_owned())).unwrap_or(Value::Null));
    let value = m.payload().unwrap_or_default();
    match decode(value) {
        Ok(Value::Object(envelope)) => line.extend(envelope),
        Ok(_) => unreachable!("an envelope serialises to an object"),
        Err(e) => {
            line.insert("error".into(), e.to_string().into());
            line.insert("value".into(), String::from_utf8_lossy(value).into_owned().into());
        }
    }
    line
}

/// Parses an envelope and lifts its payload to the current schema version.
fn decode(value: &[u8]) -> anyhow::Result<Value> {
    let mut envelope = beaver_events::RawEnvelope::from_slice(value)?;
    let payload = std::mem::take(&mut envelope.payload);
    envelope.payload = beaver_events::upcast::upcast(&envelope.event_type, envelope.schema_version, payload)?;
    if let Some(current) = beaver_events::upcast::current_version(&envelope.event_type) {
        envelope.schema_version = current;
    }
    Ok(serde_json::to_value(envelope)?)
}

/// Where each partition starts.
fn start_positions(consumer: &BaseConsumer, topic: &str, partitions: &[i32], read: &ReadArgs) -> anyhow::Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    if let Some(since) = &read.since {
        let at = parse_since(since, OffsetDateTime::now_utc())?;
        let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        let mut query = TopicPartitionList::new();
        for p in partitions {
            query.add_partition_offset(topic, *p, Offset::Offset(ms))?;
        }
        let found = consumer.offsets_for_times(query, kafka::TIMEOUT).context("Failed to look up offsets by time")?;
        for e in found.elements() {
            // No record at or after that time: start at the end.
            let offset = match e.offset() {
                Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                _ => Offset::End,
            };
            tpl.add_partition_offset(topic, e.partition(), offset)?;
        }
        return Ok(tpl);
    }
    for p in partitions {
        let offset = if read.from_beginning {
            Offset::Beginning
        } else if let Some(o) = read.offset {
            Offset::Offset(o)
        } else if let Some(n) = read.last {
            let (low, high) = kafka::watermarks(consumer, topic, *p)?;
            Offset::Offset((high - n).max(low))
        } else {
            // The end as of now (not as of the first fetch): every record
            // written after the command started is shown.
            Offset::Offset(kafka::watermarks(consumer, topic, *p)?.1)
        };
        tpl.add_partition_offset(topic, *p, offset)?;
    }
    Ok(tpl)
}

fn selected_partitions(consumer: &BaseConsumer, topic: &str, wanted: &[i32]) -> anyhow::Result<Vec<i32>> {
    let all = kafka::topics(consumer, Some(topic))?.remove(0).partitions;
    if wanted.is_empty() {
        return Ok(all);
    }
    for p in wanted {
        anyhow::ensure!(all.contains(p), "{topic} has no partition {p}");
    }
    Ok(wanted.to_vec())
}

/// Set by Ctrl-C: the read loop stops at its next poll.
fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::runtime::Handle::current().spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            set.store(true, Ordering::Relaxed);
        }
    });
    flag
}

/// Reads from `start` and hands every matching line to `emit` until `max`
/// lines, the end of every partition (unless `follow`), or Ctrl-C. `seen`
/// is called with each record's offset (for progress).
#[allow(clippy::too_many_arguments)]
fn read_records(
    consumer: &BaseConsumer,
    start: TopicPartitionList,
    filter: &Filter,
    follow: bool,
    max: Option<u64>,
    mut seen: impl FnMut(i32, i64),
    mut emit: impl FnMut(&Map<String, Value>) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut open: BTreeSet<i32> = start.elements().iter().map(|e| e.partition()).collect();
    consumer.assign(&start).context("Failed to assign partitions")?;
    let stop = interrupted();
    let mut printed = 0u64;
    while !stop.load(Ordering::Relaxed) && max.is_none_or(|m| printed < m) && (follow || !open.is_empty()) {
        match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consume error"),
            Some(Ok(m)) => {
                seen(m.partition(), m.offset());
                let line = record_json(&m);
                if filter.matches(&line) {
                    emit(&line)?;
                    printed += 1;
                }
            }
        }
    }
    Ok(printed)
}

/// Writes a line; a closed pipe (`| head`) ends the program quietly.
fn write_line(out: &mut impl Write, line: &Map<String, Value>, flush: bool) -> anyhow::Result<()> {
    let result = serde_json::to_writer(&mut *out, line)
        .map_err(std::io::Error::from)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| if flush { out.flush() } else { Ok(()) });
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

fn tail(global: &Global, topic: &str, read: ReadArgs, no_follow: bool) -> anyhow::Result<ExitCode> {
    let consumer = kafka::reader(&global.brokers, "beaver-admin")?;
    let partitions = selected_partitions(&consumer, topic, &read.partition)?;
    let start = start_positions(&consumer, topic, &partitions, &read)?;
    let follow = !no_follow;
    // On stderr, so that a script (or a test) knows from when on records show.
    let from: Vec<String> = start.elements().iter().map(|e| format!("{}@{}", e.partition(), describe_offset(e.offset()))).collect();
    eprintln!("reading {topic} from partition@offset {}{}", from.join(" "), if follow { ", following (Ctrl-C stops)" } else { "" });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    read_records(&consumer, start, &read.filter, follow, read.max, |_, _| {}, |line| write_line(&mut out, line, follow))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn describe_offset(offset: Offset) -> String {
    match offset {
        Offset::Beginning => "beginning".into(),
        Offset::End => "end".into(),
        Offset::Offset(o) => o.to_string(),
        other => format!("{other:?}"),
    }
}

fn export(global: &Global, topic: &str, output: &str, filter: Filter) -> anyhow::Result<ExitCode> {
    let consumer = kafka::reader(&global.brokers, "beaver-admin")?;
    let partitions = selected_partitions(&consumer, topic, &[])?;
    let mut total = 0u64;
    let mut lows = std::collections::HashMap::new();
    for p in &partitions {
        let (low, high) = kafka::watermarks(&consumer, topic, *p)?;
        total += (high - low).max(0) as u64;
        lows.insert(*p, low);
    }
    let read = ReadArgs { from_beginning: true, offset: None, since: None, last: None, partition: vec![], max: None, filter: filter.clone() };
    let start = start_positions(&consumer, topic, &partitions, &read)?;
    let mut out: Box<dyn Write> = if output == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        Box::new(std::io::BufWriter::new(std::fs::File::create(output).with_context(|| format!("Failed to create {output}"))?))
    };
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} records ({per_sec}, ETA {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("exporting {topic}"));
    let mut done = std::collections::HashMap::<i32, i64>::new();
    let written = read_records(
        &consumer,
        start,
        &filter,
        false,
        None,
        |p, offset| {
            // Offsets may skip (transaction markers, compaction): count positions, not records.
            let before = done.insert(p, offset + 1).unwrap_or(lows[&p]);
            bar.inc((offset + 1 - before).max(0) as u64);
        },
        |line| write_line(&mut out, line, false),
    )?;
    out.flush()?;
    bar.finish_and_clear();
    let summary = json!({ "topic": topic, "output": output, "records": written });
    if global.json {
        eprintln!("{summary}");
    } else {
        eprintln!("exported {written} records of {topic} to {output}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_an_age_or_a_timestamp() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(parse_since("15m", now).unwrap(), now - time::Duration::minutes(15));
        assert_eq!(parse_since("2d", now).unwrap(), now - time::Duration::days(2));
        assert_eq!(parse_since("2026-12-06T10:00:00Z", now).unwrap().unix_timestamp(), 1796551200);
        assert!(parse_since("soon", now).is_err());
        assert!(parse_since("5y", now).is_err());
    }

    #[test]
    fn filters_combine_and_an_undecodable_record_passes_only_an_empty_filter() {
        let line: Map<String, Value> =
            serde_json::from_value(json!({ "event_type": "UserRegistered", "aggregate_id": "u1", "correlation_id": "c1" })).unwrap();
        let f = Filter { event_type: vec!["UserRegistered".into()], aggregate_id: Some("u1".into()), correlation_id: None };
        assert!(f.matches(&line));
        let f = Filter { aggregate_id: Some("u2".into()), ..Filter::default() };
        assert!(!f.matches(&line));
        let broken: Map<String, Value> = serde_json::from_value(json!({ "error": "not an envelope" })).unwrap();
        assert!(Filter::default().matches(&broken));
        assert!(!Filter { event_type: vec!["X".into()], ..Filter::default() }.matches(&broken));
    }

    #[test]
    fn a_current_envelope_decodes_to_itself_with_its_version() {
        let value = json!({
            "event_id": "0190b3a0-0000-7000-8000-000000000000", "event_type": "UserProfileUpdated", "schema_version": 1,
            "aggregate_type": "user", "aggregate_id": "u1", "occurred_at": "2026-12-06T10:00:00Z",
            "actor": { "kind": "system" }, "correlation_id": "c1", "causation_id": null,
            "payload": { "type": "UserProfileUpdated", "user_id": "0190b3a0-0000-7000-8000-000000000001", "nickname": "Ada" }
        });
        let decoded = decode(value.to_string().as_bytes()).unwrap();
        assert_eq!(decoded["schema_version"], 1);
        assert_eq!(decoded["payload"]["nickname"], "Ada");
        assert!(decode(b"not json").is_err());
    }
}
