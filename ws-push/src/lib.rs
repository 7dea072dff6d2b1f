//! Beaver's realtime tier. It will tail the message topics and deliver each
//! event to the connected WebSocket devices of its recipients (see the push
//! tier issue); for now it is the running skeleton every tier shares — it
//! starts, answers `/healthz`, exposes `/metrics` and stops cleanly — so
//! deployment and monitoring are in place before delivery is.
//!
//! # Layout
//! - [`run`]: serves the health and metrics endpoints.

use axum::{routing::get, Router};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// ws-push configuration (`BEAVER_*` variables override).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub http_addr: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { http_addr: "127.0.0.1:21083".into() }
    }
}

/// Serves until `shutdown` resolves.
pub async fn run(_config: Config, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let app = Router::new().route(
        "/healthz",
        get(|| async { beaver_platform::serve::health_response(vec![]) }),
    );
    beaver_platform::serve::serve(listener, app, shutdown).await
}
