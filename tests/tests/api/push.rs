//! Realtime push (ws-push): connecting and authenticating, the multi-device
//! policy and kicks, heartbeats, every push frame, sync after a reconnect,
//! sends and typing over the socket, bad frames, slow consumers and presence,
//! end to end against both nodes and through the gateway, as docs/push.md
//! specifies them. Written from the spec alone.
//!
//! Not covered here because they take too long for the suite: the 60 s
//! heartbeat timeout (close 4002), the 25 s server ping, `has_more` after 500
//! synced messages and `sync.required` after a gap of more than 500.

use crate::friends::{befriend, befriend_all, delete, find, new_user, new_users, User};
use crate::helpers::{unique, Answer, Api};
use crate::ws::{
    auth_frame, connect, connect_first_frame, connect_slow, node_url, open, percent, query_url, refused_handshake, Ws, GATEWAY, QUIET, WAIT,
};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio_tungstenite::tungstenite::Message;

use crate::chat::{cmid, direct_id, text_in, text_to};

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

async fn friends_pair(api: &Api, prefix: &str) -> (User, User) {
    let (a, b) = tokio::join!(new_user(api, prefix), new_user(api, prefix));
    befriend(api, &a, &b).await;
    (a, b)
}

/// A group owner and `n` of their friends.
async fn owner_with_friends(api: &Api, prefix: &str, n: usize) -> (User, Vec<User>) {
    let mut users = new_users(api, prefix, n + 1).await;
    let owner = users.remove(0);
    befriend_all(api, &owner, &users.iter().collect::<Vec<_>>()).await;
    (owner, users)
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

// ---------------------------------------------------------------------------
// Connecting and authenticating.

#[tokio::test]
async fn a_query_authenticated_connection_gets_ready_first_naming_the_user_device_platform_and_node() {
    let api = Api::new();
    let ann = new_user(&api, "ready").await;
    let (d1, d2) = (device(), device());
    let mut one = connect(1, &ann.token, &d1, "ios").await;
    let mut two = connect(2, &ann.token, &d2, "web").await;
    for ws in [&one, &two] {
        assert_eq!(ws.ready["user_id"], ann.id.as_str(), "{}", ws.ready);
        assert_eq!(ws.ready["heartbeat_timeout_secs"], 60, "the default heartbeat timeout: {}", ws.ready);
    }
    assert_eq!(one.ready["device_id"], d1.as_str());
    assert_eq!(one.ready["platform"], "ios");
    assert_ne!(one.ready["connection_id"], two.ready["connection_id"], "every connection has its own id");
    assert_ne!(one.ready["node"], two.ready["node"], "node 1 and node 2 name themselves differently");
    one.ping("one").await;
    two.ping("two").await;
}

#[tokio::test]
async fn a_bad_or_revoked_token_in_the_query_is_answered_401_and_no_websocket_is_opened() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsq401")).await;
    let revoked = revoked_token(&api).await;
    for (what, t) in [("garbage", "not-a-token".to_owned()), ("forged", forged(&token)), ("revoked", revoked)] {
        for n in [1, 2] {
            let (status, body) = refused_handshake(&query_url(n, &t, &device(), "web")).await;
            assert_eq!(status, 401, "a {what} token on node {n}: {body}");
            assert_eq!(body["code"], 401, "the usual JSON envelope: {body}");
        }
    }
    // The genuine token works.
    connect(1, &token, &device(), "web").await.ping("ok").await;
}

#[tokio::test]
async fn a_missing_or_malformed_device_id_or_platform_in_the_query_is_answered_422() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsq422")).await;
    let base = node_url(1);
    let t = percent(&token);
    let too_long = "d".repeat(65);
    let bad = [
        ("no device_id", format!("{base}?token={t}&platform=web")),
        ("an empty device_id", format!("{base}?token={t}&device_id=&platform=web")),
        ("a 65-character device_id", format!("{base}?token={t}&device_id={too_long}&platform=web")),
        ("a device_id with a space", format!("{base}?token={t}&device_id=my%20phone&platform=web")),
        ("a device_id with a slash", format!("{base}?token={t}&device_id=a%2Fb&platform=web")),
        ("a device_id with a non-ASCII letter", format!("{base}?token={t}&device_id=%C3%A9cran&platform=web")),
        ("no platform", format!("{base}?token={t}&device_id=phone-1")),
        ("an unknown platform", format!("{base}?token={t}&device_id=phone-1&platform=linux")),
        ("an empty platform", format!("{base}?token={t}&device_id=phone-1&platform=")),
    ];
    for (what, url) in bad {
        let (status, body) = refused_handshake(&url).await;
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(body["code"], 422, "the usual JSON envelope ({what}): {body}");
    }
    // The edges of the rule are accepted: 64 characters of every allowed kind, and each platform.
    let longest = format!("Az09._-{}", "x".repeat(57));
    assert_eq!(longest.len(), 64);
    let ws = connect(1, &token, &longest, "desktop").await;
    assert_eq!(ws.ready["device_id"], longest.as_str());
    for platform in ["ios", "android", "web"] {
        connect(2, &token, &device(), platform).await;
    }
}

#[tokio::test]
async fn first_frame_authentication_gets_ready_and_then_works_like_query_authentication() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsff").await;
    let d = device();
    let mut bob_ws = connect_first_frame(2, &bob.token, &d, "android").await;
    assert_eq!(bob_ws.ready["user_id"], bob.id.as_str());
    assert_eq!(bob_ws.ready["device_id"], d.as_str());
    bob_ws.ping("after-auth").await;
    let answer = sent(&api, &ann, text_to(&bob, "to a first-frame connection")).await;
    let m = bob_ws.expect_message(&mid(&answer)).await;
    assert_message(&m["data"], &answer, &ann, "to a first-frame connection");
}

#[tokio::test]
async fn a_bad_or_revoked_token_in_the_first_frame_gets_error_401_and_close_4401() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsff401")).await;
    let revoked = revoked_token(&api).await;
    for (what, t) in [("garbage", "not-a-token".to_owned()), ("forged", forged(&token)), ("revoked", revoked)] {
        let mut ws = open(&node_url(1)).await;
        ws.send_json(auth_frame(&t, &device(), "web")).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 401, None, what);
        assert_eq!(ws.expect_close(WAIT).await, Some(4401), "a {what} first-frame token closes with 4401");
        assert!(ws.take_backlog().iter().all(|f| f["type"] != "ready"), "no ready for a {what} token");
    }
}

#[tokio::test]
async fn a_bad_device_id_or_platform_in_the_first_frame_gets_error_422_and_close_4400() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsff422")).await;
    let cases = [
        ("a device_id with a space", json!({ "token": token, "device_id": "my phone", "platform": "web" })),
        ("a 65-character device_id", json!({ "token": token, "device_id": "d".repeat(65), "platform": "web" })),
        ("no device_id", json!({ "token": token, "platform": "web" })),
        ("an unknown platform", json!({ "token": token, "device_id": "phone-1", "platform": "linux" })),
        ("no platform", json!({ "token": token, "device_id": "phone-1" })),
    ];
    for (what, data) in cases {
        let mut ws = open(&node_url(2)).await;
        ws.send_json(json!({ "type": "auth", "data": data })).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 422, None, what);
        assert_eq!(ws.expect_close(WAIT).await, Some(4400), "{what} closes with 4400");
    }
}

#[tokio::test]
async fn a_first_frame_other_than_auth_gets_error_401_and_close_4401() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsffx").await;
    let others = [
        json!({ "type": "ping", "id": "p" }),
        json!({ "type": "send", "data": text_to(&bob, "before auth") }),
        json!({ "type": "sync", "data": { "conversations": { direct_id(&ann, &bob): 0 } } }),
    ];
    for first in others {
        let mut ws = open(&node_url(1)).await;
        ws.send_json(first.clone()).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 401, None, &first.to_string());
        assert_eq!(ws.expect_close(WAIT).await, Some(4401), "first frame {first}");
    }
    // Nothing was sent before authentication: the first real message has seq 1.
    let first = sent(&api, &ann, text_to(&bob, "first")).await;
    assert_eq!(seq(&first), 1, "a send frame before authentication must not be carried out");
}

