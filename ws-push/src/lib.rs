//! Beaver's realtime tier. Each ws-push node tails Kafka itself — numbered
//! messages from `beaver.sequenced.v1` (the sequencer's output), message
//! operations and read cursors from `beaver.messages.v1`, friend and group
//! changes, ended sessions — and delivers each event to the WebSocket
//! connections *it* holds for the event's recipients, resolving group members
//! through the Redis set the groups projector keeps (no database query per
//! message). Nodes share nothing but Redis: presence, and a pub/sub channel
//! for typing notices, presence changes and multi-device kicks. Clients
//! resume with `sync` (last seq per conversation) and each connection's seq
//! tracker makes the result gap-free and duplicate-free. Spec: docs/push.md.
//!
//! # Layout
//! - [`protocol`]: frames, the kick rule and the seq tracker (pure).
//! - [`routing`]: event → frame and audience (pure).
//! - [`hub`]: this node's connections and their bounded queues.
//! - [`connection`]: one socket: authentication, heartbeat, sync, sends, delivery.
//! - [`tail`]: the Kafka consumer and the dispatcher.
//! - [`ephemeral`]: what nodes tell each other over Redis pub/sub.
//! - [`presence`]: the online sets in Redis.

pub mod connection;
pub mod ephemeral;
pub mod hub;
pub mod membership;
pub mod presence;
pub mod protocol;
pub mod routing;
pub mod tail;

use axum::{
    extract::{ws::WebSocketUpgrade, Query, State},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use beaver_platform::{
    auth::{AuthError, Authenticator},
    http::ApiError,
};
use hub::{Hub, QueueLimits};
use protocol::{Credentials, DevicePolicy};
use serde::{Deserialize, Serialize};
use std::{
    future::Future,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

/// ws-push configuration (`BEAVER_*` variables override; docs/push.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address, dependencies, the JWT secret (the commands tier's: tokens are
    /// verified here too) and the namespace.
    #[serde(flatten)]
    pub common: beaver_platform::config::Common,
    /// Shown in `ready` frames and presence; defaults to `ws-<port>`.
    pub node_id: String,
    pub access_token_ttl_secs: u64,
    /// Direct messages only between friends (as the commands tier: `BEAVER_CHAT_REQUIRE_FRIENDSHIP`).
    pub chat_require_friendship: bool,
    /// Skip the read model's idempotency lookup when the sent-key filter
    /// says a key was never stored (docs/chat.md, "Idempotent sends"); off:
    /// every send asks MariaDB.
    pub chat_sent_filter: bool,
    /// Longest a socket send waits for the sequencer's answer (then `ack` with `seq: null`).
    pub sequencer_wait_ms: u64,
    /// Longest a send that names stored messages (reply, forward) waits for the projection.
    pub projection_wait_ms: u64,
    /// Batching delay of the producer that appends socket sends.
    pub producer_linger_ms: u32,
    pub device_policy: DevicePolicy,
    pub heartbeat_timeout_secs: u64,
    pub server_ping_secs: u64,
    pub auth_timeout_secs: u64,
    /// Per-connection queue bounds; beyond them the connection closes with `resync`.
    /// The commands tier, which performs call actions sent as socket frames.
    pub commands_url: String,
    pub queue_max_frames: usize,
    pub queue_max_bytes: usize,
    /// SO_SNDBUF of each accepted socket: bounds kernel memory per slow client.
    pub socket_send_buffer: usize,
    /// tokio-tungstenite read and write buffer sizes (its default is 128 KiB,
    /// far too much for many idle connections).
    pub ws_buffer_bytes: usize,
    pub max_frame_bytes: usize,
    pub presence_ttl_secs: u64,
    /// Per-connection budget for expensive frames (units per second and the
    /// most that can be saved up): a `sync` costs one unit per conversation,
    /// `send` and `typing` one each (protocol::Budget).
    pub frame_budget_per_sec: u32,
    pub frame_budget_burst: u32,
    /// Sends one connection may have in flight to the commands tier.
    pub max_sends_in_flight: usize,
    /// Longest a client may take to send a complete HTTP request head
    /// (slowloris guard on the node port).
    pub header_read_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            common: beaver_platform::config::Common::serving("127.0.0.1:21083"),
            node_id: String::new(),
            access_token_ttl_secs: 900,
            chat_require_friendship: true,
            chat_sent_filter: true,
            sequencer_wait_ms: 5000,
            projection_wait_ms: 5000,
            producer_linger_ms: 0,
            device_policy: DevicePolicy::PerClass,
            heartbeat_timeout_secs: 60,
            server_ping_secs: 25,
            auth_timeout_secs: 10,
            commands_url: "http://127.0.0.1:21081".into(),
            queue_max_frames: 512,
            queue_max_bytes: 256 * 1024,
            socket_send_buffer: 64 * 1024,
            ws_buffer_bytes: 1024,
            max_frame_bytes: 64 * 1024,
            presence_ttl_secs: 60,
            frame_budget_per_sec: 100,
            frame_budget_burst: 400,
            max_sends_in_flight: 16,
            header_read_timeout_secs: 10,
        }
    }
}

