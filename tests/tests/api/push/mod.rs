//! Realtime push (ws-push): connecting and authenticating, the multi-device
//! policy and kicks, heartbeats, every push frame, sync after a reconnect,
//! sends and typing over the socket, bad frames, slow consumers and presence,
//! end to end against both nodes and through the gateway, as docs/push.md
//! specifies them. Written from the spec alone.
//!
//! Not covered here because they take too long for the suite: the 60 s
//! heartbeat timeout (close 4002), the 25 s server ping, `has_more` after 500
//! synced messages and `sync.required` after a gap of more than 500.

use crate::friends::{delete, find, new_user, User};
use crate::helpers::{unique, Answer, Api};
use crate::ws::{
    auth_frame, connect, connect_first_frame, connect_slow, node_url, open, percent, query_url, refused_handshake, Ws, GATEWAY, QUIET, WAIT,
};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio_tungstenite::tungstenite::Message;

use crate::chat::{cmid, direct_id, friends_pair, owner_with_friends, text_in, text_to};

// ---------------------------------------------------------------------------
// Helpers.

/// A fresh device id (`[A-Za-z0-9._-]`, 16 characters).
fn device() -> String {
    unique("dev")
}

/// Sends over HTTP, expects 200; returns the answer's data.
async fn sent(api: &Api, from: &User, body: Value) -> Value {
    let a = api.post("/api/chat/send", Some(&from.token), body).await.expect(200);
    assert!(a.data()["message_id"].is_string() && a.data()["seq"].is_i64(), "{}", a.body);
    a.data().clone()
}

/// Not a server-posted system notice (group changes post those into the
/// group's conversation, and a lagging node may still deliver earlier ones).
fn not_system(m: &Value) -> bool {
    m["type"] != "system"
}

fn seq(v: &Value) -> i64 {
    v["seq"].as_i64().unwrap_or_else(|| panic!("no integer seq in {v}"))
}

fn seqs(list: &[Value]) -> Vec<i64> {
    list.iter().map(seq).collect()
}

fn mid(v: &Value) -> String {
    v["message_id"].as_str().unwrap_or_else(|| panic!("no message_id in {v}")).to_owned()
}

fn mids(list: &[Value]) -> Vec<String> {
    list.iter().map(mid).collect()
}

/// `owner` creates a group with `members` and the settings in `extra`;
/// returns (group id, conversation id).
async fn create_group(api: &Api, owner: &User, members: &[&User], extra: Value) -> (String, String) {
    let mut body = json!({ "name": unique("pushgrp"), "member_ids": members.iter().map(|m| m.id.clone()).collect::<Vec<_>>() });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let a = api.post("/api/group", Some(&owner.token), body).await.expect(200);
    let gid = a.data()["group_id"].as_str().unwrap().to_owned();
    (gid.clone(), format!("group:{gid}"))
}

/// Connects `user` to node `n` (query authentication) with a fresh device id.
async fn dial(n: u16, user: &User, platform: &str) -> Ws {
    let ws = connect(n, &user.token, &device(), platform).await;
    assert_eq!(ws.ready["user_id"], user.id.as_str(), "ready names the authenticated user: {}", ws.ready);
    ws
}