#[tokio::test]
async fn a_connection_silent_for_10_seconds_before_authenticating_is_closed_4401() {
    let mut ws = open(&node_url(2)).await;
    let start = Instant::now();
    let code = ws.expect_close(Duration::from_secs(20)).await;
    assert_eq!(code, Some(4401), "{:?}", ws.take_backlog());
    assert!(start.elapsed() >= Duration::from_secs(8), "closed after {:?}, before the 10 s authentication timeout", start.elapsed());
}

#[tokio::test]
async fn a_second_auth_frame_is_error_409_already_authenticated_and_the_connection_lives_on() {
    let api = Api::new();
    let ann = new_user(&api, "wsauth2").await;
    let mut ws = dial(1, &ann, "web").await;
    let mut again = auth_frame(&ann.token, &device(), "web");
    again["id"] = json!("again");
    let e = ws.expect_error_for(again).await;
    assert_error(&e, 409, Some("already_authenticated"), "a second auth frame");
    ws.ping("still-there").await;
}

// ---------------------------------------------------------------------------
// Heartbeat.

#[tokio::test]
async fn a_ping_frame_is_answered_by_a_pong_echoing_its_id_and_a_websocket_ping_by_a_websocket_pong() {
    let api = Api::new();
    let ann = new_user(&api, "wsping").await;
    let mut ws = dial(2, &ann, "desktop").await;
    for id in ["hb-1", "hb-2"] {
        let pong = ws.ping(id).await;
        assert_eq!(pong["id"], id, "{pong}");
        assert!(pong.get("data").is_none_or(|d| d.is_null() || *d == json!({})), "pong data is {{}}: {pong}");
    }
    ws.send_json(json!({ "type": "ping" })).await;
    let pong = ws.expect("pong", WAIT).await;
    assert!(pong.get("id").is_none_or(Value::is_null), "a ping without id gets a pong without id: {pong}");
    ws.ws_ping(b"beat").await;
    ws.ping("after-ws-ping").await;
}

// ---------------------------------------------------------------------------
// Message delivery.

#[tokio::test]
async fn a_message_sent_over_http_reaches_the_recipient_as_a_full_message_frame_within_5_seconds() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsmsg").await;
    let mut ann_ws = dial(1, &ann, "desktop").await;
    let mut bob_ws = dial(2, &bob, "ios").await;
    let body = text_to(&bob, "hello over push");
    let client_msg_id = body["client_msg_id"].clone();

    let start = Instant::now();
    let answer = sent(&api, &ann, body).await;
    let id = mid(&answer);
    let frame = bob_ws.expect_where("message", |d| d["message_id"] == id.as_str(), Duration::from_secs(5)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(frame.get("id").is_none_or(Value::is_null), "a push is no answer and carries no id: {frame}");
    let m = &frame["data"];
    assert_message(m, &answer, &ann, "hello over push");
    assert_eq!(m["conversation_id"], direct_id(&ann, &bob).as_str());
    assert_eq!(seq(m), 1);
    assert_eq!(m["client_msg_id"], client_msg_id, "live frames carry client_msg_id: {m}");

    // The sender's own connected device gets it too.
    let own = ann_ws.expect_message(&id).await;
    assert_message(&own["data"], &answer, &ann, "hello over push");
    assert_eq!(own["data"]["client_msg_id"], client_msg_id);
}

#[tokio::test]
async fn every_device_of_both_users_on_both_nodes_receives_a_direct_message_exactly_once() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsmulti").await;
    let conv = direct_id(&ann, &bob);
    let mut devices = [
        ("bob ios on node 1", dial(1, &bob, "ios").await),
        ("bob web on node 2", dial(2, &bob, "web").await),
        ("ann desktop on node 1", dial(1, &ann, "desktop").await),
        ("ann android on node 2", dial(2, &ann, "android").await),
    ];
    let first = sent(&api, &ann, text_to(&bob, "to all devices")).await;
    let second = sent(&api, &bob, text_to(&ann, "and back")).await;
    for (what, ws) in devices.iter_mut() {
        let got = ws.collect_messages(&conv, 2, WAIT).await;
        assert_eq!(mids(&got), vec![mid(&first), mid(&second)], "{what}");
        assert_eq!(seqs(&got), vec![1, 2], "{what}");
        assert_message(&got[0], &first, &ann, "to all devices");
        assert_message(&got[1], &second, &bob, "and back");
    }
    for (what, ws) in devices.iter_mut() {
        ws.assert_no_message_in(&conv, QUIET, &format!("{what} got a message twice")).await;
    }
}

#[tokio::test]
async fn a_group_message_reaches_every_online_member_on_every_node_and_no_outsider() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgrp", 4).await;
    let (m1, m2, m3, outsider) = (&f[0], &f[1], &f[2], &f[3]);
    let (_, conv) = create_group(&api, &owner, &[m1, m2, m3], json!({})).await;
    let mut members = [
        ("owner web on node 1", dial(1, &owner, "web").await),
        ("owner ios on node 2", dial(2, &owner, "ios").await),
        ("m1 android on node 1", dial(1, m1, "android").await),
        ("m2 desktop on node 2", dial(2, m2, "desktop").await),
        ("m3 web through the gateway", dial(GATEWAY, m3, "web").await),
    ];
    let mut outsider_ws = dial(1, outsider, "web").await;

    let answer = sent(&api, m2, text_in(&conv, "hello group")).await;
    let id = mid(&answer);
    for (what, ws) in members.iter_mut() {
        let f = ws.expect_message(&id).await;
        assert_message(&f["data"], &answer, m2, "hello group");
        assert_eq!(f["data"]["conversation_id"], conv.as_str(), "{what}");
    }
    outsider_ws.assert_no_message_in(&conv, QUIET, "a non-member got a group message").await;
    for (what, ws) in members.iter_mut() {
        ws.assert_no("message", |d| d["message_id"] == id.as_str(), Duration::from_millis(200), &format!("{what} got the message twice")).await;
    }
}

#[tokio::test]
async fn a_message_from_someone_you_blocked_never_reaches_your_devices() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsblk").await;
    let conv = direct_id(&ann, &bob);
    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    let answer = sent(&api, &ann, text_to(&bob, "you blocked me")).await;
    // The sender's device shows it as usual (the sender does not learn of the block)...
    ann_ws.expect_message(&mid(&answer)).await;
    // ... the blocker never gets it.
    bob_ws.assert_no_message_in(&conv, QUIET, "a blocked sender's message reached the blocker").await;
    bob_ws.ping("alive").await;
}

// ---------------------------------------------------------------------------
// Multi-device policy and kicks.

#[tokio::test]
async fn a_second_mobile_connection_on_the_other_node_kicks_the_first_with_4001() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wskick").await;
    let mut phone = dial(1, &bob, "ios").await;
    let mut tablet = dial(2, &bob, "android").await;

    let kick = phone.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_in_elsewhere", "{kick}");
    assert_eq!(kick["data"]["by_platform"], "android", "{kick}");
    assert_eq!(phone.expect_close(WAIT).await, Some(4001));

    // The newer connection stays and gets what follows.
    tablet.ping("still-here").await;
    let answer = sent(&api, &ann, text_to(&bob, "after the kick")).await;
    tablet.expect_message(&mid(&answer)).await;
    tablet.assert_no("kick", |_| true, QUIET, "the newer connection must not be kicked").await;
}

#[tokio::test]
async fn a_second_desktop_connection_on_the_same_node_kicks_the_first() {
    let api = Api::new();
    let ann = new_user(&api, "wskick2").await;
    let mut first = connect_first_frame(2, &ann.token, &device(), "desktop").await;
    let mut second = connect_first_frame(2, &ann.token, &device(), "desktop").await;
    let kick = first.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_in_elsewhere", "{kick}");
    assert_eq!(kick["data"]["by_platform"], "desktop", "{kick}");
    assert_eq!(first.expect_close(WAIT).await, Some(4001));
    second.ping("kept").await;
}

