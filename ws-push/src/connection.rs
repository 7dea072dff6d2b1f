//! One WebSocket connection: authentication (query or first frame), the
//! `ready` frame, then a single task that reads client frames, writes queued
//! frames through the seq tracker, pings for proxies and enforces the
//! heartbeat timeout, until the socket ends or the node asks it to close
//! (kick, resync, sign-out, shutdown).

use crate::{
    ephemeral::{self, Ephemeral},
    hub::{CloseReason, Conn, Frame, Outbound},
    presence,
    protocol::{self, error_frame, frame, parse_client_frame, rate_limited, Admit, Budget, ClientFrame, Device, FrameError, Platform, SeqTracker, ServerFrame, SYNC_PAGE},
    Shared,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use beaver_events::message::ConversationRef;
use beaver_platform::auth::AuthError;
use beaver_readmodel::{
    call,
    conversation::{can_read, history, Page},
    keys,
};
use redis::AsyncCommands;
use serde_json::{json, Map, Value};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;
use uuid::Uuid;

/// An authenticated client, before its connection is registered.
pub struct Who {
    pub user: Uuid,
    pub session: Uuid,
    pub device_id: String,
    pub platform: Platform,
}

pub enum AuthFailure {
    Invalid(FrameError),
    Token(AuthError),
}

/// Checks the device fields, then the token (signature, expiry, revocation).
pub async fn authenticate(s: &Shared, token: &str, device_id: &str, platform: &str) -> Result<Who, AuthFailure> {
    protocol::check_device_id(device_id).map_err(AuthFailure::Invalid)?;
    let platform = protocol::check_platform(platform).map_err(AuthFailure::Invalid)?;
    let claims = s.auth.verify(token).await.map_err(AuthFailure::Token)?;
    Ok(Who { user: claims.sub, session: claims.sid, device_id: device_id.to_owned(), platform })
}

fn text(f: impl Into<String>) -> Message {
    Message::Text(f.into().into())
}

/// Sends an optional last frame and a close frame, giving up after a second
/// (a stuck client's socket may never take them).
async fn close_with(socket: &mut WebSocket, last: Option<String>, code: u16, reason: &'static str) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if let Some(f) = last {
            socket.send(text(f)).await?;
        }
        socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await
    })
    .await;
}

/// Waits for the `auth` frame of a connection opened without a token.
async fn first_frame(s: &Shared, socket: &mut WebSocket) -> Option<Who> {
    let deadline = Instant::now() + Duration::from_secs(s.config.auth_timeout_secs);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.recv()).await;
        let msg = match next {
            Err(_) => {
                close_with(socket, Some(error_frame(&FrameError::new(401, "unauthorized", "no auth frame in time"), None)), 4401, "unauthorized").await;
                return None;
            }
            Ok(None | Some(Err(_))) => return None,
            Ok(Some(Ok(m))) => m,
        };
        let body = match msg {
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return None,
            Message::Text(t) => t,
            Message::Binary(_) => {
                close_with(socket, Some(error_frame(&FrameError::new(401, "unauthorized", "the first frame must be auth"), None)), 4401, "unauthorized").await;
                return None;
            }
        };
        let (id, parsed) = parse_client_frame(body.as_str());
        let id = id.as_deref();
        return match parsed {
            Ok(ClientFrame::Auth { token, device_id, platform }) => match authenticate(s, &token, &device_id, platform.as_str()).await {
                Ok(who) => Some(who),
                Err(AuthFailure::Invalid(e)) => {
                    close_with(socket, Some(error_frame(&e, id)), 4400, "bad device").await;
                    None
                }
                Err(AuthFailure::Token(e)) => {
                    let e = FrameError::new(401, "unauthorized", e.to_string());
                    close_with(socket, Some(error_frame(&e, id)), 4401, "unauthorized").await;
                    None
                }
            },
            Err(e) if e.code == 422 => {
                close_with(socket, Some(error_frame(&e, id)), 4400, "bad device").await;
                None
            }
            Err(e) if e.code == 401 => {
                close_with(socket, Some(error_frame(&e, id)), 4401, "unauthorized").await;
                None
            }
            _ => {
                let e = FrameError::new(401, "unauthorized", "the first frame must be auth");
                close_with(socket, Some(error_frame(&e, id)), 4401, "unauthorized").await;
                None
            }
        };
    }
}