fn instant(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// Two timestamps denote the same instant (within 1 ms).
fn same_instant(a: &Value, b: &Value) -> bool {
    match (instant(a), instant(b)) {
        (Some(x), Some(y)) => (x - y).abs() < time::Duration::milliseconds(1),
        _ => a == b,
    }
}

/// A `message` frame's data is the full message of `GET /api/chat/messages`,
/// matching the send answer `answer`: an unedited, unreacted text `text` by `sender`.
fn assert_message(m: &Value, answer: &Value, sender: &User, text: &str) {
    for key in ["message_id", "conversation_id", "seq", "sender_id", "type", "content", "mentions", "reply_to", "sent_at", "edited_at", "recalled", "reactions", "my_reactions"] {
        assert!(m.get(key).is_some(), "a message frame carries {key}: {m}");
    }
    assert_eq!(m["message_id"], answer["message_id"], "{m}");
    assert_eq!(m["conversation_id"], answer["conversation_id"], "{m}");
    assert_eq!(m["seq"], answer["seq"], "{m}");
    assert_eq!(m["sender_id"], sender.id.as_str(), "{m}");
    assert_eq!(m["type"], "text", "{m}");
    assert_eq!(m["content"], json!({ "text": text }), "{m}");
    assert!(m["mentions"].is_null() || m["mentions"] == json!([]), "no mentions: {m}");
    assert!(m["reply_to"].is_null(), "{m}");
    assert!(m["edited_at"].is_null(), "{m}");
    assert_eq!(m["recalled"], false, "{m}");
    assert_eq!(m["reactions"], json!({}), "{m}");
    assert_eq!(m["my_reactions"], json!([]), "{m}");
    assert!(same_instant(&m["sent_at"], &answer["sent_at"]), "sent_at as answered: {m} vs {answer}");
}

/// Sends `sync` with `conversations` and reads, in order, every frame up to
/// the `sync.done` echoing `id`: returns (message data in arrival order, the
/// `sync.done` frame).
async fn sync(ws: &mut Ws, id: &str, conversations: Value) -> (Vec<Value>, Value) {
    ws.send_json(json!({ "type": "sync", "id": id, "data": { "conversations": conversations } })).await;
    let mut messages = Vec::new();
    loop {
        let f = ws.next_frame(WAIT).await.unwrap_or_else(|| panic!("no sync.done for {id} within {WAIT:?}; messages so far: {messages:#?}"));
        match f["type"].as_str().unwrap() {
            "message" => messages.push(f["data"].clone()),
            "sync.done" => {
                assert_eq!(f["id"], id, "sync.done echoes the sync's id: {f}");
                return (messages, f);
            }
            "error" => panic!("sync {id} was refused: {f}"),
            _ => {}
        }
    }
}

/// The `forbidden` list of a `sync.done`, sorted (absent is empty).
fn forbidden(done: &Value) -> Vec<String> {
    let f = &done["data"]["forbidden"];
    if f.is_null() {
        return Vec::new();
    }
    let mut v: Vec<String> = f.as_array().unwrap_or_else(|| panic!("forbidden is a list: {done}")).iter().map(|x| x.as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

/// Asserts an `error` frame's code and, when given, kind.
fn assert_error(frame: &Value, code: u16, kind: Option<&str>, what: &str) {
    assert_eq!(frame["type"], "error", "{what}: {frame}");
    assert_eq!(frame["data"]["code"], code, "{what}: {frame}");
    if let Some(kind) = kind {
        assert_eq!(frame["data"]["kind"], kind, "{what}: {frame}");
    }
}

/// A token with a changed signature (a full base64 digit of it).
fn forged(token: &str) -> String {
    let i = token.rfind('.').map_or(token.len() / 2, |i| i + 1);
    let mut chars: Vec<char> = token.chars().collect();
    chars[i] = if chars[i] == 'A' { 'g' } else { 'A' };
    chars.into_iter().collect()
}

/// A logged-out access token of a fresh user.
async fn revoked_token(api: &Api) -> String {
    let (_, token, _) = api.signed_up(&unique("wsrev")).await;
    api.post("/api/auth/logout", Some(&token), json!({})).await.expect(200);
    token
}

async fn online_query(api: &Api, token: &str, ids: &[&str]) -> Answer {
    api.get(&format!("/api/user/online?user_ids={}", ids.join(",")), Some(token)).await
}

/// Waits until `GET /api/user/online` says `user_id` is `online` with exactly `platforms`.
async fn wait_presence(api: &Api, token: &str, user_id: &str, online: bool, platforms: &[&str]) {
    let mut want: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
    want.sort();
    let deadline = Instant::now() + WAIT;
    loop {
        let a = online_query(api, token, &[user_id]).await.expect(200);
        let u = find(&a.data()["users"], "user_id", user_id).unwrap_or_else(|| panic!("the answer lists every asked user: {}", a.body)).clone();
        let mut got: Vec<String> =
            u["platforms"].as_array().unwrap_or_else(|| panic!("platforms is a list: {u}")).iter().map(|p| p.as_str().unwrap().to_owned()).collect();
        got.sort();
        if u["online"] == online && got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{user_id} should be online={online} with {want:?}, still {u}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn send_frame(id: &str, body: Value) -> Value {
    json!({ "type": "send", "id": id, "data": body })
}

// ---------------------------------------------------------------------------
// The tests, by topic.

mod connect;
mod delivery;
mod devices;
mod sync;
mod operations;
mod social;
mod typing;
mod socket_send;
mod bad_frames;
mod slow;
mod presence;
mod gateway;
mod scaling;
