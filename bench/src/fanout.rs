//! `fanout`: group text messages sent over HTTP at an open-loop rate, each
//! timed from its scheduled send to every other member's WebSocket `message`
//! frame. The rate climbs step by step (`--rates`) until the delivery p99
//! exceeds `--p99-ms` or a delivery is lost; the answer is the deliveries per
//! second at the highest rate that stayed within both.
//!
//! Every member of every group holds one connection (platform web), the
//! senders included, as in a group where everyone is online: a sender's own
//! frame (its echo, docs/push.md) is written by ws-push like any other but is
//! counted apart and is not a delivery. The load generator keeps its work
//! per frame small: it finds `client_msg_id` and `seq` by substring search
//! (≈ 0.35 µs a frame here, against ≈ 2.8 µs for a full JSON parse) and
//! appends (message, arrival) to the connection's inbox; the accounting runs
//! once per step, after the stragglers' wait.

use crate::{
    common::*,
    procs::{ws_processes, WsProcess},
    ws::*,
};
use anyhow::{bail, Context, Result};
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;

#[derive(Args)]
pub(crate) struct FanoutArgs {
    /// Members per group, the owner included; every member holds one WebSocket connection.
    #[arg(long, default_value_t = 10)]
    pub(crate) group_size: usize,
    /// Groups [default: 500 members online in all: 50 groups of 10, 1 of 500].
    #[arg(long)]
    pub(crate) groups: Option<usize>,
    /// Messages per second to all groups together, comma-separated: one open-loop step each, in this order.
    #[arg(long, value_delimiter = ',', default_value = "20,50,100,200,400")]
    pub(crate) rates: Vec<u64>,
    /// Measured seconds per step (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// A step passes when its delivery p99 is at most this many ms and nothing is lost.
    #[arg(long, default_value_t = 100.0)]
    pub(crate) p99_ms: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 100)]
    pub(crate) size: usize,
    /// ws-push nodes, comma-separated; members' connections alternate between them.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_NODES)]
    pub(crate) nodes: Vec<String>,
    /// Members of each group who send, taking turns (the owner first).
    #[arg(long, default_value_t = 1)]
    pub(crate) senders_per_group: usize,
    /// Run every rate even after a step fails, to see where deliveries themselves
    /// break down (the result still counts only the steps before the first failure).
    #[arg(long)]
    pub(crate) all_steps: bool,
    /// Registrations, friendships and group creations in flight at once during set-up.
    #[arg(long, default_value_t = 16)]
    pub(crate) setup_concurrency: usize,
}

/// Members online in all when `--groups` is not given.
const DEFAULT_ONLINE: usize = 500;
const WARMUP: Duration = Duration::from_secs(2);
/// How long accepted messages have, after a step's last send, to reach every member.
const STRAGGLERS: Duration = Duration::from_secs(5);

/// One member of one group.
struct Member {
    token: String,
    group: u32,
    /// Position in its group: 0 is the owner; ranks below `--senders-per-group` send.
    rank: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    /// The HTTP answer carried a seq.
    Accepted,
    Failed,
}

/// One send, indexed by its message number (the tail of its client_msg_id).
struct Sent {
    step: usize,
    group: u32,
    sender_rank: u32,
    /// When the send was due (open loop), µs after `Shared::epoch`: latencies count from here.
    due: u64,
    /// Due after the step's warm-up.
    measured: bool,
    outcome: Outcome,
    /// When the HTTP answer came, µs after `Shared::epoch`.
    answered: u64,
}

/// What the senders and every connection share.
struct Shared {
    /// The zero of every µs timestamp of the run.
    epoch: Instant,
    /// Every send of the run, by message number.
    sent: Mutex<Vec<Sent>>,
    /// `"client_msg_id":"fo-<run>-`: what marks a live frame of ours.
    marker: String,
    /// Frames of ours received by any connection, echoes and duplicates
    /// included: the stragglers' wait watches it.
    frames: AtomicU64,
    /// Connections that ended on their own.
    dropped: AtomicU64,
    send_errors_printed: AtomicU64,
}

impl Shared {
    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }
}

