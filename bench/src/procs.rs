//! Server processes: memory, CPU, connection gauges.

use crate::common::*;
use std::{path::Path, time::{Duration, Instant}};


/// A ws-push node found by its pid file (`ws-push-*.pid` under `--pids`).
pub(crate) struct WsProcess {
    /// The pid file's name, e.g. `ws-push-1`.
    pub(crate) name: String,
    pub(crate) pid: String,
    /// Its listening address (`BEAVER_HTTP_ADDR` in its environment): where
    /// `/metrics` is, and which `--nodes` entry it is.
    pub(crate) addr: Option<String>,
}

pub(crate) fn ws_processes(dir: &Path) -> Vec<WsProcess> {
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
pub(crate) fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// Seconds since a process started, from /proc/<pid>/stat and /proc/uptime (USER_HZ = 100).
pub(crate) fn age_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let started = stat.rsplit_once(") ")?.1.split_whitespace().nth(19)?.parse::<f64>().ok()? / 100.0;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(uptime - started)
}

/// The soft open-file limit of a process, from /proc/<pid>/limits.
pub(crate) fn open_file_limit_of(pid: &str) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    limits.lines().find_map(|l| l.strip_prefix("Max open files"))?.split_whitespace().next()?.parse().ok()
}

/// The node's `ws_connections` gauge.
pub(crate) async fn connections_gauge(http: &reqwest::Client, addr: &str) -> Option<u64> {
    let text = http.get(format!("http://{addr}/metrics")).timeout(Duration::from_secs(5)).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("ws_connections "))?.trim().parse::<f64>().ok().map(|v| v as u64)
}

/// One reading of every ws-push process.
pub(crate) struct Reading {
    pub(crate) rss: Vec<Option<u64>>,
    pub(crate) cpu: Vec<Option<f64>>,
    pub(crate) gauge: Vec<Option<u64>>,
    pub(crate) own_cpu: f64,
    pub(crate) at: Instant,
}

pub(crate) async fn read_nodes(http: &reqwest::Client, procs: &[WsProcess]) -> Reading {
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

pub(crate) fn total_cpu(r: &Reading) -> f64 {
    r.cpu.iter().flatten().sum()
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub(crate) fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}


/// The WebSocket URLs of the running ws-push nodes (from their pid files and
/// listening addresses), or `deploy/up`'s default two when none is found.
pub(crate) fn node_urls(dir: &Path) -> Vec<String> {
    let found: Vec<String> = ws_processes(dir).into_iter().filter_map(|p| Some(format!("ws://{}/ws", p.addr?))).collect();
    if found.is_empty() {
        crate::ws::DEFAULT_NODES.split(',').map(str::to_owned).collect()
    } else {
        found
    }
}