#[tokio::test]
async fn connections_of_different_platform_classes_coexist() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsclass").await;
    let conv = direct_id(&ann, &bob);
    let mut devices = vec![("ios on node 1", dial(1, &bob, "ios").await), ("web on node 2", dial(2, &bob, "web").await)];
    devices.push(("desktop on node 1", dial(1, &bob, "desktop").await));

    let answer = sent(&api, &ann, text_to(&bob, "to every class")).await;
    for (what, ws) in devices.iter_mut() {
        let got = ws.collect_messages(&conv, 1, WAIT).await;
        assert_eq!(mid(&got[0]), mid(&answer), "{what}");
        ws.ping("alive").await;
    }
    for (what, ws) in devices.iter_mut() {
        ws.assert_no("kick", |_| true, QUIET, &format!("{what} was kicked by another class")).await;
        assert!(!ws.has_ended(), "{what} was closed");
    }
}

#[tokio::test]
async fn a_new_connection_with_the_same_device_id_replaces_the_old_one() {
    let api = Api::new();
    let ann = new_user(&api, "wsdev").await;

    // Same device id, another class: only the device rule applies.
    let d = device();
    let mut old = connect(1, &ann.token, &d, "ios").await;
    let mut new = connect(2, &ann.token, &d, "desktop").await;
    let kick = old.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "replaced", "{kick}");
    assert_eq!(old.expect_close(WAIT).await, Some(4001));
    new.ping("new").await;

    // Same device id and platform: a reconnect replaces the connection it left behind.
    let d = device();
    let mut old = connect(1, &ann.token, &d, "web").await;
    let mut new = connect(2, &ann.token, &d, "web").await;
    let kick = old.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "replaced", "{kick}");
    assert_eq!(old.expect_close(WAIT).await, Some(4001));
    new.ping("new").await;
}

#[tokio::test]
async fn the_same_device_id_of_two_different_users_kicks_nobody() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "wsdev2"), new_user(&api, "wsdev2"));
    let d = device();
    let mut a = connect(1, &ann.token, &d, "web").await;
    let mut b = connect(2, &bob.token, &d, "web").await;
    a.ping("a").await;
    b.ping("b").await;
    a.assert_no("kick", |_| true, QUIET, "another user's device id kicked ann").await;
    assert!(!a.has_ended());
}

#[tokio::test]
async fn logging_out_kicks_that_sessions_connections_with_signed_out_and_spares_other_sessions() {
    let api = Api::new();
    let name = unique("wsout");
    let (_, phone_token, _) = api.signed_up(&name).await;
    let laptop_token = api.login(&name).await["access_token"].as_str().unwrap().to_owned();
    let mut phone = connect(1, &phone_token, &device(), "web").await;
    let mut laptop = connect(2, &laptop_token, &device(), "desktop").await;

    api.post("/api/auth/logout", Some(&phone_token), json!({})).await.expect(200);
    let kick = phone.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_out", "{kick}");
    assert_eq!(phone.expect_close(WAIT).await, Some(4001));

    laptop.ping("other-session").await;
    laptop.assert_no("kick", |_| true, QUIET, "another session's connection was kicked").await;
    let (status, _) = refused_handshake(&query_url(1, &phone_token, &device(), "web")).await;
    assert_eq!(status, 401, "the logged-out token cannot connect again");
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_kicks_the_sessions_connections() {
    let api = Api::new();
    let (_, access, refresh) = api.signed_up(&unique("wsreuse")).await;
    let mut ws = connect(2, &access, &device(), "android").await;

    // A normal rotation keeps the session and the connection.
    api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })).await.expect(200);
    ws.ping("rotated").await;
    ws.assert_no("kick", |_| true, QUIET, "a refresh is no sign-out").await;

    // Reusing the spent token ends the session.
    api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })).await.expect(401);
    let kick = ws.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_out", "{kick}");
    assert_eq!(ws.expect_close(WAIT).await, Some(4001));
}

// ---------------------------------------------------------------------------
// No loss: sync, then live.

#[tokio::test]
async fn a_reconnecting_client_syncs_exactly_the_messages_it_missed_then_gets_live_ones() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wssync").await;
    let conv = direct_id(&ann, &bob);
    let d = device();
    // ann on node 2 shows when node 2 has consumed a message, so that bob's
    // reconnection there cannot get the missed ones live as well.
    let mut witness = dial(2, &ann, "desktop").await;

    let mut ws = connect(1, &bob.token, &d, "web").await;
    let mut before = Vec::new();
    for i in 1..=3 {
        before.push(sent(&api, &ann, text_to(&bob, &format!("before {i}"))).await);
    }
    let got = ws.collect_messages(&conv, 3, WAIT).await;
    assert_eq!(seqs(&got), vec![1, 2, 3]);
    assert_eq!(mids(&got), mids(&before));
    ws.close().await;

    let mut missed = Vec::new();
    for i in 4..=6 {
        missed.push(sent(&api, &ann, text_to(&bob, &format!("missed {i}"))).await);
    }
    assert_eq!(seqs(&missed), vec![4, 5, 6]);
    assert_eq!(seqs(&witness.collect_messages(&conv, 6, WAIT).await), vec![1, 2, 3, 4, 5, 6]);

    // Reconnect (to the other node, with the same device id) and sync from seq 3.
    let mut ws = connect(2, &bob.token, &d, "web").await;
    let (synced, done) = sync(&mut ws, "sync-1", json!({ conv.clone(): 3 })).await;
    assert_eq!(seqs(&synced), vec![4, 5, 6], "exactly the missed messages, in order, before sync.done: {synced:#?}");
    assert_eq!(mids(&synced), mids(&missed));
    for (m, (a, i)) in synced.iter().zip(missed.iter().zip(4..)) {
        assert_eq!(m["conversation_id"], conv.as_str());
        assert_eq!(m["sender_id"], ann.id.as_str());
        assert_eq!(m["content"], json!({ "text": format!("missed {i}") }));
        assert!(same_instant(&m["sent_at"], &a["sent_at"]), "{m}");
    }
    assert_eq!(done["data"]["conversations"][&conv], json!({ "last_seq": 6, "has_more": false }), "{done}");
    assert!(forbidden(&done).is_empty(), "{done}");

    // Then live messages, without gap or duplicate.
    let live = sent(&api, &ann, text_to(&bob, "live 7")).await;
    let got = ws.collect_messages(&conv, 1, WAIT).await;
    assert_eq!(seqs(&got), vec![7]);
    assert_message(&got[0], &live, &ann, "live 7");
    ws.assert_no_message_in(&conv, QUIET, "a duplicate after sync").await;

    // A sync from the latest seq sends nothing but sync.done.
    let (none, done) = sync(&mut ws, "sync-2", json!({ conv.clone(): 7 })).await;
    assert!(none.is_empty(), "nothing is missing: {none:#?}");
    assert_eq!(done["data"]["conversations"][&conv]["has_more"], false, "{done}");
}

