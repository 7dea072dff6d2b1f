//! The WebSocket frames against their contract (schemas/frames,
//! schemas/asyncapi.yaml, docs/push.md): real actions — sends over the
//! socket and over HTTP, typing, reads, message operations, sync, friend
//! requests, group changes, inbox items, stickers, feedback answered by an
//! operator, moments, calls (1:1 and group, with a missed ring), an
//! announcement, presence, kicks, refused frames, a gap too large to fill —
//! until every frame type of `beaver_ws_push::protocol::SERVER_FRAME_TYPES`
//! has been received. Every frame any socket of the test received validates
//! against `schemas/frames/server/<type>.json`, every frame the test sent
//! against `schemas/frames/client/<type>.json`, and the test names each
//! listed type it never saw.

use crate::chat::{cmid, direct_id, sent, text_to};
use crate::contract_topics::{errors, favourite, validator};
use crate::friends::{befriend, new_user, User};
use crate::helpers::{brokers, database_url, eventually, unique, Api};
use crate::ws::{node_url, percent, GATEWAY};
use beaver_ws_push::protocol::{CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite::Message, WebSocketStream};

/// How long a frame that must come may take.
const WAIT: Duration = Duration::from_secs(20);
/// How long the group call's ring may take to run out (30 s, and slack).
const RING: Duration = Duration::from_secs(60);

/// Runs one `beaver-admin` command line in this process, as an operator would.
pub(crate) async fn admin(args: &[&str]) {
    admin_try(args).await.unwrap_or_else(|e| panic!("beaver-admin {args:?}: {e}"));
}

async fn admin_try(args: &[&str]) -> Result<(), String> {
    use clap::Parser;
    let (brokers, database) = (brokers(), database_url());
    let mut argv = vec!["beaver-admin", "--operator", "contract-test", "--brokers", &brokers, "--database-url", &database];
    argv.extend(args);
    match beaver_admin::run(beaver_admin::Cli::parse_from(&argv)).await {
        Ok(code) if code == std::process::ExitCode::SUCCESS => Ok(()),
        Ok(code) => Err(format!("exit code {code:?}")),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Every frame the test's sockets received, with the socket's name.
type Log = Arc<Mutex<Vec<(String, Value)>>>;

/// A WebSocket client that keeps every frame it receives in the log, and
/// checks every frame it sends against the client schemas.
struct Tap {
    name: String,
    stream: WebSocketStream<TcpStream>,
    backlog: VecDeque<Value>,
    log: Log,
    /// The close code, once the server closed.
    closed: Option<Option<u16>>,
    device_id: String,
}

impl Tap {
    async fn open(log: &Log, name: &str, url: &str, device_id: &str) -> Tap {
        let authority = url.strip_prefix("ws://").unwrap().split(['/', '?']).next().unwrap().to_owned();
        let tcp = TcpStream::connect(&authority).await.unwrap_or_else(|e| panic!("cannot reach {url}: {e} (is the stack up?)"));
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, tcp))
            .await
            .unwrap_or_else(|_| panic!("{name}: handshake timed out"))
            .unwrap_or_else(|e| panic!("{name}: handshake with {url} failed: {e}"));
        Tap { name: name.into(), stream, backlog: VecDeque::new(), log: log.clone(), closed: None, device_id: device_id.into() }
    }

    /// Connects `user` to node `n` with query authentication; waits for `ready`.
    async fn dial(log: &Log, name: &str, n: u16, user: &User, platform: &str, device_id: &str) -> Tap {
        let url = format!("{}?token={}&device_id={}&platform={platform}", node_url(n), percent(&user.token), percent(device_id));
        let mut tap = Tap::open(log, name, &url, device_id).await;
        tap.expect("ready", |_| true).await;
        tap
    }

    /// Sends a frame, which must validate against its client schema.
    async fn send(&mut self, frame: Value) {
        let t = frame["type"].as_str().unwrap_or_default().to_owned();
        assert!(CLIENT_FRAME_TYPES.contains(&t.as_str()), "{}: the test sends {t:?}, not a client frame type", self.name);
        let v = validator(&format!("frames/client/{t}.json")).unwrap();
        let problems = errors(&v, &frame);
        assert!(problems.is_empty(), "{}: the client frame breaks schemas/frames/client/{t}.json: {problems:?}\n{frame}", self.name);
        self.send_text(frame.to_string()).await;
    }

    /// Sends any text (a deliberately bad frame is not checked).
    async fn send_text(&mut self, text: String) {
        tokio::time::timeout(WAIT, self.stream.send(Message::text(text))).await.unwrap().unwrap_or_else(|e| panic!("{}: cannot send: {e}", self.name));
    }

    /// The next frame from the socket (logged), or None at the deadline or the end.
    async fn read(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            if self.closed.is_some() {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("{}: a text frame that is not JSON ({e}): {t}", self.name));
                    self.log.lock().unwrap().push((self.name.clone(), v.clone()));
                    return Some(v);
                }
                Ok(Some(Ok(Message::Binary(_)))) => panic!("{}: a binary frame; the server sends text only", self.name),
                Ok(Some(Ok(Message::Close(c)))) => self.closed = Some(c.map(|c| u16::from(c.code))),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => self.closed = Some(None),
            }
        }
    }

    /// The first frame of type `ty` that `pred` (given the whole frame) accepts; others wait in the backlog.
    async fn expect(&mut self, ty: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect_within(ty, pred, WAIT).await
    }

    async fn expect_within(&mut self, ty: &str, pred: impl Fn(&Value) -> bool, within: Duration) -> Value {
        if let Some(i) = self.backlog.iter().position(|f| f["type"] == ty && pred(f)) {
            return self.backlog.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.read(deadline).await {
                Some(f) if f["type"] == ty && pred(&f) => return f,
                Some(f) => self.backlog.push_back(f),
                None => panic!("{}: no matching {ty} frame within {within:?} (closed: {:?}); frames seen: {:#?}", self.name, self.closed, self.backlog),
            }
        }
    }

    /// Sends `frame` (with an id) and returns the answer of type `ty` echoing that id.
    async fn ask(&mut self, frame: Value, ty: &str) -> Value {
        let id = frame["id"].as_str().expect("the frame has an id").to_owned();
        self.send(frame).await;
        self.expect(ty, |f| f["id"] == id.as_str()).await
    }

    /// Reads until the server closes; returns the close code.
    async fn close_code(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.closed.is_none() {
            match self.read(deadline).await {
                Some(f) => self.backlog.push_back(f),
                None if self.closed.is_none() => panic!("{}: still open after {WAIT:?}", self.name),
                None => {}
            }
        }
        self.closed.unwrap()
    }
}

