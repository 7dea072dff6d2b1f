//! The stack lives in its own namespace: what it writes lands in its topics,
//! its scratch database and its prefixed Redis keys — never the live ones.

use beaver_tests::stack::{unique, TestStack, PASSWORD};
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
};
use serde_json::json;
use sqlx::{Connection, MySqlConnection};
use std::{sync::Arc, time::Duration};

async fn users_named(database_url: &str, name: &str) -> i64 {
    let mut conn = MySqlConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = ?").bind(name).fetch_one(&mut conn).await.unwrap()
}

/// Records on every partition of `topic` (high minus low watermark).
fn records(brokers: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", unique("inproc_probe")).create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
    assert!(!partitions.is_empty(), "{topic} exists");
    partitions.iter().map(|p| consumer.fetch_watermarks(topic, *p, Duration::from_secs(10)).map(|(lo, hi)| hi - lo).unwrap()).sum()
}

pub async fn the_stack_writes_only_its_own_topics_database_and_keys(stack: Arc<TestStack>) {
    let api = stack.api();
    let name = unique("iso");
    api.post("/api/user/register", None, json!({ "username": name, "password": PASSWORD })).await.expect(200);
    let login = api.post("/api/user/login", None, json!({ "username": name, "password": PASSWORD })).await.expect(200);
    let session = login.data()["session_id"].as_str().unwrap().to_owned();

    assert_eq!(users_named(stack.database_url(), &name).await, 1, "the scratch read model has the user");
    assert_eq!(users_named(stack.live_database_url(), &name).await, 0, "the live read model never sees the stack's user");

    let (brokers, topic) = (stack.brokers().to_owned(), format!("{}{}", stack.prefix(), beaver_events::topics::USERS));
    let on_topic = tokio::task::spawn_blocking(move || records(&brokers, &topic)).await.unwrap();
    assert!(on_topic >= 1, "the registration is on the stack's own users topic");

    let client = redis::Client::open(stack.redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let prefixed: bool = redis::cmd("EXISTS").arg(format!("{}beaver:session:live:{session}", stack.prefix())).query_async(&mut redis).await.unwrap();
    let bare: bool = redis::cmd("EXISTS").arg(format!("beaver:session:live:{session}")).query_async(&mut redis).await.unwrap();
    assert!(prefixed, "the sessions projector wrote the live-session key under the stack's prefix");
    assert!(!bare, "no key outside the stack's prefix");
}
