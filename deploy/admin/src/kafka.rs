//! Kafka clients as the admin tool builds them, and metadata helpers.

use anyhow::Context;
use rdkafka::{
    admin::AdminClient,
    client::DefaultClientContext,
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
};
use std::time::Duration;

/// How long one metadata or offsets request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A consumer that never joins a group. `isolation.level=read_committed`
/// because `beaver.sequenced.v1` is written in Kafka transactions: without
/// it a reader would see records of aborted transactions.
pub fn reader(brokers: &str, group: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("client.id", "beaver-admin")
        .create()
        .context("Failed to create a Kafka consumer")
}

/// An admin client (configs, group deletion).
pub fn admin(brokers: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "beaver-admin")
        .create()
        .context("Failed to create a Kafka admin client")
}

/// One topic: name and partition count.
#[derive(Clone, Debug)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<i32>,
}

/// The cluster's topics (Kafka's internal `__*` ones left out), by name.
pub fn topics(consumer: &BaseConsumer, only: Option<&str>) -> anyhow::Result<Vec<TopicInfo>> {
    let metadata = consumer.fetch_metadata(only, TIMEOUT).context("Failed to fetch Kafka metadata")?;
    let mut topics: Vec<TopicInfo> = metadata
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__") && t.error().is_none())
        .map(|t| {
            let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            partitions.sort_unstable();
            TopicInfo { name: t.name().to_owned(), partitions }
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(name) = only {
        anyhow::ensure!(topics.iter().any(|t| t.name == name && !t.partitions.is_empty()), "no topic named {name:?}");
    }
    Ok(topics)
}

/// Low and high watermark of one partition (the high one is the next offset
/// to be written; on a transactional topic it counts the commit markers too).
pub fn watermarks(consumer: &BaseConsumer, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
    consumer
        .fetch_watermarks(topic, partition, TIMEOUT)
        .with_context(|| format!("Failed to fetch the watermarks of {topic}/{partition}"))
}