fn data_is(key: &'static str, want: String) -> impl Fn(&Value) -> bool {
    move |f| f["data"][key] == want.as_str()
}

/// A call action over the socket (`call.<action>`): the REST status and body its `call.answer` carries.
async fn call_action(tap: &mut Tap, action: &str, data: Value) -> (u64, Value) {
    let answer = tap.ask(json!({ "type": format!("call.{action}"), "id": unique("call"), "data": data }), "call.answer").await;
    (answer["data"]["status"].as_u64().unwrap_or_default(), answer["data"]["body"].clone())
}

/// Starts a 1:1 call over `tap`'s socket, retrying while a party is still busy from the last one.
async fn start_call(tap: &mut Tap, conversation_id: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = call_action(tap, "start", json!({ "conversation_id": conversation_id, "media": "audio" })).await;
        if status == 201 {
            return body["data"]["call_id"].as_str().unwrap().to_owned();
        }
        assert!(status == 409 && Instant::now() < deadline, "{}: call.start answered {status}: {body}", tap.name);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn contract_every_server_frame_type_is_sent_and_validates_against_its_schema() {
    let started = Instant::now();
    let api = Api::new();
    let log: Log = Arc::default();
    let (ann, bob, cat, dan, eve, fay) = tokio::join!(
        new_user(&api, "cframe"),
        new_user(&api, "cframe"),
        new_user(&api, "cframe"),
        new_user(&api, "cframe"),
        new_user(&api, "cframe"),
        new_user(&api, "cframe")
    );
    tokio::join!(befriend(&api, &ann, &bob), befriend(&api, &ann, &cat), befriend(&api, &ann, &eve), befriend(&api, &ann, &fay));

    // `sync.required` needs a live message more than 500 seqs past what the
    // connection holds: 502 messages to fay, who clears them, syncs from 0
    // (nothing: all cleared) and then gets the next one live. Sent meanwhile.
    let bulk = {
        let (api, token, to) = (api.clone(), ann.token.clone(), fay.id.clone());
        tokio::spawn(async move {
            let send = |i: usize| {
                let body = json!({ "to_user_id": to, "client_msg_id": cmid(), "type": "text", "content": { "text": format!("bulk {i}") } });
                let (api, token) = (api.clone(), token.clone());
                async move {
                    // A 202 (numbered later) is resent with the same client_msg_id until it answers its seq.
                    for _ in 0..10 {
                        let a = api.post("/api/chat/send", Some(&token), body.clone()).await;
                        if let Some(seq) = a.data()["seq"].as_i64() {
                            return seq;
                        }
                        assert_eq!(a.status.as_u16(), 202, "bulk send {i}: {}", a.body);
                    }
                    panic!("bulk send {i} never answered its seq")
                }
            };
            futures::stream::iter(0..502).map(send).buffer_unordered(16).collect::<Vec<i64>>().await.into_iter().max().unwrap()
        })
    };

    // Sockets: presence comes from bob's first connection to his friend ann.
    let mut ann_web = Tap::dial(&log, "ann web", 1, &ann, "web", &unique("dev")).await;
    let mut bob_web = Tap::dial(&log, "bob web", 2, &bob, "web", &unique("dev")).await;
    let mut bob_phone = Tap::dial(&log, "bob phone", 1, &bob, "ios", &unique("dev")).await;
    let mut cat_phone = Tap::dial(&log, "cat phone", 2, &cat, "android", &unique("dev")).await;
    ann_web.expect("presence", |f| f["data"]["user_id"] == bob.id.as_str() && f["data"]["online"] == true).await;
    // A second session of ann's, authenticated by an `auth` first frame, through the gateway.
    let second = api.login(&ann.name).await;
    let second_token = second["access_token"].as_str().unwrap().to_owned();
    let ann_desk_device = unique("dev");
    let mut ann_desk = Tap::open(&log, "ann desktop (second session)", &node_url(GATEWAY), &ann_desk_device).await;
    ann_desk.send(json!({ "type": "auth", "data": { "token": second_token, "device_id": ann_desk_device, "platform": "desktop" } })).await;
    ann_desk.expect("ready", |_| true).await;

    // Heartbeat and refused frames.
    ann_web.ask(json!({ "type": "ping", "id": "p1" }), "pong").await;
    ann_web.send_text("not json".into()).await;
    ann_web.expect("error", |f| f["data"]["kind"] == "bad_frame").await;
    ann_web.send_text(json!({ "type": "dance", "id": "e1" }).to_string()).await;
    ann_web.expect("error", |f| f["id"] == "e1" && f["data"]["kind"] == "unknown_type").await;
    let not_mine = direct_id(&bob, &cat);
    ann_web.ask(json!({ "type": "typing", "id": "e2", "data": { "conversation_id": not_mine } }), "error").await;
    let refused = ann_web.ask(json!({ "type": "send", "id": "e3", "data": { "to_user_id": dan.id, "client_msg_id": cmid(), "type": "text", "content": { "text": "hi" } } }), "error").await;
    assert_eq!(refused["data"]["code"], 403, "not friends yet: {refused}");
    // Over 8,192 bytes: against the client schema too, so sent unchecked.
    let too_long = json!({ "type": "send", "id": "e4", "data": { "to_user_id": bob.id, "client_msg_id": cmid(), "type": "text", "content": { "text": "x".repeat(9000) } } });
    ann_web.send_text(too_long.to_string()).await;
    let e4 = ann_web.expect("error", |f| f["id"] == "e4").await;
    assert_eq!(e4["data"]["code"], 422, "{e4}");

    // A message sent over the socket: ack, and the message live on bob's devices.
    let conv = direct_id(&ann, &bob);
    let ack = ann_web.ask(json!({ "type": "send", "id": "s1", "data": { "to_user_id": bob.id, "client_msg_id": cmid(), "type": "text", "content": { "text": "hello" } } }), "ack").await;
    let first = ack["data"]["message_id"].as_str().unwrap().to_owned();
    bob_web.expect("message", data_is("message_id", first.clone())).await;
    ann_web.send(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    bob_web.expect("typing", data_is("user_id", ann.id.clone())).await;

    // Reads and message operations.
    api.put("/api/chat/read", Some(&bob.token), json!({ "conversation_id": conv, "seq": ack["data"]["seq"] })).await.expect(200);
    ann_web.expect("conversation.read", data_is("user_id", bob.id.clone())).await;
    api.put(&format!("/api/chat/messages/{first}"), Some(&ann.token), json!({ "content": { "text": "hello, edited" } })).await.expect(200);
    bob_web.expect("message.edited", data_is("message_id", first.clone())).await;
    api.post(&format!("/api/chat/messages/{first}/reactions"), Some(&bob.token), json!({ "emoji": "👍" })).await.expect(200);
    ann_web.expect("reaction.added", data_is("message_id", first.clone())).await;
    api.call(Method::DELETE, &format!("/api/chat/messages/{first}/reactions/{}", percent("👍")), Some(&bob.token), None).await.expect(200);
    ann_web.expect("reaction.removed", data_is("message_id", first.clone())).await;
    let second_message = sent(&api, &ann, text_to(&bob, "oops")).await["message_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/chat/messages/{second_message}/recall"), Some(&ann.token), json!({})).await.expect(200);
    bob_web.expect("message.recalled", data_is("message_id", second_message.clone())).await;
    api.call(Method::DELETE, &format!("/api/chat/messages/{first}"), Some(&bob.token), None).await.expect(200);
    bob_web.expect("message.deleted", data_is("message_id", first.clone())).await;
    api.put(&format!("/api/chat/conversations/{conv}/settings"), Some(&bob.token), json!({ "pinned": true, "muted": false })).await.expect(200);
    bob_web.expect("conversation.settings", data_is("conversation_id", conv.clone())).await;
    api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&bob.token), json!({})).await.expect(200);
    bob_web.expect("conversation.cleared", data_is("conversation_id", conv.clone())).await;

    // Sync: ann's history (the recalled message too), then sync.done with a forbidden conversation.
    let done = ann_web.ask(json!({ "type": "sync", "id": "y1", "data": { "conversations": { conv.clone(): 0, not_mine.clone(): 0 } } }), "sync.done").await;
    assert_eq!(done["data"]["forbidden"], json!([not_mine]), "{done}");
    ann_web.expect("message", |f| f["data"]["message_id"] == second_message.as_str() && f["data"]["recalled"] == true).await;

    // Friends, and the inbox: dan asks ann, she accepts; she names bob.
    let asked = api.post("/api/friend/requests", Some(&dan.token), json!({ "to_user_id": ann.id, "message": "hi ann" })).await.expect(200);
    let request = asked.data()["request_id"].as_str().unwrap().to_owned();
    ann_web.expect("friend", |f| f["data"]["event"] == "FriendRequestSent" && f["data"]["request_id"] == request.as_str()).await;
    ann_web.expect("notification", |f| f["data"]["actor_id"] == dan.id.as_str()).await;
    ann_web.expect("notification.badge", |_| true).await;
    api.post(&format!("/api/friend/requests/{request}/accept"), Some(&ann.token), json!({})).await.expect(200);
    ann_web.expect("friend", |f| f["data"]["event"] == "FriendRequestAccepted" && f["data"]["request_id"] == request.as_str()).await;
    api.put(&format!("/api/friend/{}/remark", bob.id), Some(&ann.token), json!({ "remark": "Bobby" })).await.expect(200);
    ann_web.expect("friend", |f| f["data"]["event"] == "FriendRemarkSet").await;

    // A group, changed.
    let g = api.post("/api/group", Some(&ann.token), json!({ "name": unique("cgroup"), "member_ids": [bob.id, cat.id, dan.id, eve.id] })).await.expect(200);
    let (group_id, group_conv) = (g.data()["group_id"].as_str().unwrap().to_owned(), g.data()["conversation_id"].as_str().unwrap().to_owned());
    bob_web.expect("group", |f| f["data"]["event"] == "GroupCreated" && f["data"]["group_id"] == group_id.as_str()).await;
    api.put(&format!("/api/group/{group_id}"), Some(&ann.token), json!({ "name": "renamed", "members_can_invite": true })).await.expect(200);
    cat_phone.expect("group", |f| f["data"]["event"] == "GroupUpdated").await;
    api.put(&format!("/api/group/{group_id}/members/{}/role", bob.id), Some(&ann.token), json!({ "role": "admin" })).await.expect(200);
    bob_web.expect("group", |f| f["data"]["event"] == "GroupMemberRoleChanged").await;

    // A group call from cat's phone ringing dan, who never answers (missed
    // once the ring runs out: awaited at the end); eve joins it.
    let ring_started = Instant::now();
    let group_call = api.post("/api/call", Some(&cat.token), json!({ "conversation_id": group_conv, "media": "video", "device_id": cat_phone.device_id, "user_ids": [dan.id] })).await.expect(201);
    let group_call = group_call.data()["call_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/call/{group_call}/join"), Some(&eve.token), json!({ "device_id": unique("dev") })).await.expect(200);
    cat_phone.expect("call.joined", |f| f["data"]["call_id"] == group_call.as_str() && f["data"]["user_id"] == eve.id.as_str()).await;

    // Services: a favourite sticker, feedback an operator answers, moments, an announcement.
    favourite(&api, &ann).await;
    ann_web.expect("emoji.changed", |f| f["data"]["event"] == "EmojiFavorited").await;
    let fb = api.post("/api/feedback", Some(&ann.token), json!({ "category": "bug", "text": "contract test" })).await.expect(201);
    let feedback_id = fb.data()["feedback_id"].as_str().unwrap().to_owned();
    // The operator's command reads the feedback from its read model: retry until it is projected.
    let answered = eventually(WAIT, || async { admin_try(&["feedback", "status", &feedback_id, "resolved", "--reply", "Fixed, thanks"]).await.ok() }).await;
    assert!(answered.is_some(), "beaver-admin feedback status never succeeded");
    ann_web.expect("feedback.updated", data_is("feedback_id", feedback_id.clone())).await;
    let moment = api.post("/api/moment", Some(&ann.token), json!({ "text": "contract" })).await.expect(201);
    let moment_id = moment.data()["moment_id"].as_str().unwrap().to_owned();
    bob_web.expect("moment.new", data_is("moment_id", moment_id.clone())).await;
    api.put(&format!("/api/moment/{moment_id}/like"), Some(&bob.token), json!({})).await.expect(200);
    ann_web.expect("moment.activity", |f| f["data"]["moment_id"] == moment_id.as_str() && f["data"]["kind"] == "like").await;
    api.post(&format!("/api/moment/{moment_id}/comments"), Some(&bob.token), json!({ "text": "nice" })).await.expect(201);
    ann_web.expect("moment.activity", |f| f["data"]["moment_id"] == moment_id.as_str() && f["data"]["kind"] == "comment").await;
    // For android sockets only (few other tests use android), and over in a minute.
    let title = unique("contract announcement");
    let ends = (time::OffsetDateTime::now_utc() + time::Duration::minutes(1)).format(&Rfc3339).unwrap();
    admin(&["announce", "--title", &title, "--body", "Contract test", "--platforms", "android", "--ends-at", &ends]).await;
    cat_phone.expect("system.announcement", |f| f["data"]["title"] == title.as_str()).await;

    // 1:1 calls over the socket: accepted on bob's web (his phone hears it
    // was answered elsewhere), signalled, hung up; declined; cancelled.
    let call = start_call(&mut ann_web, &conv).await;
    bob_phone.expect("call.incoming", data_is("call_id", call.clone())).await;
    bob_web.expect("call.incoming", data_is("call_id", call.clone())).await;
    let (status, body) = call_action(&mut bob_web, "accept", json!({ "call_id": call })).await;
    assert_eq!(status, 200, "{body}");
    ann_web.expect("call.accepted", data_is("call_id", call.clone())).await;
    bob_phone.expect("call.answered_elsewhere", data_is("call_id", call.clone())).await;
    ann_web.send(json!({ "type": "call.signal", "data": { "call_id": call, "to_user_id": bob.id, "signal": { "type": "offer", "sdp": "v=0" } } })).await;
    bob_web.expect("call.signal", data_is("call_id", call.clone())).await;
    call_action(&mut ann_web, "hangup", json!({ "call_id": call })).await;
    bob_web.expect("call.left", data_is("call_id", call.clone())).await;
    bob_web.expect("call.ended", data_is("call_id", call.clone())).await;
    let call = start_call(&mut ann_web, &conv).await;
    bob_web.expect("call.incoming", data_is("call_id", call.clone())).await;
    call_action(&mut bob_web, "decline", json!({ "call_id": call })).await;
    ann_web.expect("call.declined", data_is("call_id", call.clone())).await;
    let call = start_call(&mut ann_web, &conv).await;
    bob_web.expect("call.incoming", data_is("call_id", call.clone())).await;
    call_action(&mut ann_web, "cancel", json!({ "call_id": call })).await;
    bob_web.expect("call.cancelled", data_is("call_id", call.clone())).await;

    // sync.required: fay clears the 502 messages, syncs from 0, gets the next one live.
    let top = bulk.await.unwrap();
    let fay_conv = direct_id(&ann, &fay);
    let cleared = eventually(WAIT, || async {
        let a = api.post(&format!("/api/chat/conversations/{fay_conv}/clear"), Some(&fay.token), json!({})).await.expect(200);
        (a.data()["cleared_seq"].as_i64() == Some(top)).then_some(())
    })
    .await;
    assert!(cleared.is_some(), "fay's clear never reached seq {top}");
    let mut fay_web = Tap::dial(&log, "fay web", 2, &fay, "web", &unique("dev")).await;
    fay_web.ask(json!({ "type": "sync", "id": "y2", "data": { "conversations": { fay_conv.clone(): 0 } } }), "sync.done").await;
    sent(&api, &ann, text_to(&fay, "one more")).await;
    fay_web.expect("sync.required", data_is("conversation_id", fay_conv.clone())).await;

    // Kicks: ann's second session signs out; bob's phone is replaced by a new connection of its device.
    api.post("/api/auth/logout", Some(&second_token), json!({})).await.expect(200);
    ann_desk.expect("kick", |f| f["data"]["reason"] == "signed_out").await;
    assert_eq!(ann_desk.close_code().await, Some(4001));
    let phone_device = bob_phone.device_id.clone();
    let _bob_phone_again = Tap::dial(&log, "bob phone again", 2, &bob, "ios", &phone_device).await;
    bob_phone.expect("kick", |f| f["data"]["reason"] == "replaced").await;

    // The group call's ring runs out for dan; cat hangs up, which ends it.
    cat_phone.expect_within("call.missed", |f| f["data"]["call_id"] == group_call.as_str() && f["data"]["user_id"] == dan.id.as_str(), RING.saturating_sub(ring_started.elapsed())).await;
    api.post(&format!("/api/call/{group_call}/hangup"), Some(&cat.token), json!({})).await.expect(200);
    cat_phone.expect("call.ended", data_is("call_id", group_call.clone())).await;

    // Let the last frames in flight arrive, then judge every frame received.
    for tap in [&mut ann_web, &mut bob_web, &mut cat_phone, &mut fay_web] {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Some(f) = tap.read(deadline).await {
            tap.backlog.push_back(f);
        }
    }
    let received = log.lock().unwrap().clone();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut invalid = Vec::new();
    let mut validators = BTreeMap::new();
    for (socket, frame) in &received {
        let t = frame["type"].as_str().unwrap_or_default().to_owned();
        *seen.entry(t.clone()).or_default() += 1;
        if !SERVER_FRAME_TYPES.contains(&t.as_str()) {
            invalid.push(format!("{socket}: a frame of type {t:?}, which SERVER_FRAME_TYPES does not list: {frame}"));
            continue;
        }
        let v = validators.entry(t.clone()).or_insert_with(|| validator(&format!("frames/server/{t}.json")).unwrap());
        let problems = errors(v, frame);
        if !problems.is_empty() {
            invalid.push(format!("{socket}: {t} breaks schemas/frames/server/{t}.json: {problems:?}\n  {frame}"));
        }
    }
    let missing: Vec<&str> = SERVER_FRAME_TYPES.iter().copied().filter(|t| !seen.contains_key(*t)).collect();
    println!("contract_frames: {} frames of {} types in {:.1} s: {seen:?}", received.len(), seen.len(), started.elapsed().as_secs_f64());
    assert!(
        invalid.is_empty() && missing.is_empty(),
        "{} received frames break their contract:\n{}\n\nframe types in SERVER_FRAME_TYPES that no action of this test produced: {missing:?}\n(seen: {seen:?})",
        invalid.len(),
        invalid.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
