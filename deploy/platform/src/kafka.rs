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
    config::ClientConfig,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer},
    util::Timeout,
};
use std::time::Duration;

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
}

/// Thin, cloneable handle on one idempotent producer.
#[derive(Clone)]
pub struct EventProducer {
    producer: FutureProducer,
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

    /// Builds the producer with a `client.id` naming its tier in broker logs.
    pub fn with_client_id(brokers: &str, linger_ms: u32, client_id: &str) -> anyhow::Result<Self> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger_ms.to_string())
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "30000")
            .set("client.id", client_id)
            .create()?;
        Ok(EventProducer { producer })
    }

    /// Appends one event and waits for the broker's acknowledgement.
    pub async fn append<E: DomainEvent>(&self, envelope: &Envelope<E>) -> Result<Position, AppendError> {
        let value = serde_json::to_vec(envelope)?;
        let headers = headers_of(envelope);
        let record = FutureRecord::to(E::TOPIC)
            .key(envelope.aggregate_id.as_str())
            .payload(&value)
            .headers(headers);
        let started = std::time::Instant::now();
        let delivery = self.producer.send(record, Timeout::After(Duration::from_secs(30))).await;
        metrics::histogram!("kafka_append_duration_seconds", "topic" => E::TOPIC).record(started.elapsed().as_secs_f64());
        let delivered = delivery.map_err(|(e, _)| e)?;
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
                .fetch_metadata(Some(topics::USERS), Duration::from_secs(2))
                .map(|_| ())
        })
        .await??;
        Ok(())
    }

    /// Waits for outstanding records on shutdown.
    pub fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}
