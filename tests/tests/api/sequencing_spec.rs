//! Sequencing and idempotent sends, end to end, as docs/chat.md ("Sequencing:
//! decided on the log", "Idempotent sends", "Sending") and docs/push.md
//! (socket `send` frames take the same path as HTTP) specify them. Written
//! from the spec by someone who did not write the code; it covers what
//! chat/ and push/ leave out: the scope of a `client_msg_id` across
//! conversations and senders under concurrency, resends with other bodies
//! racing the original, HTTP and WebSocket sends of one `client_msg_id`
//! racing each other, seq order against each sender's send order, what every
//! reader (answer, history, socket, topic) says about each seq, reads and
//! message operations right after an answer, and the contents of
//! `beaver.sequenced.v1` against `beaver.messages.v1`.

use crate::chat::{cmid, direct_id, same_instant, send, sent, seq, seqs, text_in, text_to};
use crate::friends::{befriend, befriend_all, find, new_user, new_users, User};
use crate::helpers::{events_where, eventually, unique, Api};
use crate::ws::{connect, Ws};
use beaver_events::topics;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Helpers.

/// Generous bound for anything that must eventually happen.
const PATIENCE: Duration = Duration::from_secs(30);

fn mid(v: &Value) -> String {
    v["message_id"].as_str().unwrap_or_else(|| panic!("no message_id in {v}")).to_owned()
}

fn device() -> String {
    unique("dev")
}

async fn dial(n: u16, user: &User, platform: &str) -> Ws {
    connect(n, &user.token, &device(), platform).await
}

fn send_frame(id: &str, body: Value) -> Value {
    json!({ "type": "send", "id": id, "data": body })
}

/// Sends `body` over the socket and waits for the `ack` echoing `id`; returns its data.
async fn ws_sent(ws: &mut Ws, id: &str, body: Value) -> Value {
    ws.send_json(send_frame(id, body)).await;
    let ack = ws.expect_where_frame("ack", |f| f["id"] == id, PATIENCE).await;
    assert!(ack["data"]["seq"].is_i64() && ack["data"]["message_id"].is_string(), "a numbered ack: {ack}");
    ack["data"].clone()
}

/// Every message `user` can read of `conv`, paging forward from seq 0.
async fn history(api: &Api, user: &User, conv: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let a = api.get(&format!("/api/chat/messages?conversation_id={conv}&after_seq={after}&limit=100"), Some(&user.token)).await.expect(200);
        let page = a.data()["messages"].as_array().unwrap_or_else(|| panic!("a messages list: {}", a.body)).clone();
        let more = a.data()["has_more"].as_bool().unwrap_or_else(|| panic!("a boolean has_more: {}", a.body));
        if let Some(last) = page.last() {
            after = seq(last);
        }
        all.extend(page);
        if !more {
            return all;
        }
    }
}

/// Two users who are friends.
async fn friends_pair(api: &Api, prefix: &str) -> (User, User) {
    let (a, b) = tokio::join!(new_user(api, prefix), new_user(api, prefix));
    befriend(api, &a, &b).await;
    (a, b)
}

/// A group owner and `n` of their friends, in a new group with all of them;
/// returns (owner, members, group id, conversation id).
async fn group_of(api: &Api, prefix: &str, n: usize) -> (User, Vec<User>, String, String) {
    let mut users = new_users(api, prefix, n + 1).await;
    let owner = users.remove(0);
    befriend_all(api, &owner, &users.iter().collect::<Vec<_>>()).await;
    let body = json!({ "name": unique("seqgrp"), "member_ids": users.iter().map(|m| m.id.clone()).collect::<Vec<_>>() });
    let a = api.post("/api/group", Some(&owner.token), body).await.expect(200);
    let gid = a.data()["group_id"].as_str().unwrap().to_owned();
    let conv = format!("group:{gid}");
    (owner, users, gid, conv)
}

/// The highest seq of `conv` so far (the group's system notices), as `reader` reads it.
async fn top_seq(api: &Api, reader: &User, conv: &str) -> i64 {
    history(api, reader, conv).await.last().map(seq).unwrap_or(0)
}

