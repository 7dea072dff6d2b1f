//! `beaver-admin`: the one command-line tool for Beaver's operators and
//! analysts. It sits beside the tiers, not in the data flow: it reads the
//! Kafka topics and consumer groups, reads `projector_offsets` and the read
//! models in MariaDB, and rebuilds a projection into shadow tables with the
//! projectors' own code (`beaver_projectors::runner`) before swapping them in.
//! No tier depends on it.
//!
//! # Layout
//! - [`Cli`]: the subcommands and their `--help` texts.
//! - [`kafka`]: client construction and small metadata helpers.
//! - [`topics`]: `topics list|describe|tail|export`: envelopes as JSON lines.
//! - [`groups`]: `groups status`: members, committed/stored/end offsets, lag.
//! - [`projections`]: `projections status|rebuild`: shadow replay and atomic swap.
//! - [`feedback`], [`system`], [`emoji`]: operator actions (answering
//!   feedback, app releases, announcements, official sticker packs), decided
//!   by `beaver_writemodel` and appended with an operator actor
//!   ([`operate`]). There is no admin HTTP endpoint.

pub mod emoji;
pub mod feedback;
pub mod groups;
pub mod kafka;
pub mod operate;
pub mod projections;
pub mod system;
pub mod topics;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

/// Operate and analyse a Beaver deployment: read topics, watch consumer
/// groups, rebuild projections without downtime, and act as an operator
/// (answer feedback, publish releases and announcements, import official
/// sticker packs).
///
/// Connection settings come from the same BEAVER_* variables the tiers use
/// (deploy/lib.sh computes them from the stack's ports), or from the flags
/// below.
#[derive(Debug, Parser)]
#[command(name = "beaver-admin", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the stack is, and how to print.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Kafka bootstrap servers.
    #[arg(long, global = true, env = "BEAVER_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The live read models' MariaDB (the projectors' BEAVER_DATABASE_URL).
    #[arg(long, global = true, env = "BEAVER_DATABASE_URL", hide_env_values = true, default_value = "mysql://beaver:beaver@127.0.0.1:3306/beaver")]
    pub database_url: String,
    /// Redis, as the projectors use it (a rebuild's projections write their replay-safe keys there).
    #[arg(long, global = true, env = "BEAVER_REDIS_URL", hide_env_values = true, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// The projectors' consumer group prefix: group `<prefix><projection>` stores its offsets in MariaDB.
    #[arg(long, global = true, env = "BEAVER_GROUP_PREFIX", default_value = "beaver-projector-")]
    pub group_prefix: String,
    /// Print machine-readable JSON (one document, or JSON lines for record streams) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is acting, recorded as the actor of the events operator commands append (default: $USER).
    #[arg(long, global = true, env = "BEAVER_OPERATOR")]
    pub operator: Option<String>,
    /// The tiers' file store (a directory), where `emoji import` stores images; deploy/up uses `$BEAVER_STATE_DIR/files`.
    #[arg(long, global = true, env = "BEAVER_FILE_STORE", default_value = ".state/files")]
    pub file_store: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Kafka topics: list them, describe one, tail or export its envelopes.
    #[command(subcommand)]
    Topics(topics::TopicsCommand),
    /// Kafka consumer groups: members, offsets and lag (a probe with --max-lag).
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// Projections (the read models): status, and rebuild without downtime.
    #[command(subcommand)]
    Projections(projections::ProjectionsCommand),
    /// Users' feedback: list it, answer it (appends with you as the actor).
    #[command(subcommand)]
    Feedback(feedback::FeedbackCommand),
    /// App releases: publish, change the rollout, withdraw.
    #[command(subcommand)]
    Release(system::ReleaseCommand),
    /// Publish an announcement to every client (of some platforms).
    Announce(system::AnnounceArgs),
    /// Official sticker packs: import a folder of images as one, delete one.
    #[command(subcommand)]
    Emoji(emoji::EmojiCommand),
}

/// Runs one command line. Errors are reported by `main`; a probe that
/// fails returns a non-zero exit code without an error.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Topics(cmd) => topics::run(&cli.global, cmd).await,
        Command::Groups(cmd) => groups::run(&cli.global, cmd).await,
        Command::Projections(cmd) => projections::run(&cli.global, cmd).await,
        Command::Feedback(cmd) => feedback::run(&cli.global, cmd).await,
        Command::Release(cmd) => system::release(&cli.global, cmd).await,
        Command::Announce(args) => system::announce(&cli.global, args).await,
        Command::Emoji(cmd) => emoji::run(&cli.global, cmd).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        // clap checks its definitions (conflicting names, ids) only when a
        // command is parsed in a debug build; this checks every subcommand.
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
