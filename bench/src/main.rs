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

use anyhow::{anyhow, bail, Context, Result};
use beaver_platform::auth::{Authenticator, DEV_JWT_SECRET};
use clap::{Args, Parser, Subcommand};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::{net::TcpSocket, sync::watch};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig, Message};

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
    Idle(IdleArgs),
    /// End-to-end latency of 1:1 messages: HTTP send → the recipient's WebSocket frame.
    Latency(LatencyArgs),
}

/// Both ws-push nodes of `deploy/up`.
const DEFAULT_NODES: &str = "ws://127.0.0.1:21083/ws,ws://127.0.0.1:21183/ws";

#[derive(Args)]
struct IdleArgs {
    /// Connections to open. One bench process holds at most its open-file
    /// limit less 1,000 (≈ 19,000 here); run several for more.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// ws-push nodes, comma-separated; connections are spread round-robin.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_NODES)]
    nodes: Vec<String>,
    /// Connection attempts per second (open loop; at most 256 handshakes in flight).
    #[arg(long, default_value_t = 2000)]
    connect_rate: u64,
    /// Seconds the connections are held idle once all are up (after a 5 s settle).
    #[arg(long, default_value_t = 30)]
    hold: u64,
    /// Each connection sends {"type":"ping"} this often, at its own offset.
    #[arg(long, default_value_t = 25)]
    heartbeat_secs: u64,
    /// Bind client sockets to 127.0.0.1 … 127.0.0.K round-robin (past the
    /// ~28k ephemeral ports of one source address per destination).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    local_ips: u8,
    /// HS256 secret the tokens are signed with: ws-push's `jwt_secret` (default: the development secret).
    #[arg(long, env = "BEAVER_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_env_values = true, hide_default_value = true)]
    jwt_secret: String,
    /// The stack's Redis (the token minter is built with a handle to it; minting uses none).
    #[arg(long, env = "BEAVER_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

#[derive(Args)]
struct LatencyArgs {
    /// Pairs of friends; each recipient holds one WebSocket connection.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Sends per second, open loop.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Measured duration in seconds (after a 2 s warm-up).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// ws-push nodes, comma-separated; recipients alternate between them.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_NODES)]
    nodes: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body["data"].clone())
    }
}

/// Registers and logs in a fresh user; returns (id, token).
async fn user(c: &Client, run: &str, i: usize) -> Result<(String, String)> {
    let name = format!("b{run}_{i}");
    let password = "bench-password";
    let id = c.post("/api/user/register", None, json!({ "username": name, "password": password })).await?["user_id"]
        .as_str()
        .context("no user_id")?
        .to_owned();
    let token = c.post("/api/user/login", None, json!({ "username": name, "password": password })).await?["access_token"]
        .as_str()
        .context("no token")?
        .to_owned();
    Ok((id, token))
}

/// Two fresh users who are friends: the first sends, the second receives.
struct Pair {
    sender_token: String,
    recipient_id: String,
    /// For the recipient's WebSocket connection.
    recipient_token: String,
}

/// Registers `2 × n` users and makes each pair friends.
async fn pairs(c: &Arc<Client>, n: usize) -> Result<Vec<Pair>> {
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let users = futures::future::try_join_all((0..2 * n).map(|i| {
        let c = c.clone();
        let run = run.to_owned();
        async move { user(&c, &run, i).await }
    }))
    .await?;
    let mut out = Vec::new();
    for pair in users.chunks(2) {
        let ((a, ta), (b, tb)) = (&pair[0], &pair[1]);
        let req = c.post("/api/friend/requests", Some(ta), json!({ "to_user_id": b })).await?;
        let rid = req["request_id"].as_str().context("no request_id")?;
        c.post(&format!("/api/friend/requests/{rid}/accept"), Some(tb), json!({})).await?;
        let _ = a;
        out.push(Pair { sender_token: ta.clone(), recipient_id: b.clone(), recipient_token: tb.clone() });
    }
    Ok(out)
}

/// Total CPU seconds of the processes named by pid files (USER_HZ = 100).
fn server_cpu_seconds(dir: &PathBuf) -> f64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0.0 };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|pid| cpu_seconds_of(pid.trim()))
        .sum()
}

/// CPU seconds (user + system) of one process, from /proc/<pid>/stat.
fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
}

fn own_cpu_seconds() -> f64 {
    cpu_seconds_of(&std::process::id().to_string()).unwrap_or(0.0)
}

struct Stats {
    hist: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: AtomicU64,
}