/// Sends `sync` for `conv` from `last` and waits for its `sync.done`;
/// returns the message data the sync delivered.
async fn sync_from(ws: &mut Ws, id: &str, conv: &str, last: i64) -> Vec<Value> {
    ws.send_json(json!({ "type": "sync", "id": id, "data": { "conversations": { conv: last } } })).await;
    let mut got = Vec::new();
    loop {
        let f = ws.next_frame(PATIENCE).await.unwrap_or_else(|| panic!("no sync.done for {id}; messages so far: {got:#?}"));
        match f["type"].as_str().unwrap_or("") {
            "message" if f["data"]["conversation_id"] == conv => got.push(f["data"].clone()),
            "sync.done" if f["id"] == id => return got,
            "error" => panic!("sync {id} refused: {f}"),
            _ => {}
        }
    }
}

/// Reads every frame of `ws` for `window` after the last one and returns the
/// `message` frames of `conv` among them, in arrival order.
async fn drain_messages(ws: &mut Ws, conv: &str, window: Duration) -> Vec<Value> {
    let mut got: Vec<Value> =
        ws.take_backlog().into_iter().filter(|f| f["type"] == "message" && f["data"]["conversation_id"] == conv).map(|f| f["data"].clone()).collect();
    while let Some(f) = ws.next_frame(window).await {
        if f["type"] == "message" && f["data"]["conversation_id"] == conv {
            got.push(f["data"].clone());
        }
    }
    got
}

/// The events on `topic` whose envelope names `conv` as its aggregate, in log order.
async fn conversation_log(topic: &'static str, conv: &str) -> Vec<Value> {
    let conv = conv.to_owned();
    events_where(topic, move |e| e["aggregate_id"] == conv.as_str()).await
}

fn uuid_of(v: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(v.as_str().unwrap_or_else(|| panic!("not a uuid string: {v}"))).unwrap_or_else(|e| panic!("{v}: {e}"))
}

// ---------------------------------------------------------------------------
// Scope of a client_msg_id.