/// Runs one upgraded socket to its end.
///
/// The connection's task keeps this future for the connection's whole life,
/// so it is kept small: opening and closing are boxed and freed once done,
/// and an idle connection holds only the session and its wait loop (not
/// even the arguments: an `async fn` would keep their space for its whole life).
pub fn serve(s: Arc<Shared>, socket: WebSocket, pre: Option<Who>) -> impl std::future::Future<Output = ()> + Send {
    let opening = Box::pin(open(s, socket, pre));
    async move {
        let Some(mut session) = opening.await else { return };
        session.run().await;
        let (s, conn) = (session.s, session.conn);
        s.hub.unregister(&conn);
        Box::pin(presence::offline(&s, &conn)).await;
        Box::pin(device_closed(&s, &conn)).await;
    }
}

/// The device's last connection on this node closed: note when (a call it
/// is bound in gives it the reconnect grace from then).
async fn device_closed(s: &Shared, conn: &Conn) {
    if s.hub.of(conn.user).iter().any(|c| c.device.device_id == conn.device.device_id) {
        return;
    }
    let key = keys::device_dropped(conn.user, &conn.device.device_id);
    let noted: redis::RedisResult<()> = s.redis.clone().set_ex(key, beaver_readmodel::presence::now_ms(), 3600).await;
    if let Err(e) = noted {
        tracing::warn!(error = %e, "could not note a closed device");
    }
}

/// Authenticates (unless done before the upgrade), registers the connection
/// and sends `ready`; `None` when the connection ended before that.
async fn open(s: Arc<Shared>, mut socket: WebSocket, pre: Option<Who>) -> Option<Session> {
    let who = match pre {
        Some(who) => who,
        None => first_frame(&s, &mut socket).await?,
    };
    let generation: u64 = match s.redis.clone().incr(keys::connection_generation(), 1u64).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not number the connection; refusing it");
            close_with(&mut socket, None, 1013, "try again later").await;
            return None;
        }
    };
    let device = Device { connection_id: Uuid::now_v7(), generation, device_id: who.device_id.clone(), platform: who.platform };
    let conn = Conn::new(who.user, who.session, device.clone(), s.limits());
    s.hub.register(conn.clone(), s.config.device_policy);
    let kick = Ephemeral::Kick {
        user: who.user,
        connection_id: device.connection_id,
        generation,
        device_id: device.device_id.clone(),
        platform: device.platform.as_str().into(),
    };
    ephemeral::publish(&s, &kick).await;
    presence::online(&s, &conn).await;
    let _: redis::RedisResult<()> = s.redis.clone().del(keys::device_dropped(who.user, &who.device_id)).await;
    let ready = json!({
        "user_id": who.user,
        "device_id": who.device_id,
        "platform": who.platform.as_str(),
        "connection_id": device.connection_id,
        "node": s.node,
        "heartbeat_timeout_secs": s.config.heartbeat_timeout_secs,
    });
    if socket.send(text(frame(ServerFrame::Ready, ready, None))).await.is_err() {
        s.hub.unregister(&conn);
        presence::offline(&s, &conn).await;
        return None;
    }
    Some(Session { s, conn, socket, tracker: None, expensive: None })
}

/// One connection's task state. Everything an idle connection does not need
/// is made on first use, so that 100k idle connections cost little
/// (docs/push.md, "Memory per connection").
struct Session {
    s: Arc<Shared>,
    conn: Arc<Conn>,
    socket: WebSocket,
    /// The last seq delivered per conversation: made by the first message or `sync`.
    tracker: Option<Box<SeqTracker>>,
    /// The budget for expensive frames and the bound on sends in flight:
    /// made by the first `sync`, `send` or `typing`.
    expensive: Option<Box<Expensive>>,
}

struct Expensive {
    /// What this connection may still spend on expensive frames (a fresh
    /// bucket is full, so making it late changes nothing).
    budget: Budget,
    /// Bounds this connection's sends in flight to the commands tier.
    sends: Arc<tokio::sync::Semaphore>,
}

