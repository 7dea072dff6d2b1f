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
//! - [`presence`]: the Redis online state ws-push writes and query-api reads.
//! - [`readiness`]: waiting until a projector has applied an appended event (read-your-writes).
//! - [`redis_keys`]: the Redis keys projectors write and the chat path reads.
//! - [`sequencing`]: the sequencer's answers to senders (Redis channel and waiters).
//! - [`serve`]: binding, the `/healthz` and `/metrics` routes, graceful shutdown.

pub mod auth;
pub mod config;
pub mod http;
pub mod kafka;
pub mod presence;
pub mod readiness;
pub mod redis_keys;
pub mod sequencing;
pub mod serve;
pub mod telemetry;

/// Connects a MariaDB pool; fails fast so a tier never starts half-configured.
pub async fn connect_mysql(url: &str, max_connections: u32) -> anyhow::Result<sqlx::MySqlPool> {
    use anyhow::Context;
    sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(url)
        .await
        .context("Failed to connect to MariaDB")
}

/// The Redis handle every tier uses: multiplexed, reconnecting, cheap to clone.
pub type RedisConnection = redis::aio::ConnectionManager;

/// Connects a self-reconnecting Redis connection.
pub async fn connect_redis(url: &str) -> anyhow::Result<redis::aio::ConnectionManager> {
    use anyhow::Context;
    let client = redis::Client::open(url).context("Invalid Redis URL")?;
    redis::aio::ConnectionManager::new(client).await.context("Failed to connect to Redis")
}
