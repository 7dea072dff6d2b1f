//! The connections this node holds, by user, and the bounded queue of each.
//! Delivering never waits for a socket: a frame is queued or, if the
//! connection's queue is full, the connection is told to close with
//! `resync` and gets nothing more (docs/push.md, "Slow consumers").

use crate::protocol::{kick_reason, Device, DevicePolicy};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, RwLock,
    },
};
use tokio::sync::{mpsc, Notify};
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
pub struct Conn {
    pub user: Uuid,
    pub session: Uuid,
    pub device: Device,
    tx: mpsc::UnboundedSender<Outbound>,
    /// Frames and bytes queued but not yet written: the bound on memory.
    queued_frames: AtomicUsize,
    queued_bytes: AtomicUsize,
    limits: QueueLimits,
    /// Set once; the connection task closes the socket when notified.
    close: Mutex<Option<CloseReason>>,
    closing: Notify,
}

impl Conn {
    pub fn new(user: Uuid, session: Uuid, device: Device, limits: QueueLimits) -> (Arc<Conn>, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Conn {
            user,
            session,
            device,
            tx,
            queued_frames: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            limits,
            close: Mutex::new(None),
            closing: Notify::new(),
        };
        (Arc::new(conn), rx)
    }

    /// Queues a frame; a full queue closes the connection with `resync`.
    pub fn offer(&self, out: Outbound) -> bool {
        if self.close.lock().expect("close lock").is_some() {
            return false;
        }
        let bytes = out.bytes();
        let frames = self.queued_frames.fetch_add(1, Ordering::AcqRel) + 1;
        let total = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if frames > self.limits.max_frames || total > self.limits.max_bytes {
            self.taken(&out);
            metrics::counter!("ws_resync_closes_total").increment(1);
            self.close(CloseReason::Resync);
            return false;
        }
        if self.tx.send(out).is_err() {
            return false;
        }
        true
    }

    /// The connection task took `out` off the queue.
    pub fn taken(&self, out: &Outbound) {
        self.queued_frames.fetch_sub(1, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(out.bytes(), Ordering::AcqRel);
    }

    /// Asks the connection to close; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut slot = self.close.lock().expect("close lock");
        if slot.is_none() {
            *slot = Some(reason);
            self.closing.notify_one();
        }
    }

    /// Resolves once the connection was asked to close, with the reason.
    pub async fn closed(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.close.lock().expect("close lock").clone() {
                return reason;
            }
            self.closing.notified().await;
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

    fn conn(user: Uuid, platform: Platform, device: &str, limits: QueueLimits) -> (Arc<Conn>, mpsc::UnboundedReceiver<Outbound>) {
        Conn::new(user, Uuid::now_v7(), Device { connection_id: Uuid::now_v7(), device_id: device.into(), platform }, limits)
    }

    const ROOMY: QueueLimits = QueueLimits { max_frames: 100, max_bytes: 1 << 20 };

    #[tokio::test]
    async fn a_full_queue_closes_the_connection_with_resync_and_takes_nothing_more() {
        let (c, mut rx) = conn(Uuid::now_v7(), Platform::Web, "d", QueueLimits { max_frames: 2, max_bytes: 1 << 20 });
        let frame = Outbound::Frame(Frame::from_static("{}"));
        assert!(c.offer(frame.clone()));
        assert!(c.offer(frame.clone()));
        assert!(!c.offer(frame.clone()));
        assert_eq!(c.closed().await, CloseReason::Resync);
        assert!(!c.offer(frame.clone()));
        assert!(rx.recv().await.is_some() && rx.recv().await.is_some());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_byte_bound_counts_too_and_taking_frees_room() {
        let (c, _rx) = conn(Uuid::now_v7(), Platform::Web, "d", QueueLimits { max_frames: 100, max_bytes: 10 });
        let big = Outbound::Frame(Frame::from_static("123456"));
        assert!(c.offer(big.clone()));
        c.taken(&big);
        assert!(c.offer(big.clone()));
        assert!(!c.offer(big));
    }

    #[tokio::test]
    async fn registering_a_second_phone_kicks_the_first_but_not_the_desktop() {
        let hub = Hub::default();
        let user = Uuid::now_v7();
        let (phone, _r1) = conn(user, Platform::Ios, "p1", ROOMY);
        let (desk, _r2) = conn(user, Platform::Desktop, "d1", ROOMY);
        hub.register(phone.clone(), DevicePolicy::PerClass);
        hub.register(desk.clone(), DevicePolicy::PerClass);
        let (phone2, _r3) = conn(user, Platform::Android, "p2", ROOMY);
        hub.register(phone2.clone(), DevicePolicy::PerClass);
        assert_eq!(phone.closed().await, CloseReason::Kicked { reason: "signed_in_elsewhere", by_platform: Some("android") });
        assert!(desk.close.lock().unwrap().is_none());
        assert!(phone2.close.lock().unwrap().is_none());
        hub.unregister(&phone);
        assert_eq!(hub.len(), 2);
        assert_eq!(hub.deliver(user, &Outbound::Frame(Frame::from_static("{}"))), 2);
    }
}
