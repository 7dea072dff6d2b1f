//! Beaver's write side. A client's command arrives over HTTP (through the
//! gateway, which sends every non-GET `/api/` request here) and goes through
//! four layers:
//!
//! - [`http`]: a thin axum handler extracts the caller and the request and
//!   calls one app function;
//! - [`app`]: the use case loads the aggregate's state from the read models
//!   (under the aggregate's lock where decisions must not race), asks the
//!   domain, appends, and answers a typed DTO;
//! - `domain` (`beaver_writemodel::domain`, shared with ws-push): the
//!   aggregate's pure `decide(&State, Command, &Ctx) -> Result<Vec<Event>, DomainError>`;
//! - [`store`]: the append to Kafka (answered once Kafka acknowledged it),
//!   the claims and the aggregate locks.
//!
//! This tier never writes read models; projectors do.
//!
//! Read-your-writes: commands wait (bounded by `projection_wait_ms`) until
//! the projector serving the follow-up read has applied their event, so a
//! client that registers and at once logs in, or updates its profile and at
//! once reads it, sees its write. If the wait times out the answer is 202
//! with the same data: the event is durable, merely not visible yet.
//!
//! [`passwords`]: argon2id hashing off the executor, with a timing-equalising dummy.

pub mod app;
pub use beaver_writemodel::domain;
pub mod http;
pub mod passwords;
pub mod store;

use axum::{extract::FromRef, Router};
use beaver_platform::{auth::Authenticator, kafka::EventProducer, readiness, sequencing};
use serde::{Deserialize, Serialize};
use std::{future::Future, sync::Arc, time::Duration};

/// Commands configuration (`BEAVER_*` variables override).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address, dependencies, the JWT secret and the namespace (the same keys in every tier).
    #[serde(flatten)]
    pub common: beaver_platform::config::Common,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Longest a command waits for its event to become visible to queries.
    pub projection_wait_ms: u64,
    /// Longest a send waits for the sequencer's answer before answering 202 with `seq: null`.
    pub sequencer_wait_ms: u64,
    /// Age after which an unconfirmed claim without an account may be taken over.
    pub claim_stale_after_secs: u64,
    /// Producer batching delay; small, because commands wait for the ack.
    pub producer_linger_ms: u32,
    /// Longest an append waits for Kafka's acknowledgement before the command
    /// is answered 503 (while no broker is reachable at all, appends are
    /// refused at once).
    pub kafka_message_timeout_ms: u64,
    /// Direct messages only between friends.
    pub chat_require_friendship: bool,
    /// Skip the read model's idempotency lookup when the sent-key filter
    /// says a key was never stored (docs/chat.md, "Idempotent sends"); off:
    /// every send asks MariaDB.
    pub chat_sent_filter: bool,
    /// How often the file sweeper runs (expired uploads, unreferenced blobs); 0 turns it off.
    pub file_sweep_secs: u64,
    /// How long an upload may stay open before the sweeper expires it.
    pub upload_ttl_secs: u64,
    /// An unused blob is deleted only once it is older than this (a
    /// completion in progress writes its blob before its event is projected).
    pub file_blob_grace_secs: u64,
    /// Largest group, owner included.
    pub group_max_members: u32,
    /// Password hashes computed at once; more wait their turn.
    pub max_concurrent_hashes: usize,
    /// Failed logins per username and window before answering 429.
    pub login_max_failures: u32,
    pub login_failure_window_secs: u64,
    /// How long a call rings before the invitee missed it.
    pub call_ring_timeout_secs: u32,
    /// How often the ring sweeper looks for rings that ended; 0 turns it off.
    pub call_sweep_ms: u64,
    /// How long a dropped device bound in a call has to connect again.
    pub call_reconnect_grace_secs: u64,
}

pub use beaver_platform::auth::DEV_JWT_SECRET;

impl Default for Config {
    fn default() -> Self {
        Config {
            common: beaver_platform::config::Common::serving("127.0.0.1:21081"),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            projection_wait_ms: 5000,
            sequencer_wait_ms: 5000,
            claim_stale_after_secs: 120,
            producer_linger_ms: 0,
            kafka_message_timeout_ms: 5000,
            chat_require_friendship: true,
            chat_sent_filter: true,
            file_sweep_secs: 60,
            upload_ttl_secs: 24 * 3600,
            file_blob_grace_secs: 3600,
            group_max_members: 2000,
            max_concurrent_hashes: 4,
            login_max_failures: 10,
            login_failure_window_secs: 300,
            call_ring_timeout_secs: 30,
            call_sweep_ms: 1000,
            call_reconnect_grace_secs: 20,
        }
    }
}

/// Everything a handler may touch.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub producer: EventProducer,
    pub pool: sqlx::MySqlPool,
    pub redis: redis::aio::ConnectionManager,
    pub auth: Authenticator,
    /// Follows projector progress, for read-your-writes waits.
    pub watch: readiness::ProjectionWatch,
    /// Bounds concurrent password hashes (each takes ~19 MiB and a core).
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// The chat send path (shared with ws-push's socket sends).
    pub send: beaver_writemodel::send::SendPath,
    /// Uploaded bytes (docs/services.md, "Files and uploads").
    pub files: beaver_platform::files::FileStore,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Connects the dependencies and builds the state.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let common = &config.common;
    common.enter_namespace()?;
    let secret = common.jwt_secret()?;
    let pool = beaver_platform::connect_mysql(common.database_url(), 32).await?;
    let redis = beaver_platform::connect_redis(common.redis_url()).await?;
    let producer = EventProducer::with_timeout(
        &common.kafka_brokers,
        config.producer_linger_ms,
        "beaver-commands",
        Duration::from_millis(config.kafka_message_timeout_ms),
    )?;
    let auth = Authenticator::new(&secret, Duration::from_secs(config.access_token_ttl_secs), redis.clone());
    tokio::task::spawn_blocking(passwords::warm_up).await?;
    let watch = readiness::ProjectionWatch::start(pool.clone(), redis::Client::open(common.redis_url())?);
    let hashing = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_hashes.max(1)));
    let send = beaver_writemodel::send::SendPath {
        pool: pool.clone(),
        redis: redis.clone(),
        producer: producer.clone(),
        answers: sequencing::Answers::start(redis::Client::open(common.redis_url())?),
        require_friendship: config.chat_require_friendship,
        sent_filter: config.chat_sent_filter,
        sequencer_wait: Duration::from_millis(config.sequencer_wait_ms),
        store_wait: Duration::from_millis(config.projection_wait_ms),
    };
    let files = beaver_platform::files::FileStore::local(common.file_store_dir())?;
    Ok(AppState { config: Arc::new(config), producer, pool, redis, auth, watch, hashing, send, files })
}

/// The routes of this tier.
pub fn router(state: AppState) -> Router {
    http::router(&state).with_state(state)
}

/// Serves commands on `listener` until `shutdown` resolves.
pub async fn run(config: Config, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let state = build_state(config).await?;
    let producer = state.producer.clone();
    let (stop_sweeper, sweeper_stopped) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(app::files::sweep_loop(state.clone(), sweeper_stopped.clone()));
    let ring_sweeper = tokio::spawn(app::call::sweep_loop(state.clone(), sweeper_stopped));
    let result = beaver_platform::serve::serve(listener, router(state), shutdown).await;
    let _ = stop_sweeper.send(true);
    let _ = sweeper.await;
    let _ = ring_sweeper.await;
    producer.flush();
    result
}
