//! Talking to the running system: HTTP through the gateway, and direct reads
//! of Kafka topics and MariaDB to check what was (not) appended or projected.

use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
    message::Message,
    Offset, TopicPartitionList,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub fn gateway() -> String {
    std::env::var("BEAVER_GATEWAY_URL").unwrap_or_else(|_| "http://127.0.0.1:21080".into())
}

/// The seed's WebSocket address: `/ws` on the gateway's second port
/// (`BEAVER_GATEWAY_WS_PORT`, default 21040), on the host of `gateway()`.
pub fn gateway_ws_url() -> String {
    format!("{}/ws", gateway_ws_origin().replacen("http://", "ws://", 1))
}

/// `http://<gateway host>:<BEAVER_GATEWAY_WS_PORT>`, for plain HTTP to that port.
pub fn gateway_ws_origin() -> String {
    let port = std::env::var("BEAVER_GATEWAY_WS_PORT").unwrap_or_else(|_| "21040".into());
    let g = gateway();
    let authority = g.split("://").nth(1).unwrap_or(&g).split('/').next().unwrap_or_default().to_owned();
    let host = authority.rsplit_once(':').map_or(authority.as_str(), |(h, _)| h);
    format!("http://{host}:{port}")
}

pub fn brokers() -> String {
    std::env::var("BEAVER_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The stack's Redis (`BEAVER_REDIS_URL`, else `BEAVER_REDIS_PORT` on loopback).
/// Used by the sequencer, admin and fault tests, not by `api` itself.
#[allow(dead_code)]
pub fn redis_url() -> String {
    std::env::var("BEAVER_REDIS_URL").unwrap_or_else(|_| format!("redis://127.0.0.1:{}", std::env::var("BEAVER_REDIS_PORT").unwrap_or_else(|_| "6379".into())))
}

pub fn database_url() -> String {
    std::env::var("BEAVER_DATABASE_URL").unwrap_or_else(|_| "mysql://beaver:beaver@127.0.0.1:3306/beaver".into())
}

/// A fresh lower-case name, unique across runs: `prefix_<12 hex>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A fresh E.164 phone number (+1 and 12 random digits).
pub fn unique_phone() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000;
    format!("+1{n:012}")
}

/// One HTTP client; answers come back as (status, envelope).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Asserts the status and that the body is the envelope repeating it.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {}", self.body);
        assert_eq!(self.body["code"], status, "envelope code must repeat the status: {}", self.body);
        assert!(self.body["timestamp"].is_i64(), "envelope needs a timestamp: {}", self.body);
        assert!(self.body["message"].is_string(), "envelope needs a message: {}", self.body);
        self
    }

    pub fn error_kind(&self) -> &str {
        self.body["data"]["error"].as_str().unwrap_or("")
    }
}

impl Api {
    pub fn new() -> Self {
        Api { http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(), base: gateway() }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("gateway unreachable: is the stack up (deploy/up)?");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        Answer { status, body }
    }

    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Ends a friendship (idempotent).
    pub async fn delete_friend(&self, token: &str, friend: &str) {
        self.call(Method::DELETE, &format!("/api/friend/{friend}"), Some(token), None).await.expect(200);
    }

    /// Registers `username` with a fixed password; returns the user id.
    pub async fn register(&self, username: &str) -> String {
        let a = self.post("/api/user/register", None, json!({ "username": username, "password": PASSWORD })).await.expect(200);
        a.data()["user_id"].as_str().unwrap().to_owned()
    }

    /// Logs in; returns the login answer's data (tokens, ids).
    pub async fn login(&self, username: &str) -> Value {
        self.post("/api/user/login", None, json!({ "username": username, "password": PASSWORD })).await.expect(200).data().clone()
    }

    /// Registers and logs in; returns (user id, access token, refresh token).
    pub async fn signed_up(&self, username: &str) -> (String, String, String) {
        let id = self.register(username).await;
        let l = self.login(username).await;
        (id, l["access_token"].as_str().unwrap().to_owned(), l["refresh_token"].as_str().unwrap().to_owned())
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// Every record value on `topic`, from offset 0 to the current end, as a
/// `read_committed` consumer sees it (transactional topics hold commit
/// markers and aborted records that take offsets but are never delivered, so
/// the end is found by end-of-partition events, not by counting offsets).
pub async fn read_topic(topic: &'static str) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        let mut values = Vec::new();
        each_record(topic, |m| {
            if let Some(v) = m.payload() {
                values.push(serde_json::from_slice(v).unwrap_or(Value::Null));
            }
        });
        values
    })
    .await
    .unwrap()
}

/// Every record of `topic` that `keep(key, value)` keeps, as (key, size of
/// the value in bytes, value), in topic order.
pub async fn records_where(topic: &'static str, keep: impl Fn(&str, &Value) -> bool + Send + 'static) -> Vec<(String, usize, Value)> {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        each_record(topic, |m| {
            let Some(p) = m.payload() else { return };
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let v: Value = serde_json::from_slice(p).unwrap_or(Value::Null);
            if keep(&key, &v) {
                out.push((key, p.len(), v));
            }
        });
        out
    })
    .await
    .unwrap()
}