/// What every part of the node shares.
pub struct Shared {
    pub config: Config,
    pub node: String,
    pub hub: Hub,
    pub auth: Authenticator,
    pub pool: sqlx::MySqlPool,
    pub redis: beaver_platform::RedisConnection,
    /// Socket sends: the same path as `POST /api/chat/send`, without the HTTP hop.
    pub send: beaver_writemodel::send::SendPath,
    /// Group membership, cached on this node (see [`membership`]).
    pub memberships: membership::Memberships,
    /// Set once the Kafka consumer has its partitions.
    pub tailing: AtomicBool,
    /// Whether the consumer reaches a broker now (kept by its context, so
    /// `/healthz` reports an outage and the recovery, not a flag set once).
    pub kafka: beaver_platform::kafka::KafkaHealth,
}

impl Shared {
    pub fn limits(&self) -> QueueLimits {
        QueueLimits { max_frames: self.config.queue_max_frames, max_bytes: self.config.queue_max_bytes }
    }
}

type AppState = Arc<Shared>;

/// `GET /ws`: with a token in the query the credentials are checked before
/// the upgrade (401/422 in the envelope); without, the first frame must be `auth`.
async fn upgrade(State(s): State<AppState>, Query(creds): Query<Credentials>, ws: WebSocketUpgrade) -> Response {
    let pre = match creds.token.as_deref() {
        None | Some("") => None,
        Some(token) => match connection::authenticate(&s, token, creds.device_id.as_deref().unwrap_or_default(), creds.platform.as_deref().unwrap_or_default()).await {
            Ok(who) => Some(who),
            Err(connection::AuthFailure::Invalid(e)) => return ApiError::invalid(if e.message.starts_with("device_id") { "device_id" } else { "platform" }, e.message).into_response(),
            Err(connection::AuthFailure::Token(AuthError::Store(e))) => return ApiError::Unavailable(e.into()).into_response(),
            Err(connection::AuthFailure::Token(e)) => return ApiError::Unauthorized(e.to_string()).into_response(),
        },
    };
    let c = &s.config;
    ws.read_buffer_size(c.ws_buffer_bytes)
        .write_buffer_size(c.ws_buffer_bytes)
        .max_message_size(c.max_frame_bytes)
        .max_frame_size(c.max_frame_bytes)
        .on_upgrade(move |socket| connection::serve(s, socket, pre))
}

/// Serves until `shutdown` resolves, then closes every socket (1001) and
/// removes this node's presence entries.
pub async fn run(mut config: Config, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    beaver_platform::telemetry::prometheus();
    // Exported from the start, so that alert rules find them (deploy/observability).
    for counter in ["ws_resync_closes_total", "ws_oversized_closes_total", "ws_kicks_total", "ws_frames_queued_total"] {
        metrics::counter!(counter).increment(0);
    }
    let port = listener.local_addr()?.port();
    if config.node_id.is_empty() {
        config.node_id = format!("ws-{port}");
    }
    config.common.enter_namespace()?;
    let secret = config.common.jwt_secret()?;
    let pool = beaver_platform::connect_mysql(config.common.database_url(), 8).await?;
    let redis = beaver_platform::connect_redis(config.common.redis_url()).await?;
    let auth = Authenticator::new(&secret, Duration::from_secs(config.access_token_ttl_secs), redis.clone());
    let shared = Arc::new(Shared {
        node: config.node_id.clone(),
        hub: Hub::default(),
        memberships: membership::Memberships::new(membership::TTL, membership::CAPACITY),
        auth,
        pool: pool.clone(),
        redis: redis.clone(),
        send: beaver_writemodel::send::SendPath {
            pool: pool.clone(),
            redis: redis.clone(),
            producer: beaver_platform::kafka::EventProducer::with_client_id(&config.common.kafka_brokers, config.producer_linger_ms, "beaver-ws-push")?,
            answers: beaver_platform::sequencing::Answers::start(redis::Client::open(config.common.redis_url())?),
            require_friendship: config.chat_require_friendship,
            sent_filter: config.chat_sent_filter,
            sequencer_wait: Duration::from_millis(config.sequencer_wait_ms),
            store_wait: Duration::from_millis(config.projection_wait_ms),
        },
        tailing: AtomicBool::new(false),
        kafka: Default::default(),
        config,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tail = tokio::spawn(tail::run(shared.clone(), stop_rx.clone()));
    let listen = tokio::spawn(ephemeral::listen(shared.clone(), stop_rx.clone()));
    let refresh = tokio::spawn(presence::refresh_loop(shared.clone(), stop_rx.clone()));

    let tailing = shared.clone();
    let health = beaver_platform::serve::HealthChecks::new().mysql(shared.pool.clone()).redis(shared.redis.clone()).check("kafka", move || {
        let ready = match tailing.tailing.load(std::sync::atomic::Ordering::Relaxed) {
            true => tailing.kafka.check(),
            false => Err(anyhow::anyhow!("not tailing Kafka yet")),
        };
        std::future::ready(ready)
    });
    let app = Router::new().route("/ws", get(upgrade)).merge(health.route()).with_state(shared.clone());
    let send_buffer = shared.config.socket_send_buffer;
    let tune = move |tcp: &tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(tcp).set_send_buffer_size(send_buffer);
    };
    tracing::info!(node = %shared.node, "node starting");
    let header_timeout = Duration::from_secs(shared.config.header_read_timeout_secs.max(1));
    beaver_platform::serve::serve_with_header_deadline(listener, app, header_timeout, tune, shutdown).await?;

    // Upgraded sockets outlive axum's graceful shutdown: close them ourselves.
    for conn in shared.hub.all() {
        conn.close(hub::CloseReason::Shutdown);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !shared.hub.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let _ = tokio::join!(tail, listen, refresh);
    Ok(())
}
