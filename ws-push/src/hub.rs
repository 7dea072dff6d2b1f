//! The connections this node holds, by user, and the bounded queue of each.
//! Delivering never waits for a socket: a frame is queued or, if the
//! connection's queue is full, the connection is told to close with
//! `resync` and gets nothing more (docs/push.md, "Slow consumers").

use crate::protocol::{kick_reason, Device, DevicePolicy};
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, RwLock,
    },
};
use tokio::sync::Notify;
use uuid::Uuid;

/// A serialised frame. Reference-counted bytes: made once per event and
/// shared by every connection it goes to, and handed to the socket as is
/// (no copy per recipient).
pub type Frame = axum::extract::ws::Utf8Bytes;

/// What the dispatcher hands a connection.
#[derive(Clone, Debug)]
pub enum Outbound {
    /// A ready frame.
    Frame(Frame),
    /// A message frame, subject to the connection's seq tracker.
    Message { conversation: Arc<str>, seq: i64, frame: Frame },
    /// A message this user must not see: only advances the tracker.
    Skip { conversation: Arc<str>, seq: i64 },
}

impl Outbound {
    fn bytes(&self) -> usize {
        match self {
            Outbound::Frame(f) | Outbound::Message { frame: f, .. } => f.len(),
            Outbound::Skip { .. } => 0,
        }
    }
}

/// Why a connection must close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Kicked { reason: &'static str, by_platform: Option<&'static str> },
    SignedOut,
    Resync,
    Shutdown,
}

/// Per-connection limits.
#[derive(Clone, Copy, Debug)]
pub struct QueueLimits {
    pub max_frames: usize,
    pub max_bytes: usize,
}

/// One connection as the rest of the node sees it.
///
/// Its outgoing queue lives here, behind the same lock as the close request,
/// and allocates nothing while empty: an idle connection pays for neither a
/// channel nor a buffer (a tokio mpsc channel costs ≈ 2.6 KiB per connection
/// before its first message; docs/push.md, "Memory per connection").
pub struct Conn {
    pub user: Uuid,
    pub session: Uuid,
    pub device: Device,
    limits: QueueLimits,
    /// Frames queued but not yet written, their size (the bound on memory)
    /// and why the connection must close, if it must.
    state: Mutex<ConnState>,
    /// Wakes the connection's task: a frame was queued or a close was asked.
    wake: Notify,
}

#[derive(Default)]
struct ConnState {
    queue: VecDeque<Outbound>,
    bytes: usize,
    /// Set once; the connection task closes the socket when it sees it.
    close: Option<CloseReason>,
}

impl Conn {
    pub fn new(user: Uuid, session: Uuid, device: Device, limits: QueueLimits) -> Arc<Conn> {
        Arc::new(Conn { user, session, device, limits, state: Mutex::new(ConnState::default()), wake: Notify::new() })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().expect("connection lock")
    }

    /// Queues a frame; a full queue closes the connection with `resync`
    /// (and drops what it held).
    pub fn offer(&self, out: Outbound) -> bool {
        let mut state = self.state();
        if state.close.is_some() {
            return false;
        }
        let bytes = state.bytes + out.bytes();
        if state.queue.len() + 1 > self.limits.max_frames || bytes > self.limits.max_bytes {
            metrics::counter!("ws_resync_closes_total").increment(1);
            state.close = Some(CloseReason::Resync);
            let dropped = std::mem::take(&mut state.queue);
            state.bytes = 0;
            drop(state);
            drop(dropped);
            self.wake.notify_one();
            return false;
        }
        let was_empty = state.queue.is_empty();
        state.queue.push_back(out);
        state.bytes = bytes;
        drop(state);
        if was_empty {
            self.wake.notify_one();
        }
        true
    }

    /// Takes the oldest queued frame. The queue's buffer is released once it
    /// is empty, so a connection between bursts holds none.
    pub fn take(&self) -> Option<Outbound> {
        let mut state = self.state();
        let out = state.queue.pop_front()?;
        state.bytes -= out.bytes();
        if state.queue.is_empty() && state.queue.capacity() > 0 {
            state.queue = VecDeque::new();
        }
        Some(out)
    }

    /// Whether frames are waiting.
    pub fn has_queued(&self) -> bool {
        !self.state().queue.is_empty()
    }

    /// Wakes the connection's task once more (it left frames for later).
    pub fn wake_again(&self) {
        self.wake.notify_one();
    }

    /// Asks the connection to close; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut state = self.state();
        if state.close.is_none() {
            state.close = Some(reason);
            drop(state);
            self.wake.notify_one();
        }
    }

    /// Why the connection must close, once it was asked to.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.state().close.clone()
    }

    /// Resolves when a frame may be waiting or a close was asked (a wake-up
    /// given while nobody waited is kept for the next call).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Resolves once the connection was asked to close, with the reason.
    pub async fn closed(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.close_reason() {
                return reason;
            }
            self.woken().await;
        }
    }
}

/// All connections of this node.
pub struct Hub {
    by_user: RwLock<HashMap<Uuid, Vec<Arc<Conn>>>>,
    count: AtomicUsize,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { by_user: RwLock::new(HashMap::new()), count: AtomicUsize::new(0) }
    }
}

impl Hub {
    /// Adds a connection and closes the user's older connections it supersedes here.
    pub fn register(&self, conn: Arc<Conn>, policy: DevicePolicy) {
        self.kick_older(conn.user, &conn.device, policy);
        self.by_user.write().expect("hub lock").entry(conn.user).or_default().push(conn);
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("ws_connections").set(n as f64);
    }