/// "scope: one sender, one conversation, one client_msg_id — the same id from
/// another sender, or to another conversation, is another message", also
/// when all of them are sent at once.
#[tokio::test]
async fn one_client_msg_id_sent_at_once_into_other_conversations_and_by_other_senders_makes_one_message_each() {
    let api = Api::new();
    let (ann, members, _gid, group) = group_of(&api, "scope", 2).await;
    let (bob, cat) = (&members[0], &members[1]);
    let base = top_seq(&api, &ann, &group).await;
    let cm = cmid();
    let body = |target: Value, text: &str| {
        let mut b = json!({ "client_msg_id": cm, "type": "text", "content": { "text": text } });
        for (k, v) in target.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let sends = [
        (&ann, body(json!({ "to_user_id": bob.id }), "ann to bob")),
        (&ann, body(json!({ "to_user_id": cat.id }), "ann to cat")),
        (&ann, body(json!({ "conversation_id": group }), "ann to group")),
        (bob, body(json!({ "conversation_id": group }), "bob to group")),
        (cat, body(json!({ "conversation_id": group }), "cat to group")),
    ];
    let answers: Vec<Value> = futures::future::join_all(sends.iter().map(|(u, b)| sent(&api, u, b.clone()))).await;

    let ids: HashSet<String> = answers.iter().map(mid).collect();
    assert_eq!(ids.len(), 5, "five (sender, conversation) pairs are five messages: {answers:#?}");
    assert_eq!(answers[0]["conversation_id"], direct_id(&ann, bob).as_str(), "{answers:#?}");
    assert_eq!(seq(&answers[0]), 1, "the first message of ann and bob: {answers:#?}");
    assert_eq!(answers[1]["conversation_id"], direct_id(&ann, cat).as_str(), "{answers:#?}");
    assert_eq!(seq(&answers[1]), 1, "the first message of ann and cat: {answers:#?}");
    let group_seqs: BTreeSet<i64> = answers[2..].iter().map(seq).collect();
    assert_eq!(group_seqs, (base + 1..=base + 3).collect::<BTreeSet<_>>(), "three group messages, three consecutive seqs: {answers:#?}");

    // Each is stored as its own message with its own text.
    let list = history(&api, &ann, &group).await;
    for (i, text) in [(2, "ann to group"), (3, "bob to group"), (4, "cat to group")] {
        let m = list.iter().find(|m| m["message_id"] == answers[i]["message_id"]).unwrap_or_else(|| panic!("{text} missing: {list:#?}"));
        assert_eq!(m["content"]["text"], text, "{m}");
        assert_eq!(seq(m), seq(&answers[i]), "history and answer agree on the seq: {m}");
    }
    assert_eq!(list.len() as i64, base + 3, "nothing else took a seq: {list:#?}");

    // A resend of each is answered with its own original, not a sibling's.
    let again: Vec<Value> = futures::future::join_all(sends.iter().map(|(u, b)| sent(&api, u, b.clone()))).await;
    for (a, o) in again.iter().zip(&answers) {
        assert_eq!(mid(a), mid(o), "resent: {a} vs original {o}");
        assert_eq!(seq(a), seq(o), "resent: {a} vs original {o}");
        assert_eq!(a["conversation_id"], o["conversation_id"], "resent: {a} vs original {o}");
    }
    assert_eq!(top_seq(&api, &ann, &group).await, base + 3, "the resends took no seq");
}

/// "a resend with a different body is still the original (the body is not
/// compared)" — also when the differing resends race the original, so the
/// sequencer decides which one is the message.
#[tokio::test]
async fn concurrent_sends_of_one_client_msg_id_with_different_bodies_make_one_message_with_one_of_the_bodies() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "bodies").await;
    let conv = direct_id(&ann, &bob);
    let cm = cmid();
    let mut bodies = Vec::new();
    for i in 0..6 {
        let target = if i % 2 == 0 { json!({ "to_user_id": bob.id }) } else { json!({ "conversation_id": conv }) };
        let mut b = if i == 5 {
            json!({ "client_msg_id": cm, "type": "emoji", "content": { "code": "smile" } })
        } else {
            json!({ "client_msg_id": cm, "type": "text", "content": { "text": format!("version {i}") } })
        };
        for (k, v) in target.as_object().unwrap() {
            b[k] = v.clone();
        }
        bodies.push(b);
    }
    let answers: Vec<Value> = futures::future::join_all(bodies.iter().map(|b| sent(&api, &ann, b.clone()))).await;
    let first = &answers[0];
    for a in &answers {
        assert_eq!(mid(a), mid(first), "one message whatever the bodies: {answers:#?}");
        assert_eq!(seq(a), 1, "{answers:#?}");
        assert!(same_instant(&a["sent_at"], &first["sent_at"]), "{answers:#?}");
        assert_eq!(a["conversation_id"], conv.as_str(), "{answers:#?}");
    }

    for reader in [&ann, &bob] {
        let list = history(&api, reader, &conv).await;
        assert_eq!(list.len(), 1, "exactly one message: {list:#?}");
        let m = &list[0];
        assert_eq!(mid(m), mid(first), "{m}");
        assert!(
            bodies.iter().any(|b| b["type"] == m["type"] && b["content"] == m["content"]),
            "the message is one of the bodies sent, whole (type and content of one send): {m}"
        );
    }
    // A later resend with yet another body is still the original.
    let late = sent(&api, &ann, json!({ "to_user_id": bob.id, "client_msg_id": cm, "type": "text", "content": { "text": "late" } })).await;
    assert_eq!(mid(&late), mid(first), "{late}");
    assert_eq!(seq(&late), 1, "{late}");
    assert_eq!(seq(&sent(&api, &bob, text_to(&ann, "next")).await), 2, "no resend took a seq");
}

