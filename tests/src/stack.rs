//! An in-process test stack: every tier — commands, projectors, the
//! sequencer, query-api and ws-push — started inside the test process on
//! port 0 (each crate's `run(config, listener, shutdown)`), against the real
//! Kafka, MariaDB and Redis that `deploy/up` started, yet isolated from the
//! live stack and from every other test binary:
//!
//! - **Kafka**: a fresh namespace `t<12 hex>-` (`beaver_events::topics`,
//!   "Namespace"): the stack creates `t…-beaver.users.v1` etc. with the
//!   partitions and configs of `deploy/topics.conf`, and its consumer groups
//!   and the sequencer's transactional ids carry the prefix too.
//! - **MariaDB**: a scratch database `beaver_t…`, migrated with
//!   `beaver_projectors::migrate`.
//! - **Redis**: the live server and database, but every key and pub/sub
//!   channel starts with the same prefix (`beaver_readmodel::keys`), so the
//!   stacks never see each other's sets, sessions or progress messages.
//!
//! [`TestStack::shutdown`] stops the tiers, then deletes the topics, the
//! consumer groups, the scratch database and the prefixed Redis keys.
//!
//! The namespace is process-wide (one process serves one namespace), so a
//! test binary runs ONE stack and shares it among its tests — see
//! `tests/tests/inproc/main.rs`, whose harness starts it once, runs the tests
//! concurrently and shuts it down.

use anyhow::{bail, Context};
use beaver_platform::config::Common;
use futures::{SinkExt, StreamExt};
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    config::ClientConfig,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, MySqlConnection};
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_tungstenite::tungstenite::Message;

/// The topics the stack creates, as `deploy/infra-up` creates the live ones.
const TOPICS_CONF: &str = include_str!("../../deploy/topics.conf");

/// Longest the stack waits for every tier to report healthy.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// One topic line of `deploy/topics.conf`: base name, partitions, configs.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub configs: Vec<(String, String)>,
}

/// Reads `deploy/topics.conf` (`<topic> <partitions> [k=v,k=v]`, `#` comments).
pub fn topic_specs(conf: &str) -> anyhow::Result<Vec<TopicSpec>> {
    let mut specs = Vec::new();
    for line in conf.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (Some(name), Some(partitions)) = (words.next(), words.next()) else { bail!("topics.conf: bad line {line:?}") };
        let configs = match words.next() {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).with_context(|| format!("topics.conf: bad config {kv:?}")))
                .collect::<anyhow::Result<_>>()?,
        };
        specs.push(TopicSpec { name: name.to_owned(), partitions: partitions.parse().with_context(|| format!("topics.conf: bad partitions in {line:?}"))?, configs });
    }
    Ok(specs)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// What the stack made outside the process; removed by [`Scratch::remove`].
struct Scratch {
    prefix: String,
    brokers: String,
    live_database_url: String,
    redis_url: String,
    database: Option<String>,
    topics: Vec<String>,
}

impl Scratch {
    fn admin(&self) -> anyhow::Result<AdminClient<DefaultClientContext>> {
        ClientConfig::new().set("bootstrap.servers", &self.brokers).create().context("Failed to create a Kafka admin client")
    }