/// What a queued frame asks of the socket, decided without waiting.
enum Step {
    Write(Frame),
    Nothing,
    /// The cold paths: a gap to fill from MariaDB first, or `sync.required`.
    Fill { conversation: Arc<str>, after: i64, seq: i64, frame: Frame },
    SyncRequired { conversation: Arc<str>, last: i64 },
}

/// The socket failed; the connection is over.
struct Gone;

impl Session {
    async fn send(&mut self, f: impl Into<String>) -> Result<(), Gone> {
        self.socket.send(text(f)).await.map_err(|_| Gone)
    }

    fn tracker(&mut self) -> &mut SeqTracker {
        self.tracker.get_or_insert_with(Default::default)
    }

    fn expensive(&mut self) -> &mut Expensive {
        let c = &self.s.config;
        self.expensive.get_or_insert_with(|| {
            Box::new(Expensive {
                budget: Budget::new(c.frame_budget_per_sec, c.frame_budget_burst, std::time::Instant::now()),
                sends: Arc::new(tokio::sync::Semaphore::new(c.max_sends_in_flight.max(1))),
            })
        })
    }

    /// The connection's life: one loop over the queue, the socket and one
    /// timer (the next server ping or the heartbeat deadline, whichever is
    /// first). The rare paths are boxed, so the loop's future stays small
    /// while it waits.
    async fn run(&mut self) {
        let timeout = Duration::from_secs(self.s.config.heartbeat_timeout_secs);
        let every = Duration::from_secs(self.s.config.server_ping_secs.max(1));
        let mut next_ping = Instant::now() + every;
        // Moved by every client frame; the timer only looks at it when it fires.
        let mut silent_until = Instant::now() + timeout;
        let timer = tokio::time::sleep_until(next_ping.min(silent_until));
        tokio::pin!(timer);
        let conn = self.conn.clone();
        loop {
            let step = tokio::select! {
                _ = conn.woken() => match conn.close_reason() {
                    Some(reason) => {
                        Box::pin(self.close_for(reason)).await;
                        return;
                    }
                    None => self.write_queued().await,
                },
                incoming = self.socket.recv() => match incoming {
                    None => return,
                    Some(Err(e)) => {
                        Box::pin(self.on_read_error(e)).await;
                        return;
                    }
                    Some(Ok(msg)) => {
                        silent_until = Instant::now() + timeout;
                        Box::pin(self.on_client(msg)).await
                    }
                },
                _ = &mut timer => {
                    let now = Instant::now();
                    if now >= silent_until {
                        Box::pin(close_with(&mut self.socket, None, 4002, "heartbeat timeout")).await;
                        return;
                    }
                    let sent = if now >= next_ping {
                        next_ping += every;
                        if next_ping <= now {
                            next_ping = now + every;
                        }
                        self.socket.send(Message::Ping(Default::default())).await.map_err(|_| Gone)
                    } else {
                        Ok(())
                    };
                    timer.as_mut().reset(next_ping.min(silent_until));
                    sent
                }
            };
            if step.is_err() {
                return;
            }
        }
    }