async fn send_one(c: &Client, stats: &Stats, token: &str, to: &str, text: &str, record: bool) {
    let started = Instant::now();
    let body = json!({ "to_user_id": to, "client_msg_id": uuid::Uuid::new_v4().simple().to_string(), "type": "text", "content": { "text": text } });
    match c.post("/api/chat/send", Some(token), body).await {
        Ok(answer) if answer["seq"].is_i64() => {
            if record {
                stats.ok.fetch_add(1, Ordering::Relaxed);
                let micros = started.elapsed().as_micros() as u64;
                let _ = stats.hist.lock().unwrap().record(micros.max(1));
            }
        }
        Ok(other) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("send answered without a seq: {other}");
        }
        Err(e) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            if stats.errors.load(Ordering::Relaxed) < 5 {
                eprintln!("send failed: {e:#}");
            }
        }
    }
}

async fn send_scenario(c: Arc<Client>, pid_dir: PathBuf, n: usize, concurrency: usize, rate: Option<u64>, seconds: u64, size: usize) -> Result<()> {
    eprintln!("setting up {n} pairs of friends…");
    let pairs = Arc::new(pairs(&c, n).await?);
    let text: Arc<str> = "x".repeat(size).into();
    let stats = Arc::new(Stats { hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?), ok: AtomicU64::new(0), errors: AtomicU64::new(0) });
    let warmup = Duration::from_secs(2);
    let total = warmup + Duration::from_secs(seconds);
    let start = Instant::now();
    let cpu0 = Arc::new(Mutex::new(None::<(f64, f64, Instant)>));
    {
        // Snapshot CPU when the warm-up ends.
        let (cpu0, pid_dir) = (cpu0.clone(), pid_dir.clone());
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            *cpu0.lock().unwrap() = Some((server_cpu_seconds(&pid_dir), own_cpu_seconds(), Instant::now()));
        });
    }
    match rate {
        Some(rate) => {
            // Open loop: each send is due at its scheduled time.
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            let mut tasks = Vec::new();
            let mut i = 0usize;
            loop {
                let due = interval * i as u32;
                if due >= total {
                    break;
                }
                tokio::time::sleep_until(tokio::time::Instant::from_std(start + due)).await;
                let (c, stats, pairs, text) = (c.clone(), stats.clone(), pairs.clone(), text.clone());
                let record = due >= warmup;
                tasks.push(tokio::spawn(async move {
                    let pair = &pairs[i % pairs.len()];
                    send_one(&c, &stats, &pair.sender_token, &pair.recipient_id, &text, record).await;
                }));
                i += 1;
            }
            futures::future::join_all(tasks).await;
        }
        None => {
            let workers = (0..concurrency).map(|w| {
                let (c, stats, pairs, text) = (c.clone(), stats.clone(), pairs.clone(), text.clone());
                tokio::spawn(async move {
                    let mut k = w;
                    while start.elapsed() < total {
                        let pair = &pairs[k % pairs.len()];
                        let record = start.elapsed() >= warmup;
                        send_one(&c, &stats, &pair.sender_token, &pair.recipient_id, &text, record).await;
                        k += concurrency;
                    }
                })
            });
            futures::future::join_all(workers).await;
        }
    }
    let (cpu_start, own_start, measured_from) = cpu0.lock().unwrap().context("warm-up never ended")?;
    let elapsed = measured_from.elapsed().as_secs_f64();
    let (server_cpu, own_cpu) = (server_cpu_seconds(&pid_dir) - cpu_start, own_cpu_seconds() - own_start);
    let hist = stats.hist.lock().unwrap();
    let ok = stats.ok.load(Ordering::Relaxed);
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!("scenario: send 1:1 text ({size} B), {n} pairs, {}", match rate { Some(r) => format!("open loop at {r}/s"), None => format!("closed loop, {concurrency} senders") });
    println!("measured: {elapsed:.1} s after a {} s warm-up", warmup.as_secs());
    println!("accepted: {ok} messages, {:.0} msg/s; errors: {}", ok as f64 / elapsed, stats.errors.load(Ordering::Relaxed));
    println!(
        "latency (send → answer with seq) ms: p50 {:.1}  p95 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        ms(0.5), ms(0.95), ms(0.99), ms(0.999), hist.max() as f64 / 1000.0
    );
    println!("cpu: servers {server_cpu:.1} s ({:.2} cores), load generator {own_cpu:.1} s", server_cpu / elapsed);
    Ok(())
}