    async fn create_topics(&mut self) -> anyhow::Result<()> {
        let specs = topic_specs(TOPICS_CONF)?;
        let names: Vec<String> = specs.iter().map(|s| format!("{}{}", self.prefix, s.name)).collect();
        let topics: Vec<NewTopic<'_>> = specs
            .iter()
            .zip(&names)
            .map(|(spec, name)| spec.configs.iter().fold(NewTopic::new(name, spec.partitions, TopicReplication::Fixed(1)), |t, (k, v)| t.set(k, v)))
            .collect();
        let results = self.admin()?.create_topics(&topics, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))).await?;
        self.topics = names.clone();
        for result in results {
            if let Err((topic, code)) = result {
                bail!("Failed to create topic {topic}: {code}");
            }
        }
        Ok(())
    }

    async fn create_database(&mut self) -> anyhow::Result<String> {
        let name = format!("beaver_{}", self.prefix.trim_end_matches('-'));
        let mut admin = MySqlConnection::connect(&self.live_database_url).await.context("Failed to reach MariaDB (is deploy/up running?)")?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
        self.database = Some(name.clone());
        let url = format!("{}/{name}", self.live_database_url.rsplit_once('/').context("a database URL ends in /<database>")?.0);
        beaver_projectors::migrate(&url).await?;
        Ok(url)
    }

    /// Deletes everything made; best effort, reports what failed.
    async fn remove(&self) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        if !self.topics.is_empty() {
            let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
            match self.admin() {
                Ok(admin) => {
                    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
                    if let Err(e) = admin.delete_topics(&names, &options).await {
                        failures.push(format!("topics: {e}"));
                    }
                    // The groups the tiers joined (ws-push assigns directly and joins none).
                    let groups: Vec<String> = beaver_projectors::projections::all()
                        .iter()
                        .map(|p| format!("{}beaver-projector-{}", self.prefix, p.name()))
                        .chain([format!("{}beaver-sequencer", self.prefix), format!("{}beaver-sequencer-restore", self.prefix)])
                        .collect();
                    let _ = admin.delete_groups(&groups.iter().map(String::as_str).collect::<Vec<_>>(), &options).await;
                }
                Err(e) => failures.push(format!("topics: {e}")),
            }
        }
        if let Some(db) = &self.database {
            let dropped = async {
                let mut admin = MySqlConnection::connect(&self.live_database_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {db}")).execute(&mut admin).await?;
                anyhow::Ok(())
            };
            if let Err(e) = dropped.await {
                failures.push(format!("database {db}: {e:#}"));
            }
        }
        // The file store of this stack (TestStack::file_store).
        let files = std::env::temp_dir().join(format!("beaver-files-{}", self.prefix));
        if files.exists() {
            if let Err(e) = std::fs::remove_dir_all(&files) {
                failures.push(format!("file store {}: {e}", files.display()));
            }
        }
        if let Err(e) = delete_keys(&self.redis_url, &self.prefix).await {
            failures.push(format!("Redis keys {}*: {e:#}", self.prefix));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            bail!("could not clean up the test stack: {}", failures.join("; "))
        }
    }
}