    /// A read failed: an oversized frame is closed with 1009, anything else ends the connection.
    async fn on_read_error(&mut self, e: axum::Error) {
        let e = e.to_string();
        if e.contains("too long") || e.contains("Space limit") {
            metrics::counter!("ws_oversized_closes_total").increment(1);
            close_with(&mut self.socket, None, 1009, "message too big").await;
            // Read (and drop) what the client is still sending for a
            // moment: closing with unread data makes the kernel reset the
            // connection, and the client would never see the 1009.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) | Some(Err(_)) = self.socket.recv().await {}
            })
            .await;
        }
    }

    async fn close_for(&mut self, reason: CloseReason) {
        match reason {
            CloseReason::Kicked { reason, by_platform } => {
                let last = frame(ServerFrame::Kick, json!({ "reason": reason, "by_platform": by_platform }), None);
                close_with(&mut self.socket, Some(last), 4001, "kicked").await;
            }
            CloseReason::SignedOut => {
                close_with(&mut self.socket, Some(frame(ServerFrame::Kick, json!({ "reason": "signed_out", "by_platform": null }), None)), 4001, "kicked").await;
            }
            CloseReason::Resync => close_with(&mut self.socket, None, 4008, "resync").await,
            CloseReason::Shutdown => close_with(&mut self.socket, None, 1001, "going away").await,
        }
    }

    async fn on_client(&mut self, msg: Message) -> Result<(), Gone> {
        let body = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => return self.send(error_frame(&FrameError::new(400, "bad_frame", "frames are JSON text"), None)).await,
            Message::Close(_) => {
                // Complete the closing handshake: the library queued our reply.
                let _ = tokio::time::timeout(Duration::from_secs(1), futures::SinkExt::flush(&mut self.socket)).await;
                return Err(Gone);
            }
            // The library queues the pong; flush it now rather than with the next frame.
            Message::Ping(_) => return futures::SinkExt::flush(&mut self.socket).await.map_err(|_| Gone),
            Message::Pong(_) => return Ok(()),
        };
        let (id, parsed) = parse_client_frame(body.as_str());
        let frame_id = id.as_deref();
        let cost = match &parsed {
            Ok(ClientFrame::Sync { conversations }) => conversations.len() as u32,
            Ok(ClientFrame::Send(_) | ClientFrame::Typing { .. } | ClientFrame::CallSignal { .. } | ClientFrame::CallAction { .. }) => 1,
            _ => 0,
        };
        if cost > 0 {
            if let Err(wait_ms) = self.expensive().budget.spend(cost, std::time::Instant::now()) {
                metrics::counter!("ws_frames_rate_limited_total").increment(1);
                return self.send(rate_limited(wait_ms, frame_id)).await;
            }
        }
        match parsed {
            Err(e) => self.send(error_frame(&e, frame_id)).await,
            Ok(ClientFrame::Ping) => self.send(frame(ServerFrame::Pong, json!({}), frame_id)).await,
            Ok(ClientFrame::Auth { .. }) => {
                self.send(error_frame(&FrameError::new(409, "already_authenticated", "this connection is already authenticated"), frame_id)).await
            }
            Ok(ClientFrame::Send(body)) => {
                let Ok(permit) = self.expensive().sends.clone().try_acquire_owned() else {
                    metrics::counter!("ws_frames_rate_limited_total").increment(1);
                    return self.send(rate_limited(100, frame_id)).await;
                };
                // Off the socket's task: the answer comes back through the queue.
                let (s, conn, user) = (self.s.clone(), self.conn.clone(), self.conn.user);
                tokio::spawn(async move {
                    let answer = local_send(&s, user, body, id.as_deref()).await;
                    drop(permit);
                    conn.offer(Outbound::Frame(answer.into()));
                });
                Ok(())
            }
            Ok(ClientFrame::Typing { conversation_id }) => match self.typing(&conversation_id).await {
                Ok(()) => Ok(()),
                Err(e) => self.send(error_frame(&e, frame_id)).await,
            },
            Ok(ClientFrame::Sync { conversations }) => self.sync(frame_id, conversations).await,
            Ok(ClientFrame::CallAction { action, data }) => {
                // Off the socket's task: the answer comes back through the queue.
                let (s, conn) = (self.s.clone(), self.conn.clone());
                tokio::spawn(async move {
                    let answer = call_action(&s, &conn, action, data, id.as_deref()).await;
                    conn.offer(Outbound::Frame(answer.into()));
                });
                Ok(())
            }
            Ok(ClientFrame::CallSignal { call_id, to_user_id, signal }) => match self.call_signal(call_id, to_user_id, signal).await {
                Ok(()) => Ok(()),
                Err(e) => self.send(error_frame(&e, frame_id)).await,
            },
        }
    }

    /// Relays a WebRTC signal from this connection's device, bound in the
    /// call, to the bound device of another participant, on whichever node
    /// it is (docs/services.md, "Calls"). Never stored.
    async fn call_signal(&mut self, call_id: Uuid, to: Uuid, signal: serde_json::Value) -> Result<(), FrameError> {
        let not_in_call = || FrameError::new(403, "not_in_call", "you and the user you signal must both be in this call");
        let me = self.conn.user;
        let mine = call::bound_device(&self.s.pool, call_id, me).await.map_err(|_| FrameError::new(503, "unavailable", "try again"))?;
        if to == me || mine.as_deref() != Some(self.conn.device.device_id.as_str()) {
            return Err(not_in_call());
        }
        let theirs = call::bound_device(&self.s.pool, call_id, to).await.map_err(|_| FrameError::new(503, "unavailable", "try again"))?.ok_or_else(not_in_call)?;
        let data = json!({ "call_id": call_id, "from_user_id": me, "from_device_id": self.conn.device.device_id, "signal": signal });
        crate::ephemeral::publish(&self.s, &crate::ephemeral::Ephemeral::ToDevice { user: to, device_id: theirs, frame: frame(ServerFrame::CallSignal, data, None) }).await;
        metrics::counter!("ws_call_signals_total").increment(1);
        Ok(())
    }

    /// Tells the conversation's other participants, on every node.
    async fn typing(&mut self, conversation_id: &str) -> Result<(), FrameError> {
        let me = self.conn.user;
        let not_in = || FrameError::new(403, "not_a_participant", "you are not in this conversation");
        let to: Vec<Uuid> = match ConversationRef::parse(conversation_id) {
            None => return Err(FrameError::new(422, "validation", "not a conversation id")),
            Some(ConversationRef::Direct(a, b)) if me == a || me == b => {
                let peer = if me == a { b } else { a };
                // Someone who blocked you does not see you typing.
                let blocked: bool = self.s.redis.clone().sismember(keys::blocks(peer), me.to_string()).await.unwrap_or(false);
                if peer == me || blocked {
                    return Ok(());
                }
                vec![peer]
            }
            Some(ConversationRef::Direct(..)) => return Err(not_in()),
            Some(ConversationRef::Group(g)) => {
                let members: Vec<String> = self.s.redis.clone().smembers(keys::group_members(g)).await.map_err(|_| FrameError::new(503, "unavailable", "try again"))?;
                let members: Vec<Uuid> = members.iter().filter_map(|m| Uuid::try_parse(m).ok()).collect();
                if !members.contains(&me) {
                    return Err(not_in());
                }
                members.into_iter().filter(|u| *u != me).collect()
            }
        };
        let f = frame(ServerFrame::Typing, json!({ "conversation_id": conversation_id, "user_id": me }), None);
        ephemeral::publish(&self.s, &Ephemeral::Deliver { to, frame: f }).await;
        Ok(())
    }

    /// Sends what the client misses after each listed seq, then `sync.done`.
    async fn sync(&mut self, id: Option<&str>, conversations: Vec<(String, i64)>) -> Result<(), Gone> {
        let me = self.conn.user;
        let mut done = Map::new();
        let mut forbidden = Vec::new();
        // Read history only once it holds everything already numbered (which
        // this node may have delivered live from beaver.sequenced.v1).
        let _ = beaver_platform::sequencing::await_projection(&self.s.redis, &self.s.pool, STORE_BARRIER).await;
        for (conversation_id, last) in conversations {
            let readable = match ConversationRef::parse(&conversation_id) {
                Some(c) => can_read(&self.s.pool, c, me).await,
                None => Ok(false),
            };
            let page = match readable {
                Ok(false) => {
                    forbidden.push(conversation_id);
                    continue;
                }
                Ok(true) => history(&self.s.pool, me, &conversation_id, Page::After(last), SYNC_PAGE).await,
                Err(e) => Err(e),
            };
            let Ok((messages, has_more)) = page else {
                return self.send(error_frame(&FrameError::new(503, "unavailable", "the message store is not answering; retry"), id)).await;
            };
            let mut top = last;
            for m in messages {
                top = top.max(m.seq);
                self.send(frame(ServerFrame::Message, json!(m), None)).await?;
            }
            self.tracker().synced(&conversation_id, top, has_more);
            done.insert(conversation_id, json!({ "last_seq": top, "has_more": has_more }));
        }
        self.send(frame(ServerFrame::SyncDone, json!({ "conversations": done, "forbidden": forbidden }), id)).await
    }

    /// Writes what is queued (up to [`WRITE_BATCH`] frames) into the
    /// socket's buffer, then flushes once: a burst goes out in one write
    /// instead of one syscall per frame. Frames left over wake the loop again
    /// once it has looked at the socket.
    async fn write_queued(&mut self) -> Result<(), Gone> {
        let mut wrote = false;
        for _ in 0..WRITE_BATCH {
            let Some(out) = self.conn.take() else { break };
            match self.step(out) {
                Step::Write(f) => {
                    futures::SinkExt::feed(&mut self.socket, Message::Text(f)).await.map_err(|_| Gone)?;
                    wrote = true;
                }
                Step::Nothing => {}
                cold => {
                    Box::pin(self.cold_step(cold)).await?;
                    wrote = true;
                }
            }
        }
        if self.conn.has_queued() {
            self.conn.wake_again();
        }
        if !wrote {
            return Ok(());
        }
        futures::SinkExt::flush(&mut self.socket).await.map_err(|_| Gone)
    }

    /// Passes a queued frame through the seq tracker.
    fn step(&mut self, out: Outbound) -> Step {
        match out {
            Outbound::Frame(f) => Step::Write(f),
            Outbound::Skip { conversation, seq } => {
                let tracker = self.tracker();
                if tracker.admit(&conversation, seq) == Admit::Deliver {
                    tracker.delivered(&conversation, seq);
                }
                Step::Nothing
            }
            Outbound::Message { conversation, seq, frame: f } => {
                let tracker = self.tracker();
                match tracker.admit(&conversation, seq) {
                    Admit::Drop => Step::Nothing,
                    Admit::Deliver => {
                        tracker.delivered(&conversation, seq);
                        Step::Write(f)
                    }
                    Admit::Fill { after } => Step::Fill { conversation, after, seq, frame: f },
                    Admit::SyncRequired { last } => {
                        tracker.hold(&conversation);
                        Step::SyncRequired { conversation, last }
                    }
                }
            }
        }
    }

    async fn cold_step(&mut self, step: Step) -> Result<(), Gone> {
        match step {
            Step::Fill { conversation, after, seq, frame: f } => {
                self.fill_gap(&conversation, after, seq).await?;
                self.tracker().delivered(&conversation, seq);
                futures::SinkExt::feed(&mut self.socket, Message::Text(f)).await.map_err(|_| Gone)
            }
            Step::SyncRequired { conversation, last } => {
                self.send(frame(ServerFrame::SyncRequired, json!({ "conversation_id": conversation.as_ref(), "last_seq": last }), None)).await
            }
            Step::Write(_) | Step::Nothing => Ok(()),
        }
    }
}