#[tokio::test]
async fn messages_sent_while_a_client_reconnects_and_syncs_arrive_exactly_once_in_order() {
    const MISSED: i64 = 30;
    const LIVE: i64 = 20;
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsrace").await;
    let conv = direct_id(&ann, &bob);
    let mut witness = dial(2, &ann, "desktop").await; // shows when node 2 has the missed messages

    let mut ws = dial(1, &bob, "ios").await;
    for i in 1..=3 {
        sent(&api, &ann, text_to(&bob, &format!("seen {i}"))).await;
    }
    assert_eq!(seqs(&ws.collect_messages(&conv, 3, WAIT).await), vec![1, 2, 3]);
    ws.close().await;

    // Missed while offline, sent a few at a time.
    let missed: Vec<Value> =
        futures::stream::iter(0..MISSED).map(|i| sent(&api, &ann, text_to(&bob, &format!("missed {i}")))).buffer_unordered(5).collect().await;
    assert_eq!(missed.len() as i64, MISSED);
    let caught_up = witness.collect_messages(&conv, (3 + MISSED) as usize, WAIT).await;
    assert_eq!(seqs(&caught_up), (1..=3 + MISSED).collect::<Vec<_>>());

    // Reconnect and sync while ann keeps sending.
    let mut ws = dial(2, &bob, "ios").await;
    ws.send_json(json!({ "type": "sync", "id": "race", "data": { "conversations": { conv.clone(): 3 } } })).await;
    let (api2, token, to) = (api.clone(), ann.token.clone(), bob.id.clone());
    let sender = tokio::spawn(async move {
        for i in 0..LIVE {
            let body = json!({ "to_user_id": to, "client_msg_id": cmid(), "type": "text", "content": { "text": format!("live {i}") } });
            api2.post("/api/chat/send", Some(&token), body).await.expect(200);
        }
    });

    let last = 3 + MISSED + LIVE;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut order = Vec::new(); // message seqs, with 0 standing for sync.done
    let mut done = Value::Null;
    while !(done.is_object() && order.contains(&last)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let f = ws.next_frame(left).await.unwrap_or_else(|| panic!("stalled; got {order:?}"));
        match f["type"].as_str().unwrap() {
            "message" if f["data"]["conversation_id"] == conv.as_str() => order.push(seq(&f["data"])),
            "sync.done" => {
                assert!(done.is_null(), "one sync.done per sync: {f}");
                assert_eq!(f["id"], "race");
                order.push(0);
                done = f;
            }
            "error" | "sync.required" => panic!("unexpected {f}"),
            _ => {}
        }
    }
    sender.await.unwrap();
    let messages: Vec<i64> = order.iter().copied().filter(|s| *s != 0).collect();
    assert_eq!(messages, (4..=last).collect::<Vec<_>>(), "every message after seq 3 exactly once, in order (0 = sync.done): {order:?}");
    let at = order.iter().position(|s| *s == 0).unwrap();
    assert!(at > 0, "the missed messages come before sync.done: {order:?}");
    assert_eq!(done["data"]["conversations"][&conv]["last_seq"], order[at - 1], "last_seq is the last synced message: {done}");
    assert_eq!(done["data"]["conversations"][&conv]["has_more"], false, "{done}");
    ws.assert_no_message_in(&conv, QUIET, "a duplicate after everything arrived").await;
}

#[tokio::test]
async fn a_sync_of_conversations_the_user_is_not_in_lists_them_as_forbidden() {
    let api = Api::new();
    let ((ann, bob), (cid, dan)) = tokio::join!(friends_pair(&api, "wsforb"), friends_pair(&api, "wsforb"));
    let mine = direct_id(&ann, &bob);
    let theirs = direct_id(&cid, &dan);
    let mut witness = dial(1, &ann, "desktop").await; // shows when node 1 has consumed ann's and bob's messages
    let sent_mine = [sent(&api, &ann, text_to(&bob, "one")).await, sent(&api, &bob, text_to(&ann, "two")).await];
    sent(&api, &cid, text_to(&dan, "private")).await;
    let (_, group) = create_group(&api, &cid, &[&dan], json!({})).await;
    sent(&api, &cid, text_in(&group, "members only")).await;
    assert_eq!(mids(&witness.collect_messages(&mine, 2, WAIT).await), mids(&sent_mine));

    let mut ws = dial(1, &bob, "web").await;
    let (messages, done) = sync(&mut ws, "forb", json!({ mine.clone(): 0, theirs.clone(): 0, group.clone(): 0 })).await;
    assert_eq!(seqs(&messages), vec![1, 2], "only the user's own conversation is synced: {messages:#?}");
    assert_eq!(mids(&messages), mids(&sent_mine));
    assert!(messages.iter().all(|m| m["conversation_id"] == mine.as_str()), "{messages:#?}");
    let mut want = vec![theirs.clone(), group.clone()];
    want.sort();
    assert_eq!(forbidden(&done), want, "{done}");
    assert_eq!(done["data"]["conversations"][&mine], json!({ "last_seq": 2, "has_more": false }), "{done}");
    for c in [&theirs, &group] {
        assert!(done["data"]["conversations"].get(c.as_str()).is_none(), "a forbidden conversation has no entry: {done}");
    }
}

#[tokio::test]
async fn a_sync_leaves_out_messages_deleted_or_cleared_for_the_user() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wshide").await;
    let conv = direct_id(&ann, &bob);
    // ann's connections show when each node has consumed a message, so that
    // bob's connections made afterwards cannot get them live.
    let mut ann1 = dial(1, &ann, "web").await;
    let mut ann2 = dial(2, &ann, "desktop").await;
    let mut answers = Vec::new();
    for i in 1..=3 {
        answers.push(sent(&api, &ann, text_to(&bob, &format!("m{i}"))).await);
    }
    for w in [&mut ann1, &mut ann2] {
        assert_eq!(seqs(&w.collect_messages(&conv, 3, WAIT).await), vec![1, 2, 3]);
    }
    delete(&api, &format!("/api/chat/messages/{}", mid(&answers[1])), Some(&bob.token)).await.expect(200);

    let mut ws = dial(1, &bob, "web").await;
    let (messages, done) = sync(&mut ws, "del", json!({ conv.clone(): 0 })).await;
    assert_eq!(seqs(&messages), vec![1, 3], "the message deleted for bob is left out: {messages:#?}");
    assert_eq!(done["data"]["conversations"][&conv]["last_seq"], 3, "{done}");
    // ann still gets all three, even on a connection that had them live.
    let (all, _) = sync(&mut ann1, "all", json!({ conv.clone(): 0 })).await;
    assert_eq!(seqs(&all), vec![1, 2, 3]);

    let cleared = api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&bob.token), json!({})).await.expect(200);
    assert_eq!(cleared.data()["cleared_seq"], 3, "{}", cleared.body);
    let fourth = sent(&api, &ann, text_to(&bob, "after the clear")).await;
    ws.expect_message(&mid(&fourth)).await;
    ann2.expect_message(&mid(&fourth)).await;
    ws.close().await;

    let mut ws = dial(2, &bob, "web").await;
    let (messages, _) = sync(&mut ws, "clr", json!({ conv.clone(): 0 })).await;
    assert_eq!(seqs(&messages), vec![4], "everything up to the cleared seq is left out: {messages:#?}");
}

