use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    beaver_platform::telemetry::init_tracing("ws-push");
    let config: beaver_ws_push::Config = beaver_platform::config::load()?;
    let listener = tokio::net::TcpListener::bind(&config.common.http_addr)
        .await
        .with_context(|| format!("Failed to bind {}", config.common.http_addr))?;
    beaver_ws_push::run(config, listener, beaver_platform::serve::shutdown_signal()).await
}
