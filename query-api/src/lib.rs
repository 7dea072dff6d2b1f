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
    /// Address, dependencies, the JWT secret (the commands tier's, which
    /// issues the tokens) and the namespace; `kafka_brokers` is not used here.
    #[serde(flatten)]
    pub common: beaver_platform::config::Common,
    pub access_token_ttl_secs: u64,
    /// The largest group the commands tier allows (`BEAVER_GROUP_MAX_MEMBERS`,
    /// the same setting), reported by `GET /api/system/config`.
    pub group_max_members: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            common: beaver_platform::config::Common::serving("127.0.0.1:21082"),
            access_token_ttl_secs: 900,
            group_max_members: 2000,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::MySqlPool,
    pub redis: beaver_platform::RedisConnection,
    pub auth: Authenticator,
    pub group_max_members: u32,
    /// Uploaded bytes, streamed to downloads.
    pub files: beaver_platform::files::FileStore,
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
    let common = &config.common;
    common.enter_namespace()?;
    let secret = common.jwt_secret()?;
    let pool = beaver_platform::connect_mysql(common.database_url(), 32).await?;
    let redis = beaver_platform::connect_redis(common.redis_url()).await?;
    let auth = Authenticator::new(&secret, Duration::from_secs(config.access_token_ttl_secs), redis.clone());
    beaver_platform::serve::serve(listener, router(AppState { pool, redis, auth, group_max_members: config.group_max_members, files: beaver_platform::files::FileStore::local(common.file_store_dir())? }), shutdown).await
}
