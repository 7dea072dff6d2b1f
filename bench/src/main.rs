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

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

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

/// Pairs of friends: (sender token, recipient id).
async fn pairs(c: &Arc<Client>, n: usize) -> Result<Vec<(String, String)>> {
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
        out.push((ta.clone(), b.clone()));
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
                    let (token, to) = &pairs[i % pairs.len()];
                    send_one(&c, &stats, token, to, &text, record).await;
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
                        let (token, to) = &pairs[k % pairs.len()];
                        let record = start.elapsed() >= warmup;
                        send_one(&c, &stats, token, to, &text, record).await;
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

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).timeout(Duration::from_secs(30)).build()?;
    let client = Arc::new(Client { http, base: cli.gateway.clone() });
    match cli.scenario {
        Scenario::Send { pairs, concurrency, rate, seconds, size } => send_scenario(client, cli.pids, pairs, concurrency, rate, seconds, size).await,
    }
}
