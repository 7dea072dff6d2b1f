//! `moments`: the friends' feed (docs/services.md, "Moments"), fan-out on
//! write and timeline reads.
//!
//! Set-up: one author and `--friends` fresh users, made friends through the
//! API (the author asks, each friend accepts), `--setup-concurrency` at a
//! time. A first `friends` moment is then posted and every friend's first
//! timeline page polled until all of them show it: only then has the moments
//! projection applied every friendship (a friendship applied after a post
//! backfills it, so this converges), and the measured posts fan out to all.
//!
//! Then, in order:
//! 1. `--posts` moments (`friends` visibility) posted one at a time. Each
//!    POST answers 201 only once the moments projection applied it, its
//!    fan-out rows for every friend included (202 when it did not within the
//!    commands' wait): its latency is the fan-out on write. After each 201 one
//!    friend (in turn) reads `timeline?limit=1` and must see that moment
//!    first (read-your-writes through the fan-out).
//! 2. `--control-posts` `private` moments one at a time: the same path with
//!    one timeline row instead of `friends + 1`, so the difference is what
//!    the fan-out itself costs.
//! 3. For each of `--rates`: `friends` moments at that many per second, open
//!    loop for `--rate-seconds`, latency counted from each post's scheduled
//!    time (queueing shows in the tail).
//! 4. Fan-out check: `--check-friends` friends spread over the list (and the
//!    author) walk their whole timeline; every `friends` moment must be there
//!    exactly once, newest first, and no `private` one (the author's has them
//!    all).
//! 5. Timeline reads: `--readers` friends read back to back for `--seconds`
//!    (after a 2 s warm-up) the first page (`limit=20`), then a page
//!    `--deep-page` pages deep (`before` = the cursor after the pages above it).
//!
//! Every phase reports answers, latency percentiles, the servers' CPU per
//! request (every pid file under `--pids`, as `reads` does) and the cores
//! each server used; a results table closes the run. A 202 or an error is
//! counted and shown, never dropped.

use crate::common::*;
use anyhow::{bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

#[derive(clap::Args)]
pub(crate) struct MomentsArgs {
    /// The author's friends (each a fresh user; the author asks, the friend accepts).
    #[arg(long, default_value_t = 500)]
    friends: usize,
    /// `friends` moments posted one at a time (phase 1).
    #[arg(long, default_value_t = 200)]
    posts: usize,
    /// `private` moments posted one at a time: the same path without the fan-out (phase 2; 0 skips it).
    #[arg(long, default_value_t = 50)]
    control_posts: usize,
    /// Open-loop posting rates, moments per second, comma-separated: one step each (phase 3; `0` skips it).
    #[arg(long, value_delimiter = ',', default_value = "10,25")]
    rates: Vec<u64>,
    /// Seconds per open-loop step.
    #[arg(long, default_value_t = 10)]
    rate_seconds: u64,
    /// Friends whose whole timeline is checked after the posts (spread over the list), besides the author.
    #[arg(long, default_value_t = 25)]
    check_friends: usize,
    /// Friends reading their timeline at once, each back to back (phase 5).
    #[arg(long, default_value_t = 32)]
    readers: usize,
    /// Measured seconds of each read step (after a 2 s warm-up).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Page size of the reads.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// The deep read step reads this page (1 = the first), via `before`.
    #[arg(long, default_value_t = 5)]
    deep_page: usize,
    /// Bytes of text per moment.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Registrations and friendships in flight at once during set-up.
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
}

const WARMUP: Duration = Duration::from_secs(2);
/// How long the set-up waits for every friend to see the first moment, and the
/// fan-out check for a moment answered 202.
const CONVERGE: Duration = Duration::from_secs(60);

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(q) as f64 / 1000.0
}

/// A fresh user of this run.
struct User {
    id: String,
    token: String,
}

/// A GET with a token: (status, the answer's `data`).
async fn get(c: &Client, path: &str, token: &str) -> Result<(StatusCode, Value)> {
    let resp = c.http.get(format!("{}{path}", c.base)).bearer_auth(token).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{path}: {status} {body}");
    }
    Ok((status, body["data"].clone()))
}

