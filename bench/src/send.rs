//! `send`: 1:1 text messages over HTTP, closed or open loop.

use crate::common::*;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

pub(crate) struct Stats {
    hist: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: AtomicU64,
}

pub(crate) async fn send_one(c: &Client, stats: &Stats, token: &str, to: &str, text: &str, record: bool) {
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

pub(crate) async fn send_scenario(c: Arc<Client>, pid_dir: PathBuf, n: usize, concurrency: usize, rate: Option<u64>, seconds: u64, size: usize) -> Result<()> {
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