#[tokio::test]
async fn a_sync_needs_1_to_200_conversations() {
    let api = Api::new();
    let ann = new_user(&api, "wssyncv").await;
    let mut ws = dial(1, &ann, "web").await;
    let many: serde_json::Map<String, Value> =
        (0..201).map(|_| (format!("direct:{}:{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4()), json!(0))).collect();
    let cases = [
        ("no conversations", json!({ "conversations": {} })),
        ("201 conversations", json!({ "conversations": many })),
        ("no conversations field", json!({})),
        ("a seq that is not a number", json!({ "conversations": { "direct:a:b": "x" } })),
    ];
    for (i, (what, data)) in cases.into_iter().enumerate() {
        let id = format!("bad-sync-{i}");
        let e = ws.expect_error_for(json!({ "type": "sync", "id": id, "data": data })).await;
        assert_error(&e, 422, Some("validation"), what);
    }
    ws.ping("still-open").await;
}

// ---------------------------------------------------------------------------
// Message operations.

/// Two friends, each connected, and one message from ann to bob that both
/// have received: (ann, bob, ann's socket, bob's socket, the send answer).
async fn pair_with_a_message(api: &Api, prefix: &str) -> (User, User, Ws, Ws, Value) {
    let (ann, bob) = friends_pair(api, prefix).await;
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;
    let answer = sent(api, &ann, text_to(&bob, "original")).await;
    ann_ws.expect_message(&mid(&answer)).await;
    bob_ws.expect_message(&mid(&answer)).await;
    (ann, bob, ann_ws, bob_ws, answer)
}

#[tokio::test]
async fn a_recall_reaches_both_participants_as_message_recalled() {
    let api = Api::new();
    let (ann, _bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsrecall").await;
    let id = mid(&answer);
    api.post(&format!("/api/chat/messages/{id}/recall"), Some(&ann.token), json!({})).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("message.recalled", |d| d["message_id"] == id.as_str(), WAIT).await;
        assert_eq!(f["data"], json!({ "message_id": id, "conversation_id": answer["conversation_id"], "by": ann.id }), "{who}: {f}");
    }
}

#[tokio::test]
async fn an_edit_reaches_both_participants_with_the_new_content() {
    let api = Api::new();
    let (ann, _bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsedit").await;
    let id = mid(&answer);
    api.put(&format!("/api/chat/messages/{id}"), Some(&ann.token), json!({ "content": { "text": "edited" } })).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("message.edited", |d| d["message_id"] == id.as_str(), WAIT).await;
        let d = &f["data"];
        assert_eq!(d["conversation_id"], answer["conversation_id"], "{who}: {f}");
        assert_eq!(d["by"], ann.id.as_str(), "{who}: {f}");
        assert_eq!(d["content"], json!({ "text": "edited" }), "{who}: {f}");
    }
}

#[tokio::test]
async fn reactions_added_and_removed_reach_both_participants() {
    let api = Api::new();
    let (_ann, bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsreact").await;
    let id = mid(&answer);
    let emoji = "👍";
    api.post(&format!("/api/chat/messages/{id}/reactions"), Some(&bob.token), json!({ "emoji": emoji })).await.expect(200);
    let want = json!({ "message_id": id, "conversation_id": answer["conversation_id"], "user_id": bob.id, "emoji": emoji });
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("reaction.added", |d| d["message_id"] == id.as_str(), WAIT).await;
        assert_eq!(f["data"], want, "{who}: {f}");
    }
    delete(&api, &format!("/api/chat/messages/{id}/reactions/{}", percent(emoji)), Some(&bob.token)).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("reaction.removed", |d| d["message_id"] == id.as_str(), WAIT).await;
        assert_eq!(f["data"], want, "{who}: {f}");
    }
}

#[tokio::test]
async fn reading_a_direct_conversation_reaches_the_readers_devices_and_the_peer_as_a_read_receipt() {
    let api = Api::new();
    let (ann, bob, mut ann_ws, mut bob_ws, first) = pair_with_a_message(&api, "wsread").await;
    let conv = first["conversation_id"].as_str().unwrap().to_owned();
    let second = sent(&api, &ann, text_to(&bob, "second")).await;
    bob_ws.expect_message(&mid(&second)).await;
    let mut bob_phone = dial(1, &bob, "ios").await;

    api.put("/api/chat/read", Some(&bob.token), json!({ "conversation_id": conv, "seq": 2 })).await.expect(200);
    let want = json!({ "conversation_id": conv, "user_id": bob.id, "seq": 2 });
    for (who, ws) in [("ann (the peer)", &mut ann_ws), ("bob's web", &mut bob_ws), ("bob's phone", &mut bob_phone)] {
        let f = ws.expect_where("conversation.read", |d| d["user_id"] == bob.id.as_str(), WAIT).await;
        assert_eq!(f["data"], want, "{who}: {f}");
    }
}

#[tokio::test]
async fn a_group_read_cursor_reaches_only_the_readers_devices() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgread", 2).await;
    let (reader, other) = (&f[0], &f[1]);
    let (_, conv) = create_group(&api, &owner, &[reader, other], json!({})).await;
    let mut owner_ws = dial(1, &owner, "web").await;
    let mut other_ws = dial(2, other, "web").await;
    let mut reader_ws = dial(2, reader, "desktop").await;
    let answer = sent(&api, &owner, text_in(&conv, "read me")).await;
    reader_ws.expect_message(&mid(&answer)).await;

    api.put("/api/chat/read", Some(&reader.token), json!({ "conversation_id": conv, "seq": seq(&answer) })).await.expect(200);
    let f = reader_ws.expect_where("conversation.read", |d| d["user_id"] == reader.id.as_str(), WAIT).await;
    assert_eq!(f["data"], json!({ "conversation_id": conv, "user_id": reader.id, "seq": seq(&answer) }), "{f}");
    for (who, ws) in [("the owner", &mut owner_ws), ("another member", &mut other_ws)] {
        ws.assert_no("conversation.read", |d| d["user_id"] == reader.id.as_str(), QUIET, &format!("{who} got a group member's read cursor")).await;
    }
}

#[tokio::test]
async fn deleting_clearing_and_settings_reach_only_the_acting_users_devices() {
    let api = Api::new();
    let (_ann, bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsmine").await;
    let id = mid(&answer);
    let conv = answer["conversation_id"].as_str().unwrap().to_owned();
    let mut bob_phone = dial(1, &bob, "android").await;

    delete(&api, &format!("/api/chat/messages/{id}"), Some(&bob.token)).await.expect(200);
    api.put(&format!("/api/chat/conversations/{conv}/settings"), Some(&bob.token), json!({ "pinned": true })).await.expect(200);
    let cleared = api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&bob.token), json!({})).await.expect(200);
    let up_to = cleared.data()["cleared_seq"].clone();

    for (who, ws) in [("bob's web", &mut bob_ws), ("bob's phone", &mut bob_phone)] {
        let f = ws.expect("message.deleted", WAIT).await;
        assert_eq!(f["data"], json!({ "message_id": id, "conversation_id": conv, "user_id": bob.id }), "{who}: {f}");
        let f = ws.expect("conversation.settings", WAIT).await;
        assert_eq!(f["data"]["conversation_id"], conv.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["user_id"], bob.id.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["pinned"], true, "{who}: {f}");
        let f = ws.expect("conversation.cleared", WAIT).await;
        assert_eq!(f["data"], json!({ "conversation_id": conv, "user_id": bob.id, "up_to_seq": up_to }), "{who}: {f}");
    }
    for ty in ["message.deleted", "conversation.settings", "conversation.cleared"] {
        ann_ws.assert_no(ty, |_| true, QUIET, "the peer got another user's private operation").await;
    }
}

// ---------------------------------------------------------------------------
// Friend and group frames.

#[tokio::test]
async fn a_friend_request_and_its_acceptance_reach_both_users() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "wsfr"), new_user(&api, "wsfr"));
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    let asked = api.post("/api/friend/requests", Some(&ann.token), json!({ "to_user_id": bob.id, "message": "hi bob" })).await.expect(200);
    let rid = asked.data()["request_id"].as_str().unwrap().to_owned();
    for (who, ws) in [("bob (the recipient)", &mut bob_ws), ("ann (the sender)", &mut ann_ws)] {
        let f = ws.expect_where("friend", |d| d["event"] == "FriendRequestSent", WAIT).await;
        let d = &f["data"];
        assert_eq!(d["request_id"], rid.as_str(), "{who}: {f}");
        assert_eq!(d["from_user_id"], ann.id.as_str(), "{who}: {f}");
        assert_eq!(d["to_user_id"], bob.id.as_str(), "{who}: {f}");
        assert_eq!(d["message"], "hi bob", "{who}: {f}");
    }

    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&bob.token), json!({})).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("friend", |d| d["event"] == "FriendRequestAccepted", WAIT).await;
        assert_eq!(f["data"]["request_id"], rid.as_str(), "{who}: {f}");
    }
}

#[tokio::test]
async fn a_friend_request_from_a_blocked_user_reaches_only_the_sender_and_a_block_only_the_blocker() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "wsfrb"), new_user(&api, "wsfrb"));
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);
    let f = bob_ws.expect_where("friend", |d| d["event"] == "UserBlocked", WAIT).await;
    assert!(f["data"].to_string().contains(&ann.id), "names the blocked user: {f}");

    api.post("/api/friend/requests", Some(&ann.token), json!({ "to_user_id": bob.id })).await.expect(200);
    let f = ann_ws.expect_where("friend", |d| d["event"] == "FriendRequestSent", WAIT).await;
    assert_ne!(f["data"]["hidden_from_recipient"], true, "the sender must not learn of the block: {f}");
    bob_ws.assert_no("friend", |d| d["event"] == "FriendRequestSent", QUIET, "a blocked user's request reached the blocker").await;
    ann_ws.assert_no("friend", |d| d["event"] == "UserBlocked", Duration::from_millis(100), "the blocked user learned of the block").await;
}

