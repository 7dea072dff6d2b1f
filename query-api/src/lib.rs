//! Beaver's read side. The gateway sends every `GET /api/` request here;
//! handlers answer from the MariaDB read models the projectors maintain and
//! never append events. Authentication is the same access-token check as on
//! the write side (signature, expiry, and the session's revocation key in Redis).
//!
//! # Layout
//! - `http`: thin axum handlers, one module per resource, over the queries
//!   of `beaver-readmodel` (which alone names tables and keys).

mod http;

use axum::{extract::FromRef, Router};
use beaver_platform::auth::Authenticator;
use serde::{Deserialize, Serialize};
use std::{future::Future, time::Duration};

/// Query API configuration (`BEAVER_*` variables override).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub http_addr: String,
    pub database_url: String,
    pub redis_url: String,
    /// Same secret as the commands tier, which issues the tokens.
    pub jwt_secret: beaver_platform::config::Secret,
    /// File holding the secret (wins over `jwt_secret`); `deploy/up` makes one
    /// per installation. Without either the tier refuses to start; see
    /// `beaver_platform::auth::load_secret`.
    pub jwt_secret_file: String,
    pub access_token_ttl_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_addr: "127.0.0.1:21082".into(),
            database_url: "mysql://beaver:beaver@127.0.0.1:3306/beaver".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            jwt_secret: Default::default(),
            jwt_secret_file: String::new(),
            access_token_ttl_secs: 900,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::MySqlPool,
    pub redis: beaver_platform::RedisConnection,
    pub auth: Authenticator,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

pub fn router(state: AppState) -> Router {
    http::router(&state).with_state(state)
}

/// Serves queries on `listener` until `shutdown` resolves.
pub async fn run(config: Config, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let secret = beaver_platform::auth::load_secret(config.jwt_secret.expose(), &config.jwt_secret_file, beaver_platform::auth::dev_insecure())?;
    let pool = beaver_platform::connect_mysql(&config.database_url, 32).await?;
    let redis = beaver_platform::connect_redis(&config.redis_url).await?;
    let auth = Authenticator::new(&secret, Duration::from_secs(config.access_token_ttl_secs), redis.clone());
    beaver_platform::serve::serve(listener, router(AppState { pool, redis, auth }), shutdown).await
}