/// docs/push.md: a socket `send` takes the same path as `POST /api/chat/send`
/// with "the same idempotency by client_msg_id": HTTP and socket sends of one
/// client_msg_id, racing each other on both nodes, are one message.
#[tokio::test]
async fn racing_http_and_websocket_sends_of_one_client_msg_id_make_one_message_with_one_seq() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "httpws").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_web = dial(1, &ann, "web").await;
    let mut ann_desk = dial(2, &ann, "desktop").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    let rounds = 5;
    let mut originals = Vec::new();
    for r in 0..rounds {
        let body = text_to(&bob, &format!("round {r}"));
        // Both socket frames go out first, then two HTTP sends at once.
        ann_web.send_json(send_frame(&format!("w{r}"), body.clone())).await;
        ann_desk.send_json(send_frame(&format!("d{r}"), body.clone())).await;
        let (h1, h2) = tokio::join!(sent(&api, &ann, body.clone()), sent(&api, &ann, body.clone()));
        let w = ann_web.expect_where_frame("ack", |f| f["id"] == format!("w{r}").as_str(), PATIENCE).await["data"].clone();
        let d = ann_desk.expect_where_frame("ack", |f| f["id"] == format!("d{r}").as_str(), PATIENCE).await["data"].clone();
        let all = [h1, h2, w, d];
        for a in &all {
            assert_eq!(mid(a), mid(&all[0]), "round {r}: one message for every path: {all:#?}");
            assert_eq!(seq(a), r + 1, "round {r}: one seq, the next one: {all:#?}");
            assert_eq!(a["conversation_id"], conv.as_str(), "{all:#?}");
            assert!(same_instant(&a["sent_at"], &all[0]["sent_at"]), "round {r}: one sent_at: {all:#?}");
        }
        originals.push(all[0].clone());
    }

    let list = history(&api, &bob, &conv).await;
    assert_eq!(seqs(&list), (1..=rounds).collect::<Vec<_>>(), "one message per client_msg_id: {list:#?}");
    for (m, o) in list.iter().zip(&originals) {
        assert_eq!(mid(m), mid(o), "{m}");
    }
    // The peer's socket gets each message once.
    let frames = bob_ws.collect_messages(&conv, rounds as usize, PATIENCE).await;
    assert_eq!(seqs(&frames), (1..=rounds).collect::<Vec<_>>(), "{frames:#?}");
    bob_ws.assert_no_message_in(&conv, Duration::from_secs(3), "no second frame for any of the racing sends").await;
}

// ---------------------------------------------------------------------------
// Seqs: gap-free, in send order, the same for every reader.

