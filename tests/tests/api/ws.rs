//! A small WebSocket client for the realtime tier (docs/push.md): connect to a
//! ws-push node directly or through the gateway, authenticate, and read the
//! JSON frames `{type, data, id?}` with deadlines. Frames read while looking
//! for another one are kept in a backlog, so a later `expect` still finds them.

use crate::helpers::gateway;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, protocol::CloseFrame, Bytes, Message};
use tokio_tungstenite::WebSocketStream;

/// How long a frame that must arrive may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for a frame that must not arrive (after a later marker).
pub(crate) const QUIET: Duration = Duration::from_secs(1);

/// `node_url(GATEWAY)` is the origin's `/ws`.
pub(crate) const GATEWAY: u16 = 0;

/// The `/ws` URL of ws-push node `n` (1, 2, …: port `BEAVER_WS_PORT` (21083) + 100·(n−1)), or of
/// the gateway for `GATEWAY`.
pub(crate) fn node_url(n: u16) -> String {
    if n == GATEWAY {
        let g = gateway();
        let g = g.trim_end_matches('/');
        let ws = match g.strip_prefix("http://") {
            Some(rest) => format!("ws://{rest}"),
            None => g.replacen("https://", "wss://", 1),
        };
        format!("{ws}/ws")
    } else {
        let first: u16 = std::env::var("BEAVER_WS_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(21083);
        format!("ws://127.0.0.1:{}/ws", first + 100 * (n - 1))
    }
}

/// Percent-encodes everything but unreserved URL characters.
pub(crate) fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The query-parameter authentication URL of node `n`.
pub(crate) fn query_url(n: u16, token: &str, device_id: &str, platform: &str) -> String {
    format!("{}?token={}&device_id={}&platform={}", node_url(n), percent(token), percent(device_id), percent(platform))
}

/// A TCP connection to the host of a `ws://` URL, with an optional receive
/// buffer size set before connecting (so the kernel advertises a small window).
async fn tcp(url: &str, recv_buffer: Option<u32>) -> TcpStream {
    let authority = url
        .strip_prefix("ws://")
        .unwrap_or_else(|| panic!("only ws:// URLs are supported: {url}"))
        .split(['/', '?'])
        .next()
        .unwrap();
    let addr = tokio::net::lookup_host(authority)
        .await
        .unwrap_or_else(|e| panic!("cannot resolve {authority}: {e}"))
        .next()
        .unwrap_or_else(|| panic!("no address for {authority}"));
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .unwrap_or_else(|_| panic!("connecting to {url} timed out"))
        .unwrap_or_else(|e| panic!("cannot reach {url}: {e} (is the stack up, deploy/up?)"))
}

/// Opens a WebSocket to `url` without reading anything; an error is a refused
/// handshake (`tungstenite::Error::Http` carries the HTTP answer).
pub(crate) async fn try_open(url: &str, recv_buffer: Option<u32>) -> Result<Ws, tungstenite::Error> {
    let stream = tcp(url, recv_buffer).await;
    let (stream, _response) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, stream))
        .await
        .unwrap_or_else(|_| panic!("the WebSocket handshake with {url} timed out"))?;
    Ok(Ws { stream, backlog: VecDeque::new(), ended: None, pongs: Vec::new(), ready: Value::Null })
}

/// Opens a WebSocket to `url`, which must succeed; nothing is read.
pub(crate) async fn open(url: &str) -> Ws {
    try_open(url, None).await.unwrap_or_else(|e| panic!("the WebSocket handshake with {url} failed: {e}"))
}

/// The HTTP answer (status, JSON body or `{"raw": text}`) to a handshake that
/// must be refused before the upgrade.
pub(crate) async fn refused_handshake(url: &str) -> (u16, Value) {
    match try_open(url, None).await {
        Ok(_) => panic!("the handshake with {url} must be refused, but a WebSocket was opened"),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            // tungstenite keeps only the part of the body that came with the
            // headers; when that is not a whole JSON body, ask again over
            // plain HTTP (same upgrade request) to read the body in full.
            let body = match response.body().as_deref().map(serde_json::from_slice::<Value>) {
                Some(Ok(v)) => v,
                _ => refused_upgrade_over_http(url).await,
            };
            (status, body)
        }
        Err(e) => panic!("the handshake with {url} must be refused with an HTTP answer, got {e}"),
    }
}