// ---------------------------------------------------------------------------
// WebSocket clients, shared by `idle` and `latency`.

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Handshakes in flight at once while ramping up.
const IN_FLIGHT: usize = 256;
/// A connection not ready (handshake and `ready` frame) within this counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const PING: &str = r#"{"type":"ping"}"#;

/// Small buffers, so that many client connections cost little (tungstenite's default is 128 KiB each).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(4096)
}

/// A ws-push node as given on the command line, its address resolved once.
struct Node {
    url: String,
    addr: SocketAddr,
}

async fn resolve_nodes(urls: &[String]) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for url in urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        let uri: tungstenite::http::Uri = url.parse().with_context(|| format!("Failed to parse node URL {url}"))?;
        let host = uri.host().with_context(|| format!("no host in {url}"))?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port)).await?.next().with_context(|| format!("Failed to resolve {url}"))?;
        nodes.push(Node { url: url.to_owned(), addr });
    }
    if nodes.is_empty() {
        bail!("--nodes names no node");
    }
    Ok(nodes)
}

/// Lets a socket bound to an address share source ports across destinations:
/// the port is chosen at connect time by the full 4-tuple, as without a bind.
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a live socket descriptor and an option value of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn handshake_error(e: tungstenite::Error) -> anyhow::Error {
    match e {
        tungstenite::Error::Http(resp) => {
            let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            anyhow!("handshake refused: {} {body}", resp.status())
        }
        e => anyhow!("handshake: {e}"),
    }
}

/// Opens a WebSocket to `node` (from `local` when given), authenticated by
/// the query, and waits for its `ready` frame.
async fn open_ws(node: &Node, query: &str, local: Option<IpAddr>) -> Result<Ws> {
    let sep = if node.url.contains('?') { '&' } else { '?' };
    let request = format!("{}{sep}{query}", node.url).into_client_request()?;
    let socket = if node.addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = local {
        bind_address_no_port(&socket);
        socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("bind {ip}"))?;
    }
    let tcp = socket.connect(node.addr).await.context("connect")?;
    tcp.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(ws_config())).await.map_err(handshake_error)?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<Value>(&t)?["type"].as_str() {
                Some("ready") => return Ok(ws),
                Some("error" | "kick") => bail!("refused: {t}"),
                _ => {}
            },
            Some(Ok(Message::Close(f))) => bail!("closed before ready: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("before ready: {e}"),
            None => bail!("closed before ready"),
        }
    }
}

/// How a held connection ended.
enum Ended {
    /// We closed it when told to; `Err` says why the close was not clean
    /// (the server did not answer it with its own close frame in time).
    ByUs(Result<(), String>),
    /// It ended on its own: the server closed it or the socket broke.
    Dropped(String),
}

/// Keeps a connection open: answers the server's pings (tungstenite does),
/// sends `{"type":"ping"}` every `heartbeat` starting after `first_ping`, hands
/// every text frame to `on_text`, and closes cleanly when `stop` changes.
async fn hold_connection(mut ws: Ws, heartbeat: Duration, first_ping: Duration, mut stop: watch::Receiver<bool>, mut on_text: impl FnMut(&str)) -> Ended {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + first_ping, heartbeat);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let closed = tokio::time::timeout(Duration::from_secs(5), async {
                    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
                    while let Some(m) = ws.next().await {
                        m.map_err(|e| format!("after close: {e}"))?;
                    }
                    Ok(())
                })
                .await;
                return Ended::ByUs(closed.unwrap_or_else(|_| Err("no close answer within 5 s".into())));
            }
            _ = ping.tick() => {
                if let Err(e) = ws.send(Message::text(PING)).await {
                    return Ended::Dropped(format!("ping failed: {e}"));
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => on_text(&t),
                Some(Ok(Message::Close(f))) => return Ended::Dropped(format!("closed by the server: {f:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Dropped(e.to_string()),
                None => return Ended::Dropped("connection ended".into()),
            }
        }
    }
}

/// Spreads connections' first heartbeats over the period (golden-ratio sequence).
fn jitter(i: usize, period: Duration) -> Duration {
    period.mul_f64((i as f64 * 0.618_033_988_749_895).fract())
}