/// One timeline page: the moment ids in order and `next_before`.
async fn page(c: &Client, token: &str, before: Option<&str>, limit: usize) -> Result<(Vec<String>, Option<String>)> {
    let path = match before {
        Some(b) => format!("/api/moment/timeline?limit={limit}&before={b}"),
        None => format!("/api/moment/timeline?limit={limit}"),
    };
    let (_, data) = get(c, &path, token).await?;
    let ids = data["moments"]
        .as_array()
        .context("timeline without moments")?
        .iter()
        .map(|m| m["moment_id"].as_str().map(str::to_owned).context("a moment without an id"))
        .collect::<Result<Vec<_>>>()?;
    Ok((ids, data["next_before"].as_str().map(str::to_owned)))
}

/// The whole timeline, newest first, page by page (50 a page).
async fn whole_timeline(c: &Client, token: &str) -> Result<Vec<String>> {
    let (mut all, mut before) = (Vec::new(), None);
    loop {
        let (ids, next) = page(c, token, before.as_deref(), 50).await?;
        all.extend(ids);
        match next {
            Some(n) => before = Some(n),
            None => return Ok(all),
        }
        if all.len() > 1_000_000 {
            bail!("a timeline that does not end");
        }
    }
}

/// How a POST /api/moment ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    /// 201: applied by the moments projection, fan-out included.
    Created,
    /// 202: durable, but not applied within the commands' wait.
    Accepted,
    Failed,
}

/// Posts one moment: (answer, moment id if any, latency of the request alone in µs).
async fn post_moment(c: &Client, token: &str, text: &str, visibility: &str) -> (Answer, Option<String>, u64, Option<String>) {
    let started = Instant::now();
    let sent = c.http.post(format!("{}/api/moment", c.base)).bearer_auth(token).json(&json!({ "text": text, "visibility": visibility })).send().await;
    let result = match sent {
        Ok(resp) => {
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let id = body["data"]["moment_id"].as_str().map(str::to_owned);
            match status {
                StatusCode::CREATED if id.is_some() => (Answer::Created, id, None),
                StatusCode::ACCEPTED if id.is_some() => (Answer::Accepted, id, None),
                _ => (Answer::Failed, None, Some(format!("{status} {body}"))),
            }
        }
        Err(e) => (Answer::Failed, None, Some(format!("{e:#}"))),
    };
    (result.0, result.1, started.elapsed().as_micros() as u64, result.2)
}

/// CPU seconds at one instant: all servers, each server, the load generator,
/// the whole machine.
struct Cpu {
    servers: f64,
    by: BTreeMap<String, f64>,
    own: f64,
    machine: f64,
    at: Instant,
}

/// Busy CPU seconds of the whole machine (every core), from /proc/stat (USER_HZ = 100).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else { return 0.0 };
    // user nice system idle iowait irq softirq steal …: all but idle and iowait.
    let f: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = f.iter().take(8).sum();
    (total - f.get(3).copied().unwrap_or(0.0) - f.get(4).copied().unwrap_or(0.0)) / 100.0
}

fn cpu_now(pids: &PathBuf) -> Cpu {
    Cpu { servers: server_cpu_seconds(pids), by: cpu_by_process(pids), own: own_cpu_seconds(), machine: machine_busy_seconds(), at: Instant::now() }
}

