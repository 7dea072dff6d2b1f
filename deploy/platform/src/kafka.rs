//! Appending events to Kafka.
//!
//! The producer is idempotent (`enable.idempotence=true`, which implies
//! `acks=all` and ordered retries), so a retried batch never duplicates or
//! reorders records within a partition. [`EventProducer::append`] returns only
//! after the broker acknowledged the record, with its partition and offset —
//! callers answer clients only then, and can wait for a projector to pass that
//! offset (read-your-writes).

use beaver_events::{topics, DomainEvent, Envelope};
use rdkafka::{
    client::ClientContext,
    config::ClientConfig,
    consumer::ConsumerContext,
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer},
    statistics::Statistics,
    types::RDKafkaErrorCode,
    util::Timeout,
};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

/// Longest pause between reconnect attempts to a broker (librdkafka's default
/// is 10 s, which kept tiers away from a restarted broker for seconds).
pub const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// A poll timeout rounded up to whole milliseconds. rdkafka's `poll` hands
/// librdkafka the timeout truncated to milliseconds and loops until the
/// `Duration` has passed, so a timeout with a sub-millisecond remainder
/// ends in a busy loop of non-blocking polls for up to 1 ms. A consumer that
/// polls a batch window per batch (the projectors) spun that long per batch:
/// at 100 msg/s that was most of the projectors' 0.25 cores.
pub fn poll_timeout(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.as_micros().div_ceil(1000) as u64)
}

/// Whether this client can reach a broker, as librdkafka reports it: an
/// `ALL_BROKERS_DOWN` error marks it down at once; statistics naming a broker
/// in state `UP`, an acknowledged record or a successful metadata probe mark
/// it up again. Shared by a client's context and whoever asks (`/healthz`,
/// the producer's fail-fast gate).
#[derive(Clone, Debug, Default)]
pub struct KafkaHealth {
    down: Arc<AtomicBool>,
}

impl KafkaHealth {
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    pub fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Kafka reachable again");
        }
    }

    pub fn mark_down(&self, why: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(reason = why, "Kafka unreachable");
        }
    }

    /// Marks up when librdkafka's statistics show a connected broker.
    pub fn observe(&self, statistics: &Statistics) {
        if statistics.brokers.values().any(|b| b.nodeid >= 0 && b.state == "UP") {
            self.mark_up();
        }
    }

    /// `Ok` when up, else an error naming the outage (for `/healthz`).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.is_up() {
            Ok(())
        } else {
            Err(anyhow::anyhow!("no Kafka broker reachable"))
        }
    }
}

/// A client context that keeps a [`KafkaHealth`] current. Give the client
/// `statistics.interval.ms` so that recovery is seen without traffic.
#[derive(Clone, Default)]
pub struct HealthContext {
    pub health: KafkaHealth,
}

impl ClientContext for HealthContext {
    fn stats(&self, statistics: Statistics) {
        self.health.observe(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.health.mark_down(reason);
        } else {
            tracing::warn!(%error, reason, "librdkafka error");
        }
    }
}

impl ConsumerContext for HealthContext {}

/// Where an appended event landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

/// Failure to append.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("could not serialise event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("Kafka did not acknowledge the event: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// No broker is reachable: refused at once instead of waiting for the message timeout.
    #[error("no Kafka broker reachable")]
    Down,
}

/// Thin, cloneable handle on one idempotent producer.
#[derive(Clone)]
pub struct EventProducer {
    producer: FutureProducer<HealthContext>,
    health: KafkaHealth,
    message_timeout: Duration,
}

/// The Kafka headers every Beaver record carries (type, schema version,
/// event id, correlation id, content type), so that any Kafka client can read
/// a topic without parsing the value.
pub fn headers_of<E: DomainEvent>(envelope: &Envelope<E>) -> OwnedHeaders {
    let version = envelope.schema_version.to_string();
    let event_id = envelope.event_id.to_string();
    OwnedHeaders::new()
        .insert(Header { key: topics::HEADER_EVENT_TYPE, value: Some(envelope.event_type.as_str()) })
        .insert(Header { key: topics::HEADER_SCHEMA_VERSION, value: Some(version.as_str()) })
        .insert(Header { key: topics::HEADER_EVENT_ID, value: Some(event_id.as_str()) })
        .insert(Header { key: topics::HEADER_CORRELATION_ID, value: Some(envelope.correlation_id.as_str()) })
        .insert(Header { key: topics::HEADER_CONTENT_TYPE, value: Some("application/json") })
}