#[tokio::test]
async fn adding_group_members_reaches_the_members_and_the_added_user_who_then_gets_group_messages() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgadd", 3).await;
    let (member, newcomer, outsider) = (&f[0], &f[1], &f[2]);
    let mut owner_ws = dial(1, &owner, "web").await;
    let mut member_ws = dial(2, member, "web").await;
    let mut newcomer_ws = dial(1, newcomer, "ios").await;
    let mut outsider_ws = dial(2, outsider, "web").await;

    let (gid, conv) = create_group(&api, &owner, &[member], json!({})).await;
    for (who, ws) in [("the owner", &mut owner_ws), ("the first member", &mut member_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupCreated", WAIT).await;
        assert_eq!(f["data"]["group_id"], gid.as_str(), "{who}: {f}");
    }

    api.post(&format!("/api/group/{gid}/members"), Some(&owner.token), json!({ "user_ids": [newcomer.id] })).await.expect(200);
    for (who, ws) in [("the owner", &mut owner_ws), ("the member", &mut member_ws), ("the added user", &mut newcomer_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupMembersAdded", WAIT).await;
        let d = &f["data"];
        assert_eq!(d["group_id"], gid.as_str(), "{who}: {f}");
        assert_eq!(d["by"], owner.id.as_str(), "{who}: {f}");
        assert_eq!(d["user_ids"], json!([newcomer.id]), "{who}: {f}");
    }

    let answer = sent(&api, member, text_in(&conv, "welcome")).await;
    newcomer_ws.expect_message(&mid(&answer)).await;
    owner_ws.expect_message(&mid(&answer)).await;
    outsider_ws.assert_no("group", |d| d["group_id"] == gid.as_str(), QUIET, "an outsider got a group frame").await;
    outsider_ws.assert_no_message_in(&conv, Duration::from_millis(100), "an outsider got a group message").await;
}

#[tokio::test]
async fn a_kicked_member_is_told_and_gets_no_more_group_messages() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgkick", 2).await;
    let (stays, kicked) = (&f[0], &f[1]);
    let (gid, conv) = create_group(&api, &owner, &[stays, kicked], json!({})).await;
    let mut stays_ws = dial(1, stays, "web").await;
    let mut kicked_ws = dial(2, kicked, "web").await;

    delete(&api, &format!("/api/group/{gid}/members/{}", kicked.id), Some(&owner.token)).await.expect(200);
    for (who, ws) in [("the kicked user", &mut kicked_ws), ("a remaining member", &mut stays_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupMemberKicked", WAIT).await;
        assert_eq!(f["data"]["group_id"], gid.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["user_id"], kicked.id.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["by"], owner.id.as_str(), "{who}: {f}");
    }

    let answer = sent(&api, &owner, text_in(&conv, "after the kick")).await;
    stays_ws.expect_message(&mid(&answer)).await;
    let id = mid(&answer);
    kicked_ws.assert_no("message", |d| d["message_id"] == id.as_str(), QUIET, "a kicked member still gets group messages").await;
}

#[tokio::test]
async fn a_join_request_reaches_the_requester_and_the_groups_owner_and_admins_but_not_plain_members() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgjoin", 2).await;
    let (admin, plain) = (&f[0], &f[1]);
    let asker = new_user(&api, "wsgjoin").await;
    let (gid, _) = create_group(&api, &owner, &[admin, plain], json!({ "join_policy": "approval" })).await;
    api.put(&format!("/api/group/{gid}/members/{}/role", admin.id), Some(&owner.token), json!({ "role": "admin" })).await.expect(200);
    let mut owner_ws = dial(1, &owner, "web").await;
    let mut admin_ws = dial(2, admin, "web").await;
    let mut plain_ws = dial(1, plain, "web").await;
    let mut asker_ws = dial(2, &asker, "web").await;

    let joined = api.post(&format!("/api/group/{gid}/join"), Some(&asker.token), json!({ "message": "let me in" })).await.expect(200);
    assert_eq!(joined.data()["status"], "pending", "{}", joined.body);
    let rid = joined.data()["request_id"].clone();
    for (who, ws) in [("the requester", &mut asker_ws), ("the owner", &mut owner_ws), ("an admin", &mut admin_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupJoinRequested", WAIT).await;
        assert_eq!(f["data"]["group_id"], gid.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["request_id"], rid, "{who}: {f}");
        assert_eq!(f["data"]["user_id"], asker.id.as_str(), "{who}: {f}");
    }
    plain_ws.assert_no("group", |d| d["event"] == "GroupJoinRequested", QUIET, "a plain member got a join request").await;
}

// ---------------------------------------------------------------------------
// Typing.

#[tokio::test]
async fn typing_over_the_socket_reaches_the_peer_on_the_other_node() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wstype").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    ann_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    let f = bob_ws.expect("typing", WAIT).await;
    assert_eq!(f["data"], json!({ "conversation_id": conv, "user_id": ann.id }), "{f}");
    // Typing has no answer: the next frame answering ann is the pong.
    let pong = ann_ws.ping("after-typing").await;
    assert_eq!(pong["id"], "after-typing");
    ann_ws.assert_no("error", |_| true, Duration::from_millis(100), "typing got an error").await;
}

#[tokio::test]
async fn typing_never_reaches_a_peer_who_blocked_the_typist() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wstypeblk").await;
    let conv = direct_id(&ann, &bob);
    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;
    // Bob, who blocked nobody's typing, still reaches Ann.
    bob_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    ann_ws.expect("typing", WAIT).await;
    ann_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    bob_ws.assert_no("typing", |_| true, Duration::from_secs(1), "a blocked user's typing reached the blocker").await;
}

#[tokio::test]
async fn typing_in_a_group_reaches_the_other_members() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgtype", 2).await;
    let (_, conv) = create_group(&api, &owner, &[&f[0], &f[1]], json!({})).await;
    let mut typist = dial(1, &f[0], "web").await;
    let mut others = [dial(2, &owner, "web").await, dial(1, &f[1], "ios").await];
    typist.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    for ws in others.iter_mut() {
        let f0 = ws.expect("typing", WAIT).await;
        assert_eq!(f0["data"], json!({ "conversation_id": conv, "user_id": f[0].id }), "{f0}");
    }
}

#[tokio::test]
async fn typing_in_a_conversation_you_are_not_in_is_error_403_and_reaches_nobody() {
    let api = Api::new();
    let ((ann, bob), cid) = tokio::join!(friends_pair(&api, "wstype403"), new_user(&api, "wstype403"));
    let conv = direct_id(&ann, &bob);
    let mut bob_ws = dial(1, &bob, "web").await;
    let mut cid_ws = dial(2, &cid, "web").await;

    let e = cid_ws.expect_error_for(json!({ "type": "typing", "id": "t1", "data": { "conversation_id": conv } })).await;
    assert_error(&e, 403, None, "typing into someone else's conversation");
    bob_ws.assert_no("typing", |_| true, QUIET, "an outsider's typing reached a participant").await;

    let e = cid_ws.expect_error_for(json!({ "type": "typing", "id": "t2", "data": {} })).await;
    assert_error(&e, 422, Some("validation"), "typing without a conversation_id");
    cid_ws.ping("still-open").await;
}

// ---------------------------------------------------------------------------
// Sending over the socket.

fn send_frame(id: &str, body: Value) -> Value {
    json!({ "type": "send", "id": id, "data": body })
}