/// Deletes every Redis key starting with `prefix`.
async fn delete_keys(url: &str, prefix: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(format!("{prefix}*")).arg("COUNT").arg(1000).query_async(&mut conn).await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK").arg(&keys).query_async::<()>(&mut conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Every tier of Beaver, running inside this process. See the module docs.
pub struct TestStack {
    scratch: Scratch,
    database_url: String,
    commands: SocketAddr,
    query: SocketAddr,
    ws: SocketAddr,
    health: Vec<(&'static str, SocketAddr)>,
    stop: watch::Sender<bool>,
    tiers: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
}

impl TestStack {
    /// Creates the namespace's topics and the scratch database, starts every
    /// tier on port 0 and waits until each reports healthy. Fails if this
    /// process already serves another namespace. On failure whatever was
    /// made is removed again.
    pub async fn start() -> anyhow::Result<TestStack> {
        let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        beaver_events::topics::set_namespace(&prefix)?;
        let mut scratch = Scratch {
            prefix: prefix.clone(),
            brokers: env_or("BEAVER_KAFKA_BROKERS", beaver_platform::config::DEFAULT_KAFKA_BROKERS),
            live_database_url: env_or("BEAVER_DATABASE_URL", beaver_platform::config::DEFAULT_DATABASE_URL),
            redis_url: env_or("BEAVER_REDIS_URL", beaver_platform::config::DEFAULT_REDIS_URL),
            database: None,
            topics: Vec::new(),
        };
        let prepared = async {
            scratch.create_topics().await?;
            scratch.create_database().await
        }
        .await;
        let database_url = match prepared {
            Ok(url) => url,
            Err(e) => {
                let _ = scratch.remove().await;
                return Err(e.context("Failed to prepare the test stack"));
            }
        };
        let unbound: SocketAddr = ([127, 0, 0, 1], 0).into();
        let (stop, _) = watch::channel(false);
        let mut stack =
            TestStack { scratch, database_url, commands: unbound, query: unbound, ws: unbound, health: Vec::new(), stop, tiers: Vec::new() };
        if let Err(e) = stack.launch().await {
            let _ = stack.stop_tiers().await;
            let _ = stack.scratch.remove().await;
            return Err(e.context("Failed to start the test stack"));
        }
        Ok(stack)
    }

    fn common(&self, secret: &str) -> Common {
        Common {
            http_addr: "127.0.0.1:0".into(),
            kafka_brokers: self.scratch.brokers.clone(),
            database_url: self.database_url.as_str().into(),
            redis_url: self.scratch.redis_url.as_str().into(),
            jwt_secret: secret.into(),
            jwt_secret_file: String::new(),
            topic_prefix: self.scratch.prefix.clone(),
            // A store of its own, so the scratch stack never touches the live files.
            file_store: self.file_store().to_string_lossy().into_owned(),
        }
    }

    fn spawn<F>(&mut self, name: &'static str, addr: SocketAddr, tier: impl FnOnce(TcpListener, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> F, listener: TcpListener)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut stopped = self.stop.subscribe();
        let shutdown = Box::pin(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        self.tiers.push((name, tokio::spawn(tier(listener, shutdown))));
        self.health.push((name, addr));
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        // A strong random secret: the tiers start without BEAVER_DEV_INSECURE.
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let common = self.common(&secret);
        let bind = || async { TcpListener::bind("127.0.0.1:0").await.context("Failed to bind 127.0.0.1:0") };

        let listener = bind().await?;
        let addr = listener.local_addr()?;
        let config = beaver_projectors::Config { common: common.clone(), ..Default::default() };
        self.spawn("projectors", addr, |l, s| beaver_projectors::run(config, l, s), listener);

        let listener = bind().await?;
        let addr = listener.local_addr()?;
        let config = beaver_sequencer::Config { common: common.clone(), ..Default::default() };
        self.spawn("sequencer", addr, |l, s| beaver_sequencer::run(config, l, s), listener);

        let listener = bind().await?;
        self.commands = listener.local_addr()?;
        // The file sweeper at test speed: every second, uploads open for 2 s, blobs unused for 1 s.
        let config = beaver_commands::Config { common: common.clone(), file_sweep_secs: 1, upload_ttl_secs: 2, file_blob_grace_secs: 1, ..Default::default() };
        self.spawn("commands", self.commands, |l, s| beaver_commands::run(config, l, s), listener);

        let listener = bind().await?;
        self.query = listener.local_addr()?;
        let config = beaver_query_api::Config { common: common.clone(), ..Default::default() };
        self.spawn("query-api", self.query, |l, s| beaver_query_api::run(config, l, s), listener);

        let listener = bind().await?;
        self.ws = listener.local_addr()?;
        let config = beaver_ws_push::Config { common, node_id: format!("{}ws", self.scratch.prefix), ..Default::default() };
        self.spawn("ws-push", self.ws, |l, s| beaver_ws_push::run(config, l, s), listener);

        self.await_healthy().await
    }

    /// Polls every tier's `/healthz` until all answer 200; fails early when a tier's task ended.
    async fn await_healthy(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let deadline = Instant::now() + START_TIMEOUT;
        for (name, addr) in &self.health {
            loop {
                if let Some((_, task)) = self.tiers.iter().find(|(n, _)| n == name) {
                    if task.is_finished() {
                        bail!("{name} stopped while starting (its error is in the log; TEST_LOG=1 shows it)");
                    }
                }
                let answer = http.get(format!("http://{addr}/healthz")).send().await;
                match answer {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) if Instant::now() > deadline => bail!("{name} is not healthy after {START_TIMEOUT:?}: {}", r.text().await.unwrap_or_default()),
                    Err(e) if Instant::now() > deadline => bail!("{name} is not healthy after {START_TIMEOUT:?}: {e}"),
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
        Ok(())
    }

    async fn stop_tiers(&mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut failures = Vec::new();
        for (name, task) in self.tiers.drain(..) {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => failures.push(format!("{name}: {e:#}")),
                Ok(Err(e)) => failures.push(format!("{name} panicked: {e}")),
                Err(_) => failures.push(format!("{name} did not stop within 30 s")),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            bail!("{}", failures.join("; "))
        }
    }

    /// Stops every tier, then deletes the topics, groups, scratch database
    /// and Redis keys. Errors name what did not stop or could not be removed.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let stopped = self.stop_tiers().await;
        let removed = self.scratch.remove().await;
        stopped.context("a tier did not stop cleanly")?;
        removed
    }

    /// The namespace: topic, group, key and channel prefix (`t<12 hex>-`).
    pub fn prefix(&self) -> &str {
        &self.scratch.prefix
    }

    /// The scratch database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The live database the scratch one sits beside.
    pub fn live_database_url(&self) -> &str {
        &self.scratch.live_database_url
    }

    /// The Redis server (shared with the live stack; keys are prefixed).
    /// The directory of this stack's file store.
    pub fn file_store(&self) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("beaver-files-{}", self.scratch.prefix))
    }

    pub fn redis_url(&self) -> &str {
        &self.scratch.redis_url
    }

    pub fn brokers(&self) -> &str {
        &self.scratch.brokers
    }

    /// An HTTP client that routes like the gateway (deploy/gateway.conf.template):
    /// GET and HEAD under `/api/` to query-api, everything else to commands.
    /// Make one per test: a client belongs to the runtime it is used on.
    pub fn api(&self) -> Api {
        Api { http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("a reqwest client"), commands: self.commands, query: self.query }
    }

    /// ws-push's WebSocket endpoint (`ws://127.0.0.1:<port>/ws`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.ws)
    }

    /// Connects a device with query-parameter authentication and waits for its `ready` frame.
    pub async fn connect(&self, token: &str, device_id: &str, platform: &str) -> Socket {
        let url = format!("{}?token={token}&device_id={device_id}&platform={platform}", self.ws_url());
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws-push accepts the connection");
        let mut socket = Socket { ws };
        let ready = socket.next_frame(Duration::from_secs(10)).await.expect("a ready frame");
        assert_eq!(ready["type"], "ready", "the first frame is ready: {ready}");
        socket
    }
}

/// HTTP to the stack, routed by method as the gateway routes.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    commands: SocketAddr,
    query: SocketAddr,
}