/// "no two messages of a conversation share a seq, there are no gaps, seqs
/// increase in the order every reader sees": six members each send eight
/// messages one after another (one over the socket), all at once. Each
/// sender's seqs follow its send order; the answers, the history, and the
/// frames on two nodes agree on every seq, and each socket gets every
/// message exactly once, in seq order.
#[tokio::test]
async fn many_senders_into_one_group_get_gap_free_seqs_in_each_senders_order_and_every_reader_agrees() {
    let api = Api::new();
    let (owner, members, _gid, conv) = group_of(&api, "order", 5).await;
    let base = top_seq(&api, &owner, &conv).await;
    assert!(base >= 1, "a new group's first seq is its creation notice");

    // Two listeners, one per node, synced up to the notices.
    let mut listen1 = dial(1, &owner, "desktop").await;
    let mut listen2 = dial(2, &members[0], "desktop").await;
    sync_from(&mut listen1, "s1", &conv, base).await;
    sync_from(&mut listen2, "s2", &conv, base).await;
    // One sender sends over its own socket.
    let mut socket_sender = dial(1, &members[1], "ios").await;

    let per_sender = 8usize;
    let senders: Vec<&User> = std::iter::once(&owner).chain(members.iter()).collect();
    let http_senders = senders.iter().enumerate().filter(|(i, _)| *i != 2).map(|(i, u)| {
        let api = api.clone();
        let conv = conv.clone();
        async move {
            let mut out = Vec::new();
            for k in 0..per_sender {
                let text = format!("s{i} m{k}");
                out.push((text.clone(), sent(&api, u, text_in(&conv, &text)).await));
            }
            (i, out)
        }
    });
    let ws_sender = async {
        let mut out = Vec::new();
        for k in 0..per_sender {
            let text = format!("s2 m{k}");
            out.push((text.clone(), ws_sent(&mut socket_sender, &format!("m{k}"), text_in(&conv, &text)).await));
        }
        (2usize, out)
    };
    let (mut results, ws_result) = tokio::join!(futures::future::join_all(http_senders), ws_sender);
    results.push(ws_result);

    let total = (senders.len() * per_sender) as i64;
    let expected: Vec<i64> = (base + 1..=base + total).collect();
    let mut answered: HashMap<String, (i64, String)> = HashMap::new();
    for (i, out) in &results {
        let s: Vec<i64> = out.iter().map(|(_, a)| seq(a)).collect();
        assert!(s.windows(2).all(|w| w[0] < w[1]), "sender {i}'s seqs follow its send order: {s:?}");
        for (text, a) in out {
            assert_eq!(a["conversation_id"], conv.as_str(), "{a}");
            assert!(answered.insert(mid(a), (seq(a), text.clone())).is_none(), "two answers name one message: {a}");
        }
    }
    let mut all_seqs: Vec<i64> = answered.values().map(|(s, _)| *s).collect();
    all_seqs.sort();
    assert_eq!(all_seqs, expected, "the answers' seqs are exactly the next {total}, no gap, no repeat");

    // History: the same seq and text for every message id, ascending, no gap.
    let list = history(&api, &members[4], &conv).await;
    let after: Vec<&Value> = list.iter().filter(|m| seq(m) > base).collect();
    assert_eq!(after.iter().map(|m| seq(m)).collect::<Vec<_>>(), expected, "history: {after:#?}");
    for m in &after {
        let (s, text) = answered.get(&mid(m)).unwrap_or_else(|| panic!("history holds a message nobody was answered: {m}"));
        assert_eq!(seq(m), *s, "history and answer agree on the seq: {m}");
        assert_eq!(m["content"]["text"], text.as_str(), "{m}");
    }

    // Both sockets: every message exactly once, in seq order, as answered.
    for (name, ws) in [("node 1", &mut listen1), ("node 2", &mut listen2)] {
        let frames = ws.collect_messages(&conv, total as usize, PATIENCE).await;
        assert_eq!(seqs(&frames), expected, "{name}: frames in seq order, each once: {:?}", seqs(&frames));
        for f in &frames {
            assert_eq!(answered.get(&mid(f)).map(|(s, _)| *s), Some(seq(f)), "{name}: frame and answer agree on the seq: {f}");
        }
        let extra = drain_messages(ws, &conv, Duration::from_secs(3)).await;
        assert!(extra.is_empty(), "{name}: a message arrived twice: {extra:#?}");
    }
}

// ---------------------------------------------------------------------------
// Reads and operations right after an answer.

/// docs/chat.md: the messages projection stores off the send path, but a
/// read that starts after a send was answered sees that message (the
/// queries wait for the projection to reach what the sequencer committed).
/// Each read here is made once, right after the answer, without retrying.
#[tokio::test]
async fn a_message_is_in_the_history_and_the_conversation_list_of_a_read_made_right_after_its_answer() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "ryw").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_ws = dial(1, &ann, "web").await;
    for i in 0..16i64 {
        let (from, to) = if i % 2 == 0 { (&ann, &bob) } else { (&bob, &ann) };
        let text = format!("ryw {i}");
        let a = if i % 4 == 2 { ws_sent(&mut ann_ws, &format!("r{i}"), text_to(to, &text)).await } else { sent(&api, from, text_to(to, &text)).await };
        assert_eq!(seq(&a), i + 1, "{a}");

        // The reader is the recipient, on another tier than the send.
        let h = api.get(&format!("/api/chat/messages?conversation_id={conv}&after_seq={}&limit=5", i), Some(&to.token)).await.expect(200);
        let page = h.data()["messages"].as_array().unwrap();
        assert!(
            page.first().is_some_and(|m| m["message_id"] == a["message_id"] && seq(m) == i + 1 && m["content"]["text"] == text.as_str()),
            "message {} (seq {}) was answered but a read right after does not hold it: {}",
            mid(&a),
            i + 1,
            h.body
        );

        let l = api.get("/api/chat/conversations", Some(&to.token)).await.expect(200);
        let e = find(&l.data()["conversations"], "conversation_id", &conv)
            .unwrap_or_else(|| panic!("the conversation is listed right after an answered send: {}", l.body));
        assert_eq!(e["max_seq"], i + 1, "max_seq right after the answer: {e}");
        assert_eq!(e["last_message"]["message_id"], a["message_id"], "the preview is the answered message: {e}");
        assert_eq!(e["last_message"]["seq"], i + 1, "{e}");
    }
}

