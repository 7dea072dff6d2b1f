//! `idle`: many authenticated WebSocket connections held idle.

use crate::{common::*, procs::*, ws::*};
use anyhow::{bail, Result};
use beaver_platform::auth::{Authenticator, DEV_JWT_SECRET};
use clap::Args;
use hdrhistogram::Histogram;
use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;

#[derive(Args)]
pub(crate) struct IdleArgs {
    /// Connections to open. One bench process holds at most its open-file
    /// limit less 1,000 (≈ 19,000 here); run several for more.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) connections: usize,
    /// ws-push nodes, comma-separated; connections are spread round-robin.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_NODES)]
    pub(crate) nodes: Vec<String>,
    /// Connection attempts per second (open loop; at most 256 handshakes in flight).
    #[arg(long, default_value_t = 2000)]
    pub(crate) connect_rate: u64,
    /// Seconds the connections are held idle once all are up (after a 5 s settle).
    #[arg(long, default_value_t = 30)]
    pub(crate) hold: u64,
    /// Each connection sends {"type":"ping"} this often, at its own offset.
    #[arg(long, default_value_t = 25)]
    pub(crate) heartbeat_secs: u64,
    /// Bind client sockets to 127.0.0.1 … 127.0.0.K round-robin (past the
    /// ~28k ephemeral ports of one source address per destination).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub(crate) local_ips: u8,
    /// HS256 secret the tokens are signed with: ws-push's `jwt_secret` (default: the development secret).
    #[arg(long, env = "BEAVER_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_env_values = true, hide_default_value = true)]
    pub(crate) jwt_secret: String,
    /// The stack's Redis (the token minter is built with a handle to it; minting uses none).
    #[arg(long, env = "BEAVER_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub(crate) redis_url: String,
}


/// What the idle connections saw.
pub(crate) struct IdleStats {
    up: AtomicU64,
    failed: AtomicU64,
    /// The first few connect errors, verbatim.
    first_errors: Mutex<Vec<String>>,
    /// Connections that ended before we closed them, and the first reasons.
    dropped: AtomicU64,
    first_drops: Mutex<Vec<String>>,
    pongs: AtomicU64,
    closed_cleanly: AtomicU64,
    closed_uncleanly: AtomicU64,
    first_unclean: Mutex<Vec<String>>,
    /// Connect (TCP, handshake, `ready`) times in µs.
    connect_time: Mutex<Histogram<u64>>,
    /// Connections up per `--nodes` entry.
    per_node: Vec<AtomicU64>,
}

pub(crate) fn note(list: &Mutex<Vec<String>>, what: String) {
    let mut list = list.lock().unwrap();
    if list.len() < 5 {
        list.push(what);
    }
}