/// An answer: the status and the envelope.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Asserts the status and that the body is the envelope repeating it.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {}", self.body);
        assert_eq!(self.body["code"], status, "envelope code must repeat the status: {}", self.body);
        self
    }

    pub fn error_kind(&self) -> &str {
        self.body["data"]["error"].as_str().unwrap_or("")
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl Api {
    /// The tier the gateway would send `method path` to.
    pub fn route(&self, method: &Method, path: &str) -> SocketAddr {
        if (method == Method::GET || method == Method::HEAD) && path.starts_with("/api/") {
            self.query
        } else {
            self.commands
        }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method.clone(), format!("http://{}{path}", self.route(&method, path)));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        Answer { status, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// `PUT` of raw bytes (an upload's part).
    pub async fn put_bytes(&self, path: &str, token: &str, bytes: Vec<u8>) -> Answer {
        let resp = self.http.put(format!("http://{}{path}", self.commands)).bearer_auth(token).body(bytes).send().await.unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Answer { status, body: serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })) }
    }

    /// Registers `username` (with [`PASSWORD`]) and logs in; returns (user id, access token).
    pub async fn signed_up(&self, username: &str) -> (String, String) {
        let registered = self.post("/api/user/register", None, json!({ "username": username, "password": PASSWORD })).await.expect(200);
        let id = registered.data()["user_id"].as_str().expect("a user_id").to_owned();
        let login = self.post("/api/user/login", None, json!({ "username": username, "password": PASSWORD })).await.expect(200);
        (id, login.data()["access_token"].as_str().expect("an access token").to_owned())
    }
}