/// Most frames written into the socket's buffer before one flush.
const WRITE_BATCH: usize = 64;

/// Longest a sync or gap fill waits for the messages projection to store
/// what the sequencer committed (then it reads what is there).
const STORE_BARRIER: std::time::Duration = std::time::Duration::from_secs(2);

impl Session {
    /// Sends what is stored between `after` and `seq` (exclusive) before the
    /// frame that revealed the gap.
    async fn fill_gap(&mut self, conversation: &str, after: i64, seq: i64) -> Result<(), Gone> {
        let limit = (seq - after - 1).clamp(1, SYNC_PAGE as i64) as u32;
        let _ = beaver_platform::sequencing::await_projection(&self.s.redis, &self.s.pool, STORE_BARRIER).await;
        if let Ok((missing, _)) = history(&self.s.pool, self.conn.user, conversation, Page::After(after), limit).await {
            metrics::counter!("ws_gap_fills_total").increment(1);
            for m in missing.into_iter().filter(|m| m.seq < seq) {
                self.send(frame(ServerFrame::Message, json!(m), None)).await?;
            }
        }
        Ok(())
    }
}

/// Sends a `send` frame's data through the shared send path (the same
/// checks, idempotency and answer as `POST /api/chat/send`, no HTTP hop) and
/// turns the answer into an `ack` or `error` frame.
async fn local_send(s: &Shared, user: uuid::Uuid, body: Value, id: Option<&str>) -> String {
    let request = match serde_json::from_value::<beaver_writemodel::send::SendRequest>(body) {
        Ok(r) => r,
        Err(e) => return error_of(&beaver_platform::http::ApiError::invalid("body", e.to_string()), id),
    };
    let correlation = uuid::Uuid::now_v7().to_string();
    match beaver_writemodel::send::send(&s.send, user, correlation, request).await {
        Ok(sent) => frame(ServerFrame::Ack, serde_json::to_value(sent.data).unwrap_or_default(), id),
        Err(e) => error_of(&e, id),
    }
}