pub(crate) async fn idle_scenario(c: Arc<Client>, pid_dir: PathBuf, a: IdleArgs) -> Result<()> {
    let n = a.connections;
    let limit = raise_open_files();
    let max = limit.saturating_sub(1000) as usize;
    if n > max {
        bail!(
            "--connections {n} is more than one bench process can hold: its open-file limit is {limit}, so at most {max} connections (1,000 files kept for everything else). \
             Run several bench processes (e.g. 6 × --connections 17000 for 100k) against several ws-push nodes, each node also holding fewer than its own open-file limit."
        );
    }
    if a.connect_rate == 0 || a.heartbeat_secs == 0 {
        bail!("--connect-rate and --heartbeat-secs must be positive");
    }
    let nodes = Arc::new(resolve_nodes(&a.nodes).await?);
    let procs = ws_processes(&pid_dir);
    let redis = beaver_platform::connect_redis(&a.redis_url).await?;
    let auth = Authenticator::new(&a.jwt_secret, Duration::from_secs(3600), redis);
    let heartbeat = Duration::from_secs(a.heartbeat_secs);

    println!("command: {}", command_line());
    println!(
        "scenario: idle WebSocket connections: {n} over {} node(s) ({}) round-robin; connect open loop at {}/s, at most {IN_FLIGHT} handshakes in flight; \
         hold {} s after a 5 s settle; {{\"type\":\"ping\"}} every {} s per connection (offsets spread over the period); client read/write buffers 4 KiB; \
         {} source address(es){}; open-file limit {limit}",
        nodes.len(),
        a.nodes.join(", "),
        a.connect_rate,
        a.hold,
        a.heartbeat_secs,
        a.local_ips,
        if a.local_ips > 1 { format!(" 127.0.0.1–127.0.0.{}", a.local_ips) } else { String::new() },
    );
    println!(
        "tokens: minted here with the {} JWT secret for a random user and session per connection (query-parameter auth, platform web). \
         ws-push checks only the signature, the expiry and the session's revocation key in Redis, so these users need not exist.",
        if a.jwt_secret == DEV_JWT_SECRET { "development" } else { "given (--jwt-secret / BEAVER_JWT_SECRET)" }
    );
    if procs.is_empty() {
        println!("warning: no ws-push-*.pid under {}: server memory and CPU cannot be read", pid_dir.display());
    }
    for p in &procs {
        let share = nodes.iter().enumerate().filter(|(_, node)| Some(node.addr.to_string()) == p.addr).map(|(k, _)| (n + nodes.len() - 1 - k) / nodes.len()).sum::<usize>();
        if let Some(files) = open_file_limit_of(&p.pid) {
            if share as u64 + 100 > files {
                println!("warning: {} gets {share} connections but may open only {files} files", p.name);
            }
        }
    }

    // Baseline after a settle; the nodes' CPU meanwhile is their cost with no connections of ours.
    let empty = read_nodes(&c.http, &procs).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = read_nodes(&c.http, &procs).await;
    let empty_cores = (total_cpu(&before) - total_cpu(&empty)) / before.at.duration_since(empty.at).as_secs_f64();

    let stats = Arc::new(IdleStats {
        up: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
        dropped: AtomicU64::new(0),
        first_drops: Mutex::new(Vec::new()),
        pongs: AtomicU64::new(0),
        closed_cleanly: AtomicU64::new(0),
        closed_uncleanly: AtomicU64::new(0),
        first_unclean: Mutex::new(Vec::new()),
        connect_time: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        per_node: nodes.iter().map(|_| AtomicU64::new(0)).collect(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let interval = Duration::from_secs_f64(1.0 / a.connect_rate as f64);
    let mut tasks = Vec::with_capacity(n);
    eprintln!("opening {n} connections…");
    let start = Instant::now();
    for i in 0..n {
        // Open loop: attempt i is due at i/rate, unless IN_FLIGHT handshakes are still pending.
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + interval * i as u32)).await;
        let permit = gate.clone().acquire_owned().await?;
        let (stats, nodes, auth, stop) = (stats.clone(), nodes.clone(), auth.clone(), stop_rx.clone());
        let node = i % nodes.len();
        let local = (a.local_ips > 1).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % a.local_ips as usize) as u8)));
        tasks.push(tokio::spawn(async move {
            let (token, _) = auth.issue(uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            let query = format!("token={token}&device_id=bench-{i}&platform=web");
            let began = Instant::now();
            let ws = match tokio::time::timeout(CONNECT_TIMEOUT, open_ws(&nodes[node], &query, local)).await {
                Ok(Ok(ws)) => ws,
                failure => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    let why = match failure {
                        Ok(Err(e)) => format!("{e:#}"),
                        _ => format!("not ready within {} s", CONNECT_TIMEOUT.as_secs()),
                    };
                    note(&stats.first_errors, format!("{}: {why}", nodes[node].url));
                    return;
                }
            };
            let _ = stats.connect_time.lock().unwrap().record((began.elapsed().as_micros() as u64).max(1));
            stats.up.fetch_add(1, Ordering::Relaxed);
            stats.per_node[node].fetch_add(1, Ordering::Relaxed);
            drop(permit);
            let pongs = &stats.pongs;
            let ended = hold_connection(ws, heartbeat, jitter(i, heartbeat), stop, |t| {
                if t.contains(r#""type":"pong""#) {
                    pongs.fetch_add(1, Ordering::Relaxed);
                }
            })
            .await;
            match ended {
                Ended::ByUs(Ok(())) => stats.closed_cleanly.fetch_add(1, Ordering::Relaxed),
                Ended::ByUs(Err(why)) => {
                    note(&stats.first_unclean, format!("{}: {why}", nodes[node].url));
                    stats.closed_uncleanly.fetch_add(1, Ordering::Relaxed)
                }
                Ended::Dropped(why) => {
                    note(&stats.first_drops, format!("{}: {why}", nodes[node].url));
                    stats.dropped.fetch_add(1, Ordering::Relaxed)
                }
            };
        }));
    }
    // Every handshake has finished once all permits are back.
    let _all = gate.acquire_many(IN_FLIGHT as u32).await?;
    let ramp = start.elapsed().as_secs_f64();
    let up = stats.up.load(Ordering::Relaxed);
    let failed = stats.failed.load(Ordering::Relaxed);
    {
        let h = stats.connect_time.lock().unwrap();
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "connect: {up} up, {failed} failed in {ramp:.2} s ({:.0} connections/s achieved; {} attempted/s); connect + handshake + ready ms: p50 {:.1}  p99 {:.1}  max {:.1}",
            up as f64 / ramp,
            a.connect_rate,
            ms(0.5),
            ms(0.99),
            h.max() as f64 / 1000.0
        );
    }
    for e in stats.first_errors.lock().unwrap().iter() {
        println!("  connect error: {e}");
    }

    eprintln!("settling 5 s…");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let loaded = read_nodes(&c.http, &procs).await;
    eprintln!("holding {} s…", a.hold);
    tokio::time::sleep(Duration::from_secs(a.hold)).await;
    let held = read_nodes(&c.http, &procs).await;
    let hold_secs = held.at.duration_since(loaded.at).as_secs_f64();
    let own_rss = rss_kib(&std::process::id().to_string()).unwrap_or(0);

    // Per node: the gauge's rise is the denominator when the node has one, else our own count.
    let (mut total_conns, mut total_growth) = (0u64, 0i64);
    for (k, p) in procs.iter().enumerate() {
        let ours: u64 = nodes.iter().enumerate().filter(|(_, node)| Some(node.addr.to_string()) == p.addr).map(|(j, _)| stats.per_node[j].load(Ordering::Relaxed)).sum();
        let conns = match (before.gauge[k], loaded.gauge[k]) {
            (Some(g0), Some(g1)) => g1.saturating_sub(g0),
            _ => ours,
        };
        let (Some(r0), Some(r1)) = (before.rss[k], loaded.rss[k]) else {
            println!("node {} (pid {}): process not found", p.name, p.pid);
            continue;
        };
        let growth = r1 as i64 - r0 as i64;
        total_conns += conns;
        total_growth += growth;
        let per = if conns > 0 { format!("{:.1} KiB per connection", growth as f64 / conns as f64) } else { "no connections".into() };
        println!(
            "node {} (pid {}, {}, started {} s ago): {conns} connections (ws_connections {} → {}; ours {ours}); RSS {} → {} ({:+.1} MiB): {per}; RSS after the hold {}",
            p.name,
            p.pid,
            opt(p.addr.as_deref()),
            opt(age_secs(&p.pid).map(|a| a.round())),
            opt(before.gauge[k]),
            opt(loaded.gauge[k]),
            mib(r0),
            mib(r1),
            growth as f64 / 1024.0,
            opt(held.rss[k].map(mib)),
        );
    }
    if total_conns > 0 {
        println!(
            "total: {total_conns} connections, RSS {:+.1} MiB: {:.1} KiB per connection ((RSS at N − RSS at 0)/N, VmRSS, 1 KiB = 1024 B)",
            total_growth as f64 / 1024.0,
            total_growth as f64 / total_conns as f64
        );
        println!("  (the allocator keeps and reuses what earlier connections freed: only the first run on freshly started nodes measures the full cost)");
    }
    let ws_cpu = total_cpu(&held) - total_cpu(&loaded);
    let cores = ws_cpu / hold_secs;
    println!(
        "hold: {hold_secs:.1} s; ws-push CPU {ws_cpu:.2} s ({cores:.4} cores){} (before connecting: {empty_cores:.4} cores); pongs received {}; dropped {}",
        if up > 0 { format!(", {:.4} cores per 10k connections", cores * 10_000.0 / up as f64) } else { String::new() },
        stats.pongs.load(Ordering::Relaxed),
        stats.dropped.load(Ordering::Relaxed),
    );
    for d in stats.first_drops.lock().unwrap().iter() {
        println!("  dropped: {d}");
    }

    stop_tx.send_replace(true);
    let closing = Instant::now();
    if tokio::time::timeout(Duration::from_secs(20), futures::future::join_all(tasks)).await.is_err() {
        println!("close: some connections still open after 20 s");
    }
    let own_cpu = own_cpu_seconds();
    println!(
        "close: {} closed cleanly, {} not, in {:.1} s",
        stats.closed_cleanly.load(Ordering::Relaxed),
        stats.closed_uncleanly.load(Ordering::Relaxed),
        closing.elapsed().as_secs_f64()
    );
    for d in stats.first_unclean.lock().unwrap().iter() {
        println!("  not clean: {d}");
    }
    println!(
        "load generator: CPU {own_cpu:.1} s in all ({:.2} s during the hold), RSS {} with all connections up",
        held.own_cpu - loaded.own_cpu,
        mib(own_rss)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = read_nodes(&c.http, &procs).await;
    println!(
        "after close (2 s): ws_connections {}; RSS {}",
        after.gauge.iter().map(|g| opt(*g)).collect::<Vec<_>>().join(" / "),
        after.rss.iter().map(|r| opt(r.map(mib))).collect::<Vec<_>>().join(" / ")
    );
    Ok(())
}

