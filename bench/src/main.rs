//! Beaver's load generator. It drives a running stack (`deploy/up`) through
//! the gateway, like clients do, and prints figures; it is a benchmark, not a
//! test. Scenarios:
//!
//! - `send`: 1:1 text messages between pairs of friends, either closed-loop
//!   (`--concurrency` senders back to back) or open-loop (`--rate` sends per
//!   second scheduled whether or not earlier ones finished, so queueing shows
//!   in the tail). Reports accepted messages/s, latency percentiles of the
//!   full send (accepted, sequenced and stored: the answer carries the seq),
//!   errors, and the CPU seconds the server processes used meanwhile.
//! - `idle`: many authenticated WebSocket connections held idle with
//!   heartbeats. Reports the resident memory each connection costs the ws-push
//!   nodes ((RSS at N − RSS at 0)/N), their CPU while idle, the connect rate
//!   achieved and the failures. Tokens are minted locally with the JWT secret,
//!   so thousands of users need no registration.
//! - `latency`: end-to-end latency of 1:1 messages, from the scheduled HTTP
//!   send to the recipient's WebSocket `message` frame, at an open-loop rate;
//!   also counts lost, duplicated and out-of-order deliveries.
//! - `reads`: the conversation list of a user with many conversations.
//! - `moments`: the friends' feed: POST latency with the fan-out on write to
//!   every friend, the fan-out's correctness, and timeline reads.


mod common;
mod fanout;
mod idle;
mod latency;
mod moments;
mod procs;
mod reads;
mod rebuild;
mod send;
mod ws;

use anyhow::Result;
use clap::{Parser, Subcommand};
use common::Client;
use std::{path::PathBuf, sync::Arc, time::Duration};

#[derive(Parser)]
#[command(about = "Load generator for a running Beaver stack")]
struct Cli {
    /// The gateway origin.
    #[arg(long, default_value = "http://127.0.0.1:21080", global = true)]
    gateway: String,
    /// Pid files of the server processes whose CPU time is reported.
    #[arg(long, default_value = ".state/run", global = true)]
    pids: PathBuf,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// 1:1 text messages between pairs of friends.
    Send {
        /// Pairs of users (each pair is one conversation).
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Closed loop: this many senders, each sending back to back.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Open loop: sends per second (overrides --concurrency).
        #[arg(long)]
        rate: Option<u64>,
        /// Measured duration in seconds (after a 2 s warm-up).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Bytes of text per message.
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
    /// Idle authenticated WebSocket connections: memory and CPU per connection of the ws-push nodes.
    Idle(idle::IdleArgs),
    /// End-to-end latency of 1:1 messages: HTTP send → the recipient's WebSocket frame.
    Latency(latency::LatencyArgs),
    /// Group messages delivered to every online member: deliveries per second at which p99 stays under a bound.
    Fanout(fanout::FanoutArgs),
    /// Replays message events from offset 0 into a fresh read model: events per second.
    Rebuild(rebuild::RebuildArgs),
    /// The conversation list of a user with many conversations: latency and CPU per request.
    Reads(reads::ReadsArgs),
    /// The friends' feed: POST /api/moment with the fan-out to every friend, and timeline reads.
    Moments(moments::MomentsArgs),
}


#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).timeout(Duration::from_secs(30)).build()?;
    let client = Arc::new(Client { http, base: cli.gateway.clone() });
    match cli.scenario {
        Scenario::Send { pairs, concurrency, rate, seconds, size } => send::send_scenario(client, cli.pids, pairs, concurrency, rate, seconds, size).await,
        Scenario::Idle(args) => idle::idle_scenario(client, cli.pids, args).await,
        Scenario::Latency(args) => latency::latency_scenario(client, cli.pids, args).await,
        Scenario::Fanout(args) => fanout::fanout_scenario(client, cli.pids, args).await,
        Scenario::Rebuild(args) => rebuild::rebuild_scenario(client, cli.pids, args).await,
        Scenario::Reads(args) => reads::reads_scenario(client, cli.pids, args).await,
        Scenario::Moments(args) => moments::moments_scenario(client, cli.pids, args).await,
    }
}