#[tokio::test]
async fn a_send_over_the_socket_is_acked_with_the_http_answer_and_reaches_the_peer_and_every_own_device() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wssend").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut ann_phone = dial(2, &ann, "ios").await;
    let mut bob_ws = dial(2, &bob, "desktop").await;

    let body = text_to(&bob, "via the socket");
    let cm = body["client_msg_id"].clone();
    ann_ws.send_json(send_frame("send-1", body)).await;
    let ack = ann_ws.expect_where_frame("ack", |f| f["id"] == "send-1", WAIT).await;
    let a = &ack["data"];
    assert!(a["message_id"].is_string(), "{ack}");
    assert_eq!(a["conversation_id"], conv.as_str(), "{ack}");
    assert_eq!(a["seq"], 1, "{ack}");
    assert!(instant(&a["sent_at"]).is_some(), "sent_at is an RFC 3339 time: {ack}");

    for (who, ws) in [("bob", &mut bob_ws), ("the sending device", &mut ann_ws), ("ann's other device", &mut ann_phone)] {
        let f = ws.expect_message(&mid(a)).await;
        assert_message(&f["data"], a, &ann, "via the socket");
        assert_eq!(f["data"]["client_msg_id"], cm, "{who}: {f}");
    }

    // It is an ordinary message: in the history as acked.
    let h = api.get(&format!("/api/chat/messages?conversation_id={conv}"), Some(&bob.token)).await.expect(200);
    let list = h.data()["messages"].as_array().unwrap();
    assert_eq!(mids(list), vec![mid(a)], "{}", h.body);
    assert_eq!(list[0]["content"]["text"], "via the socket");
}

#[tokio::test]
async fn a_resend_over_the_socket_with_the_same_client_msg_id_gets_the_original_ack_and_makes_no_second_message() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsresend").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    let body = text_to(&bob, "once");
    ann_ws.send_json(send_frame("first", body.clone())).await;
    let first = ann_ws.expect_where_frame("ack", |f| f["id"] == "first", WAIT).await;
    ann_ws.send_json(send_frame("again", body)).await;
    let again = ann_ws.expect_where_frame("ack", |f| f["id"] == "again", WAIT).await;
    assert_eq!(again["data"]["message_id"], first["data"]["message_id"], "{first} / {again}");
    assert_eq!(again["data"]["seq"], first["data"]["seq"], "{first} / {again}");

    ann_ws.send_json(send_frame("marker", text_to(&bob, "marker"))).await;
    let marker = ann_ws.expect_where_frame("ack", |f| f["id"] == "marker", WAIT).await;
    assert_eq!(marker["data"]["seq"], 2, "the resend took no seq: {marker}");
    let got = bob_ws.collect_messages(&conv, 2, WAIT).await;
    assert_eq!(mids(&got), vec![mid(&first["data"]), mid(&marker["data"])], "one message per client_msg_id: {got:#?}");
}

#[tokio::test]
async fn a_refused_send_over_the_socket_gets_an_error_frame_with_the_http_code_and_kind() {
    let api = Api::new();
    let ((ann, bob), stranger, (cid, dan)) = tokio::join!(friends_pair(&api, "wssendno"), new_user(&api, "wssendno"), friends_pair(&api, "wssendno"));
    let (gid, _) = create_group(&api, &cid, &[&dan], json!({})).await;
    let mut ws = dial(1, &ann, "web").await;

    let cases = [
        ("a stranger", text_to(&stranger, "hi"), 403, Some("not_friends")),
        (
            "a group ann is not in",
            json!({ "group_id": gid, "client_msg_id": cmid(), "type": "text", "content": { "text": "hi" } }),
            403,
            Some("not_a_member"),
        ),
        (
            "an unknown user",
            json!({ "to_user_id": uuid::Uuid::new_v4(), "client_msg_id": cmid(), "type": "text", "content": { "text": "hi" } }),
            404,
            None,
        ),
        ("no client_msg_id", json!({ "to_user_id": bob.id, "type": "text", "content": { "text": "hi" } }), 422, None),
        ("a system message", json!({ "to_user_id": bob.id, "client_msg_id": cmid(), "type": "system", "content": { "text": "hi" } }), 422, None),
        ("text over 8192 bytes", text_to(&bob, &"x".repeat(8193)), 422, None),
    ];
    for (i, (what, body, code, kind)) in cases.into_iter().enumerate() {
        // Over HTTP, for the expected kind and message.
        let http = api.post("/api/chat/send", Some(&ann.token), body.clone()).await;
        assert_eq!(http.status.as_u16(), code, "HTTP, {what}: {}", http.body);
        let id = format!("refused-{i}");
        let e = ws.expect_error_for(send_frame(&id, body)).await;
        assert_error(&e, code, kind, what);
        assert_eq!(e["data"]["code"], http.body["code"], "the HTTP answer's code, {what}");
        assert_eq!(e["data"]["kind"], http.body["data"]["error"], "the HTTP answer's kind, {what}: {e} vs {}", http.body);
        assert!(e["data"]["message"].is_string(), "{what}: {e}");
        assert!(ws.take_backlog().iter().all(|f| f["type"] != "ack"), "no ack for a refused send ({what})");
    }
    ws.ping("still-open").await;
    // Nothing of it reached bob.
    let h = api.get(&format!("/api/chat/messages?conversation_id={}", direct_id(&ann, &bob)), Some(&bob.token)).await;
    if h.status.as_u16() == 200 {
        assert_eq!(h.data()["messages"], json!([]), "{}", h.body);
    }
}

// ---------------------------------------------------------------------------
// Bad frames.

#[tokio::test]
async fn a_frame_that_is_not_a_json_object_with_a_string_type_is_error_bad_frame_and_the_connection_lives_on() {
    let api = Api::new();
    let ann = new_user(&api, "wsbad").await;
    let mut ws = dial(1, &ann, "web").await;
    for text in ["not json", "{\"type\":", "[1,2]", "\"ping\"", "42", "{\"type\":5}", "{\"data\":{}}", "{}"] {
        ws.send_text(text).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 400, Some("bad_frame"), text);
        ws.ping(&format!("after {text}")).await;
    }
    // Large but under 64 KiB: read, and refused the same way.
    ws.send_text(&"x".repeat(60 * 1024)).await;
    let e = ws.expect("error", WAIT).await;
    assert_error(&e, 400, Some("bad_frame"), "60 KiB of non-JSON");
    ws.ping("after 60 KiB").await;
}

#[tokio::test]
async fn an_unknown_frame_type_is_error_unknown_type_echoing_its_id() {
    let api = Api::new();
    let ann = new_user(&api, "wsunk").await;
    let mut ws = dial(2, &ann, "web").await;
    for ty in ["dance", "subscribe", "message"] {
        let id = format!("unk-{ty}");
        let e = ws.expect_error_for(json!({ "type": ty, "id": id, "data": {} })).await;
        assert_error(&e, 400, Some("unknown_type"), ty);
    }
    ws.ping("alive").await;
}

