//! A projector group scaled under load (docs/operations.md, "Scaling a
//! projection"): while messages and read cursors flow, the stack's one
//! `beaver-projectors` process is joined by two more (1 → 3 instances of every
//! projection's consumer group), one of them is killed with -9, the other is
//! stopped (back to 1). Afterwards every answered message is stored once
//! with its seq, and the chat read model of these conversations equals a
//! fresh replay of the log into an empty database. The pause in projection
//! during each rebalance is printed (a figure, not an assertion).
//!
//! It starts and kills projector processes next to the stack's own, so it
//! lives in its own test binary (cargo runs test binaries one after another).

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/readmodel_state.rs"]
mod readmodel_state;

use helpers::{befriended, brokers, database_url, eventually, unique, Account as User, Api};
use readmodel_state::{chat_state, FreshDatabase};
use serde_json::{json, Value};
use sqlx::{Connection, MySqlConnection};
use std::{
    path::PathBuf,
    process::{Child, Command},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// Sends until the answer carries a seq (a 202 is resent with the same client_msg_id).
async fn send(api: &Api, from: &User, to: &User, text: &str) -> Value {
    let cmid = unique("s");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = json!({ "to_user_id": to.id, "client_msg_id": cmid, "type": "text", "content": { "text": text } });
        let a = api.post("/api/chat/send", Some(&from.token), body).await;
        if a.status.as_u16() == 200 && a.data()["seq"].is_i64() {
            return a.data().clone();
        }
        assert_eq!(a.status.as_u16(), 202, "a send answers 200 or, not numbered in time, 202: {}", a.body);
        assert!(Instant::now() < deadline, "no seq after 60 s");
    }
}