/// Recall, edit, reactions, replies and forwards name a message by id; one
/// whose send was answered is found by an operation made right after.
#[tokio::test]
async fn operations_on_a_message_made_right_after_its_answer_find_it() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "rywops").await;
    let conv = direct_id(&ann, &bob);
    for i in 0..4 {
        let m = sent(&api, &ann, text_to(&bob, &format!("op {i}"))).await;
        let r = api.post(&format!("/api/chat/messages/{}/reactions", mid(&m)), Some(&bob.token), json!({ "emoji": "👍" })).await;
        assert_eq!(r.status.as_u16(), 200, "a reaction right after the answer: {}", r.body);

        let m = sent(&api, &ann, text_to(&bob, &format!("edit me {i}"))).await;
        let e = api.put(&format!("/api/chat/messages/{}", mid(&m)), Some(&ann.token), json!({ "content": { "text": format!("edited {i}") } })).await;
        assert_eq!(e.status.as_u16(), 200, "an edit right after the answer: {}", e.body);

        let m = sent(&api, &ann, text_to(&bob, &format!("recall me {i}"))).await;
        let r = api.post(&format!("/api/chat/messages/{}/recall", mid(&m)), Some(&ann.token), json!({})).await;
        assert_eq!(r.status.as_u16(), 200, "a recall right after the answer: {}", r.body);

        let m = sent(&api, &bob, text_to(&ann, &format!("reply to me {i}"))).await;
        let body = json!({ "to_user_id": bob.id, "client_msg_id": cmid(), "type": "reply", "content": { "text": "a reply" }, "reply_to": mid(&m) });
        let r = send(&api, &ann, body).await;
        assert_eq!(r.status.as_u16(), 200, "a reply to a message right after its answer: {}", r.body);

        let m = sent(&api, &bob, text_to(&ann, &format!("forward me {i}"))).await;
        let body = json!({ "to_user_id": bob.id, "client_msg_id": cmid(), "type": "forward", "content": { "messages": [{ "conversation_id": conv, "message_id": mid(&m) }] } });
        let r = send(&api, &ann, body).await;
        assert_eq!(r.status.as_u16(), 200, "a forward of a message right after its answer: {}", r.body);
    }
    let list = history(&api, &bob, &conv).await;
    assert_eq!(seqs(&list), (1..=28).collect::<Vec<_>>(), "seven messages a round, no gap: {list:#?}");
    assert_eq!(list.iter().filter(|m| m["recalled"] == true).count(), 4, "{list:#?}");
    assert_eq!(list.iter().filter(|m| !m["edited_at"].is_null()).count(), 4, "{list:#?}");
}

// ---------------------------------------------------------------------------
// The sequenced log.