/// The exact command line, with a secret given on it blanked.
fn command_line() -> String {
    let mut out: Vec<String> = Vec::new();
    let mut secret_next = false;
    for arg in std::env::args() {
        if std::mem::take(&mut secret_next) {
            out.push("***".into());
        } else if arg == "--jwt-secret" {
            secret_next = true;
            out.push(arg);
        } else if arg.starts_with("--jwt-secret=") {
            out.push("--jwt-secret=***".into());
        } else {
            out.push(arg);
        }
    }
    out.join(" ")
}

/// Raises this process's soft open-file limit to the hard one; returns the limit in force.
fn raise_open_files() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid resource and a pointer to a live rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    limit.rlim_cur
}

// ---------------------------------------------------------------------------
// Server processes: memory, CPU, connection gauges.

/// A ws-push node found by its pid file (`ws-push-*.pid` under `--pids`).
struct WsProcess {
    /// The pid file's name, e.g. `ws-push-1`.
    name: String,
    pid: String,
    /// Its listening address (`BEAVER_HTTP_ADDR` in its environment): where
    /// `/metrics` is, and which `--nodes` entry it is.
    addr: Option<String>,
}

fn ws_processes(dir: &Path) -> Vec<WsProcess> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut procs: Vec<WsProcess> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".pid")?.to_owned();
            if !name.starts_with("ws-push") {
                return None;
            }
            let pid = std::fs::read_to_string(&path).ok()?.trim().to_owned();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let addr = environ.split(|b| *b == 0).find_map(|kv| std::str::from_utf8(kv).ok()?.strip_prefix("BEAVER_HTTP_ADDR=").map(str::to_owned));
            Some(WsProcess { name, pid, addr })
        })
        .collect();
    procs.sort_by(|a, b| a.name.cmp(&b.name));
    procs
}

/// Resident set size in KiB, from /proc/<pid>/status.
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// Seconds since a process started, from /proc/<pid>/stat and /proc/uptime (USER_HZ = 100).
fn age_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let started = stat.rsplit_once(") ")?.1.split_whitespace().nth(19)?.parse::<f64>().ok()? / 100.0;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(uptime - started)
}

/// The soft open-file limit of a process, from /proc/<pid>/limits.
fn open_file_limit_of(pid: &str) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    limits.lines().find_map(|l| l.strip_prefix("Max open files"))?.split_whitespace().next()?.parse().ok()
}

/// The node's `ws_connections` gauge.
async fn connections_gauge(http: &reqwest::Client, addr: &str) -> Option<u64> {
    let text = http.get(format!("http://{addr}/metrics")).timeout(Duration::from_secs(5)).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("ws_connections "))?.trim().parse::<f64>().ok().map(|v| v as u64)
}

/// One reading of every ws-push process.
struct Reading {
    rss: Vec<Option<u64>>,
    cpu: Vec<Option<f64>>,
    gauge: Vec<Option<u64>>,
    own_cpu: f64,
    at: Instant,
}

async fn read_nodes(http: &reqwest::Client, procs: &[WsProcess]) -> Reading {
    let gauge = futures::future::join_all(procs.iter().map(|p| async move {
        match &p.addr {
            Some(addr) => connections_gauge(http, addr).await,
            None => None,
        }
    }))
    .await;
    Reading {
        rss: procs.iter().map(|p| rss_kib(&p.pid)).collect(),
        cpu: procs.iter().map(|p| cpu_seconds_of(&p.pid)).collect(),
        gauge,
        own_cpu: own_cpu_seconds(),
        at: Instant::now(),
    }
}

fn total_cpu(r: &Reading) -> f64 {
    r.cpu.iter().flatten().sum()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}

// ---------------------------------------------------------------------------
// `idle`