/// Every message of a conversation, page by page.
async fn whole_history(api: &Api, reader: &User, conv: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let after = all.last().map_or(0, |m| m["seq"].as_i64().unwrap());
        let a = api.get(&format!("/api/chat/messages?conversation_id={conv}&limit=100&after_seq={after}"), Some(&reader.token)).await.expect(200);
        let page = a.data()["messages"].as_array().unwrap().clone();
        let more = a.data()["has_more"].as_bool().unwrap();
        all.extend(page);
        if !more {
            return all;
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One more `beaver-projectors` process, as an operator starts one.
fn start_projector(n: usize) -> (Child, u16) {
    let profile = std::env::var("BEAVER_BUILD_PROFILE").unwrap_or_else(|_| "debug".into());
    let bin = root().join("target").join(if profile == "release" { "release" } else { "debug" }).join("beaver-projectors");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(root().join(format!(".state/logs/projectors-scaling-{n}.log"))).unwrap();
    let child = Command::new(&bin)
        .env("BEAVER_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("BEAVER_DATABASE_URL", database_url())
        .env("BEAVER_KAFKA_BROKERS", brokers())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    (child, port)
}

async fn healthy(port: u16) {
    helpers::wait_healthy(port, &format!("the projector on port {port}")).await;
}

/// How long after its answer a probe message shows in MariaDB, by phase.
#[derive(Default)]
struct Pauses(Mutex<Vec<(&'static str, Duration)>>);

impl Pauses {
    fn worst(&self, phase: &str) -> (usize, Duration) {
        let all = self.0.lock().unwrap();
        let of: Vec<Duration> = all.iter().filter(|(p, _)| *p == phase).map(|(_, d)| *d).collect();
        (of.len(), of.iter().copied().max().unwrap_or_default())
    }
}

#[tokio::test]
async fn projectors_scaled_from_one_to_three_and_back_with_a_kill_under_load_equal_a_fresh_replay() {
    let api = Api::new();
    const PAIRS: usize = 4;
    let mut pairs = Vec::new();
    for _ in 0..PAIRS {
        pairs.push(befriended(&api, "scale").await);
    }
    // Probe conversations spread over the partitions (12): a pause shows
    // only for the partitions that moved.
    let mut probes = Vec::new();
    for _ in 0..6 {
        probes.push(befriended(&api, "scale").await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let phase: Arc<Mutex<&'static str>> = Arc::new(Mutex::new("one instance"));
    let pauses = Arc::new(Pauses::default());

    // The load: each pair sends and the recipient moves its read cursor.
    let pairs = Arc::new(pairs);
    let load: Vec<_> = (0..PAIRS)
        .map(|i| {
            let (api, pairs, stop) = (api.clone(), pairs.clone(), stop.clone());
            tokio::spawn(async move {
                let (a, b) = &pairs[i];
                let mut answers = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let answer = send(&api, a, b, &format!("m{n}")).await;
                    let cursor = json!({ "conversation_id": answer["conversation_id"], "seq": answer["seq"] });
                    let read = api.put("/api/chat/read", Some(&b.token), cursor).await;
                    assert!(matches!(read.status.as_u16(), 200 | 202), "a read cursor is accepted: {} {}", read.status, read.body);
                    answers.push(answer);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                answers
            })
        })
        .collect();

    // The probes: how long after its answer a message is in MariaDB.
    let probers: Vec<_> = probes
        .into_iter()
        .map(|probe| {
            let (api, stop, phase, pauses) = (api.clone(), stop.clone(), phase.clone(), pauses.clone());
            tokio::spawn(async move {
                let (a, b) = &probe;
                let mut db = MySqlConnection::connect(&database_url()).await.unwrap();
                let mut sent = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    // Counted in the phase it was sent in.
                    let current = *phase.lock().unwrap();
                    let answer = send(&api, a, b, "probe").await;
                    let answered = Instant::now();
                    let id = answer["message_id"].as_str().unwrap().to_owned();
                    loop {
                        let found: Option<i64> =
                            sqlx::query_scalar("SELECT seq FROM messages WHERE message_id = ?").bind(&id).fetch_optional(&mut db).await.unwrap();
                        if found.is_some() {
                            break;
                        }
                        assert!(answered.elapsed() < Duration::from_secs(90), "probe {id} not stored after 90 s");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    pauses.0.lock().unwrap().push((current, answered.elapsed()));
                    sent.push(answer);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                sent
            })
        })
        .collect();

    let set = |p: &'static str| *phase.lock().unwrap() = p;
    tokio::time::sleep(Duration::from_secs(2)).await;
    set("scaling out to three");
    let (mut second, p2) = start_projector(2);
    let (mut third, p3) = start_projector(3);
    healthy(p2).await;
    healthy(p3).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    set("three instances, one killed with -9");
    Command::new("kill").args(["-9", &second.id().to_string()]).status().unwrap();
    let _ = second.wait();
    tokio::time::sleep(Duration::from_secs(8)).await;
    set("scaling in to one");
    Command::new("kill").args(["-TERM", &third.id().to_string()]).status().unwrap();
    let _ = tokio::task::spawn_blocking(move || third.wait()).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered: Vec<Vec<Value>> = Vec::new();
    for task in load {
        answered.push(task.await.unwrap());
    }
    let mut probe_conversations = Vec::new();
    for prober in probers {
        let sent = prober.await.unwrap();
        probe_conversations.push(sent[0]["conversation_id"].as_str().unwrap().to_owned());
    }

    // Every answered message is stored once, with its seq, in send order.
    let mut conversations = Vec::new();
    let mut users = Vec::new();
    for ((_, b), answers) in pairs.iter().zip(&answered) {
        assert!(answers.len() >= 20, "the load ran through every phase: {} messages", answers.len());
        let conv = answers[0]["conversation_id"].as_str().unwrap().to_owned();
        let history = eventually(Duration::from_secs(60), || async {
            let list = whole_history(&api, b, &conv).await;
            (list.len() >= answers.len()).then_some(list)
        })
        .await
        .expect("every answered message reaches history");
        let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=answers.len() as i64).collect::<Vec<_>>(), "seqs 1..N, none twice, none missing");
        for (m, a) in history.iter().zip(answers) {
            assert_eq!(m["message_id"], a["message_id"], "stored with its answered seq");
        }
        conversations.push(conv);
        users.push(b.id.clone());
    }
    conversations.extend(probe_conversations);

    // The live read model equals a fresh replay of the log.
    let live = database_url();
    let live_redis = std::env::var("BEAVER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let live_chat = eventually(Duration::from_secs(30), || async {
        let a = chat_state(&live, &live_redis, &conversations, &users).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let b = chat_state(&live, &live_redis, &conversations, &users).await;
        (a == b).then_some(a)
    })
    .await
    .expect("the live read model settles");
    let db = FreshDatabase::create(&live, unique("beaver_scaling")).await;
    let fresh = db.url.clone();
    let config = beaver_projectors::Config {
        common: beaver_platform::config::Common {
            database_url: fresh.as_str().into(),
            kafka_brokers: brokers(),
            redis_url: format!("{live_redis}/2").into(),
            ..Default::default()
        },
        group_prefix: format!("{}-", unique("scaling")),
        projections: "messages".into(),
        publish_progress: false,
        // No workers: they would append to the live topics.
        workers: String::new(),
        ..Default::default()
    };
    let (stop_replay, stopped) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut stopped_rx = stopped.clone();
    let replay = tokio::spawn(beaver_projectors::run(config, listener, async move {
        let _ = stopped_rx.wait_for(|s| *s).await;
    }));
    let rebuilt = eventually(Duration::from_secs(120), || async {
        (chat_state(&fresh, &format!("{live_redis}/2"), &conversations, &users).await == live_chat).then_some(())
    })
    .await;
    let fresh_chat = chat_state(&fresh, &format!("{live_redis}/2"), &conversations, &users).await;
    stop_replay.send(true).unwrap();
    replay.await.unwrap().unwrap();
    db.drop().await;

    for p in ["one instance", "scaling out to three", "three instances, one killed with -9", "scaling in to one"] {
        let (n, worst) = pauses.worst(p);
        println!("projection pause, {p}: worst {:.0} ms over {n} probes (answer → row in MariaDB)", worst.as_secs_f64() * 1000.0);
    }
    assert!(rebuilt.is_some(), "the read model after scaling differs from a fresh replay:\nlive  {live_chat:?}\nfresh {fresh_chat:?}");
}
