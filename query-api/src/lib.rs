//! Beaver's read side. The gateway sends every `GET /api/` request here;
//! handlers answer from the MariaDB read models the projectors maintain and
//! never append events. Authentication is the same access-token check as on
//! the write side (signature, expiry, and the session's revocation key in Redis).
//!
//! # Layout
//! - `http`: thin axum handlers, one module per resource, over the queries
//!   of `beaver-readmodel` (which alone names tables and keys).

pub mod http;

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
    /// TURN URIs handed to callers, comma-separated (`BEAVER_TURN_URIS`).
    pub turn_uris: String,
    /// The TURN server's shared secret, or a file holding it
    /// (`BEAVER_TURN_SECRET`, `BEAVER_TURN_SECRET_FILE`); empty: no TURN credentials (503).
    pub turn_secret: beaver_platform::config::Secret,
    pub turn_secret_file: String,
    /// How long TURN credentials are valid.
    pub turn_ttl_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            common: beaver_platform::config::Common::serving("127.0.0.1:21082"),
            access_token_ttl_secs: 900,
            group_max_members: 2000,
            turn_uris: "turn:127.0.0.1:3478?transport=udp".into(),
            turn_secret: Default::default(),
            turn_secret_file: String::new(),
            turn_ttl_secs: 3600,
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
    /// TURN credentials' settings; `None` when no TURN secret is configured.
    pub turn: Option<std::sync::Arc<Turn>>,
}

/// What `GET /api/call/ice-servers` mints credentials from.
#[derive(Debug)]
pub struct Turn {
    pub uris: Vec<String>,
    pub secret: String,
    pub ttl: Duration,
}

impl Turn {
    fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let secret = if !config.turn_secret.is_empty() {
            config.turn_secret.expose().to_owned()
        } else if !config.turn_secret_file.is_empty() {
            std::fs::read_to_string(&config.turn_secret_file)
                .map_err(|e| anyhow::anyhow!("cannot read the TURN secret {}: {e}", config.turn_secret_file))?
                .trim()
                .to_owned()
        } else {
            String::new()
        };
        let uris: Vec<String> = config.turn_uris.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
        Ok((!secret.is_empty() && !uris.is_empty()).then(|| Turn { uris, secret, ttl: Duration::from_secs(config.turn_ttl_secs.max(60)) }))
    }
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
    beaver_platform::serve::serve(listener, router(AppState { pool, redis, auth, group_max_members: config.group_max_members, files: beaver_platform::files::FileStore::local(common.file_store_dir())?, turn: Turn::from_config(&config)?.map(std::sync::Arc::new) }), shutdown).await
}