/// What the idle connections saw.
struct IdleStats {
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

fn note(list: &Mutex<Vec<String>>, what: String) {
    let mut list = list.lock().unwrap();
    if list.len() < 5 {
        list.push(what);
    }
}

async fn idle_scenario(c: Arc<Client>, pid_dir: PathBuf, a: IdleArgs) -> Result<()> {
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

// ---------------------------------------------------------------------------
// `latency`

/// One message on its way, by client_msg_id.
struct InFlight {
    /// When the send was due (open loop): latencies count from here.
    due: Instant,
    /// Sent after the warm-up.
    measured: bool,
    /// The HTTP answer carried a seq.
    accepted: bool,
    received: bool,
}

struct E2eStats {
    in_flight: Mutex<HashMap<String, InFlight>>,
    /// Due → the recipient's `message` frame, µs.
    e2e: Mutex<Histogram<u64>>,
    /// Due → the HTTP answer with a seq, µs.
    http: Mutex<Histogram<u64>>,
    sent: AtomicU64,
    accepted: AtomicU64,
    errors: AtomicU64,
    received: AtomicU64,
    duplicates: AtomicU64,
    out_of_order: AtomicU64,
    /// `message` frames carrying a client_msg_id we never sent.
    strangers: AtomicU64,
    dropped: AtomicU64,
}

/// Per recipient connection: what it has seen, to find duplicates and reordering.
#[derive(Default)]
struct Seen {
    pairs: HashSet<(String, i64)>,
    highest: HashMap<String, i64>,
}

fn on_message_frame(stats: &E2eStats, seen: &mut Seen, text: &str) {
    let at = Instant::now();
    let Ok(frame) = serde_json::from_str::<Value>(text) else { return };
    if frame["type"] != "message" {
        return;
    }
    let d = &frame["data"];
    let (Some(conversation), Some(seq)) = (d["conversation_id"].as_str(), d["seq"].as_i64()) else { return };
    if !seen.pairs.insert((conversation.to_owned(), seq)) {
        stats.duplicates.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let highest = seen.highest.entry(conversation.to_owned()).or_insert(0);
    if seq < *highest {
        stats.out_of_order.fetch_add(1, Ordering::Relaxed);
    } else {
        *highest = seq;
    }
    let mut in_flight = stats.in_flight.lock().unwrap();
    match d["client_msg_id"].as_str().and_then(|id| in_flight.get_mut(id)) {
        Some(m) if !m.received => {
            m.received = true;
            stats.received.fetch_add(1, Ordering::Relaxed);
            if m.measured {
                let _ = stats.e2e.lock().unwrap().record((at.saturating_duration_since(m.due).as_micros() as u64).max(1));
            }
        }
        Some(_) => {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        None => {
            stats.strangers.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn send_timed(c: &Client, stats: &E2eStats, pair: &Pair, text: &str, due: Instant, measured: bool) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    stats.in_flight.lock().unwrap().insert(id.clone(), InFlight { due, measured, accepted: false, received: false });
    stats.sent.fetch_add(1, Ordering::Relaxed);
    let body = json!({ "to_user_id": pair.recipient_id, "client_msg_id": id, "type": "text", "content": { "text": text } });
    match c.post("/api/chat/send", Some(&pair.sender_token), body).await {
        Ok(answer) if answer["seq"].is_i64() => {
            let answered = Instant::now();
            stats.accepted.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = stats.in_flight.lock().unwrap().get_mut(&id) {
                m.accepted = true;
            }
            if measured {
                let _ = stats.http.lock().unwrap().record((answered.saturating_duration_since(due).as_micros() as u64).max(1));
            }
        }
        Ok(other) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("send answered without a seq: {other}");
        }
        Err(e) => {
            if stats.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                eprintln!("send failed: {e:#}");
            }
        }
    }
}

fn percentiles(h: &Histogram<u64>) -> String {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    format!("p50 {:.1}  p95 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}", ms(0.5), ms(0.95), ms(0.99), ms(0.999), h.max() as f64 / 1000.0)
}

async fn latency_scenario(c: Arc<Client>, pid_dir: PathBuf, a: LatencyArgs) -> Result<()> {
    if a.rate == 0 || a.pairs == 0 {
        bail!("--rate and --pairs must be positive");
    }
    let nodes = resolve_nodes(&a.nodes).await?;
    println!("command: {}", command_line());
    println!(
        "scenario: end-to-end latency, 1:1 text ({} B), {} pairs, open loop at {}/s for {} s after a 2 s warm-up; send over HTTP ({}) → the recipient's WebSocket `message` frame; \
         recipients on {} ({} node(s), alternating), query-parameter auth, platform web; latencies count from each send's scheduled time",
        a.size,
        a.pairs,
        a.rate,
        a.seconds,
        c.base,
        a.nodes.join(", "),
        nodes.len()
    );
    eprintln!("setting up {} pairs of friends…", a.pairs);
    let pairs = Arc::new(pairs(&c, a.pairs).await?);
    let sockets = futures::future::try_join_all(pairs.iter().enumerate().map(|(i, p)| {
        let node = &nodes[i % nodes.len()];
        let query = format!("token={}&device_id=bench-latency-{i}&platform=web", p.recipient_token);
        async move { tokio::time::timeout(CONNECT_TIMEOUT, open_ws(node, &query, None)).await.context("recipient not ready in time")?.with_context(|| format!("Failed to connect recipient {i} to {}", node.url)) }
    }))
    .await?;

    let stats = Arc::new(E2eStats {
        in_flight: Mutex::new(HashMap::new()),
        e2e: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        http: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        sent: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        received: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
        strangers: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let heartbeat = Duration::from_secs(25);
    let readers: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let (stats, stop) = (stats.clone(), stop_rx.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                if let Ended::Dropped(why) = hold_connection(ws, heartbeat, jitter(i, heartbeat), stop, |t| on_message_frame(&stats, &mut seen, t)).await {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    eprintln!("recipient {i} dropped: {why}");
                }
            })
        })
        .collect();

    let text: Arc<str> = "x".repeat(a.size).into();
    let warmup = Duration::from_secs(2);
    let total = warmup + Duration::from_secs(a.seconds);
    let start = Instant::now();
    let cpu0 = Arc::new(Mutex::new(None::<(f64, f64, Instant)>));
    {
        let (cpu0, pid_dir) = (cpu0.clone(), pid_dir.clone());
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            *cpu0.lock().unwrap() = Some((server_cpu_seconds(&pid_dir), own_cpu_seconds(), Instant::now()));
        });
    }
    let interval = Duration::from_secs_f64(1.0 / a.rate as f64);
    let mut tasks = Vec::new();
    let mut i = 0usize;
    loop {
        let due = interval * i as u32;
        if due >= total {
            break;
        }
        let due_at = start + due;
        tokio::time::sleep_until(tokio::time::Instant::from_std(due_at)).await;
        let (c, stats, pairs, text) = (c.clone(), stats.clone(), pairs.clone(), text.clone());
        let measured = due >= warmup;
        tasks.push(tokio::spawn(async move {
            send_timed(&c, &stats, &pairs[i % pairs.len()], &text, due_at, measured).await;
        }));
        i += 1;
    }
    let schedule_end = start + total;
    futures::future::join_all(tasks).await;
    let (cpu_start, own_start, measured_from) = cpu0.lock().unwrap().context("warm-up never ended")?;
    let measured_secs = schedule_end.saturating_duration_since(measured_from).as_secs_f64();
    let (server_cpu, own_cpu) = (server_cpu_seconds(&pid_dir) - cpu_start, own_cpu_seconds() - own_start);

    // Accepted messages have 5 s more to arrive.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && stats.in_flight.lock().unwrap().values().any(|m| m.accepted && !m.received) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (lost, unanswered_but_received, measured_sent) = {
        let in_flight = stats.in_flight.lock().unwrap();
        (
            in_flight.values().filter(|m| m.accepted && !m.received).count(),
            in_flight.values().filter(|m| !m.accepted && m.received).count(),
            in_flight.values().filter(|m| m.measured).count(),
        )
    };
    stop_tx.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(readers)).await;

    let load = |x: &AtomicU64| x.load(Ordering::Relaxed);
    println!("measured: {measured_secs:.1} s after a {} s warm-up ({measured_sent} sends scheduled in it)", warmup.as_secs());
    println!(
        "messages (warm-up included): sent {}, accepted {} (answer with a seq), errors {}, received {}, lost {lost} (accepted, not received within 5 s of the end), \
         duplicates {} (same conversation and seq again), out of order {} (seq below one already received), received without an accepted answer {unanswered_but_received}, unknown {}, recipients dropped {}",
        load(&stats.sent),
        load(&stats.accepted),
        load(&stats.errors),
        load(&stats.received),
        load(&stats.duplicates),
        load(&stats.out_of_order),
        load(&stats.strangers),
        load(&stats.dropped),
    );
    println!("latency (scheduled send → recipient's message frame) ms: {}", percentiles(&stats.e2e.lock().unwrap()));
    println!("latency (scheduled send → HTTP answer with seq) ms:      {}", percentiles(&stats.http.lock().unwrap()));
    println!("cpu (measured window): servers {server_cpu:.1} s ({:.2} cores), load generator {own_cpu:.1} s", server_cpu / measured_secs);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).timeout(Duration::from_secs(30)).build()?;
    let client = Arc::new(Client { http, base: cli.gateway.clone() });
    match cli.scenario {
        Scenario::Send { pairs, concurrency, rate, seconds, size } => send_scenario(client, cli.pids, pairs, concurrency, rate, seconds, size).await,
        Scenario::Idle(args) => idle_scenario(client, cli.pids, args).await,
        Scenario::Latency(args) => latency_scenario(client, cli.pids, args).await,
    }
}
