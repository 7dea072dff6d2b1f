//! What every scenario shares: the HTTP client, fresh users and friends, CPU
//! and memory readings from /proc, and how figures are printed.

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::{path::PathBuf, sync::Arc};

pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
}

impl Client {
    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
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
pub(crate) async fn user(c: &Client, run: &str, i: usize) -> Result<(String, String)> {
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
pub(crate) struct Pair {
    pub(crate) sender_token: String,
    pub(crate) recipient_id: String,
    /// For the recipient's WebSocket connection.
    pub(crate) recipient_token: String,
}

/// Registers `2 × n` users and makes each pair friends.
pub(crate) async fn pairs(c: &Arc<Client>, n: usize) -> Result<Vec<Pair>> {
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
        accept(c, rid, tb).await?;
        let _ = a;
        out.push(Pair { sender_token: ta.clone(), recipient_id: b.clone(), recipient_token: tb.clone() });
    }
    Ok(out)
}

/// Makes two existing users friends: `a` asks, `b` accepts.
pub(crate) async fn befriend(c: &Client, a_token: &str, b_id: &str, b_token: &str) -> Result<()> {
    let req = c.post("/api/friend/requests", Some(a_token), json!({ "to_user_id": b_id })).await?;
    let rid = req["request_id"].as_str().context("no request_id")?;
    accept(c, rid, b_token).await
}

/// Accepts friend request `rid`. Right after a restart the request may be
/// acknowledged (appended) before the relations projection has stored it,
/// and accepting it answers 404 until then: retried for up to 60 s.
async fn accept(c: &Client, rid: &str, token: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match c.post(&format!("/api/friend/requests/{rid}/accept"), Some(token), json!({})).await {
            Err(e) if e.to_string().contains(": 404 ") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => return other.map(|_| ()),
        }
    }
}

/// Total CPU seconds of the processes named by pid files (USER_HZ = 100).
pub(crate) fn server_cpu_seconds(dir: &PathBuf) -> f64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0.0 };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|pid| cpu_seconds_of(pid.trim()))
        .sum()
}

/// CPU seconds of each process named by a pid file, by the file's name
/// (`kafka`, `mariadb`, `ws-push-1`, …).
pub(crate) fn cpu_by_process(dir: &PathBuf) -> std::collections::BTreeMap<String, f64> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Default::default() };
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".pid")?.to_owned();
            let pid = std::fs::read_to_string(&path).ok()?;
            Some((name, cpu_seconds_of(pid.trim())?))
        })
        .collect()
}

/// Cores each server used between two `cpu_by_process` readings, busiest
/// first; the ws-push nodes are summed into one entry.
pub(crate) fn cpu_breakdown(before: &std::collections::BTreeMap<String, f64>, after: &std::collections::BTreeMap<String, f64>, secs: f64) -> String {
    let mut by: std::collections::BTreeMap<String, f64> = Default::default();
    for (name, end) in after {
        let used = end - before.get(name).copied().unwrap_or(*end);
        let key = if name.starts_with("ws-push") { "ws-push (all nodes)".to_owned() } else { name.clone() };
        *by.entry(key).or_default() += used / secs;
    }
    let mut by: Vec<_> = by.into_iter().collect();
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    by.iter().map(|(n, c)| format!("{n} {c:.2}")).collect::<Vec<_>>().join(", ")
}

/// CPU seconds (user + system) of one process, from /proc/<pid>/stat.
pub(crate) fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// The whole box's CPU time by kind, from the first line of /proc/stat, in
/// seconds (USER_HZ = 100), summed over all CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct BoxCpu {
    /// user + nice + system + irq + softirq: work done by anything on the box.
    pub(crate) busy: f64,
    pub(crate) idle: f64,
    pub(crate) iowait: f64,
    /// Time the hypervisor gave this VM's CPUs to someone else.
    pub(crate) steal: f64,
}

impl BoxCpu {
    /// Parses the `cpu ` line of /proc/stat.
    pub(crate) fn parse(stat: &str) -> Option<BoxCpu> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let f: Vec<f64> = line.split_whitespace().skip(1).map(|x| x.parse::<f64>().ok().map(|t| t / 100.0)).collect::<Option<_>>()?;
        let at = |i: usize| f.get(i).copied().unwrap_or(0.0);
        Some(BoxCpu { busy: at(0) + at(1) + at(2) + at(5) + at(6), idle: at(3), iowait: at(4), steal: at(7) })
    }

    /// Cores of `kind` (one of this struct's fields, picked by `f`) between two readings.
    pub(crate) fn cores(before: BoxCpu, after: BoxCpu, secs: f64, f: fn(&BoxCpu) -> f64) -> f64 {
        (f(&after) - f(&before)) / secs
    }

    pub(crate) fn now() -> BoxCpu {
        std::fs::read_to_string("/proc/stat").ok().and_then(|s| BoxCpu::parse(&s)).unwrap_or_default()
    }

    /// One line for a step's output: each kind in cores over `secs`, and
    /// what the box's CPUs were busy with besides `accounted` (the servers and
    /// the load generator), i.e. the kernel's own threads and anything else.
    pub(crate) fn describe(before: BoxCpu, after: BoxCpu, secs: f64, accounted: f64) -> String {
        let c = |f: fn(&BoxCpu) -> f64| BoxCpu::cores(before, after, secs, f);
        let busy = c(|b| b.busy);
        format!(
            "busy {busy:.2} cores ({:.2} of it outside the servers and the load generator), idle {:.2}, iowait {:.2}, steal {:.2} (CPU the hypervisor gave to other machines)",
            (busy - accounted / secs).max(0.0),
            c(|b| b.idle),
            c(|b| b.iowait),
            c(|b| b.steal),
        )
    }
}

pub(crate) fn own_cpu_seconds() -> f64 {
    cpu_seconds_of(&std::process::id().to_string()).unwrap_or(0.0)
}

pub(crate) fn percentiles(h: &Histogram<u64>) -> String {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    format!("p50 {:.1}  p95 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}", ms(0.5), ms(0.95), ms(0.99), ms(0.999), h.max() as f64 / 1000.0)
}

/// The exact command line, with a secret given on it blanked.
pub(crate) fn command_line() -> String {
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
pub(crate) fn raise_open_files() -> u64 {
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

/// Peak resident set size in KiB (`VmHWM`, the high-water mark since the
/// process started), from /proc/<pid>/status.
pub(crate) fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim().parse().ok()
}

#[cfg(test)]
mod box_cpu_tests {
    use super::BoxCpu;

    #[test]
    fn parses_the_cpu_line_and_reports_cores_per_kind() {
        let before = BoxCpu::parse("cpu  100 0 50 1000 10 0 5 20 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(before, BoxCpu { busy: 1.55, idle: 10.0, iowait: 0.1, steal: 0.2 });
        let after = BoxCpu::parse("cpu  300 0 150 1200 10 0 5 60 0 0\n").unwrap();
        let line = BoxCpu::describe(before, after, 2.0, 2.0);
        assert_eq!(line, "busy 1.50 cores (0.50 of it outside the servers and the load generator), idle 1.00, iowait 0.00, steal 0.20 (CPU the hypervisor gave to other machines)");
    }

    #[test]
    fn a_line_without_the_aggregate_is_refused() {
        assert_eq!(BoxCpu::parse("cpu0 1 2 3 4\n"), None);
        assert_eq!(BoxCpu::parse("cpu  1 x 3 4\n"), None);
    }
}