impl EventProducer {
    /// Builds the producer. `linger_ms` trades latency for batching.
    pub fn new(brokers: &str, linger_ms: u32) -> anyhow::Result<Self> {
        Self::with_client_id(brokers, linger_ms, "beaver-commands")
    }

    /// Builds the producer with a `client.id` naming its tier in broker logs
    /// and the default message timeout (30 s, for background appenders).
    pub fn with_client_id(brokers: &str, linger_ms: u32, client_id: &str) -> anyhow::Result<Self> {
        Self::with_timeout(brokers, linger_ms, client_id, Duration::from_secs(30))
    }

    /// Builds the producer. `message_timeout` bounds how long an append waits
    /// for the broker's acknowledgement; request paths keep it short so that a
    /// client gets its 503 quickly. While no broker is reachable, appends are
    /// refused at once ([`AppendError::Down`]); a probe every 250 ms notices
    /// the broker's return. Must be called inside a Tokio runtime.
    pub fn with_timeout(brokers: &str, linger_ms: u32, client_id: &str, message_timeout: Duration) -> anyhow::Result<Self> {
        let context = HealthContext::default();
        let health = context.health.clone();
        let producer: FutureProducer<HealthContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger_ms.to_string())
            .set("compression.type", "lz4")
            .set("message.timeout.ms", message_timeout.as_millis().to_string())
            .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS)
            .set("statistics.interval.ms", "1000")
            .set("client.id", client_id)
            .create_with_context(context)?;
        let probe = producer.clone();
        let watched = health.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if watched.is_up() {
                    continue;
                }
                let p = probe.clone();
                let reached = tokio::task::spawn_blocking(move || p.client().fetch_metadata(None, Duration::from_secs(1)).is_ok()).await;
                if matches!(reached, Ok(true)) {
                    watched.mark_up();
                }
            }
        });
        Ok(EventProducer { producer, health, message_timeout })
    }

    /// Whether a broker is reachable as far as this producer knows.
    pub fn health(&self) -> &KafkaHealth {
        &self.health
    }

    /// Appends one event and waits for the broker's acknowledgement.
    pub async fn append<E: DomainEvent>(&self, envelope: &Envelope<E>) -> Result<Position, AppendError> {
        if !self.health.is_up() {
            return Err(AppendError::Down);
        }
        let value = serde_json::to_vec(envelope)?;
        let headers = headers_of(envelope);
        // The Kafka boundary: the topic in this process's namespace (beaver_events::topics).
        let topic = topics::resolve(E::TOPIC);
        let record = FutureRecord::to(&topic)
            .key(envelope.aggregate_id.as_str())
            .payload(&value)
            .headers(headers);
        let started = std::time::Instant::now();
        let delivery = self.producer.send(record, Timeout::After(self.message_timeout)).await;
        metrics::histogram!("kafka_append_duration_seconds", "topic" => E::TOPIC).record(started.elapsed().as_secs_f64());
        let delivered = delivery.map_err(|(e, _)| e)?;
        self.health.mark_up();
        metrics::counter!("events_appended_total", "topic" => E::TOPIC, "event_type" => envelope.event_type.clone())
            .increment(1);
        Ok(Position {
            partition: delivered.partition,
            offset: delivered.offset,
        })
    }

    /// Appends several events at once and waits until the broker acknowledged
    /// all of them (each partition keeps the slice's order).
    pub async fn append_all<E: DomainEvent>(&self, envelopes: &[Envelope<E>]) -> Result<Vec<Position>, AppendError> {
        futures::future::try_join_all(envelopes.iter().map(|e| self.append(e))).await
    }

    /// Asks the cluster for metadata; used by health checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topics::resolve(topics::USERS)), Duration::from_secs(1))
                .map(|_| ())
        })
        .await??;
        self.health.mark_up();
        Ok(())
    }

    /// Waits for outstanding records on shutdown.
    pub fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod poll_timeout_tests {
    use super::poll_timeout;
    use std::time::Duration;

    #[test]
    fn poll_timeouts_are_whole_milliseconds_never_shorter() {
        assert_eq!(poll_timeout(Duration::from_micros(4_300)), Duration::from_millis(5));
        assert_eq!(poll_timeout(Duration::from_micros(300)), Duration::from_millis(1));
        assert_eq!(poll_timeout(Duration::from_millis(7)), Duration::from_millis(7));
        assert_eq!(poll_timeout(Duration::ZERO), Duration::ZERO);
    }
}