/// One WebSocket device.
pub struct Socket {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Socket {
    /// The next JSON frame, `None` when the socket closed or `within` passed.
    pub async fn next_frame(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?? {
                Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
                Ok(Message::Ping(p)) => {
                    let _ = self.ws.send(Message::Pong(p)).await;
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame of type `ty` whose `data` satisfies `pred`, skipping others; panics after `within`.
    pub async fn expect_where(&mut self, ty: &str, pred: impl Fn(&Value) -> bool, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Some(f) if f["type"] == ty && pred(&f["data"]) => return f,
                Some(f) => seen.push(f["type"].to_string()),
                None => panic!("no {ty} frame within {within:?} (saw {seen:?})"),
            }
        }
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.expect("the socket takes a frame");
    }
}

/// A fresh lower-case name: `prefix_<12 hex>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tier_config_prints_or_serialises_a_password() {
        let common = Common {
            database_url: "mysql://app:hunter2-db@db:3306/beaver".into(),
            redis_url: "redis://:hunter2-redis@cache:6379".into(),
            jwt_secret: "hunter2-jwt-secret-of-enough-length".into(),
            ..Common::serving("127.0.0.1:0")
        };
        let shown = [
            (format!("{:?}", beaver_commands::Config { common: common.clone(), ..Default::default() }), serde_json::to_string(&beaver_commands::Config { common: common.clone(), ..Default::default() })),
            (format!("{:?}", beaver_query_api::Config { common: common.clone(), ..Default::default() }), serde_json::to_string(&beaver_query_api::Config { common: common.clone(), ..Default::default() })),
            (format!("{:?}", beaver_ws_push::Config { common: common.clone(), ..Default::default() }), serde_json::to_string(&beaver_ws_push::Config { common: common.clone(), ..Default::default() })),
            (format!("{:?}", beaver_projectors::Config { common: common.clone(), ..Default::default() }), serde_json::to_string(&beaver_projectors::Config { common: common.clone(), ..Default::default() })),
            (format!("{:?}", beaver_sequencer::Config { common: common.clone(), ..Default::default() }), serde_json::to_string(&beaver_sequencer::Config { common: common.clone(), ..Default::default() })),
        ];
        for (debug, json) in shown {
            let json = json.unwrap();
            assert!(!debug.contains("hunter2") && debug.contains("[redacted]"), "{debug}");
            assert!(!json.contains("hunter2"), "{json}");
        }
        assert_eq!(common.database_url(), "mysql://app:hunter2-db@db:3306/beaver", "the value is still there for the connection");
    }

    #[test]
    fn the_stack_creates_every_topic_of_topics_conf_with_its_settings() {
        let specs = topic_specs(TOPICS_CONF).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for topic in beaver_events::topics::ALL.iter().chain([&beaver_events::topics::SEQUENCER_STATE]) {
            assert!(names.contains(topic), "{topic} missing from {names:?}");
        }
        let state = specs.iter().find(|s| s.name == beaver_events::topics::SEQUENCER_STATE).unwrap();
        assert!(state.configs.contains(&("cleanup.policy".into(), "compact".into())), "{state:?}");
        let sequenced = specs.iter().find(|s| s.name == beaver_events::topics::SEQUENCED).unwrap();
        assert_eq!(sequenced.configs, vec![("retention.ms".to_owned(), "-1".to_owned())]);
        assert!(topic_specs("beaver.x.v1 six").is_err());
    }
}