/// What one member's connection saw since the last step's accounting.
#[derive(Default)]
struct Inbox {
    /// (message number, arrival in µs after the epoch), first receipts only.
    arrivals: Vec<(u32, u64)>,
    /// Message numbers received, as a bitset: a second frame for one is a duplicate.
    seen: Vec<u64>,
    duplicates: u64,
    /// The highest seq received: the connection's member is in one group, so one conversation.
    highest_seq: i64,
    /// Frames whose seq is below one received before.
    out_of_order: u64,
    /// Frames of ours whose number or seq could not be read.
    unreadable: u64,
}

/// The decimal integer at the start of `s`.
fn leading_int(s: &str) -> Option<i64> {
    let end = s.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// Files one text frame: a live `message` frame of ours (found by its
/// client_msg_id) goes into the inbox; every other frame is ignored.
fn on_frame(shared: &Shared, inbox: &Mutex<Inbox>, text: &str) {
    let at = shared.micros(Instant::now());
    let Some(found) = text.find(&shared.marker) else { return };
    shared.frames.fetch_add(1, Ordering::Relaxed);
    let number = leading_int(&text[found + shared.marker.len()..]);
    let seq = text.rfind("\"seq\":").and_then(|i| leading_int(&text[i + 6..]));
    let mut inbox = inbox.lock().unwrap();
    let (Some(number), Some(seq)) = (number, seq) else {
        inbox.unreadable += 1;
        return;
    };
    let (word, bit) = (number as usize / 64, 1u64 << (number % 64));
    if inbox.seen.len() <= word {
        inbox.seen.resize(word + 1, 0);
    }
    if inbox.seen[word] & bit != 0 {
        inbox.duplicates += 1;
        return;
    }
    inbox.seen[word] |= bit;
    if seq < inbox.highest_seq {
        inbox.out_of_order += 1;
    } else {
        inbox.highest_seq = seq;
    }
    inbox.arrivals.push((number as u32, at));
}

/// Prints set-up progress every 100 items and at the end.
fn progress(done: &AtomicUsize, total: usize, what: &str) {
    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
    if d.is_multiple_of(100) || d == total {
        eprintln!("  {d}/{total} {what}");
    }
}

/// Registers `groups × group_size` users (real argon2 registration and
/// login), makes each group's owner friends with its other members and
/// creates the groups. Returns the members, group by group, owner first, and
/// each group's conversation id.
async fn set_up(c: &Arc<Client>, a: &FanoutArgs, groups: usize, run: &str) -> Result<(Vec<Member>, Vec<String>)> {
    let (size, k) = (a.group_size, a.setup_concurrency.max(1));
    let n = groups * size;
    let started = Instant::now();
    eprintln!("registering {n} users ({k} at a time)…");
    let done = AtomicUsize::new(0);
    let users: Vec<(String, String)> = futures::stream::iter(0..n)
        .map(|i| {
            let done = &done;
            async move {
                let u = user(c, run, i).await.with_context(|| format!("Failed to register user {i}"))?;
                progress(done, n, "users registered");
                anyhow::Ok(u)
            }
        })
        .buffered(k)
        .try_collect()
        .await?;
    let registered = started.elapsed();

    let friendships = groups * (size - 1);
    eprintln!("making {friendships} friendships (each owner with its members)…");
    let done = AtomicUsize::new(0);
    let users = &users;
    futures::stream::iter((0..groups).flat_map(|g| (1..size).map(move |r| (g * size, g * size + r))))
        .map(|(owner, member)| {
            let done = &done;
            async move {
                let ((_, owner_token), (member_id, member_token)) = (&users[owner], &users[member]);
                befriend(c, owner_token, member_id, member_token).await.with_context(|| format!("Failed to befriend users {owner} and {member}"))?;
                progress(done, friendships, "friendships");
                anyhow::Ok(())
            }
        })
        .buffer_unordered(k)
        .try_collect::<Vec<()>>()
        .await?;

    eprintln!("creating {groups} groups of {size}…");
    let conversations: Vec<String> = futures::stream::iter(0..groups)
        .map(|g| async move {
            let member_ids: Vec<&str> = users[g * size + 1..(g + 1) * size].iter().map(|u| u.0.as_str()).collect();
            let body = json!({ "name": format!("bench fanout {run} {g}"), "member_ids": member_ids });
            let created = c.post("/api/group", Some(&users[g * size].1), body).await.with_context(|| format!("Failed to create group {g}"))?;
            if created["member_count"].as_u64() != Some(size as u64) {
                bail!("group {g} created with {} members, not {size}", created["member_count"]);
            }
            Ok(created["conversation_id"].as_str().context("no conversation_id")?.to_owned())
        })
        .buffered(k)
        .try_collect()
        .await?;
    eprintln!("set-up took {:.0} s (registration {:.0} s)", started.elapsed().as_secs_f64(), registered.as_secs_f64());
    let members = users.iter().enumerate().map(|(i, (_, token))| Member { token: token.clone(), group: (i / size) as u32, rank: (i % size) as u32 }).collect();
    Ok((members, conversations))
}

/// Connects every member (query-parameter auth, a unique device id, platform
/// web), member i to node i mod N, at most `IN_FLIGHT` handshakes at once,
/// and waits for each `ready`.
async fn connect_all(nodes: &[Node], members: &[Member], run: &str) -> Result<Vec<Ws>> {
    futures::stream::iter(members.iter().enumerate())
        .map(|(i, m)| {
            let node = &nodes[i % nodes.len()];
            let query = format!("token={}&device_id=bench-fanout-{run}-{i}&platform=web", m.token);
            async move {
                tokio::time::timeout(CONNECT_TIMEOUT, open_ws(node, &query, None))
                    .await
                    .with_context(|| format!("member {i} not ready in time"))?
                    .with_context(|| format!("Failed to connect member {i} to {}", node.url))
            }
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await
}

/// Sends message `number` to its group and files the HTTP answer.
async fn send_one(c: &Client, shared: &Shared, token: &str, conversation_id: &str, text: &str, client_msg_id: String, number: usize) {
    let body = json!({ "conversation_id": conversation_id, "client_msg_id": client_msg_id, "type": "text", "content": { "text": text } });
    let answer = c.post("/api/chat/send", Some(token), body).await;
    let answered = shared.micros(Instant::now());
    let outcome = match answer {
        Ok(a) if a["seq"].is_i64() => Outcome::Accepted,
        Ok(a) => {
            if shared.send_errors_printed.fetch_add(1, Ordering::Relaxed) < 5 {
                eprintln!("send answered without a seq: {a}");
            }
            Outcome::Failed
        }
        Err(e) => {
            if shared.send_errors_printed.fetch_add(1, Ordering::Relaxed) < 5 {
                eprintln!("send failed: {e:#}");
            }
            Outcome::Failed
        }
    };
    let mut sent = shared.sent.lock().unwrap();
    sent[number].outcome = outcome;
    sent[number].answered = answered;
}

/// CPU seconds read at one instant.
struct CpuReading {
    /// Every process with a pid file (ws-push included).
    servers: f64,
    /// Each ws-push process, in `ws_processes` order.
    ws: Vec<f64>,
    own: f64,
    at: Instant,
}

/// Reads the servers' CPU, each ws-push process's (by pid) and the load generator's.
fn read_cpu(pid_dir: &Path, ws_pids: &[String]) -> CpuReading {
    CpuReading {
        servers: server_cpu_seconds(&pid_dir.to_path_buf()),
        ws: ws_pids.iter().map(|pid| cpu_seconds_of(pid).unwrap_or(0.0)).collect(),
        own: own_cpu_seconds(),
        at: Instant::now(),
    }
}

/// A ws-push node's counters from its `/metrics`.
#[derive(Clone, Copy, Default)]
struct NodeCounters {
    frames_queued: f64,
    resync_closes: f64,
    lag_sum: f64,
    lag_count: f64,
}

/// Every ws-push process's counters (zeros for one that does not answer).
async fn node_counters(http: &reqwest::Client, procs: &[WsProcess]) -> Vec<NodeCounters> {
    futures::future::join_all(procs.iter().map(|p| async move {
        let Some(addr) = &p.addr else { return NodeCounters::default() };
        let Ok(resp) = http.get(format!("http://{addr}/metrics")).timeout(Duration::from_secs(5)).send().await else { return NodeCounters::default() };
        let text = resp.text().await.unwrap_or_default();
        let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok()).unwrap_or(0.0);
        NodeCounters {
            frames_queued: value("ws_frames_queued_total"),
            resync_closes: value("ws_resync_closes_total"),
            lag_sum: value("ws_sequenced_lag_seconds_sum"),
            lag_count: value("ws_sequenced_lag_seconds_count"),
        }
    }))
    .await
}

/// The sum over nodes of `after − before` of one counter.
fn counter_delta(before: &[NodeCounters], after: &[NodeCounters], f: impl Fn(&NodeCounters) -> f64) -> f64 {
    before.iter().zip(after).map(|(b, a)| f(a) - f(b)).sum()
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// What the run keeps of a step for the summary.
struct StepResult {
    rate: u64,
    deliveries_per_sec: f64,
    p50: f64,
    p99: f64,
    lost: u64,
    ws_cores: f64,
    server_cores: f64,
    own_cores: f64,
    passed: bool,
}

/// Counts of one step's accounting.
#[derive(Default)]
struct Tally {
    scheduled: u64,
    accepted: u64,
    errors: u64,
    /// First receipts, by members other than the sender, of accepted messages of this step.
    received: u64,
    /// First receipts of this step's messages whose send got no accepted answer.
    unanswered: u64,
    /// Of `received` + `unanswered`: those of messages due after the warm-up.
    measured_deliveries: u64,
    /// First receipts of this step's accepted messages by their sender's own connection.
    echoes: u64,
    /// Of `echoes`: those of messages due after the warm-up.
    measured_echoes: u64,
    /// First receipts of an earlier step's messages, after that step's report.
    late: u64,
    /// Frames of a message of another group than the member's.
    strangers: u64,
    duplicates: u64,
    out_of_order: u64,
    unreadable: u64,
}

/// The settings a run shares with each step.
struct Run {
    c: Arc<Client>,
    pid_dir: PathBuf,
    procs: Vec<WsProcess>,
    /// The pids of `procs`, for the CPU readings.
    ws_pids: Arc<Vec<String>>,
    shared: Arc<Shared>,
    members: Arc<Vec<Member>>,
    conversations: Arc<Vec<String>>,
    inboxes: Vec<Arc<Mutex<Inbox>>>,
    text: Arc<str>,
    run: String,
    group_size: usize,
    senders_per_group: usize,
    seconds: u64,
    p99_ms: f64,
}

/// A step's schedule, as measured.
struct Window {
    /// The number of the step's first message.
    first: usize,
    /// CPU at the end of the warm-up and at the end of the schedule.
    cpu_start: CpuReading,
    cpu_end: CpuReading,
    /// From the end of the warm-up to the end of the schedule.
    secs: f64,
}

/// Sends step `k`'s messages: `rate` a second in all, open loop, for the
/// warm-up and `--seconds`, round-robin over the groups and their senders;
/// returns once every send has its answer.
async fn send_step(r: &Run, k: usize, rate: u64) -> Result<Window> {
    let shared = &r.shared;
    let groups = r.conversations.len();
    let first = shared.sent.lock().unwrap().len();
    let total = WARMUP + Duration::from_secs(r.seconds);
    let start = Instant::now();
    let cpu_warm = {
        let (pid_dir, ws_pids) = (r.pid_dir.clone(), r.ws_pids.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(start + WARMUP)).await;
            read_cpu(&pid_dir, &ws_pids)
        })
    };
    // Message i of the step is due at start + i / rate, whatever became of earlier ones.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::new();
    for i in 0usize.. {
        let due = interval.mul_f64(i as f64);
        if due >= total {
            break;
        }
        let due_at = start + due;
        tokio::time::sleep_until(tokio::time::Instant::from_std(due_at)).await;
        let (group, sender_rank) = (i % groups, (i / groups) % r.senders_per_group);
        let number = {
            let mut sent = shared.sent.lock().unwrap();
            sent.push(Sent {
                step: k,
                group: group as u32,
                sender_rank: sender_rank as u32,
                due: shared.micros(due_at),
                measured: due >= WARMUP,
                outcome: Outcome::Pending,
                answered: 0,
            });
            sent.len() - 1
        };
        let (c, shared, members, conversations, text) = (r.c.clone(), shared.clone(), r.members.clone(), r.conversations.clone(), r.text.clone());
        let client_msg_id = format!("fo-{}-{number}", r.run);
        let sender = group * r.group_size + sender_rank;
        tasks.push(tokio::spawn(async move {
            send_one(&c, &shared, &members[sender].token, &conversations[group], &text, client_msg_id, number).await;
        }));
    }
    // The CPU window ends with the schedule, not when the last answer comes (late in an overload).
    let schedule_end = start + total;
    tokio::time::sleep_until(tokio::time::Instant::from_std(schedule_end)).await;
    let cpu_end = read_cpu(&r.pid_dir, &r.ws_pids);
    futures::future::join_all(tasks).await;
    let cpu_start = cpu_warm.await?;
    let secs = schedule_end.saturating_duration_since(cpu_start.at).as_secs_f64();
    Ok(Window { first, cpu_start, cpu_end, secs })
}

/// Waits until every accepted message of the run has reached every member
/// (the sender's echo included), or `STRAGGLERS` has passed.
async fn wait_for_stragglers(shared: &Shared, group_size: usize) {
    let expected_frames = shared.sent.lock().unwrap().iter().filter(|s| s.outcome == Outcome::Accepted).count() as u64 * group_size as u64;
    let deadline = Instant::now() + STRAGGLERS;
    while Instant::now() < deadline && shared.frames.load(Ordering::Relaxed) < expected_frames {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A step's counts and histograms (µs).
struct Accounting {
    t: Tally,
    /// Scheduled send → a member's `message` frame.
    e2e: Histogram<u64>,
    /// The message's first delivery to any member → this delivery.
    spread: Histogram<u64>,
    /// Scheduled send → the HTTP answer with a seq.
    http: Histogram<u64>,
}

/// Drains every inbox and accounts for step `k`, whose messages are numbered from `first`.
fn account(r: &Run, k: usize, first: usize) -> Accounting {
    let (mut e2e, mut spread, mut http) = (histogram(), histogram(), histogram());
    let mut t = Tally::default();
    let sent = r.shared.sent.lock().unwrap();
    let step_sent = &sent[first..];
    t.scheduled = step_sent.len() as u64;
    t.accepted = step_sent.iter().filter(|s| s.outcome == Outcome::Accepted).count() as u64;
    t.errors = t.scheduled - t.accepted;
    for s in step_sent.iter().filter(|s| s.measured && s.outcome == Outcome::Accepted) {
        let _ = http.record(s.answered.saturating_sub(s.due).max(1));
    }
    let mut first_at = vec![u64::MAX; step_sent.len()];
    let mut deliveries: Vec<(usize, u64)> = Vec::new();
    for (m, inbox) in r.members.iter().zip(&r.inboxes) {
        let mut inbox = inbox.lock().unwrap();
        t.duplicates += std::mem::take(&mut inbox.duplicates);
        t.out_of_order += std::mem::take(&mut inbox.out_of_order);
        t.unreadable += std::mem::take(&mut inbox.unreadable);
        for (number, at) in std::mem::take(&mut inbox.arrivals) {
            let number = number as usize;
            let Some(s) = sent.get(number) else {
                t.unreadable += 1;
                continue;
            };
            if s.group != m.group {
                t.strangers += 1;
            } else if s.step != k {
                t.late += 1;
            } else if s.sender_rank == m.rank {
                if s.outcome == Outcome::Accepted {
                    t.echoes += 1;
                    t.measured_echoes += s.measured as u64;
                }
            } else {
                first_at[number - first] = first_at[number - first].min(at);
                deliveries.push((number, at));
            }
        }
    }
    for (number, at) in deliveries {
        let s = &sent[number];
        if s.outcome == Outcome::Accepted {
            t.received += 1;
        } else {
            t.unanswered += 1;
        }
        if s.measured {
            t.measured_deliveries += 1;
            let _ = e2e.record(at.saturating_sub(s.due).max(1));
            let _ = spread.record((at - first_at[number - first]).max(1));
        }
    }
    Accounting { t, e2e, spread, http }
}

/// Runs step `k` at `rate` messages/s, prints its report and returns its figures.
async fn run_step(r: &Run, k: usize, steps: usize, rate: u64) -> Result<StepResult> {
    let counters_before = node_counters(&r.c.http, &r.procs).await;
    let dropped_before = r.shared.dropped.load(Ordering::Relaxed);
    let w = send_step(r, k, rate).await?;
    wait_for_stragglers(&r.shared, r.group_size).await;
    let counters_after = node_counters(&r.c.http, &r.procs).await;
    let dropped = r.shared.dropped.load(Ordering::Relaxed) - dropped_before;
    let Accounting { t, e2e, spread, http } = account(r, k, w.first);

    let recipients = r.group_size as u64 - 1;
    let expected = t.accepted * recipients;
    let lost = expected.saturating_sub(t.received);
    let deliveries_per_sec = t.measured_deliveries as f64 / w.secs;
    let cores = |start: f64, end: f64| (end - start) / w.secs;
    let ws_node_cores: Vec<f64> = w.cpu_start.ws.iter().zip(&w.cpu_end.ws).map(|(s, e)| cores(*s, *e)).collect();
    let ws_cores: f64 = ws_node_cores.iter().sum();
    let server_cores = cores(w.cpu_start.servers, w.cpu_end.servers);
    let own_cores = cores(w.cpu_start.own, w.cpu_end.own);
    let p99 = ms(&e2e, 0.99);
    let passed = t.measured_deliveries > 0 && p99 <= r.p99_ms && lost == 0 && t.errors == 0 && dropped == 0;

    println!();
    println!(
        "step {}/{steps}: {rate} msg/s over {} group(s) of {} ({recipients} recipients a message); {:.1} s measured after a {} s warm-up",
        k + 1,
        r.conversations.len(),
        r.group_size,
        w.secs,
        WARMUP.as_secs()
    );
    println!("  messages (warm-up included): scheduled {}, accepted {} (answer with a seq), errors {}", t.scheduled, t.accepted, t.errors);
    println!(
        "  deliveries (warm-up included): expected {expected}, received {}, lost {lost} (not received within {} s of the last answer), duplicates {}, out of order {}, \
         for sends without an accepted answer {}, late from earlier steps {}, from other groups {}, unreadable {}; sender echoes {} of {}; connections dropped {dropped}",
        t.received,
        STRAGGLERS.as_secs(),
        t.duplicates,
        t.out_of_order,
        t.unanswered,
        t.late,
        t.strangers,
        t.unreadable,
        t.echoes,
        t.accepted,
    );
    println!(
        "  throughput (measured): {deliveries_per_sec:.0} deliveries/s (offered {}), {:.0} frames/s written with the sender echoes",
        rate * recipients,
        (t.measured_deliveries + t.measured_echoes) as f64 / w.secs
    );
    println!("  latency (scheduled send → member's message frame) ms: {}", percentiles(&e2e));
    println!("  spread (message's first delivery → this delivery) ms:  {}", percentiles(&spread));
    println!("  latency (scheduled send → HTTP answer with seq) ms:    {}", percentiles(&http));
    let delta = |f: fn(&NodeCounters) -> f64| counter_delta(&counters_before, &counters_after, f);
    let lag_count = delta(|n| n.lag_count);
    let lag_mean = if lag_count > 0.0 { format!("{:.1} ms", delta(|n| n.lag_sum) / lag_count * 1000.0) } else { "?".into() };
    println!(
        "  ws-push /metrics (whole step, all traffic): frames queued {:.0}, resync closes {:.0}, mean lag sequenced event → node {lag_mean}",
        delta(|n| n.frames_queued),
        delta(|n| n.resync_closes),
    );
    let per_node: Vec<String> = r.procs.iter().zip(&ws_node_cores).map(|(p, c)| format!("{} {c:.2}", p.name)).collect();
    println!(
        "  cpu (measured window) cores: servers {server_cores:.2} (ws-push included), ws-push {ws_cores:.2} ({}), load generator {own_cores:.2}",
        per_node.join(", ")
    );
    let verdict = if passed {
        format!("pass (p99 {p99:.1} ms ≤ {} ms, nothing lost)", r.p99_ms)
    } else {
        let mut why = Vec::new();
        if t.measured_deliveries == 0 {
            why.push("no delivery measured".to_owned());
        } else if p99 > r.p99_ms {
            why.push(format!("p99 {p99:.1} ms > {} ms", r.p99_ms));
        }
        if lost > 0 {
            why.push(format!("{lost} lost"));
        }
        if t.errors > 0 {
            why.push(format!("{} send errors", t.errors));
        }
        if dropped > 0 {
            why.push(format!("{dropped} connections dropped"));
        }
        format!("fail ({})", why.join(", "))
    };
    println!("  verdict: {verdict}");
    Ok(StepResult { rate, deliveries_per_sec, p50: ms(&e2e, 0.5), p99, lost, ws_cores, server_cores, own_cores, passed })
}

/// Prints every step in one table and the run's answer: the last step that
/// passed before the first that failed.
fn print_summary(results: &[StepResult], p99_ms: f64) {
    println!();
    println!("summary:");
    println!("  rate msg/s | deliveries/s | p50 ms | p99 ms | lost | ws-push cores | deliveries/s per ws-push core | server cores | load generator cores | verdict");
    for s in results {
        println!(
            "  {} | {:.0} | {:.1} | {:.1} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {}",
            s.rate,
            s.deliveries_per_sec,
            s.p50,
            s.p99,
            s.lost,
            s.ws_cores,
            s.deliveries_per_sec / s.ws_cores.max(1e-9),
            s.server_cores,
            s.own_cores,
            if s.passed { "pass" } else { "fail" }
        );
    }
    match results.iter().take_while(|s| s.passed).last() {
        Some(best) => println!(
            "result: highest rate with p99 ≤ {p99_ms} ms and nothing lost: {} msg/s = {:.0} deliveries/s, {:.0} deliveries/s per ws-push core ({:.2} cores)",
            best.rate,
            best.deliveries_per_sec,
            best.deliveries_per_sec / best.ws_cores.max(1e-9),
            best.ws_cores
        ),
        None => println!("result: no rate passed (p99 ≤ {p99_ms} ms, nothing lost, no send error, no connection dropped)"),
    }
}

pub(crate) async fn fanout_scenario(c: Arc<Client>, pid_dir: PathBuf, a: FanoutArgs) -> Result<()> {
    let groups = a.groups.unwrap_or((DEFAULT_ONLINE / a.group_size.max(1)).max(1));
    if a.group_size < 2 || groups == 0 || a.rates.is_empty() || a.rates.contains(&0) || a.seconds == 0 {
        bail!("--group-size must be at least 2; --groups, --rates and --seconds must be positive");
    }
    if !(1..=a.group_size).contains(&a.senders_per_group) {
        bail!("--senders-per-group must be 1 to --group-size");
    }
    let nodes = resolve_nodes(&a.nodes).await?;
    let files = raise_open_files();
    if (groups * a.group_size) as u64 + 1000 > files {
        bail!("{} connections need more than this process's open-file limit ({files}) allows", groups * a.group_size);
    }
    let procs = ws_processes(&pid_dir);
    println!("command: {}", command_line());
    println!(
        "scenario: group fan-out, {groups} group(s) of {} (owner included), every member online with one connection (query-parameter auth, platform web) on {} ({} node(s), alternating), \
         {} sender(s) per group taking turns, each sender online too (its own echo frame is not a delivery); text ({} B) over HTTP ({}) to the groups round-robin, open loop, \
         rates {:?} msg/s in all, {} s measured per step after a {} s warm-up; latency from each send's scheduled time to each other member's `message` frame; \
         a step passes with p99 ≤ {} ms, nothing lost, no send error and no connection dropped; {}; ws-push processes measured: {}",
        a.group_size,
        a.nodes.join(", "),
        nodes.len(),
        a.senders_per_group,
        a.size,
        c.base,
        a.rates,
        a.seconds,
        WARMUP.as_secs(),
        a.p99_ms,
        if a.all_steps { "every rate is run (--all-steps)" } else { "climbing stops at the first failure" },
        procs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
    );

    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (members, conversations) = set_up(&c, &a, groups, &run).await?;
    eprintln!("connecting {} members…", members.len());
    let connect_started = Instant::now();
    let sockets = connect_all(&nodes, &members, &run).await?;
    eprintln!("{} connections ready in {:.1} s", sockets.len(), connect_started.elapsed().as_secs_f64());

    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        sent: Mutex::new(Vec::new()),
        marker: format!("\"client_msg_id\":\"fo-{run}-"),
        frames: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        send_errors_printed: AtomicU64::new(0),
    });
    let inboxes: Vec<Arc<Mutex<Inbox>>> = members.iter().map(|_| Arc::default()).collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let heartbeat = Duration::from_secs(25);
    let readers: Vec<_> = sockets
        .into_iter()
        .zip(&inboxes)
        .enumerate()
        .map(|(i, (ws, inbox))| {
            let (shared, inbox, stop) = (shared.clone(), inbox.clone(), stop_rx.clone());
            tokio::spawn(async move {
                if let Ended::Dropped(why) = hold_connection(ws, heartbeat, jitter(i, heartbeat), stop, |t| on_frame(&shared, &inbox, t)).await {
                    if shared.dropped.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("member {i} dropped: {why}");
                    }
                }
            })
        })
        .collect();
    // Let the nodes settle after the connection burst.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let r = Run {
        c,
        pid_dir,
        ws_pids: Arc::new(procs.iter().map(|p| p.pid.clone()).collect()),
        procs,
        shared,
        members: Arc::new(members),
        conversations: Arc::new(conversations),
        inboxes,
        text: "x".repeat(a.size).into(),
        run,
        group_size: a.group_size,
        senders_per_group: a.senders_per_group,
        seconds: a.seconds,
        p99_ms: a.p99_ms,
    };
    let mut results = Vec::new();
    for (k, &rate) in a.rates.iter().enumerate() {
        let result = run_step(&r, k, a.rates.len(), rate).await?;
        let passed = result.passed;
        results.push(result);
        if !passed && !a.all_steps {
            if k + 1 < a.rates.len() {
                println!("  (climbing stops here)");
            }
            break;
        }
    }
    print_summary(&results, a.p99_ms);

    stop_tx.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(readers)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            epoch: Instant::now(),
            sent: Mutex::new(Vec::new()),
            marker: "\"client_msg_id\":\"fo-run1-".into(),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            send_errors_printed: AtomicU64::new(0),
        }
    }

    fn frame(number: u32, seq: i64) -> String {
        format!(r#"{{"data":{{"client_msg_id":"fo-run1-{number}","content":{{"text":"x"}},"conversation_id":"group:g","seq":{seq},"type":"text"}},"type":"message"}}"#)
    }

    #[test]
    fn a_message_frame_of_ours_is_filed_once_and_repeats_count_as_duplicates() {
        let (s, inbox) = (shared(), Mutex::new(Inbox::default()));
        on_frame(&s, &inbox, &frame(70, 3));
        on_frame(&s, &inbox, &frame(70, 3));
        let inbox = inbox.into_inner().unwrap();
        assert_eq!(inbox.arrivals.iter().map(|a| a.0).collect::<Vec<_>>(), vec![70]);
        assert_eq!((inbox.duplicates, s.frames.load(Ordering::Relaxed)), (1, 2));
    }

    #[test]
    fn a_seq_below_one_already_received_is_out_of_order() {
        let (s, inbox) = (shared(), Mutex::new(Inbox::default()));
        on_frame(&s, &inbox, &frame(1, 5));
        on_frame(&s, &inbox, &frame(2, 4));
        assert_eq!(inbox.into_inner().unwrap().out_of_order, 1);
    }

    #[test]
    fn frames_of_other_runs_and_other_types_are_ignored() {
        let (s, inbox) = (shared(), Mutex::new(Inbox::default()));
        on_frame(&s, &inbox, &frame(1, 1).replace("fo-run1-", "fo-run2-"));
        on_frame(&s, &inbox, r#"{"data":{},"type":"pong"}"#);
        assert!(inbox.into_inner().unwrap().arrivals.is_empty());
        assert_eq!(s.frames.load(Ordering::Relaxed), 0);
    }
}
