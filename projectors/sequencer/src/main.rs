use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    beaver_platform::telemetry::init_tracing("sequencer");
    let config: beaver_sequencer::Config = beaver_platform::config::load()?;
    let listener = tokio::net::TcpListener::bind(&config.common.http_addr)
        .await
        .with_context(|| format!("Failed to bind {}", config.common.http_addr))?;
    beaver_sequencer::run(config, listener, beaver_platform::serve::shutdown_signal()).await
}
