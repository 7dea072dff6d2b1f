//! `idle`: many authenticated WebSocket connections held idle.

use crate::{common::*, procs::*, ws::*};
use anyhow::{bail, Context, Result};
use beaver_platform::auth::{Authenticator, DEV_JWT_SECRET};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    sync::watch,
};

#[derive(Args)]
pub(crate) struct IdleArgs {
    /// Connections to open. One bench process holds at most its open-file
    /// limit less 1,000 (≈ 19,000 here); run several for more.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) connections: usize,
    /// ws-push nodes, comma-separated; connections are spread round-robin.
    /// Default: every ws-push node with a pid file under `--pids`.
    #[arg(long, value_delimiter = ',')]
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
    /// Client processes: this one measures and K children of it open the
    /// connections (each holds at most ≈ 19,000 because of the open-file limit).
    #[arg(long, default_value_t = 1)]
    pub(crate) processes: usize,
    /// Internal: run as a child of `--processes`: open the connections, report
    /// on stdout as JSON lines, close them when stdin ends.
    #[arg(long, hide = true)]
    pub(crate) child: bool,
    /// Internal: index of this child's first connection (node choice and heartbeat offsets are global).
    #[arg(long, hide = true, default_value_t = 0)]
    pub(crate) first: usize,
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

/// The connections of one process, opened and held until `close`.
struct Fleet {
    stats: Arc<IdleStats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    ramp_secs: f64,
}

/// How the ramp went, from this process or summed over the children.
struct Ramp {
    up: u64,
    failed: u64,
    secs: f64,
    /// Connect + handshake + ready, ms: p50, p99, max (over children: the
    /// largest of each, labelled so).
    p50: f64,
    p99: f64,
    max: f64,
    per_node: Vec<u64>,
    errors: Vec<String>,
}

/// How the close went, and what happened during the hold.
struct Closed {
    cleanly: u64,
    uncleanly: u64,
    dropped: u64,
    pongs: u64,
    secs: f64,
    notes: Vec<String>,
    own_cpu: f64,
    own_rss: u64,
}

/// Opens connections `first .. first + n` (node `i % nodes`, heartbeat offset
/// by `i`) at the connect rate; returns once every handshake has finished.
async fn open_fleet(a: &IdleArgs, nodes: Arc<Vec<Node>>, n: usize) -> Result<Fleet> {
    let redis = beaver_platform::connect_redis(&a.redis_url).await?;
    let secret = beaver_platform::auth::load_secret(&a.jwt_secret, &std::env::var("BEAVER_JWT_SECRET_FILE").unwrap_or_default(), true)?;
    let auth = Authenticator::new(&secret, Duration::from_secs(900), redis.clone());
    let heartbeat = Duration::from_secs(a.heartbeat_secs);
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
    let start = Instant::now();
    for k in 0..n {
        let i = a.first + k;
        // Open loop: attempt k is due at k/rate, unless IN_FLIGHT handshakes are still pending.
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + interval * k as u32)).await;
        let permit = gate.clone().acquire_owned().await?;
        let (stats, nodes, auth, stop, mut redis) = (stats.clone(), nodes.clone(), auth.clone(), stop_rx.clone(), redis.clone());
        let node = i % nodes.len();
        let local = (a.local_ips > 1).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % a.local_ips as usize) as u8)));
        tasks.push(tokio::spawn(async move {
            let (user, session) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            // ws-push accepts a token only for a live session: mark this one live as the sessions projector would.
            // Retried: under a fast connect ramp the generator's own Redis
            // round trip can time out, which would fail the connection for a
            // reason that is not ws-push's.
            let key = beaver_readmodel::keys::session_live(&session);
            for attempt in 1..=3 {
                let live: redis::RedisResult<()> = redis::AsyncCommands::set_ex(&mut redis, &key, user.to_string(), 24 * 3600).await;
                match live {
                    Ok(()) => break,
                    Err(e) if attempt == 3 => note(&stats.first_errors, format!("redis: {e}")),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
            let (token, _) = auth.issue(user, session);
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
    Ok(Fleet { stats, tasks, stop: stop_tx, ramp_secs: start.elapsed().as_secs_f64() })
}

impl Fleet {
    fn ramp(&self) -> Ramp {
        let s = &self.stats;
        let h = s.connect_time.lock().unwrap();
        let ms = |v: u64| v as f64 / 1000.0;
        Ramp {
            up: s.up.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            secs: self.ramp_secs,
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            per_node: s.per_node.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            errors: s.first_errors.lock().unwrap().clone(),
        }
    }

    async fn close(self) -> Closed {
        let own_rss = rss_kib(&std::process::id().to_string()).unwrap_or(0);
        self.stop.send_replace(true);
        let closing = Instant::now();
        let mut notes = Vec::new();
        if tokio::time::timeout(Duration::from_secs(20), futures::future::join_all(self.tasks)).await.is_err() {
            notes.push("some connections still open after 20 s".to_owned());
        }
        let s = &self.stats;
        notes.extend(s.first_drops.lock().unwrap().iter().map(|d| format!("dropped: {d}")));
        notes.extend(s.first_unclean.lock().unwrap().iter().map(|d| format!("not clean: {d}")));
        Closed {
            cleanly: s.closed_cleanly.load(Ordering::Relaxed),
            uncleanly: s.closed_uncleanly.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            pongs: s.pongs.load(Ordering::Relaxed),
            secs: closing.elapsed().as_secs_f64(),
            notes,
            own_cpu: own_cpu_seconds(),
            own_rss,
        }
    }
}

/// The child side of `--processes`: one JSON line when the ramp is done, one
/// when stdin has ended and the connections are closed.
async fn idle_child(a: IdleArgs) -> Result<()> {
    let nodes = Arc::new(resolve_nodes(&a.nodes).await?);
    let fleet = open_fleet(&a, nodes, a.connections).await?;
    let r = fleet.ramp();
    println!(
        "{}",
        json!({ "up": r.up, "failed": r.failed, "secs": r.secs, "p50": r.p50, "p99": r.p99, "max": r.max, "per_node": r.per_node, "errors": r.errors })
    );
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    let c = fleet.close().await;
    println!(
        "{}",
        json!({ "cleanly": c.cleanly, "uncleanly": c.uncleanly, "dropped": c.dropped, "pongs": c.pongs, "secs": c.secs, "notes": c.notes, "own_cpu": c.own_cpu, "own_rss": c.own_rss })
    );
    Ok(())
}

/// A child process of `--processes` and its report lines.
struct ChildFleet {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl ChildFleet {
    async fn spawn(a: &IdleArgs, pid_dir: &PathBuf, first: usize, n: usize, rate: u64) -> Result<ChildFleet> {
        let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
        cmd.arg("--pids").arg(pid_dir).arg("idle").arg("--child");
        cmd.args(["--connections", &n.to_string(), "--first", &first.to_string(), "--connect-rate", &rate.to_string()]);
        cmd.args(["--nodes", &a.nodes.join(","), "--heartbeat-secs", &a.heartbeat_secs.to_string(), "--local-ips", &a.local_ips.to_string()]);
        cmd.args(["--redis-url", &a.redis_url]).env("BEAVER_JWT_SECRET", &a.jwt_secret);
        cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().context("Failed to start a child bench process")?;
        let lines = BufReader::new(child.stdout.take().context("no child stdout")?).lines();
        Ok(ChildFleet { child, lines })
    }

    async fn report(&mut self) -> Result<Value> {
        let line = self.lines.next_line().await?.context("a child bench process ended without reporting (see its stderr above)")?;
        serde_json::from_str(&line).with_context(|| format!("child said {line:?}"))
    }
}

/// Sums the children's ramps (percentiles: the largest child's, so an upper bound).
fn sum_ramps(reports: &[Value], nodes: usize) -> Ramp {
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let mut per_node = vec![0u64; nodes];
    for r in reports {
        for (k, c) in r["per_node"].as_array().into_iter().flatten().enumerate() {
            per_node[k] += c.as_u64().unwrap_or(0);
        }
    }
    Ramp {
        up: reports.iter().map(|r| r["up"].as_u64().unwrap_or(0)).sum(),
        failed: reports.iter().map(|r| r["failed"].as_u64().unwrap_or(0)).sum(),
        secs: reports.iter().map(|r| f(r, "secs")).fold(0.0, f64::max),
        p50: reports.iter().map(|r| f(r, "p50")).fold(0.0, f64::max),
        p99: reports.iter().map(|r| f(r, "p99")).fold(0.0, f64::max),
        max: reports.iter().map(|r| f(r, "max")).fold(0.0, f64::max),
        per_node,
        errors: reports.iter().flat_map(|r| r["errors"].as_array().cloned().unwrap_or_default()).filter_map(|e| e.as_str().map(str::to_owned)).take(5).collect(),
    }
}

fn sum_closed(reports: &[Value]) -> Closed {
    let u = |k: &str| reports.iter().map(|r| r[k].as_u64().unwrap_or(0)).sum::<u64>();
    Closed {
        cleanly: u("cleanly"),
        uncleanly: u("uncleanly"),
        dropped: u("dropped"),
        pongs: u("pongs"),
        secs: reports.iter().map(|r| r["secs"].as_f64().unwrap_or(0.0)).fold(0.0, f64::max),
        notes: reports.iter().flat_map(|r| r["notes"].as_array().cloned().unwrap_or_default()).filter_map(|e| e.as_str().map(str::to_owned)).take(10).collect(),
        own_cpu: reports.iter().map(|r| r["own_cpu"].as_f64().unwrap_or(0.0)).sum(),
        own_rss: u("own_rss"),
    }
}

/// Who opens the connections: this process, or children of it.
enum Openers {
    Here(Fleet),
    Children(Vec<ChildFleet>),
}

pub(crate) async fn idle_scenario(c: Arc<Client>, pid_dir: PathBuf, mut a: IdleArgs) -> Result<()> {
    let n = a.connections;
    let limit = raise_open_files();
    let max = limit.saturating_sub(1000) as usize;
    if a.connect_rate == 0 || a.heartbeat_secs == 0 || a.processes == 0 {
        bail!("--connect-rate, --heartbeat-secs and --processes must be positive");
    }
    if a.child {
        return idle_child(a).await;
    }
    if a.nodes.is_empty() {
        a.nodes = node_urls(&pid_dir);
    }
    let per_process = n.div_ceil(a.processes);
    if per_process > max {
        bail!(
            "{per_process} connections per process is more than one bench process can hold: its open-file limit is {limit}, so at most {max} connections (1,000 files kept for everything else). \
             Use more --processes (e.g. --processes 6 for 100k), against several ws-push nodes, each node also holding fewer than its own open-file limit."
        );
    }
    let nodes = Arc::new(resolve_nodes(&a.nodes).await?);
    let procs = ws_processes(&pid_dir);

    println!("command: {}", command_line());
    println!(
        "scenario: idle WebSocket connections: {n} over {} node(s) ({}) round-robin, opened by {} client process(es); connect open loop at {}/s in all, at most {IN_FLIGHT} handshakes in flight per process; \
         hold {} s after a 5 s settle; {{\"type\":\"ping\"}} every {} s per connection (offsets spread over the period); client read/write buffers 4 KiB; \
         {} source address(es){}; open-file limit {limit} per process",
        nodes.len(),
        a.nodes.join(", "),
        a.processes,
        a.connect_rate,
        a.hold,
        a.heartbeat_secs,
        a.local_ips,
        if a.local_ips > 1 { format!(" 127.0.0.1–127.0.0.{}", a.local_ips) } else { String::new() },
    );
    println!(
        "tokens: minted here with the {} JWT secret for a random user and session per connection (query-parameter auth, platform web). \
         each session is marked live in Redis (the key the sessions projector keeps), so these users need not exist.",
        if std::env::var("BEAVER_JWT_SECRET_FILE").is_ok() { "installation's (BEAVER_JWT_SECRET_FILE)" } else { "given (--jwt-secret / BEAVER_JWT_SECRET)" }
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

    eprintln!("opening {n} connections…");
    let (openers, ramp) = if a.processes == 1 {
        let fleet = open_fleet(&a, nodes.clone(), n).await?;
        let ramp = fleet.ramp();
        (Openers::Here(fleet), ramp)
    } else {
        let mut children = Vec::new();
        for k in 0..a.processes {
            let first = k * per_process;
            let count = per_process.min(n.saturating_sub(first));
            let rate = (a.connect_rate / a.processes as u64).max(1);
            children.push(ChildFleet::spawn(&a, &pid_dir, first, count, rate).await?);
        }
        let reports = futures::future::try_join_all(children.iter_mut().map(|ch| ch.report())).await?;
        (Openers::Children(children), sum_ramps(&reports, nodes.len()))
    };
    println!(
        "connect: {} up, {} failed in {:.2} s ({:.0} connections/s achieved; {} attempted/s); connect + handshake + ready ms{}: p50 {:.1}  p99 {:.1}  max {:.1}",
        ramp.up,
        ramp.failed,
        ramp.secs,
        ramp.up as f64 / ramp.secs,
        a.connect_rate,
        if a.processes > 1 { " (largest over the processes)" } else { "" },
        ramp.p50,
        ramp.p99,
        ramp.max
    );
    for e in &ramp.errors {
        println!("  connect error: {e}");
    }

    eprintln!("settling 5 s…");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let loaded = read_nodes(&c.http, &procs).await;
    eprintln!("holding {} s…", a.hold);
    tokio::time::sleep(Duration::from_secs(a.hold)).await;
    let held = read_nodes(&c.http, &procs).await;
    let hold_secs = held.at.duration_since(loaded.at).as_secs_f64();

    // Per node: the gauge's rise is the denominator when the node has one, else our own count.
    let (mut total_conns, mut total_growth) = (0u64, 0i64);
    for (k, p) in procs.iter().enumerate() {
        let ours: u64 = nodes.iter().enumerate().filter(|(_, node)| Some(node.addr.to_string()) == p.addr).map(|(j, _)| ramp.per_node[j]).sum();
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
            "total: {total_conns} connections, RSS {:+.1} MiB: {:.1} KiB per connection ({:.1} kB; (RSS at N − RSS at 0)/N, VmRSS, 1 KiB = 1024 B)",
            total_growth as f64 / 1024.0,
            total_growth as f64 / total_conns as f64,
            total_growth as f64 * 1.024 / total_conns as f64
        );
        println!("  (the allocator keeps and reuses what earlier connections freed: only the first run on freshly started nodes measures the full cost)");
    }
    let ws_cpu = total_cpu(&held) - total_cpu(&loaded);
    let cores = ws_cpu / hold_secs;

    let (closed, own_hold_cpu) = match openers {
        Openers::Here(fleet) => (fleet.close().await, held.own_cpu - loaded.own_cpu),
        Openers::Children(mut children) => {
            let mut hold_cpu = 0.0;
            for ch in &children {
                if let Some(pid) = ch.child.id() {
                    hold_cpu += cpu_seconds_of(&pid.to_string()).unwrap_or(0.0);
                }
            }
            for ch in &mut children {
                drop(ch.child.stdin.take());
            }
            let reports = futures::future::try_join_all(children.iter_mut().map(|ch| ch.report())).await?;
            for ch in &mut children {
                let _ = ch.child.wait().await;
            }
            // Children's CPU over their whole life (ramp included): the hold alone is not separable from here.
            (sum_closed(&reports), hold_cpu)
        }
    };
    println!(
        "hold: {hold_secs:.1} s; ws-push CPU {ws_cpu:.2} s ({cores:.4} cores){} (before connecting: {empty_cores:.4} cores); pongs received {}; dropped {}",
        if ramp.up > 0 { format!(", {:.4} cores per 10k connections", cores * 10_000.0 / ramp.up as f64) } else { String::new() },
        closed.pongs,
        closed.dropped,
    );
    println!("close: {} closed cleanly, {} not, in {:.1} s", closed.cleanly, closed.uncleanly, closed.secs);
    for d in &closed.notes {
        println!("  {d}");
    }
    println!(
        "load generator: CPU {:.1} s in all ({}), RSS {} with all connections up",
        closed.own_cpu,
        if a.processes > 1 { format!("{} processes; {own_hold_cpu:.1} s up to the end of the hold", a.processes) } else { format!("{own_hold_cpu:.2} s during the hold") },
        mib(closed.own_rss)
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
