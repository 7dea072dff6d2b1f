use anyhow::Context;
use clap::{Parser, Subcommand};

/// Beaver projectors: build read models from the Kafka event log.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the projections (the default).
    Run,
    /// Apply pending SQL migrations and exit.
    Migrate,
    /// Empty one projection's read model and offsets so its next start replays from offset 0.
    Reset { projection: String },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    beaver_platform::telemetry::init_tracing("projectors");
    let config: beaver_projectors::Config = beaver_platform::config::load()?;
    match Cli::parse().command.unwrap_or(Command::Run) {
        Command::Migrate => beaver_projectors::migrate(config.common.database_url()).await,
        Command::Reset { projection } => beaver_projectors::reset(config.common.database_url(), &projection).await,
        Command::Run => {
            let listener = tokio::net::TcpListener::bind(&config.common.http_addr)
                .await
                .with_context(|| format!("Failed to bind {}", config.common.http_addr))?;
            beaver_projectors::run(config, listener, beaver_platform::serve::shutdown_signal()).await
        }
    }
}
