//! `latency`: HTTP send → the recipient's WebSocket frame, open loop.

use crate::{common::*, ws::*};
use anyhow::{bail, Context, Result};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;

#[derive(Args)]
pub(crate) struct LatencyArgs {
    /// Pairs of friends; each recipient holds one WebSocket connection.
    #[arg(long, default_value_t = 50)]
    pub(crate) pairs: usize,
    /// Sends per second, open loop.
    #[arg(long, default_value_t = 100)]
    pub(crate) rate: u64,
    /// Measured duration in seconds (after a 2 s warm-up).
    #[arg(long, default_value_t = 20)]
    pub(crate) seconds: u64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 100)]
    pub(crate) size: usize,
    /// ws-push nodes, comma-separated; recipients alternate between them.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_NODES)]
    pub(crate) nodes: Vec<String>,
}


/// One message on its way, by client_msg_id.
pub(crate) struct InFlight {
    /// When the send was due (open loop): latencies count from here.
    due: Instant,
    /// Sent after the warm-up.
    measured: bool,
    /// The HTTP answer carried a seq.
    accepted: bool,
    received: bool,
}

pub(crate) struct E2eStats {
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
pub(crate) struct Seen {
    pairs: HashSet<(String, i64)>,
    highest: HashMap<String, i64>,
}

pub(crate) fn on_message_frame(stats: &E2eStats, seen: &mut Seen, text: &str) {
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

pub(crate) async fn send_timed(c: &Client, stats: &E2eStats, pair: &Pair, text: &str, due: Instant, measured: bool) {
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


pub(crate) async fn latency_scenario(c: Arc<Client>, pid_dir: PathBuf, a: LatencyArgs) -> Result<()> {
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