/// "every conversation event to partition p of beaver.sequenced.v1 in log
/// order — each new MessageSent replaced by its MessageSequenced (the whole
/// message plus seq), the other events … passed through unchanged": for one
/// conversation, the sequenced log is the input log with repeats dropped and
/// messages numbered 1, 2, 3 in log order.
#[tokio::test]
async fn the_sequenced_log_of_a_conversation_is_its_input_log_with_messages_numbered_and_repeats_dropped() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "seqlog").await;
    let conv = direct_id(&ann, &bob);

    let first_body = text_to(&bob, "one");
    let m1 = sent(&api, &ann, first_body.clone()).await;
    let again = sent(&api, &ann, first_body.clone()).await; // a resend: dropped
    assert_eq!(mid(&again), mid(&m1));
    api.post(&format!("/api/chat/messages/{}/reactions", mid(&m1)), Some(&bob.token), json!({ "emoji": "👍" })).await.expect(200);
    api.put(&format!("/api/chat/messages/{}", mid(&m1)), Some(&ann.token), json!({ "content": { "text": "one, edited" } })).await.expect(200);
    api.put("/api/chat/read", Some(&bob.token), json!({ "conversation_id": conv, "seq": 1 })).await.expect(200);
    api.put(&format!("/api/chat/conversations/{conv}/settings"), Some(&ann.token), json!({ "pinned": true })).await.expect(200);
    let twice = text_to(&ann, "two");
    let (m2, m2b) = tokio::join!(sent(&api, &bob, twice.clone()), sent(&api, &bob, twice.clone())); // racing repeats
    assert_eq!(mid(&m2), mid(&m2b));
    api.call(reqwest::Method::DELETE, &format!("/api/chat/messages/{}", mid(&m2)), Some(&ann.token), None).await.expect(200);
    api.post(&format!("/api/chat/messages/{}/recall", mid(&m1)), Some(&ann.token), json!({})).await.expect(200);
    api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&bob.token), json!({})).await.expect(200);
    api.call(reqwest::Method::DELETE, &format!("/api/chat/messages/{}/reactions/{}", mid(&m1), "%F0%9F%91%8D"), Some(&bob.token), None).await.expect(200);
    let m3 = sent(&api, &ann, text_to(&bob, "three")).await;
    let answered = [(&m1, "one", &ann), (&m2, "two", &bob), (&m3, "three", &ann)];

    let input = conversation_log(topics::MESSAGES, &conv).await;
    let sent_events: Vec<&Value> = input.iter().filter(|e| e["event_type"] == "MessageSent").collect();
    assert!(sent_events.len() >= 4, "the resends are appended too (the sequencer drops them): {sent_events:#?}");
    // What the sequenced log must be, from the input log alone.
    let mut seen = HashSet::new();
    let mut expected = Vec::new();
    for e in &input {
        if e["event_type"] == "MessageSent" {
            let p = &e["payload"];
            if seen.insert((p["sender_id"].to_string(), p["client_msg_id"].to_string())) {
                expected.push(("MessageSequenced".to_owned(), e["event_id"].as_str().unwrap().to_owned()));
            }
        } else {
            expected.push((e["event_type"].as_str().unwrap().to_owned(), e["event_id"].as_str().unwrap().to_owned()));
        }
    }
    assert!(expected.len() >= 11, "every operation is an event on beaver.messages.v1: {input:#?}");

    // The last event is m3, answered after the sequencer's commit; poll anyway.
    let output = eventually(PATIENCE, || async {
        let out = conversation_log(topics::SEQUENCED, &conv).await;
        (out.len() >= expected.len()).then_some(out)
    })
    .await
    .unwrap_or_else(|| panic!("beaver.sequenced.v1 never held the {} events of {conv}", expected.len()));
    let got: Vec<(String, String)> = output
        .iter()
        .map(|e| {
            let id = if e["event_type"] == "MessageSequenced" { &e["causation_id"] } else { &e["event_id"] };
            (e["event_type"].as_str().unwrap_or("?").to_owned(), id.as_str().unwrap_or("?").to_owned())
        })
        .collect();
    assert_eq!(got, expected, "sequenced log (type, source event id) vs the input log with repeats dropped");

    // Pass-through events are unchanged; MessageSequenced is the whole message plus its seq.
    let by_id: HashMap<&str, &Value> = input.iter().map(|e| (e["event_id"].as_str().unwrap(), e)).collect();
    let mut n = 0;
    for e in &output {
        let source = by_id[e[if e["event_type"] == "MessageSequenced" { "causation_id" } else { "event_id" }].as_str().unwrap()];
        if e["event_type"] != "MessageSequenced" {
            assert_eq!(e, source, "a passed-through event is unchanged");
            continue;
        }
        n += 1;
        let (p, s) = (&e["payload"], &source["payload"]);
        assert_eq!(p["seq"], n, "messages numbered 1, 2, 3 in log order: {e}");
        for key in ["message_id", "conversation_id", "client_msg_id", "sender_id", "kind", "content", "reply_to"] {
            assert_eq!(p[key], s[key], "MessageSequenced carries the MessageSent's {key}: {e} / {source}");
        }
        let (answer, text, sender) = answered[n as usize - 1];
        assert_eq!(p["message_id"], answer["message_id"], "the numbered message is the answered one: {e}");
        assert_eq!(p["seq"], answer["seq"], "{e}");
        assert_eq!(p["content"]["text"], text, "{e}");
        assert_eq!(p["sender_id"], sender.id.as_str(), "{e}");
        assert!(same_instant(&p["sent_at"], &answer["sent_at"]), "sent_at is the answer's: {e} / {answer}");
    }
    assert_eq!(n, 3, "three messages numbered: {output:#?}");
}