/// Which build the Beaver processes under `--pids` run (`release`, `debug`
/// or a mix): a debug stack's figures are not comparable.
fn stack_build(pids: &PathBuf) -> String {
    let Ok(entries) = std::fs::read_dir(pids) else { return "unknown (no pid files)".into() };
    let mut builds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".pid")).map(str::to_owned) else { continue };
        let Ok(pid) = std::fs::read_to_string(&path) else { continue };
        let Ok(exe) = std::fs::read_link(format!("/proc/{}/exe", pid.trim())) else { continue };
        let exe = exe.to_string_lossy();
        if !exe.contains("/target/") {
            continue;
        }
        let build = if exe.contains("/target/release/") { "release" } else if exe.contains("/target/debug/") { "debug" } else { "other" };
        builds.entry(build.to_owned()).or_default().push(name);
    }
    match builds.len() {
        0 => "unknown (no Beaver process found)".into(),
        1 => format!("{} build ({})", builds.keys().next().unwrap(), builds.values().next().unwrap().join(", ")),
        _ => format!("MIXED builds: {}", builds.iter().map(|(b, n)| format!("{b}: {}", n.join(", "))).collect::<Vec<_>>().join("; ")),
    }
}

/// One row of the results table.
struct Row {
    phase: String,
    requests: u64,
    secs: f64,
    /// "201 n / 202 n / errors n" or "ok n / short n / errors n".
    answers: String,
    /// Printed with the phase and under the table.
    note: Option<String>,
    h: Histogram<u64>,
    server_ms_per_request: f64,
    cores: String,
    own_cores: f64,
    /// Cores busy outside the servers and the load generator (other work on the box, the kernel's softirqs).
    other_cores: f64,
}

impl Row {
    fn new(phase: String, requests: u64, answers: String, h: Histogram<u64>, start: &Cpu, end: &Cpu) -> Row {
        let secs = end.at.duration_since(start.at).as_secs_f64();
        Row {
            phase,
            requests,
            secs,
            answers,
            note: None,
            server_ms_per_request: (end.servers - start.servers) * 1000.0 / requests.max(1) as f64,
            // The servers that used a measurable share (≥ 0.005 cores).
            cores: cpu_breakdown(&start.by, &end.by, secs).split(", ").filter(|e| !e.ends_with(" 0.00")).collect::<Vec<_>>().join(", "),
            own_cores: (end.own - start.own) / secs,
            other_cores: ((end.machine - start.machine) - (end.servers - start.servers) - (end.own - start.own)).max(0.0) / secs,
            h,
        }
    }

    fn print(&self) {
        println!("  answers: {}", self.answers);
        if let Some(note) = &self.note {
            println!("  {note}");
        }
        println!("  {} requests in {:.1} s, {:.1}/s", self.requests, self.secs, self.requests as f64 / self.secs);
        println!("  latency ms: {}  (p95 {:.1})", percentiles(&self.h), ms(&self.h, 0.95));
        println!(
            "  cpu: servers {:.2} ms per request; cores by server: {}; load generator {:.2} cores; everything else on the box (other processes, the kernel's softirqs) {:.2} cores",
            self.server_ms_per_request, self.cores, self.own_cores, self.other_cores
        );
    }
}

