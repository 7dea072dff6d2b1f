//! The sequencer under failure, against the real stack (docs/chat.md,
//! "Sequencing"): kill -9 in the middle of a load, and a stale process fenced
//! by a newer one. These tests stop and start the stack's sequencer, so they
//! live in their own test binary (cargo runs test binaries one after
//! another) and take turns.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use helpers::{befriended as friends, each_record, events_where, eventually, unique, Account as User, Api};
use rdkafka::message::{Headers, Message};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn state_dir() -> PathBuf {
    std::env::var("BEAVER_STATE_DIR").map(PathBuf::from).unwrap_or_else(|_| root().join(".state"))
}

fn sequencer_pid() -> Option<i32> {
    std::fs::read_to_string(state_dir().join("run/sequencer.pid")).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill -0; read its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat.rsplit(") ").next().and_then(|r| r.split(' ').next()), Some("Z") | Some("X")),
        Err(_) => false,
    }
}

/// Starts another sequencer process (the same instance id as the stack's,
/// so its `init_transactions` fences the running one) with `env`, logging to
/// `logs/<log>`, and waits until it is healthy.
async fn start_sequencer(log: &str, env: &[(&str, &str)], what: &str) -> std::process::Child {
    let profile = std::env::var("BEAVER_BUILD_PROFILE").unwrap_or_else(|_| "debug".into());
    let bin = root().join("target").join(if profile == "release" { "release" } else { "debug" }).join("beaver-sequencer");
    // A port nothing else uses: bind one, release it, hand it over.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(state_dir().join("logs").join(log)).unwrap();
    let child = Command::new(&bin)
        .env("BEAVER_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    helpers::wait_healthy(port, what).await;
    child
}

/// Starts whatever of the stack is not running, as an operator would (no build).
fn deploy_up() {
    let out = Command::new(root().join("deploy/up")).env("BEAVER_SKIP_BUILD", "1").output().expect("run deploy/up");
    assert!(out.status.success(), "deploy/up failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Sends `text` with `cmid` until the answer carries a seq (a 202 or a 5xx
/// is resent with the same client_msg_id, as a client does).
async fn send_until_numbered(api: &Api, from: &User, to: &User, cmid: &str, text: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let body = json!({ "to_user_id": to.id, "client_msg_id": cmid, "type": "text", "content": { "text": text } });
        let a = api.post("/api/chat/send", Some(&from.token), body).await;
        if a.status.as_u16() == 200 && a.data()["seq"].is_i64() {
            return a.data().clone();
        }
        assert!(matches!(a.status.as_u16(), 202 | 502 | 503 | 504), "only 'not yet' answers while the sequencer restarts: {} {}", a.status, a.body);
        assert!(Instant::now() < deadline, "no seq for {cmid} after 90 s: last answer {}", a.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn history(api: &Api, user: &User, conv: &str) -> Vec<Value> {
    let a = api.get(&format!("/api/chat/messages?conversation_id={conv}&limit=100"), Some(&user.token)).await.expect(200);
    a.data()["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn kill_9_mid_load_loses_nothing_and_numbers_every_message_once_without_gaps() {
    let _turn = TURN.lock().await;
    let api = Api::new();
    const PAIRS: usize = 4;
    const PER_PAIR: usize = 30;
    let pairs = futures::future::join_all((0..PAIRS).map(|_| friends(&api, "seqkill"))).await;
    let progress = std::sync::atomic::AtomicUsize::new(0);

    let senders = pairs.iter().map(|(a, b)| {
        let (api, progress) = (api.clone(), &progress);
        async move {
            let mut answered = Vec::new();
            for i in 0..PER_PAIR {
                let cmid = format!("k{i}-{}", unique("c"));
                let answer = send_until_numbered(&api, a, b, &cmid, &format!("message {i}")).await;
                // A read cursor is passed through unnumbered: were the restarted
                // sequencer to resume before its checkpoint, it would come out twice.
                let _ = api.put("/api/chat/read", Some(&b.token), json!({ "conversation_id": answer["conversation_id"], "seq": answer["seq"] })).await;
                answered.push(answer);
                progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            answered
        }
    });
    let killer = async {
        // Mid-load: a third of the sends answered, the rest still to come.
        eventually(Duration::from_secs(60), || async { (progress.load(std::sync::atomic::Ordering::Relaxed) >= PAIRS * PER_PAIR / 3).then_some(()) })
            .await
            .expect("the load gets going");
        let pid = sequencer_pid().expect("deploy/up records the sequencer's pid");
        assert!(alive(pid), "the sequencer runs before the kill");
        Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
        eventually(Duration::from_secs(10), || async { (!alive(pid)).then_some(()) }).await.expect("kill -9 ends the sequencer");
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::spawn_blocking(deploy_up).await.unwrap();
        assert_ne!(sequencer_pid(), Some(pid), "a new sequencer process runs");
    };
    let (answered, ()) = tokio::join!(futures::future::join_all(senders), killer);

    for ((a, b), answers) in pairs.iter().zip(&answered) {
        let conv = answers[0]["conversation_id"].as_str().unwrap().to_owned();
        let stored = eventually(Duration::from_secs(30), || async {
            let list = history(&api, b, &conv).await;
            (list.len() >= PER_PAIR).then_some(list)
        })
        .await
        .unwrap_or_else(|| panic!("every answered message reaches history"));
        let seqs: Vec<i64> = stored.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=PER_PAIR as i64).collect::<Vec<_>>(), "seqs are 1..N with no gap and no repeat");
        let by_id: HashMap<&str, i64> = stored.iter().map(|m| (m["message_id"].as_str().unwrap(), m["seq"].as_i64().unwrap())).collect();
        for answer in answers {
            let id = answer["message_id"].as_str().unwrap();
            assert_eq!(by_id.get(id), Some(&answer["seq"].as_i64().unwrap()), "an answered message is stored once with its answered seq: {answer}");
        }
        // In the order sent: each sender waited for its answer before the next.
        let texts: Vec<&str> = stored.iter().map(|m| m["content"]["text"].as_str().unwrap()).collect();
        assert_eq!(texts, (0..PER_PAIR).map(|i| format!("message {i}")).collect::<Vec<_>>());
        let _ = a;
    }
    let conversations: std::collections::HashSet<String> = answered.iter().map(|a| a[0]["conversation_id"].as_str().unwrap().to_owned()).collect();
    let twice = records_output_twice(&conversations);
    assert!(twice.is_empty(), "input records output more than once (source partition, offset, count): {twice:?}");
}

/// Every record of `beaver.sequenced.v1` names its input record in its
/// `source_partition` / `source_offset` headers; each input record is output
/// at most once. Returns those of `conversations` output more than once.
fn records_output_twice(conversations: &std::collections::HashSet<String>) -> Vec<(String, String, usize)> {
    let topic = beaver_events::topics::SEQUENCED;
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    each_record(topic, |m| {
        if !m.key().is_some_and(|k| conversations.contains(String::from_utf8_lossy(k).as_ref())) {
            return;
        }
        let header = |name: &str| {
            m.headers()
                .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned()))
                .unwrap_or_else(|| panic!("{topic} {}:{} has no {name} header", m.partition(), m.offset()))
        };
        let source = (header(beaver_events::topics::HEADER_SOURCE_PARTITION), header(beaver_events::topics::HEADER_SOURCE_OFFSET));
        *seen.entry(source).or_default() += 1;
    });
    assert!(seen.len() >= conversations.len(), "{topic} holds the load's records");
    seen.into_iter().filter(|(_, n)| *n > 1).map(|((p, o), n)| (p, o, n)).collect()
}

#[tokio::test]
async fn a_stale_sequencer_is_fenced_and_nothing_it_writes_becomes_visible() {
    let _turn = TURN.lock().await;
    let api = Api::new();
    let (ann, bob) = friends(&api, "seqfence").await;
    let old = sequencer_pid().expect("deploy/up records the sequencer's pid");
    assert!(alive(old));

    // A second process with the same instance id: its init_transactions fences the first.
    let mut newer = start_sequencer("sequencer-fencing-test.log", &[], "the newer sequencer").await;

    // Both read the send; only the newer one can commit.
    let cmid = unique("fenced");
    let answer = send_until_numbered(&api, &ann, &bob, &cmid, "after the takeover").await;
    assert_eq!(answer["seq"], 1, "{answer}");
    eventually(Duration::from_secs(30), || async { (!alive(old)).then_some(()) }).await.expect("the fenced process exits");

    let wanted = cmid.clone();
    let numbered: Vec<Value> = events_where(beaver_events::topics::SEQUENCED, move |e| {
        e["event_type"] == "MessageSequenced" && e["payload"]["client_msg_id"] == wanted.as_str()
    })
    .await;
    assert_eq!(numbered.len(), 1, "exactly one committed MessageSequenced: {numbered:#?}");
    let conv = answer["conversation_id"].as_str().unwrap();
    let list = history(&api, &bob, conv).await;
    assert_eq!(list.len(), 1, "{list:#?}");

    // Hand the partitions back to the stack's own sequencer.
    Command::new("kill").args(["-TERM", &newer.id().to_string()]).status().unwrap();
    let _ = tokio::task::spawn_blocking(move || newer.wait()).await;
    tokio::task::spawn_blocking(deploy_up).await.unwrap();
    let again = send_until_numbered(&api, &ann, &bob, &unique("back"), "back to normal").await;
    assert_eq!(again["seq"], 2, "{again}");
}

/// A sequencer started by a test in place of the stack's own: stopped, and
/// the stack's restarted, when the test ends (passed or failed).
struct Takeover(Option<std::process::Child>);

impl Drop for Takeover {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
            deploy_up();
        }
    }
}

/// The running Redis server's run id, and what the sent-key filter's
/// `ready` key holds (docs/chat.md, "Idempotent sends").
async fn filter_state(redis: &mut redis::aio::MultiplexedConnection) -> (String, Option<String>) {
    let run_id = beaver_readmodel::sent_filter::run_id(redis).await.unwrap();
    let ready: Option<String> = redis::cmd("GET").arg("beaver:{sentkeys}:ready").query_async(redis).await.unwrap();
    (run_id, ready)
}

async fn filter_trusted_again(redis: &mut redis::aio::MultiplexedConnection) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (run_id, ready) = filter_state(redis).await;
        if ready.as_deref() == Some(run_id.as_str()) {
            return;
        }
        assert!(Instant::now() < deadline, "the projectors did not rebuild the sent-key filter within 60 s (ready = {ready:?}, run id {run_id})");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Past the sequencer's dedup window the read model answers a resend. The
/// sent-key filter spares that lookup only for keys never stored, so the
/// original must come back whether the filter is trusted, lost (its keys
/// deleted), or stale (its `ready` key from before a Redis restart that lost
/// bits), or its bitmap alone deleted; in the last three cases the
/// projectors rebuild it from the table.
#[tokio::test]
async fn past_the_window_a_resend_gets_the_original_whether_the_sent_filter_is_trusted_lost_stale_or_partly_deleted() {
    let _turn = TURN.lock().await;
    let api = Api::new();
    let (ann, bob) = friends(&api, "seqpast").await;
    let mut redis = redis::Client::open(helpers::redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    filter_trusted_again(&mut redis).await;

    // A sequencer with a 2 s window takes over from the stack's own (fencing it).
    let old = sequencer_pid().expect("deploy/up records the sequencer's pid");
    let short = Takeover(Some(start_sequencer("sequencer-short-window-test.log", &[("BEAVER_WINDOW_SECS", "2")], "the short-window sequencer").await));

    let (x, y, z) = (unique("past-x"), unique("past-y"), unique("past-z"));
    let first = send_until_numbered(&api, &ann, &bob, &x, "one").await;
    eventually(Duration::from_secs(30), || async { (!alive(old)).then_some(()) }).await.expect("the stack's sequencer is fenced and exits");
    let second = send_until_numbered(&api, &ann, &bob, &y, "two").await;
    assert_eq!((first["seq"].as_i64(), second["seq"].as_i64()), (Some(1), Some(2)));
    let conv = first["conversation_id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(30), || {
        let (api, bob, conv) = (&api, &bob, &conv);
        async move { (history(api, bob, conv).await.len() == 2).then_some(()) }
    })
    .await
    .expect("both messages stored");
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let same = |answer: &Value, original: &Value| {
        assert_eq!((&answer["message_id"], &answer["seq"], &answer["sent_at"]), (&original["message_id"], &original["seq"], &original["sent_at"]), "{answer} vs {original}")
    };
    // Trusted filter: a stored key may be in it, so the read model answers.
    same(&send_until_numbered(&api, &ann, &bob, &x, "one, again").await, &first);
    // A key never sent is numbered next.
    let third = send_until_numbered(&api, &ann, &bob, &z, "three").await;
    assert_eq!(third["seq"], 3, "{third}");

    // Lost: Redis without the filter's keys (a wiped server).
    let _: () = redis::cmd("DEL").arg("beaver:{sentkeys}:bits").arg("beaver:{sentkeys}:ready").query_async(&mut redis).await.unwrap();
    same(&send_until_numbered(&api, &ann, &bob, &y, "two, again").await, &second);
    filter_trusted_again(&mut redis).await;
    // The rebuilt filter holds the stored keys (an empty one would answer "absent" here).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    same(&send_until_numbered(&api, &ann, &bob, &z, "three, again").await, &third);

    // Stale: a complete-looking filter (marker byte included) that lost its
    // bits, with `ready` naming the server before a restart.
    let _: () = redis::pipe()
        .del("beaver:{sentkeys}:bits")
        .cmd("SETRANGE")
        .arg("beaver:{sentkeys}:bits")
        .arg(1u64 << 24)
        .arg(&[0xA5u8][..])
        .set("beaver:{sentkeys}:ready", "0123456789abcdef0123456789abcdef01234567")
        .query_async(&mut redis)
        .await
        .unwrap();
    same(&send_until_numbered(&api, &ann, &bob, &x, "one, a third time").await, &first);
    filter_trusted_again(&mut redis).await;
    same(&send_until_numbered(&api, &ann, &bob, &y, "two, a third time").await, &second);

    // The bitmap alone deleted (`ready` still names this server), then
    // recreated by a new message's bits: without the keeper's marker it is
    // not trusted, and the rebuild restores the older keys.
    let _: () = redis::cmd("DEL").arg("beaver:{sentkeys}:bits").query_async(&mut redis).await.unwrap();
    let fourth = send_until_numbered(&api, &ann, &bob, &unique("past-w"), "four").await;
    assert_eq!(fourth["seq"], 4, "{fourth}");
    same(&send_until_numbered(&api, &ann, &bob, &z, "three, a third time").await, &third);
    filter_trusted_again(&mut redis).await;
    same(&send_until_numbered(&api, &ann, &bob, &x, "one, a fourth time").await, &first);

    let seqs: Vec<i64> = history(&api, &bob, &conv).await.iter().map(|m| m["seq"].as_i64().unwrap()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "four messages, no repeat, no gap");

    // Hand the partitions back to the stack's own sequencer.
    tokio::task::spawn_blocking(move || drop(short)).await.unwrap();
    let again = send_until_numbered(&api, &ann, &bob, &unique("past-back"), "back to normal").await;
    assert_eq!(again["seq"], 5, "{again}");
}

/// The state topic is written about once a second; what was decided since
/// is on the output, and a restart decides it again (docs/chat.md, "Crash
/// and restart"). Here a sequencer that never writes its state takes over,
/// numbers five messages and is killed with -9: the restarted one must know
/// them from the output alone, so the conversation goes on at seq 6.
#[tokio::test]
async fn a_restart_knows_what_was_numbered_after_the_last_state_write_from_the_output() {
    let _turn = TURN.lock().await;
    let api = Api::new();
    let (ann, bob) = friends(&api, "seqlazy").await;
    let old = sequencer_pid().expect("deploy/up records the sequencer's pid");
    let never = [("BEAVER_STATE_EVERY_MS", "3600000"), ("BEAVER_OFFSETS_EVERY_MS", "3600000")];
    let mut lazy = Takeover(Some(start_sequencer("sequencer-lazy-state-test.log", &never, "the sequencer that never writes its state").await));

    let cmids: Vec<String> = (0..5).map(|i| unique(&format!("lazy{i}"))).collect();
    let mut answers = Vec::new();
    for (i, cmid) in cmids.iter().enumerate() {
        answers.push(send_until_numbered(&api, &ann, &bob, cmid, &format!("lazy {i}")).await);
    }
    eventually(Duration::from_secs(30), || async { (!alive(old)).then_some(()) }).await.expect("the stack's sequencer is fenced and exits");
    let seqs: Vec<i64> = answers.iter().map(|a| a["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);

    // kill -9: nothing of its state reaches the state topic.
    let mut child = lazy.0.take().unwrap();
    child.kill().unwrap();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    tokio::task::spawn_blocking(deploy_up).await.unwrap();

    let conv = answers[0]["conversation_id"].as_str().unwrap().to_owned();
    let next = send_until_numbered(&api, &ann, &bob, &unique("lazy-after"), "after the restart").await;
    assert_eq!(next["seq"], 6, "the restarted sequencer continues the conversation: {next}");
    // A resend of one of the five is still the original, not a sixth message.
    let again = send_until_numbered(&api, &ann, &bob, &cmids[2], "lazy 2").await;
    assert_eq!((&again["message_id"], &again["seq"]), (&answers[2]["message_id"], &answers[2]["seq"]), "{again}");
    let stored = eventually(Duration::from_secs(30), || {
        let (api, bob, conv) = (&api, &bob, &conv);
        async move {
            let list = history(api, bob, conv).await;
            (list.len() >= 6).then_some(list)
        }
    })
    .await
    .expect("six messages stored");
    let seqs: Vec<i64> = stored.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>(), "no gap, no repeat");
    let twice = records_output_twice(&std::collections::HashSet::from([conv]));
    assert!(twice.is_empty(), "input records output more than once: {twice:?}");
}
