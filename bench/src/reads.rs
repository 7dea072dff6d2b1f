//! `reads`: the conversation list of a user with many conversations, the
//! read every client makes on start and after each reconnect. Sets up one
//! user with `--conversations` friends who each send `--messages` messages,
//! then issues `--requests` GETs of `/api/chat/conversations` from
//! `--concurrency` clients back to back, and reports latency percentiles,
//! requests per second and the servers' CPU per request.

use crate::common::{befriend, command_line, cpu_breakdown, cpu_by_process, own_cpu_seconds, percentiles, server_cpu_seconds, user, Client};
use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::{path::PathBuf, sync::Arc, time::Instant};

#[derive(clap::Args)]
pub(crate) struct ReadsArgs {
    /// Conversations in the reader's list (one friend each).
    #[arg(long, default_value_t = 150)]
    conversations: usize,
    /// Messages each friend sends (they are all unread).
    #[arg(long, default_value_t = 3)]
    messages: usize,
    /// GETs measured.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// Clients reading at once, each back to back.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

async fn get(c: &Client, path: &str, token: &str) -> Result<Value> {
    let resp = c.http.get(format!("{}{path}", c.base)).bearer_auth(token).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{path}: {status} {body}");
    }
    Ok(body["data"].clone())
}

pub(crate) async fn reads_scenario(c: Arc<Client>, pids: PathBuf, a: ReadsArgs) -> Result<()> {
    println!("command: {}", command_line());
    println!(
        "scenario: GET /api/chat/conversations for one user with {} direct conversations of {} unread messages each; {} requests from {} clients back to back",
        a.conversations, a.messages, a.requests, a.concurrency
    );
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    eprintln!("setting up {} conversations…", a.conversations);
    let (me, my_token) = user(&c, run, 0).await?;
    for i in 1..=a.conversations {
        let (_, token) = user(&c, run, i).await?;
        befriend(&c, &token, &me, &my_token).await?;
        for k in 0..a.messages {
            let body = json!({ "to_user_id": me, "client_msg_id": format!("r{run}-{i}-{k}"), "type": "text", "content": { "text": format!("hello {k}") } });
            c.post("/api/chat/send", Some(&token), body).await?;
        }
    }
    let list = get(&c, "/api/chat/conversations", &my_token).await?;
    let n = list["conversations"].as_array().context("a conversation list")?.len();
    if n != a.conversations {
        bail!("the list has {n} conversations, expected {}", a.conversations);
    }

    let (cpu0, by0, own0, started) = (server_cpu_seconds(&pids), cpu_by_process(&pids), own_cpu_seconds(), Instant::now());
    let per_client = a.requests.div_ceil(a.concurrency);
    let clients = (0..a.concurrency).map(|_| {
        let (c, token) = (c.clone(), my_token.clone());
        async move {
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            for _ in 0..per_client {
                let t = Instant::now();
                get(&c, "/api/chat/conversations", &token).await?;
                h.record(t.elapsed().as_micros() as u64).expect("in range");
            }
            anyhow::Ok(h)
        }
    });
    let mut all = Histogram::<u64>::new(3).expect("histogram");
    for h in futures::future::try_join_all(clients).await? {
        all.add(h).expect("same bounds");
    }
    let secs = started.elapsed().as_secs_f64();
    let (cpu, own) = (server_cpu_seconds(&pids) - cpu0, own_cpu_seconds() - own0);
    println!("requests: {} in {secs:.1} s, {:.0}/s", all.len(), all.len() as f64 / secs);
    println!("latency ms: {}", percentiles(&all));
    println!(
        "cpu: servers {cpu:.1} s ({:.2} ms per request), load generator {own:.1} s",
        cpu * 1000.0 / all.len() as f64
    );
    println!("cores by server: {}", cpu_breakdown(&by0, &cpu_by_process(&pids), secs));
    Ok(())
}