/// Registers the author and `n` friends, and makes them friends.
async fn set_up(c: &Arc<Client>, a: &MomentsArgs, run: &str) -> Result<(User, Vec<User>)> {
    let k = a.setup_concurrency.max(1);
    let n = a.friends;
    let started = Instant::now();
    eprintln!("registering {} users ({k} at a time)…", n + 1);
    let done = AtomicUsize::new(0);
    let mut users: Vec<User> = futures::stream::iter(0..=n)
        .map(|i| {
            let done = &done;
            async move {
                let (id, token) = user(c, run, i).await.with_context(|| format!("Failed to register user {i}"))?;
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(100) || d == n + 1 {
                    eprintln!("  {d}/{} users registered", n + 1);
                }
                anyhow::Ok(User { id, token })
            }
        })
        .buffered(k)
        .try_collect()
        .await?;
    let registered = started.elapsed().as_secs_f64();
    let author = users.remove(0);
    eprintln!("making {n} friendships (the author asks, each friend accepts; {k} at a time)…");
    let befriended = Instant::now();
    let done = AtomicUsize::new(0);
    let (author_ref, users_ref) = (&author, &users);
    futures::stream::iter(0..n)
        .map(|i| {
            let done = &done;
            async move {
                let f = &users_ref[i];
                befriend(c, &author_ref.token, &f.id, &f.token).await.with_context(|| format!("Failed to befriend friend {i}"))?;
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(100) || d == n {
                    eprintln!("  {d}/{n} friendships");
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(k)
        .try_collect::<Vec<()>>()
        .await?;
    println!(
        "set-up: {} users registered in {registered:.1} s, {n} friendships in {:.1} s ({k} at a time)",
        n + 1,
        befriended.elapsed().as_secs_f64()
    );
    Ok((author, users))
}

/// Posts a first moment and waits until every friend's first page shows it:
/// then the moments projection has applied every friendship. Returns its id.
async fn converge(c: &Arc<Client>, author: &User, friends: &[User], run: &str, k: usize) -> Result<String> {
    let started = Instant::now();
    let (answer, id, _, err) = post_moment(c, &author.token, &format!("bench moments {run}: first"), "friends").await;
    let id = match (answer, id) {
        (Answer::Failed, _) | (_, None) => bail!("the first moment failed: {}", err.unwrap_or_default()),
        (_, Some(id)) => id,
    };
    let mut waiting: Vec<usize> = (0..friends.len()).collect();
    while !waiting.is_empty() {
        if started.elapsed() > CONVERGE {
            bail!("{} friends still do not see the first moment after {} s", waiting.len(), CONVERGE.as_secs());
        }
        let seen: Vec<bool> = futures::stream::iter(waiting.iter().map(|&i| &friends[i]))
            .map(|f| {
                let id = &id;
                async move { anyhow::Ok(page(c, &f.token, None, 1).await?.0.first() == Some(id)) }
            })
            .buffered(k)
            .try_collect()
            .await?;
        waiting = waiting.into_iter().zip(seen).filter(|(_, s)| !s).map(|(i, _)| i).collect();
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!("set-up: all {} friends see the first moment {:.1} s after it was posted", friends.len(), started.elapsed().as_secs_f64());
    Ok(id)
}

/// What the posting phases leave for the fan-out check.
#[derive(Default)]
struct Posted {
    /// `friends` moments with their answer.
    friends: Vec<(String, Answer)>,
    /// `private` moments.
    private: Vec<String>,
}

fn answers(list: &[Answer]) -> String {
    let n = |x: Answer| list.iter().filter(|a| **a == x).count();
    format!("201 {} / 202 {} / errors {}", n(Answer::Created), n(Answer::Accepted), n(Answer::Failed))
}

/// What every phase needs.
struct Bench<'a> {
    c: &'a Arc<Client>,
    pids: &'a PathBuf,
    author: &'a User,
    friends: &'a [User],
    a: &'a MomentsArgs,
    run: &'a str,
}

/// Phase 1 (or 2 with `private`): `count` moments one at a time. With
/// `check`, after each 201 one friend in turn must see the moment first.
async fn post_sequentially(b: &Bench<'_>, phase: &str, visibility: &str, count: usize, check: bool, posted: &mut Posted) -> Result<Row> {
    let Bench { c, pids, author, friends, a, run } = *b;
    let pad = "x".repeat(a.size.saturating_sub(40));
    let (mut h, mut list, mut not_first, mut errors_printed) = (histogram(), Vec::new(), 0usize, 0);
    let start = cpu_now(pids);
    for i in 0..count {
        let text = format!("bench moments {run} {phase} {i} {pad}");
        let (answer, id, micros, err) = post_moment(c, &author.token, &text, visibility).await;
        h.record(micros.max(1)).expect("in range");
        list.push(answer);
        if let Some(e) = err {
            if errors_printed < 5 {
                errors_printed += 1;
                eprintln!("post failed: {e}");
            }
        }
        let Some(id) = id else { continue };
        if visibility == "private" {
            posted.private.push(id);
            continue;
        }
        if check && answer == Answer::Created {
            let f = &friends[i % friends.len()];
            let (ids, _) = page(c, &f.token, None, 1).await?;
            if ids.first() != Some(&id) {
                not_first += 1;
                if not_first <= 5 {
                    eprintln!("friend {} does not see moment {id} first right after its 201 (sees {:?})", i % friends.len(), ids.first());
                }
            }
        }
        posted.friends.push((id, answer));
    }
    let end = cpu_now(pids);
    let mut row = Row::new(format!("POST {visibility}, one at a time"), count as u64, answers(&list), h, &start, &end);
    if check {
        row.note = Some(format!(
            "read-your-writes: {not_first} of {} moments answered 201 were not first on a friend's timeline (`limit=1`, one friend in turn) read right after the answer",
            list.iter().filter(|a| **a == Answer::Created).count()
        ));
    }
    Ok(row)
}

/// Phase 3: `friends` moments at `rate` per second for `secs`, open loop.
async fn post_at_rate(b: &Bench<'_>, rate: u64, posted: &mut Posted) -> Result<Row> {
    let Bench { c, pids, author, a, run, .. } = *b;
    let pad = "x".repeat(a.size.saturating_sub(40));
    let n = (rate * a.rate_seconds) as usize;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = cpu_now(pids);
    let t0 = tokio::time::Instant::now() + Duration::from_millis(10);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = t0 + period * i as u32;
        tokio::time::sleep_until(due).await;
        let (c, token, text) = (c.clone(), author.token.clone(), format!("bench moments {run} rate{rate} {i} {pad}"));
        tasks.push(tokio::spawn(async move {
            let (answer, id, _, err) = post_moment(&c, &token, &text, "friends").await;
            // From the scheduled time: a send that waited for a free slot counts that wait.
            (answer, id, due.elapsed().as_micros() as u64, err)
        }));
    }
    let (mut h, mut list, mut errors_printed) = (histogram(), Vec::new(), 0);
    for t in tasks {
        let (answer, id, micros, err) = t.await?;
        h.record(micros.max(1)).expect("in range");
        list.push(answer);
        if let Some(e) = err {
            if errors_printed < 5 {
                errors_printed += 1;
                eprintln!("post failed: {e}");
            }
        }
        if let Some(id) = id {
            posted.friends.push((id, answer));
        }
    }
    let end = cpu_now(pids);
    Ok(Row::new(format!("POST friends, {rate}/s open loop"), n as u64, answers(&list), h, &start, &end))
}

/// Phase 4: the whole timeline of the author and of `check_friends` friends
/// against what was posted. Returns a one-line verdict.
async fn check_fanout(b: &Bench<'_>, first: &str, posted: &Posted) -> Result<String> {
    let Bench { c, author, friends, a, .. } = *b;
    let mut expected: Vec<&str> = posted.friends.iter().map(|(id, _)| id.as_str()).collect();
    expected.push(first);
    let expected_set: HashSet<&str> = expected.iter().copied().collect();
    let accepted: HashSet<&str> = posted.friends.iter().filter(|(_, a)| *a == Answer::Accepted).map(|(id, _)| id.as_str()).collect();
    let private: HashSet<&str> = posted.private.iter().map(String::as_str).collect();
    let n = a.check_friends.min(friends.len());
    let sample: Vec<usize> = (0..n).map(|j| j * friends.len() / n.max(1)).collect();
    let started = Instant::now();
    let (mut missing_201, mut missing_202, mut private_seen, mut duplicates, mut unordered, mut strangers) = (0, 0, 0, 0, 0, 0);
    let mut readers: Vec<(&str, &User, bool)> = sample.iter().map(|&i| ("friend", &friends[i], false)).collect();
    readers.push(("author", author, true));
    for (_, u, is_author) in &readers {
        // A moment answered 202 may still be on its way: wait for it (bounded).
        let deadline = Instant::now() + CONVERGE;
        let ids = loop {
            let ids = whole_timeline(c, &u.token).await?;
            let set: HashSet<&str> = ids.iter().map(String::as_str).collect();
            let late = accepted.iter().any(|id| !set.contains(id));
            if !late || Instant::now() > deadline {
                break ids;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let mut count: HashMap<&str, usize> = HashMap::new();
        for id in &ids {
            *count.entry(id.as_str()).or_default() += 1;
        }
        duplicates += count.values().filter(|n| **n > 1).count();
        unordered += ids.windows(2).filter(|w| w[0] <= w[1]).count();
        for id in &expected {
            if !count.contains_key(id) {
                if accepted.contains(id) {
                    missing_202 += 1;
                } else {
                    missing_201 += 1;
                }
            }
        }
        for id in count.keys() {
            if private.contains(id) {
                if !is_author {
                    private_seen += 1;
                }
            } else if !expected_set.contains(id) {
                strangers += 1;
            }
        }
        if *is_author {
            missing_201 += private.iter().filter(|id| !count.contains_key(*id)).count();
        }
    }
    Ok(format!(
        "{} timelines walked in {:.1} s (the author's and {n} friends'), {} moments expected on each friend's ({} private more on the author's): \
         missing (answered 201) {missing_201}, missing (answered 202, after waiting up to {} s) {missing_202}, private moments shown to a friend {private_seen}, \
         unknown moments {strangers}, duplicates {duplicates}, pairs out of order {unordered}",
        readers.len(),
        started.elapsed().as_secs_f64(),
        expected.len(),
        private.len(),
        CONVERGE.as_secs()
    ))
}

/// Phase 5: `readers` friends read one page back to back; `before` names the page.
async fn read_step(b: &Bench<'_>, before: Option<String>, name: String) -> Result<Row> {
    let Bench { c, pids, friends, a, .. } = *b;
    let readers = a.readers.min(friends.len()).max(1);
    let started = tokio::time::Instant::now();
    let (measure_from, stop) = (started + WARMUP, started + WARMUP + Duration::from_secs(a.seconds));
    let start_cpu = Arc::new(std::sync::Mutex::new(None::<Cpu>));
    let pids = Arc::new(pids.clone());
    let tasks: Vec<_> = (0..readers)
        .map(|r| {
            let (c, token, before, limit) = (c.clone(), friends[r].token.clone(), before.clone(), a.limit);
            let (start_cpu, pids) = (start_cpu.clone(), pids.clone());
            tokio::spawn(async move {
                let (mut h, mut ok, mut short, mut errors) = (histogram(), 0u64, 0u64, 0u64);
                loop {
                    let t = tokio::time::Instant::now();
                    if t >= stop {
                        break;
                    }
                    if t >= measure_from {
                        let mut s = start_cpu.lock().unwrap();
                        if s.is_none() {
                            *s = Some(cpu_now(&pids));
                        }
                    }
                    let got = page(&c, &token, before.as_deref(), limit).await;
                    if t < measure_from {
                        continue;
                    }
                    h.record(t.elapsed().as_micros().max(1) as u64).expect("in range");
                    match got {
                        Ok((ids, _)) if ids.len() == limit => ok += 1,
                        Ok(_) => short += 1,
                        Err(e) => {
                            if errors == 0 {
                                eprintln!("timeline read failed: {e:#}");
                            }
                            errors += 1
                        }
                    }
                }
                (h, ok, short, errors)
            })
        })
        .collect();
    let (mut h, mut ok, mut short, mut errors) = (histogram(), 0, 0, 0);
    for t in tasks {
        let (th, o, s, e) = t.await?;
        h.add(th).expect("same bounds");
        ok += o;
        short += s;
        errors += e;
    }
    let end = cpu_now(&pids);
    let start = start_cpu.lock().unwrap().take().context("no request was measured")?;
    Ok(Row::new(name, h.len(), format!("full pages {ok} / short {short} / errors {errors}"), h, &start, &end))
}

pub(crate) async fn moments_scenario(c: Arc<Client>, pids: PathBuf, a: MomentsArgs) -> Result<()> {
    if a.friends == 0 || a.posts == 0 || a.seconds == 0 || a.deep_page == 0 || !(1..=50).contains(&a.limit) {
        bail!("--friends, --posts, --seconds and --deep-page must be positive, --limit 1 to 50");
    }
    let rates: Vec<u64> = a.rates.iter().copied().filter(|r| *r > 0).collect();
    println!("command: {}", command_line());
    println!(
        "scenario: moments (friends' feed) via {}: one author with {} friends (friend request + accept, {} at a time); \
         (1) {} `friends` moments one at a time, each checked right after its 201 on one friend's first page; (2) {} `private` moments one at a time (no fan-out: the control); \
         (3) `friends` moments open loop at {:?}/s for {} s each, latency from the scheduled time; (4) the whole timeline of the author and {} friends checked; \
         (5) {} friends read back to back for {} s (after {} s warm-up) `timeline?limit={}`: the first page, then page {} via `before`. Text {} B.",
        c.base,
        a.friends,
        a.setup_concurrency,
        a.posts,
        a.control_posts,
        rates,
        a.rate_seconds,
        a.check_friends.min(a.friends),
        a.readers.min(a.friends),
        a.seconds,
        WARMUP.as_secs(),
        a.limit,
        a.deep_page,
        a.size
    );
    println!("servers: {}", stack_build(&pids));
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (author, friends) = set_up(&c, &a, &run).await?;
    let first = converge(&c, &author, &friends, &run, a.setup_concurrency.max(1)).await?;

    let b = Bench { c: &c, pids: &pids, author: &author, friends: &friends, a: &a, run: &run };
    let mut rows = Vec::new();
    let mut posted = Posted::default();
    println!();
    println!("phase 1: {} `friends` moments one at a time (fan-out to {} friends + the author each)", a.posts, a.friends);
    let row = post_sequentially(&b, "seq", "friends", a.posts, true, &mut posted).await?;
    row.print();
    rows.push(row);
    if a.control_posts > 0 {
        println!();
        println!("phase 2: {} `private` moments one at a time (one timeline row each: the control)", a.control_posts);
        let row = post_sequentially(&b, "private", "private", a.control_posts, false, &mut posted).await?;
        row.print();
        rows.push(row);
    }
    for &rate in &rates {
        println!();
        println!("phase 3: `friends` moments at {rate}/s for {} s, open loop (latency from the scheduled time)", a.rate_seconds);
        let row = post_at_rate(&b, rate, &mut posted).await?;
        row.print();
        rows.push(row);
    }
    println!();
    println!("phase 4: fan-out check");
    let verdict = check_fanout(&b, &first, &posted).await?;
    println!("  {verdict}");

    println!();
    let total = posted.friends.len() + 1;
    println!("phase 5: timeline reads, {} readers back to back, {} moments on each timeline", a.readers.min(a.friends), total);
    let row = read_step(&b, None, format!("GET timeline?limit={}, page 1", a.limit)).await?;
    row.print();
    rows.push(row);
    if a.deep_page > 1 {
        if a.deep_page * a.limit > total {
            println!("  (page {} would be short: {} moments; the deep step is skipped)", a.deep_page, total);
        } else {
            let mut before = None;
            for _ in 1..a.deep_page {
                before = page(&c, &friends[0].token, before.as_deref(), a.limit).await?.1;
            }
            println!();
            println!("phase 5: page {} (`before` = the cursor after {} pages)", a.deep_page, a.deep_page - 1);
            let row = read_step(&b, before, format!("GET timeline?limit={}, page {} (before)", a.limit, a.deep_page)).await?;
            row.print();
            rows.push(row);
        }
    }

    println!();
    println!("results:");
    println!("| phase | requests | per s | answers | p50 ms | p95 ms | p99 ms | max ms | server CPU ms/request | cores by server | load gen. / other cores |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.2} / {:.2} |",
            r.phase,
            r.requests,
            r.requests as f64 / r.secs,
            r.answers,
            ms(&r.h, 0.5),
            ms(&r.h, 0.95),
            ms(&r.h, 0.99),
            r.h.max() as f64 / 1000.0,
            r.server_ms_per_request,
            r.cores,
            r.own_cores,
            r.other_cores
        );
    }
    for r in &rows {
        if let Some(note) = &r.note {
            println!("{}: {note}", r.phase);
        }
    }
    println!("fan-out check: {verdict}");
    Ok(())
}
