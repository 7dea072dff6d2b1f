//! What every Beaver tier starts with. The tiers (commands, projectors,
//! query-api, ws-push) are separate processes around the Kafka log; this crate
//! is the plumbing they share so that each behaves the same at the edges:
//! configuration layered from defaults, a file and `BEAVER_*` variables; JSON
//! logs carrying the correlation id; Prometheus metrics and `/healthz`; one
//! response envelope and error type for HTTP; JWT auth with server-side
//! revocation; and the idempotent Kafka producer that appends envelopes.
//!
//! It lives under `deploy/` because it is the start-up kit of the deployed
//! tiers, not part of the domain (that is `beaver-events` and the tiers).
//!
//! # Layout
//! - [`config`]: typed, layered configuration loading.
//! - [`telemetry`]: tracing subscriber (JSON) and the Prometheus recorder.
//! - [`http`]: the `{code, message, data, timestamp}` envelope, [`http::ApiError`],
//!   the JSON body extractor, correlation ids and request metrics.
//! - [`auth`]: access-token claims, signing, verification and the `AuthUser` extractor.
//! - [`kafka`]: the event producer (idempotent, `acks=all`) and consumer defaults.
//! - [`readiness`]: waiting until a projector has applied an appended event (read-your-writes).
//! - [`sequencing`]: the sequencer's answers to senders (Redis channel and waiters).
//! - [`openapi`]: the REST contract's shared parts (envelope, errors, bearer) and the merge of the tiers' documents.
//! - [`serve`]: binding, the `/healthz` and `/metrics` routes, graceful shutdown.
//! - [`files`]: the object store of uploaded bytes and its keys, and what the
//!   bytes are (MIME sniffing, image decoding under limits, thumbnails).

pub mod auth;
pub mod config;
pub mod files;
pub mod http;
pub mod kafka;
pub mod openapi;
pub mod readiness;
pub mod sequencing;
pub mod serve;
pub mod telemetry;

/// How long a request may wait for a MariaDB connection before it is
/// answered 503. While MariaDB is down every acquire fails after this long,
/// so it bounds a request's wait during an outage (`BEAVER_DB_ACQUIRE_TIMEOUT_MS`,
/// default 1000).
pub fn db_acquire_timeout() -> std::time::Duration {
    env_millis("BEAVER_DB_ACQUIRE_TIMEOUT_MS", 1000)
}

fn env_millis(name: &str, default: u64) -> std::time::Duration {
    let ms = std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    std::time::Duration::from_millis(ms)
}

/// Connects a MariaDB pool; fails fast so a tier never starts half-configured.
pub async fn connect_mysql(url: &str, max_connections: u32) -> anyhow::Result<sqlx::MySqlPool> {
    use anyhow::Context;
    sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(db_acquire_timeout())
        .connect(url)
        .await
        .context("Failed to connect to MariaDB")
}

/// The Redis handle every tier uses: multiplexed, reconnecting, cheap to clone.
pub type RedisConnection = redis::aio::ConnectionManager;

/// The Redis settings that keep a Redis outage from freezing a tier: every
/// command times out (`BEAVER_REDIS_RESPONSE_TIMEOUT_MS`, default 1000), a
/// connection attempt gives up after `BEAVER_REDIS_CONNECT_TIMEOUT_MS`
/// (default 500), and a reconnect is a single attempt (the crate's first
/// retry alone waits 1–2 s). With the crate's defaults (no timeouts, six
/// retries backing off to a minute) one outage of a few seconds froze every
/// tier for two minutes. While Redis is down a command fails at once and
/// starts the next attempt.
pub fn redis_manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(env_millis("BEAVER_REDIS_RESPONSE_TIMEOUT_MS", 1000))
        .set_connection_timeout(env_millis("BEAVER_REDIS_CONNECT_TIMEOUT_MS", 500))
        .set_number_of_retries(0)
}

/// Connects a self-reconnecting Redis connection with [`redis_manager_config`],
/// and keeps it warm: a `PING` every 500 ms makes the manager notice an
/// outage and reconnect in the background, so the first request after Redis
/// returns already finds a connection.
pub async fn connect_redis(url: &str) -> anyhow::Result<redis::aio::ConnectionManager> {
    use anyhow::Context;
    let client = redis::Client::open(url).context("Invalid Redis URL")?;
    let manager = redis::aio::ConnectionManager::new_with_config(client, redis_manager_config())
        .await
        .context("Failed to connect to Redis")?;
    let mut keeper = manager.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let _: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut keeper).await;
        }
    });
    Ok(manager)
}