/// The record values on `topic` that `keep` keeps, in topic order: filtered
/// while reading, so a topic the benchmarks filled does not have to fit in
/// memory.
pub async fn events_where(topic: &'static str, keep: impl Fn(&Value) -> bool + Send + 'static) -> Vec<Value> {
    records_where(topic, move |_, v| keep(v)).await.into_iter().map(|(_, _, v)| v).collect()
}

/// A `read_committed` consumer of its own group (named after `purpose`),
/// reporting partition ends, and the partitions of `topic` (blocking).
pub fn topic_reader(topic: &str, purpose: &str) -> (BaseConsumer, Vec<i32>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique(purpose))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
    (consumer, partitions)
}

/// Calls `f` with every record of `topic` a `read_committed` consumer sees,
/// from offset 0 to the end of each partition (blocking).
pub fn each_record(topic: &str, mut f: impl FnMut(&rdkafka::message::BorrowedMessage<'_>)) {
    let (consumer, partitions) = topic_reader(topic, "test_reader");
    let mut tpl = TopicPartitionList::new();
    let mut pending = std::collections::HashSet::new();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(topic, *p, Duration::from_secs(10)).unwrap();
        if high > low {
            pending.insert(*p);
            tpl.add_partition_offset(topic, *p, Offset::Beginning).unwrap();
        }
    }
    if pending.is_empty() {
        return;
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => f(&m),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    assert!(pending.is_empty(), "could not read all of {topic}");
}

/// A registered, logged-in user, for the test binaries that drive the
/// stack from outside the API suite (sequencer, scaling, observability).
pub struct Account {
    pub id: String,
    pub token: String,
}

/// Registers `unique(prefix)` and logs in.
#[allow(dead_code)]
pub async fn account(api: &Api, prefix: &str) -> Account {
    let name = unique(prefix);
    let id = api.post("/api/user/register", None, json!({ "username": name, "password": PASSWORD })).await.expect(200).data()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = api.login(&name).await["access_token"].as_str().unwrap().to_owned();
    Account { id, token }
}

/// Two fresh accounts who are friends (the first asked, the second accepted).
#[allow(dead_code)]
pub async fn befriended(api: &Api, prefix: &str) -> (Account, Account) {
    let (a, b) = tokio::join!(account(api, prefix), account(api, prefix));
    let asked = api.post("/api/friend/requests", Some(&a.token), json!({ "to_user_id": b.id })).await.expect(200);
    let rid = asked.data()["request_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&b.token), json!({})).await.expect(200);
    (a, b)
}

/// Every event on the Beaver topics whose JSON mentions `marker` anywhere.
pub async fn events_mentioning(marker: &str) -> Vec<Value> {
    let mut found = Vec::new();
    for topic in beaver_events::topics::ALL {
        // Filtered while reading: a stack that has run the benchmarks holds
        // millions of records, which read whole would not fit in memory.
        let marker = marker.to_owned();
        found.extend(events_where(topic, move |v| v.to_string().contains(&marker)).await);
    }
    found
}

pub use beaver_tests::stack::eventually;

/// Waits up to 60 s until `http://127.0.0.1:{port}/healthz` answers 200
/// (a tier process a test started itself); panics naming `what` if not.
#[allow(dead_code)]
pub async fn wait_healthy(port: u16, what: &str) {
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(60), || {
        let http = http.clone();
        async move { http.get(format!("http://127.0.0.1:{port}/healthz")).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await
    .unwrap_or_else(|| panic!("{what} becomes healthy"));
}

/// Asserts `a` answers a token grant for `user_id`: a JWT access token, a
/// refresh token, `Bearer`, a positive lifetime.
pub fn assert_token_pair(a: &Answer, user_id: &str) {
    let d = a.data();
    assert!(d["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3), "a JWT access token: {}", a.body);
    assert!(d["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "a refresh token: {}", a.body);
    assert_eq!(d["token_type"], "Bearer", "{}", a.body);
    assert!(d["expires_in"].as_i64().is_some_and(|s| s > 0), "{}", a.body);
    assert_eq!(d["user_id"], user_id, "{}", a.body);
}

/// A time in an answer: an RFC 3339 string, or an integer of epoch seconds or milliseconds.
pub fn instant(v: &Value) -> Option<time::OffsetDateTime> {
    if let Some(s) = v.as_str() {
        return time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok();
    }
    let n = v.as_i64()?;
    if n > 100_000_000_000 {
        time::OffsetDateTime::from_unix_timestamp_nanos(n as i128 * 1_000_000).ok()
    } else {
        time::OffsetDateTime::from_unix_timestamp(n).ok()
    }
}
