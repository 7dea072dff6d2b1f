use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    beaver_platform::telemetry::init_tracing("query-api");
    let config: beaver_query_api::Config = beaver_platform::config::load()?;
    let listener = tokio::net::TcpListener::bind(&config.common.http_addr)
        .await
        .with_context(|| format!("Failed to bind {}", config.common.http_addr))?;
    beaver_query_api::run(config, listener, beaver_platform::serve::shutdown_signal()).await
}