    pub fn unregister(&self, conn: &Arc<Conn>) {
        let mut map = self.by_user.write().expect("hub lock");
        if let Some(list) = map.get_mut(&conn.user) {
            let before = list.len();
            list.retain(|c| !Arc::ptr_eq(c, conn));
            if list.len() < before {
                let n = self.count.fetch_sub(1, Ordering::Relaxed) - 1;
                metrics::gauge!("ws_connections").set(n as f64);
            }
            if list.is_empty() {
                map.remove(&conn.user);
            }
        }
    }

    /// Closes the user's connections on this node that `new` supersedes.
    pub fn kick_older(&self, user: Uuid, new: &Device, policy: DevicePolicy) {
        for conn in self.of(user) {
            if let Some(reason) = kick_reason(policy, &conn.device, new) {
                metrics::counter!("ws_kicks_total").increment(1);
                conn.close(CloseReason::Kicked { reason, by_platform: Some(new.platform.as_str()) });
            }
        }
    }

    /// Closes every connection authenticated by `session`.
    pub fn end_session(&self, session: Uuid) {
        for conn in self.all() {
            if conn.session == session {
                conn.close(CloseReason::SignedOut);
            }
        }
    }

    /// The user's connections on this node.
    pub fn of(&self, user: Uuid) -> Vec<Arc<Conn>> {
        self.by_user.read().expect("hub lock").get(&user).cloned().unwrap_or_default()
    }

    pub fn has(&self, user: Uuid) -> bool {
        self.by_user.read().expect("hub lock").contains_key(&user)
    }

    /// Queues `out` for each of the user's connections here; how many took it.
    pub fn deliver(&self, user: Uuid, out: &Outbound) -> usize {
        let map = self.by_user.read().expect("hub lock");
        let Some(list) = map.get(&user) else { return 0 };
        list.iter().filter(|c| c.offer(out.clone())).count()
    }

    pub fn all(&self) -> Vec<Arc<Conn>> {
        self.by_user.read().expect("hub lock").values().flatten().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Platform;

    fn conn(user: Uuid, platform: Platform, device: &str, limits: QueueLimits) -> Arc<Conn> {
        Conn::new(user, Uuid::now_v7(), Device { connection_id: Uuid::now_v7(), generation: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed), device_id: device.into(), platform }, limits)
    }

    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    const ROOMY: QueueLimits = QueueLimits { max_frames: 100, max_bytes: 1 << 20 };

    #[tokio::test]
    async fn a_full_queue_closes_the_connection_with_resync_and_takes_nothing_more() {
        let c = conn(Uuid::now_v7(), Platform::Web, "d", QueueLimits { max_frames: 2, max_bytes: 1 << 20 });
        let frame = Outbound::Frame(Frame::from_static("{}"));
        assert!(c.offer(frame.clone()));
        assert!(c.offer(frame.clone()));
        assert!(!c.offer(frame.clone()));
        assert_eq!(c.closed().await, CloseReason::Resync);
        assert!(!c.offer(frame.clone()));
        // The queue of a connection told to resync is dropped.
        assert!(c.take().is_none());
    }

    #[tokio::test]
    async fn a_frame_queued_while_nobody_waits_still_wakes_the_connection() {
        let c = conn(Uuid::now_v7(), Platform::Web, "d", ROOMY);
        assert!(c.offer(Outbound::Frame(Frame::from_static("{}"))));
        tokio::time::timeout(std::time::Duration::from_secs(5), c.woken()).await.expect("the wake-up was lost");
        assert!(c.take().is_some());
        c.close(CloseReason::Shutdown);
        tokio::time::timeout(std::time::Duration::from_secs(5), c.woken()).await.expect("the close did not wake");
        assert_eq!(c.close_reason(), Some(CloseReason::Shutdown));
    }

    #[test]
    fn a_drained_queue_holds_no_buffer() {
        let c = conn(Uuid::now_v7(), Platform::Web, "d", ROOMY);
        assert_eq!(c.state().queue.capacity(), 0);
        for _ in 0..3 {
            assert!(c.offer(Outbound::Frame(Frame::from_static("{}"))));
        }
        assert!(c.state().queue.capacity() > 0);
        while c.take().is_some() {}
        assert_eq!(c.state().queue.capacity(), 0);
        assert_eq!(c.state().bytes, 0);
    }

    #[test]
    fn the_byte_bound_counts_too_and_taking_frees_room() {
        let c = conn(Uuid::now_v7(), Platform::Web, "d", QueueLimits { max_frames: 100, max_bytes: 10 });
        let big = Outbound::Frame(Frame::from_static("123456"));
        assert!(c.offer(big.clone()));
        assert!(c.take().is_some());
        assert!(c.offer(big.clone()));
        assert!(!c.offer(big));
    }

    #[tokio::test]
    async fn registering_a_second_phone_kicks_the_first_but_not_the_desktop() {
        let hub = Hub::default();
        let user = Uuid::now_v7();
        let phone = conn(user, Platform::Ios, "p1", ROOMY);
        let desk = conn(user, Platform::Desktop, "d1", ROOMY);
        hub.register(phone.clone(), DevicePolicy::PerClass);
        hub.register(desk.clone(), DevicePolicy::PerClass);
        let phone2 = conn(user, Platform::Android, "p2", ROOMY);
        hub.register(phone2.clone(), DevicePolicy::PerClass);
        assert_eq!(phone.closed().await, CloseReason::Kicked { reason: "signed_in_elsewhere", by_platform: Some("android") });
        assert!(desk.close_reason().is_none());
        assert!(phone2.close_reason().is_none());
        hub.unregister(&phone);
        assert_eq!(hub.len(), 2);
        assert_eq!(hub.deliver(user, &Outbound::Frame(Frame::from_static("{}"))), 2);
    }
}