/// The body of the HTTP answer to a WebSocket upgrade request to `url`,
/// sent with reqwest (which reads any body framing), as JSON or `{"raw": text}`.
async fn refused_upgrade_over_http(url: &str) -> Value {
    let http_url = url.replacen("ws://", "http://", 1);
    let response = reqwest::Client::new()
        .get(&http_url)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .timeout(WAIT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot reach {http_url}: {e}"));
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
}

/// Connects to node `n` with query-parameter authentication and waits for the
/// `ready` frame, which must be the first frame.
pub(crate) async fn connect(n: u16, token: &str, device_id: &str, platform: &str) -> Ws {
    let mut ws = open(&query_url(n, token, device_id, platform)).await;
    ws.await_ready(device_id, platform).await;
    ws
}

/// Like `connect`, but with a 4 KiB TCP receive buffer: a client that never
/// reads fills up after a few KiB.
pub(crate) async fn connect_slow(n: u16, token: &str, device_id: &str, platform: &str) -> Ws {
    let url = query_url(n, token, device_id, platform);
    let mut ws = try_open(&url, Some(4096)).await.unwrap_or_else(|e| panic!("the WebSocket handshake with {url} failed: {e}"));
    ws.await_ready(device_id, platform).await;
    ws
}

/// Connects to node `n` without parameters, authenticates with an `auth`
/// first frame and waits for `ready`, which must be the first frame.
pub(crate) async fn connect_first_frame(n: u16, token: &str, device_id: &str, platform: &str) -> Ws {
    let mut ws = open(&node_url(n)).await;
    ws.send_json(auth_frame(token, device_id, platform)).await;
    ws.await_ready(device_id, platform).await;
    ws
}

pub(crate) fn auth_frame(token: &str, device_id: &str, platform: &str) -> Value {
    json!({ "type": "auth", "data": { "token": token, "device_id": device_id, "platform": platform } })
}

/// What one read from the socket gave.
enum Read {
    Frame(Value),
    Ended(Option<u16>),
    Timeout,
}

/// One client connection.
pub(crate) struct Ws {
    stream: WebSocketStream<TcpStream>,
    /// Text frames read but not yet taken, oldest first.
    backlog: VecDeque<Value>,
    /// Once the stream ended: the close code, if a close frame came.
    ended: Option<Option<u16>>,
    /// Payloads of WebSocket pongs received.
    pongs: Vec<Bytes>,
    /// The `data` of the `ready` frame, once authenticated.
    pub ready: Value,
}

fn kind(frame: &Value) -> &str {
    frame["type"].as_str().unwrap_or("")
}

impl Ws {
    async fn await_ready(&mut self, device_id: &str, platform: &str) {
        let first = self.next_frame(WAIT).await.unwrap_or_else(|| panic!("no ready frame within {WAIT:?} (ended: {:?})", self.ended));
        assert_eq!(kind(&first), "ready", "the first frame after authentication must be ready: {first}");
        let d = &first["data"];
        assert_eq!(d["device_id"], device_id, "ready repeats the device id: {first}");
        assert_eq!(d["platform"], platform, "ready repeats the platform: {first}");
        assert!(d["user_id"].is_string(), "ready names the user: {first}");
        assert!(d["connection_id"].is_string(), "ready names the connection: {first}");
        assert!(d["node"].is_string(), "ready names the node: {first}");
        assert!(d["heartbeat_timeout_secs"].is_u64(), "ready gives the heartbeat timeout: {first}");
        self.ready = d.clone();
    }

    /// The next event from the socket, skipping WebSocket control frames.
    async fn read(&mut self, deadline: Instant) -> Read {
        loop {
            if let Some(code) = self.ended {
                return Read::Ended(code);
            }
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Read::Timeout,
                Ok(next) => next,
            };
            match next {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("the server sent a text frame that is not JSON ({e}): {t}"));
                    assert!(v.is_object() && v["type"].is_string(), "every server frame is an object with a string type: {v}");
                    return Read::Frame(v);
                }
                Some(Ok(Message::Binary(b))) => panic!("the server sent a binary frame ({} bytes); it sends text frames only", b.len()),
                Some(Ok(Message::Pong(p))) => self.pongs.push(p),
                Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => self.ended = Some(frame.map(|f: CloseFrame| u16::from(f.code))),
                Some(Err(_)) | None => self.ended = Some(None),
            }
        }
    }

    /// Sends a JSON value as a text frame.
    pub(crate) async fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.send_raw(Message::text(text.to_owned())).await.unwrap_or_else(|e| panic!("cannot send a frame: {e}"));
    }

    /// Sends any WebSocket message, returning the error instead of panicking.
    pub(crate) async fn send_raw(&mut self, message: Message) -> Result<(), tungstenite::Error> {
        tokio::time::timeout(WAIT, self.stream.send(message)).await.unwrap_or_else(|_| panic!("sending a frame timed out"))
    }

    /// The next frame (oldest of the backlog first), or None when the stream
    /// ended or `within` passed.
    pub(crate) async fn next_frame(&mut self, within: Duration) -> Option<Value> {
        if let Some(f) = self.backlog.pop_front() {
            return Some(f);
        }
        match self.read(Instant::now() + within).await {
            Read::Frame(f) => Some(f),
            _ => None,
        }
    }

    /// The first frame of type `ty` whose `data` satisfies `pred`; every
    /// other frame stays in the backlog. Panics after `within`.
    pub(crate) async fn expect_where(&mut self, ty: &str, pred: impl Fn(&Value) -> bool, within: Duration) -> Value {
        if let Some(i) = self.backlog.iter().position(|f| kind(f) == ty && pred(&f["data"])) {
            return self.backlog.remove(i).unwrap();
        }
        let deadline = Instant::now() + within;
        loop {
            match self.read(deadline).await {
                Read::Frame(f) if kind(&f) == ty && pred(&f["data"]) => return f,
                Read::Frame(f) => self.backlog.push_back(f),
                Read::Ended(code) => panic!("the connection ended (close code {code:?}) before a matching {ty} frame; frames seen: {:#?}", self.backlog),
                Read::Timeout => panic!("no matching {ty} frame within {within:?}; frames seen: {:#?}", self.backlog),
            }
        }
    }

    /// The first frame of type `ty` (others stay in the backlog).
    pub(crate) async fn expect(&mut self, ty: &str, within: Duration) -> Value {
        self.expect_where(ty, |_| true, within).await
    }

    /// The `message` frame (the whole frame) of message `message_id`.
    pub(crate) async fn expect_message(&mut self, message_id: &str) -> Value {
        self.expect_where("message", |d| d["message_id"] == message_id, WAIT).await
    }

    /// The `data` of the next `n` `message` frames of `conversation_id`, in
    /// arrival order. Panics if fewer arrive within `within`.
    pub(crate) async fn collect_messages(&mut self, conversation_id: &str, n: usize, within: Duration) -> Vec<Value> {
        self.collect_messages_where(conversation_id, n, |_| true, within).await
    }

    /// Like `collect_messages`, counting only messages whose data satisfies
    /// `pred` (the others stay in the backlog).
    pub(crate) async fn collect_messages_where(&mut self, conversation_id: &str, n: usize, pred: impl Fn(&Value) -> bool, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        let mut others = VecDeque::new();
        while got.len() < n {
            let frame = match self.backlog.pop_front() {
                Some(f) => f,
                None => match self.read(deadline).await {
                    Read::Frame(f) => f,
                    Read::Ended(code) => panic!(
                        "the connection ended (close code {code:?}) after {} of {n} messages of {conversation_id}: {got:#?}",
                        got.len()
                    ),
                    Read::Timeout => panic!("only {} of {n} messages of {conversation_id} within {within:?}: {got:#?}", got.len()),
                },
            };
            if kind(&frame) == "message" && frame["data"]["conversation_id"] == conversation_id && pred(&frame["data"]) {
                got.push(frame["data"].clone());
            } else {
                others.push_back(frame);
            }
        }
        others.extend(self.backlog.drain(..));
        self.backlog = others;
        got
    }

    /// Watches for `within` (the backlog included) and panics if a frame of
    /// type `ty` whose `data` satisfies `pred` arrives. The stream ending
    /// counts as nothing arriving.
    pub(crate) async fn assert_no(&mut self, ty: &str, pred: impl Fn(&Value) -> bool, within: Duration, what: &str) {
        if let Some(f) = self.backlog.iter().find(|f| kind(f) == ty && pred(&f["data"])) {
            panic!("{what}: unexpected frame {f}");
        }
        let deadline = Instant::now() + within;
        loop {
            match self.read(deadline).await {
                Read::Frame(f) if kind(&f) == ty && pred(&f["data"]) => panic!("{what}: unexpected frame {f}"),
                Read::Frame(f) => self.backlog.push_back(f),
                Read::Ended(_) | Read::Timeout => return,
            }
        }
    }

    /// Asserts that no more `message` frames of `conversation_id` arrive within `within`.
    pub(crate) async fn assert_no_message_in(&mut self, conversation_id: &str, within: Duration, what: &str) {
        self.assert_no("message", |d| d["conversation_id"] == conversation_id, within, what).await;
    }

    /// Sends `{"type":"ping","id":id}` and expects the `pong` echoing `id`.
    pub(crate) async fn ping(&mut self, id: &str) -> Value {
        self.send_json(json!({ "type": "ping", "id": id })).await;
        self.expect_where_frame("pong", |f| f["id"] == id, WAIT).await
    }

    /// Like `expect_where`, but `pred` sees the whole frame (to match on `id`).
    pub(crate) async fn expect_where_frame(&mut self, ty: &str, pred: impl Fn(&Value) -> bool, within: Duration) -> Value {
        if let Some(i) = self.backlog.iter().position(|f| kind(f) == ty && pred(f)) {
            return self.backlog.remove(i).unwrap();
        }
        let deadline = Instant::now() + within;
        loop {
            match self.read(deadline).await {
                Read::Frame(f) if kind(&f) == ty && pred(&f) => return f,
                Read::Frame(f) => self.backlog.push_back(f),
                Read::Ended(code) => panic!("the connection ended (close code {code:?}) before a matching {ty} frame; frames seen: {:#?}", self.backlog),
                Read::Timeout => panic!("no matching {ty} frame within {within:?}; frames seen: {:#?}", self.backlog),
            }
        }
    }

    /// Sends a frame with an `id` and returns the `error` frame echoing it.
    pub(crate) async fn expect_error_for(&mut self, frame: Value) -> Value {
        let id = frame["id"].as_str().expect("the frame needs an id").to_owned();
        self.send_json(frame).await;
        self.expect_where_frame("error", |f| f["id"] == id.as_str(), WAIT).await
    }

    /// Sends a WebSocket ping and waits for the WebSocket pong with the same payload.
    pub(crate) async fn ws_ping(&mut self, payload: &'static [u8]) {
        self.send_raw(Message::Ping(Bytes::from_static(payload))).await.unwrap_or_else(|e| panic!("cannot send a WebSocket ping: {e}"));
        let deadline = Instant::now() + WAIT;
        // `read` returns only text frames, so look at each raw message here.
        while !self.pongs.iter().any(|p| p.as_ref() == payload) {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("no WebSocket pong within {WAIT:?}"),
                Ok(Some(Ok(Message::Pong(p)))) => self.pongs.push(p),
                Ok(Some(Ok(Message::Text(t)))) => self.backlog.push_back(serde_json::from_str(t.as_str()).expect("a JSON frame")),
                Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => panic!("the connection ended before the WebSocket pong"),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads until the stream ends (frames read go to the backlog) and
    /// returns the close code: None when it ended without a close frame.
    /// Panics if it is still open after `within`.
    pub(crate) async fn expect_close(&mut self, within: Duration) -> Option<u16> {
        let deadline = Instant::now() + within;
        loop {
            match self.read(deadline).await {
                Read::Frame(f) => self.backlog.push_back(f),
                Read::Ended(code) => return code,
                Read::Timeout => panic!("the connection is still open after {within:?}; frames seen: {:#?}", self.backlog),
            }
        }
    }

    /// True once the stream has ended.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Every frame read but not taken yet, oldest first (emptying the backlog).
    pub(crate) fn take_backlog(&mut self) -> Vec<Value> {
        self.backlog.drain(..).collect()
    }

    /// Closes the connection normally and waits (bounded) for the server to end it.
    pub(crate) async fn close(mut self) {
        if self.ended.is_none() {
            let _ = self.send_raw(Message::Close(None)).await;
            let deadline = Instant::now() + WAIT;
            while !matches!(self.read(deadline).await, Read::Ended(_) | Read::Timeout) {}
        }
    }
}