#[tokio::test]
async fn a_binary_frame_is_error_bad_frame() {
    let api = Api::new();
    let ann = new_user(&api, "wsbin").await;
    let mut ws = dial(1, &ann, "web").await;
    ws.send_raw(Message::binary(br#"{"type":"ping","id":"bin"}"#.to_vec())).await.unwrap();
    let e = ws.expect("error", WAIT).await;
    assert_error(&e, 400, Some("bad_frame"), "a binary frame");
    ws.assert_no("pong", |_| true, Duration::from_millis(300), "a binary ping must not be answered").await;
    ws.ping("alive").await;
}

#[tokio::test]
async fn a_frame_larger_than_64_kib_closes_the_connection_and_the_node_keeps_serving() {
    let api = Api::new();
    let ann = new_user(&api, "wsbig").await;
    for n in [1, 2] {
        let mut ws = dial(n, &ann, "web").await;
        let big = json!({ "type": "ping", "id": "big", "data": { "pad": "x".repeat(70 * 1024) } }).to_string();
        let _ = ws.send_raw(Message::text(big)).await; // the server may close while we write
        let code = ws.expect_close(WAIT).await;
        assert!(matches!(code, Some(1009) | None), "node {n}: an oversized frame closes with 1009, got {code:?}");
        assert!(ws.take_backlog().iter().all(|f| f["type"] != "pong"), "node {n}: the oversized ping was answered");
        // The node still accepts and serves connections.
        dial(n, &ann, "web").await.ping("after").await;
    }
}

// ---------------------------------------------------------------------------
// Slow consumers.

#[tokio::test]
async fn a_slow_consumer_is_cut_off_while_the_other_connections_keep_receiving() {
    // 96 messages of 8000 bytes: ~800 KB, well over the 256 KiB queue plus
    // the 64 KiB socket buffer (and a 4 KiB receive buffer on the slow side).
    const N: usize = 96;
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsslow", 2).await;
    let (fast_user, slow_user) = (&f[0], &f[1]);
    let (_, conv) = create_group(&api, &owner, &[fast_user, slow_user], json!({})).await;
    let fast = dial(1, fast_user, "web").await;
    let mut slow = connect_slow(1, &slow_user.token, &device(), "web").await;

    let fast_conv = conv.clone();
    let fast_task = tokio::spawn(async move {
        let mut fast = fast;
        let got = fast.collect_messages_where(&fast_conv, N, not_system, Duration::from_secs(90)).await;
        (fast, got)
    });
    let filler = "x".repeat(7996);
    let answers: Vec<Value> =
        futures::stream::iter(0..N).map(|i| sent(&api, &owner, text_in(&conv, &format!("{i:04}{filler}")))).buffer_unordered(6).collect().await;
    let mut want = seqs(&answers);
    want.sort();

    let (mut fast, got) = fast_task.await.unwrap();
    assert_eq!(seqs(&got), want, "the fast connection gets every message, in seq order");
    assert!(got.iter().all(|m| m["content"]["text"].as_str().is_some_and(|t| t.len() == 8000)));
    fast.ping("fast-alive").await;

    // Only now is the slow connection read: it ends before everything arrived.
    let code = slow.expect_close(Duration::from_secs(30)).await;
    assert!(matches!(code, Some(4008) | None), "a slow consumer is closed with 4008 (or its TCP connection ends), got {code:?}");
    let slow_got: Vec<Value> = slow
        .take_backlog()
        .into_iter()
        .filter(|f| f["type"] == "message" && f["data"]["conversation_id"] == conv.as_str() && not_system(&f["data"]))
        .map(|f| f["data"].clone())
        .collect();
    assert!(slow_got.len() < N, "the slow consumer was not cut off: it got all {N} messages");
    assert_eq!(seqs(&slow_got), want[..slow_got.len()].to_vec(), "what the slow consumer got is a gap-free prefix");

    // It reconnects (to node 1, which the fast connection showed has every
    // message) and syncs the rest.
    let mut again = dial(1, slow_user, "web").await;
    let from = slow_got.last().map_or(want[0] - 1, seq);
    let (rest, done) = sync(&mut again, "resync", json!({ conv.clone(): from })).await;
    let rest: Vec<Value> = rest.into_iter().filter(not_system).collect();
    assert_eq!(seqs(&rest), want[slow_got.len()..].to_vec(), "the sync brings the rest");
    assert_eq!(done["data"]["conversations"][&conv]["has_more"], false, "{done}");
}

// ---------------------------------------------------------------------------
// Presence.

#[tokio::test]
async fn the_online_query_shows_a_connected_friends_platforms_and_offline_after_they_disconnect() {
    let api = Api::new();
    let ((ann, bob), never) = tokio::join!(friends_pair(&api, "wsonl"), new_user(&api, "wsonl"));
    let phone = dial(1, &bob, "ios").await;
    let web = dial(2, &bob, "web").await;
    wait_presence(&api, &ann.token, &bob.id, true, &["ios", "web"]).await;

    let both = online_query(&api, &ann.token, &[&bob.id, &never.id]).await.expect(200);
    let users = &both.data()["users"];
    assert_eq!(users.as_array().map(Vec::len), Some(2), "{}", both.body);
    let n = find(users, "user_id", &never.id).unwrap();
    assert_eq!(*n, json!({ "user_id": never.id, "online": false, "platforms": [] }), "a user never connected is offline");

    phone.close().await;
    wait_presence(&api, &ann.token, &bob.id, true, &["web"]).await;
    web.close().await;
    wait_presence(&api, &ann.token, &bob.id, false, &[]).await;
}

#[tokio::test]
async fn a_stranger_is_told_an_online_user_is_offline_while_a_friend_and_the_user_see_the_truth() {
    let api = Api::new();
    let ((ann, bob), stranger) = tokio::join!(friends_pair(&api, "wspriv"), new_user(&api, "wspriv"));
    let _web = dial(1, &bob, "web").await;
    wait_presence(&api, &ann.token, &bob.id, true, &["web"]).await;
    wait_presence(&api, &bob.token, &bob.id, true, &["web"]).await;
    let a = online_query(&api, &stranger.token, &[&bob.id, &ann.id]).await.expect(200);
    let seen = find(&a.data()["users"], "user_id", &bob.id).unwrap();
    assert_eq!(*seen, json!({ "user_id": bob.id, "online": false, "platforms": [] }), "a stranger gets the offline answer: {}", a.body);
}

#[tokio::test]
async fn the_online_query_needs_1_to_100_ids() {
    let api = Api::new();
    let ann = new_user(&api, "wsonlv").await;
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let hundred: Vec<&str> = many[..100].iter().map(String::as_str).collect();
    let a = online_query(&api, &ann.token, &hundred).await.expect(200);
    assert_eq!(a.data()["users"].as_array().map(Vec::len), Some(100), "{}", a.body);
    for (what, path) in [("no ids", "/api/user/online?user_ids=".to_owned()), ("101 ids", format!("/api/user/online?user_ids={}", many.join(",")))] {
        let a = api.get(&path, Some(&ann.token)).await;
        assert!(matches!(a.status.as_u16(), 400 | 422), "{what}: {}", a.body);
    }
}

#[tokio::test]
async fn friends_get_a_presence_frame_when_a_users_first_device_comes_online_and_its_last_goes_offline() {
    let api = Api::new();
    let ((ann, bob), stranger) = tokio::join!(friends_pair(&api, "wspres"), new_user(&api, "wspres"));
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut stranger_ws = dial(2, &stranger, "web").await;

    let phone = dial(2, &bob, "ios").await;
    let f = ann_ws.expect_where("presence", |d| d["user_id"] == bob.id.as_str(), WAIT).await;
    assert_eq!(f["data"], json!({ "user_id": bob.id, "online": true }), "{f}");

    // A second device, then the first one leaving: bob stays online, nothing is told.
    let desktop = dial(1, &bob, "desktop").await;
    wait_presence(&api, &ann.token, &bob.id, true, &["desktop", "ios"]).await;
    phone.close().await;
    wait_presence(&api, &ann.token, &bob.id, true, &["desktop"]).await;
    desktop.close().await;
    let f = ann_ws.expect_where("presence", |d| d["user_id"] == bob.id.as_str(), WAIT).await;
    assert_eq!(f["data"], json!({ "user_id": bob.id, "online": false }), "the next presence frame is the last device going offline: {f}");
    ann_ws.assert_no("presence", |d| d["user_id"] == bob.id.as_str(), QUIET, "an extra presence frame").await;
    stranger_ws.assert_no("presence", |d| d["user_id"] == bob.id.as_str(), Duration::from_millis(100), "a non-friend got presence").await;
}

// ---------------------------------------------------------------------------
// Through the gateway.

#[tokio::test]
async fn the_gateway_carries_websocket_connections_to_the_nodes() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsgw").await;
    let conv = direct_id(&ann, &bob);
    let mut bob_ws = dial(GATEWAY, &bob, "web").await;
    let mut ann_ws = connect_first_frame(GATEWAY, &ann.token, &device(), "ios").await;
    assert_eq!(ann_ws.ready["user_id"], ann.id.as_str());

    ann_ws.ping("gw").await;
    ann_ws.send_json(send_frame("gw-send", text_to(&bob, "through the gateway"))).await;
    let ack = ann_ws.expect_where_frame("ack", |f| f["id"] == "gw-send", WAIT).await;
    let got = bob_ws.collect_messages(&conv, 1, WAIT).await;
    assert_message(&got[0], &ack["data"], &ann, "through the gateway");

    bob_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    let t = ann_ws.expect("typing", WAIT).await;
    assert_eq!(t["data"]["user_id"], bob.id.as_str(), "{t}");

    let (status, body) = refused_handshake(&query_url(GATEWAY, "not-a-token", &device(), "web")).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = refused_handshake(&query_url(GATEWAY, &ann.token, &device(), "linux")).await;
    assert_eq!(status, 422, "{body}");
}