/// The `error` frame of a refused send: the HTTP answer's status, kind, message and field.
fn error_of(e: &beaver_platform::http::ApiError, id: Option<&str>) -> String {
    let (status, data) = e.status_and_data();
    frame(ServerFrame::Error, json!({ "code": status.as_u16(), "kind": data["error"], "message": e.to_string(), "field": data["field"] }), id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    fn returned<A, B, C, R>(_: fn(A, B, C) -> R) -> usize {
        size_of::<R>()
    }
    fn returned1<A, R>(_: fn(A) -> R) -> usize {
        size_of::<R>()
    }

    /// An idle connection holds its task's future for its whole life; the
    /// budget in docs/push.md ("Memory per connection") counts on these sizes.
    /// `cargo test -p beaver-ws-push --release idle_connection -- --nocapture` prints them.
    #[test]
    fn an_idle_connection_keeps_a_small_future_and_session() {
        let serve: fn(Arc<Shared>, WebSocket, Option<Who>) -> _ = serve;
        let run: fn(&'static mut Session) -> _ = Session::run;
        let write: fn(&'static mut Session) -> _ = Session::write_queued;
        let (serve, run, write) = (returned(serve), returned1(run), returned1(write));
        eprintln!("serve future {serve} B (of which the loop {run} B, its queue writer {write} B)");
        eprintln!("Session {} B (WebSocket {} B), Conn {} B, Outbound {} B, Sleep {} B", size_of::<Session>(), size_of::<WebSocket>(), size_of::<Conn>(), size_of::<Outbound>(), size_of::<tokio::time::Sleep>());
        // Before the queue moved into `Conn` and the cold paths were boxed: 1,584 bytes.
        assert!(serve <= 1024, "the connection's future grew to {serve} bytes");
        assert!(size_of::<Session>() <= 416, "the session grew to {} bytes", size_of::<Session>());
    }
}

/// Performs a call action sent as a socket frame: the REST call on the
/// commands tier for this connection's user and session (a token minted
/// here, with the secret this node verifies tokens with), the acting
/// device being this connection's. Answers `call.answer` with the REST
/// status and envelope (docs/services.md, "Call actions over the socket").
async fn call_action(s: &Shared, conn: &Conn, action: &str, mut data: Map<String, Value>, id: Option<&str>) -> String {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build().unwrap_or_default());
    let call_id = data.remove("call_id").and_then(|c| c.as_str().and_then(|c| Uuid::try_parse(c).ok()));
    let path = match (action, call_id) {
        ("start", _) => "/api/call".to_owned(),
        (_, Some(call)) => format!("/api/call/{call}/{action}"),
        (_, None) => return error_frame(&FrameError::new(422, "validation", format!("call.{action} needs data.call_id")), id),
    };
    if matches!(action, "start" | "accept" | "join") {
        data.insert("device_id".into(), Value::String(conn.device.device_id.clone()));
    }
    let (token, _) = s.auth.issue(conn.user, conn.session);
    let url = format!("{}{path}", s.config.commands_url.trim_end_matches('/'));
    let sent = client.post(&url).bearer_auth(token).json(&Value::Object(data)).send().await;
    let answer = match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            json!({ "status": status, "body": body })
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not reach the commands tier for a call action");
            json!({ "status": 503, "body": { "code": 503, "message": "the commands tier is unavailable; try again", "data": { "error": "unavailable" } } })
        }
    };
    metrics::counter!("ws_call_actions_total", "action" => action.to_owned()).increment(1);
    frame(ServerFrame::CallAnswer, answer, id)
}