/// "the MessageSequenced event id is derived from the MessageSent one, so
/// even the output is identical": the id names the message's MessageSent
/// (its cause), is a name-based UUID (derived, not drawn from a clock or a
/// random source), and is the event id of nothing else.
#[tokio::test]
async fn a_message_sequenced_event_id_is_derived_from_its_message_sent() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "evid").await;
    let conv = direct_id(&ann, &bob);
    let body = text_to(&bob, "derived");
    let cm = body["client_msg_id"].as_str().unwrap().to_owned();
    let answers = futures::future::join_all((0..4).map(|_| sent(&api, &ann, body.clone()))).await;
    let other = sent(&api, &bob, text_to(&ann, "another")).await;
    assert!(answers.iter().all(|a| mid(a) == mid(&answers[0])), "{answers:#?}");

    let input = conversation_log(topics::MESSAGES, &conv).await;
    let sent_ids: Vec<uuid::Uuid> =
        input.iter().filter(|e| e["event_type"] == "MessageSent" && e["payload"]["client_msg_id"] == cm.as_str()).map(|e| uuid_of(&e["event_id"])).collect();
    assert!(!sent_ids.is_empty(), "{input:#?}");
    let output = eventually(PATIENCE, || async {
        let out = conversation_log(topics::SEQUENCED, &conv).await;
        (out.iter().filter(|e| e["event_type"] == "MessageSequenced").count() >= 2).then_some(out)
    })
    .await
    .expect("both messages sequenced");
    let numbered: Vec<&Value> = output.iter().filter(|e| e["event_type"] == "MessageSequenced").collect();
    assert_eq!(numbered.len(), 2, "one MessageSequenced per message: {numbered:#?}");
    let mine = numbered.iter().find(|e| e["payload"]["client_msg_id"] == cm.as_str()).expect("the raced message is numbered");
    assert_eq!(mine["payload"]["message_id"], answers[0]["message_id"], "{mine}");
    let cause = uuid_of(&mine["causation_id"]);
    assert!(sent_ids.contains(&cause), "its cause is one of the message's MessageSent events: {mine}");
    let id = uuid_of(&mine["event_id"]);
    assert!(!sent_ids.contains(&id), "its own id, not the MessageSent's: {mine}");
    assert!(matches!(id.get_version_num(), 3 | 5), "a derived (name-based, v3/v5) id, not v{}: {mine}", id.get_version_num());
    let theirs = numbered.iter().find(|e| e["payload"]["message_id"] == other["message_id"]).expect("the other message is numbered");
    assert_ne!(theirs["event_id"], mine["event_id"], "two messages, two ids");
    let everywhere = output.iter().chain(input.iter()).filter(|e| e["event_id"] == mine["event_id"]).count();
    assert_eq!(everywhere, 1, "no other event of the conversation has that id");
}
