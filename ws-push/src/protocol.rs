//! The socket protocol as pure functions: parsing client frames, building
//! server frames, the multi-device kick rule and the per-connection seq
//! tracker that turns "sync, then live" into gap-free, duplicate-free
//! delivery (docs/push.md). No I/O here; everything is unit-tested.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Most conversations one `sync` frame may list.
pub const SYNC_MAX_CONVERSATIONS: usize = 200;
/// Most messages sent per conversation per `sync`, and the largest gap filled from the database.
pub const SYNC_PAGE: u32 = 500;

/// The device families of the multi-device policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Ios,
    Android,
    Web,
    Desktop,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        match s {
            "ios" => Some(Platform::Ios),
            "android" => Some(Platform::Android),
            "web" => Some(Platform::Web),
            "desktop" => Some(Platform::Desktop),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Web => "web",
            Platform::Desktop => "desktop",
        }
    }

    /// Phones and tablets share one class.
    pub fn class(self) -> &'static str {
        match self {
            Platform::Ios | Platform::Android => "mobile",
            Platform::Web => "web",
            Platform::Desktop => "desktop",
        }
    }
}

/// How many connections a user may hold at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DevicePolicy {
    /// One per platform class (mobile, web, desktop).
    PerClass,
    /// One in all.
    Single,
    /// No limit (a repeated device id still replaces its older connection).
    Unlimited,
}

/// What a connection is, for the kick rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub connection_id: Uuid,
    /// From one Redis counter shared by every node: a later connection has a
    /// larger number. (UUIDv7 ids are ordered only within one process: two
    /// opened in the same millisecond on two nodes compare at random.)
    pub generation: u64,
    pub device_id: String,
    pub platform: Platform,
}

/// Why `old` must give way to the newer `new` of the same user, if it must.
pub fn kick_reason(policy: DevicePolicy, old: &Device, new: &Device) -> Option<&'static str> {
    if old.generation >= new.generation {
        return None;
    }
    if old.device_id == new.device_id {
        return Some("replaced");
    }
    let conflict = match policy {
        DevicePolicy::PerClass => old.platform.class() == new.platform.class(),
        DevicePolicy::Single => true,
        DevicePolicy::Unlimited => false,
    };
    conflict.then_some("signed_in_elsewhere")
}

/// A refusal, sent as an `error` frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameError {
    pub code: u16,
    pub kind: &'static str,
    pub message: String,
}

impl FrameError {
    pub fn new(code: u16, kind: &'static str, message: impl Into<String>) -> Self {
        FrameError { code, kind, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        FrameError::new(422, "validation", message)
    }
}

/// Checks a device id: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn check_device_id(id: &str) -> Result<(), FrameError> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(()).ok_or_else(|| FrameError::invalid("device_id must be 1 to 64 characters of A-Z a-z 0-9 . _ -"))
}

pub fn check_platform(p: &str) -> Result<Platform, FrameError> {
    Platform::parse(p).ok_or_else(|| FrameError::invalid("platform must be ios, android, web or desktop"))
}

/// The `auth` frame's data, also the query parameters of `/ws`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Credentials {
    pub token: Option<String>,
    pub device_id: Option<String>,
    pub platform: Option<String>,
}

/// A parsed client frame.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientFrame {
    Auth { token: String, device_id: String, platform: Platform },
    Ping,
    /// The body of `POST /api/chat/send`, forwarded as is.
    Send(Value),
    Typing { conversation_id: String },
    Sync { conversations: Vec<(String, i64)> },
    /// A WebRTC signal (offer, answer, candidate) for another device in a call.
    CallSignal { call_id: Uuid, to_user_id: Uuid, signal: Value },
    /// A call action (`start`, `accept`, …), performed as its REST call.
    CallAction { action: &'static str, data: Map<String, Value> },
}

/// The call actions a socket may send as `call.<action>`.
pub const CALL_ACTIONS: &[&str] = &["start", "accept", "decline", "cancel", "hangup", "invite", "join"];

/// Declares the frame types of one direction at once: the enum, its names
/// (`as_str`, the only place a frame type is spelled), `parse`, `ALL`, and
/// the list of names, so that a frame type cannot exist outside the list.
macro_rules! frame_types {
    ($(#[$meta:meta])* $vis:vis enum $name:ident, $list:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every type, in the order of the list.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The `"type"` of the frame on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        /// The wire names of every type, as [`ALL`](Self::ALL) spells them
        /// (one JSON Schema each under `schemas/frames/`, docs/push.md).
        pub const $list: &[&str] = &[$($text,)*];
    };
}

frame_types! {
    /// Every frame type ws-push sends. [`frame`] takes one of these, so a
    /// frame of a type not listed here cannot be built (schema:
    /// `schemas/frames/server/<type>.json`; docs/push.md, "Server → client").
    pub enum ServerFrame, SERVER_FRAME_TYPES {
        Ready = "ready",
        Pong = "pong",
        Ack = "ack",
        Error = "error",
        Message = "message",
        MessageRecalled = "message.recalled",
        MessageEdited = "message.edited",
        MessageDeleted = "message.deleted",
        ConversationCleared = "conversation.cleared",
        ReactionAdded = "reaction.added",
        ReactionRemoved = "reaction.removed",
        ConversationRead = "conversation.read",
        ConversationSettings = "conversation.settings",
        Friend = "friend",
        Group = "group",
        Typing = "typing",
        Presence = "presence",
        SyncDone = "sync.done",
        SyncRequired = "sync.required",
        Kick = "kick",
        EmojiChanged = "emoji.changed",
        FeedbackUpdated = "feedback.updated",
        Notification = "notification",
        NotificationBadge = "notification.badge",
        MomentNew = "moment.new",
        MomentActivity = "moment.activity",
        CallIncoming = "call.incoming",
        CallAccepted = "call.accepted",
        CallAnsweredElsewhere = "call.answered_elsewhere",
        CallDeclined = "call.declined",
        CallMissed = "call.missed",
        CallJoined = "call.joined",
        CallLeft = "call.left",
        CallCancelled = "call.cancelled",
        CallEnded = "call.ended",
        CallSignal = "call.signal",
        /// The answer to a call action sent over the socket.
        CallAnswer = "call.answer",
        SystemAnnouncement = "system.announcement",
    }
}

frame_types! {
    /// Every frame type a client may send; [`parse_client_frame`] knows
    /// these and answers anything else `unknown_type` (schema:
    /// `schemas/frames/client/<type>.json`; docs/push.md, "Client → server").
    pub enum ClientFrameType, CLIENT_FRAME_TYPES {
        Auth = "auth",
        Ping = "ping",
        Send = "send",
        Typing = "typing",
        Sync = "sync",
        CallSignal = "call.signal",
        CallStart = "call.start",
        CallAccept = "call.accept",
        CallDecline = "call.decline",
        CallCancel = "call.cancel",
        CallHangup = "call.hangup",
        CallInvite = "call.invite",
        CallJoin = "call.join",
    }
}

/// The largest call signal relayed (serialised `signal`).
pub const CALL_SIGNAL_MAX_BYTES: usize = 32 * 1024;

/// Parses one text frame into its `id` (echoed in the answer) and content.
pub fn parse_client_frame(text: &str) -> (Option<String>, Result<ClientFrame, FrameError>) {
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else {
        return (None, Err(FrameError::new(400, "bad_frame", "a frame must be a JSON object {\"type\", \"data\"}")));
    };
    let id = match frame.remove("id") {
        Some(Value::String(id)) if id.len() <= 64 => Some(id),
        None | Some(Value::Null) => None,
        Some(_) => return (None, Err(FrameError::new(400, "bad_frame", "id must be a string of at most 64 characters"))),
    };
    let Some(Value::String(kind)) = frame.remove("type") else {
        return (id, Err(FrameError::new(400, "bad_frame", "a frame needs a string \"type\"")));
    };
    let data = frame.remove("data").unwrap_or(Value::Object(Map::new()));
    (id, parse_data(&kind, data))
}

fn parse_data(kind: &str, data: Value) -> Result<ClientFrame, FrameError> {
    let object = |data: Value| match data {
        Value::Object(map) => Ok(map),
        _ => Err(FrameError::invalid("data must be an object")),
    };
    let Some(known) = ClientFrameType::parse(kind) else {
        return Err(FrameError::new(400, "unknown_type", format!("unknown frame type {kind:?}")));
    };
    match known {
        ClientFrameType::Ping => Ok(ClientFrame::Ping),
        ClientFrameType::Auth => {
            let creds: Credentials = serde_json::from_value(Value::Object(object(data)?)).map_err(|e| FrameError::invalid(e.to_string()))?;
            let token = creds.token.filter(|t| !t.is_empty()).ok_or_else(|| FrameError::new(401, "unauthorized", "token is required"))?;
            let device_id = creds.device_id.unwrap_or_default();
            check_device_id(&device_id)?;
            let platform = check_platform(creds.platform.as_deref().unwrap_or_default())?;
            Ok(ClientFrame::Auth { token, device_id, platform })
        }
        ClientFrameType::Send => Ok(ClientFrame::Send(Value::Object(object(data)?))),
        ClientFrameType::Typing => match object(data)?.remove("conversation_id") {
            Some(Value::String(conversation_id)) if !conversation_id.is_empty() => Ok(ClientFrame::Typing { conversation_id }),
            _ => Err(FrameError::invalid("typing needs data.conversation_id")),
        },
        ClientFrameType::Sync => {
            let Some(Value::Object(listed)) = object(data)?.remove("conversations") else {
                return Err(FrameError::invalid("sync needs data.conversations: {conversation_id: last_seq}"));
            };
            if listed.is_empty() || listed.len() > SYNC_MAX_CONVERSATIONS {
                return Err(FrameError::invalid(format!("sync lists 1 to {SYNC_MAX_CONVERSATIONS} conversations")));
            }
            let conversations = listed
                .into_iter()
                .map(|(c, seq)| match seq.as_i64() {
                    Some(seq) if seq >= 0 => Ok((c, seq)),
                    _ => Err(FrameError::invalid(format!("the last seq of {c} must be an integer >= 0"))),
                })
                .collect::<Result<_, _>>()?;
            Ok(ClientFrame::Sync { conversations })
        }
        ClientFrameType::CallStart
        | ClientFrameType::CallAccept
        | ClientFrameType::CallDecline
        | ClientFrameType::CallCancel
        | ClientFrameType::CallHangup
        | ClientFrameType::CallInvite
        | ClientFrameType::CallJoin => {
            let action = known.as_str().trim_start_matches("call.");
            Ok(ClientFrame::CallAction { action, data: object(data)? })
        }
        ClientFrameType::CallSignal => {
            let mut data = object(data)?;
            let id = |v: Option<Value>, what: &str| {
                v.and_then(|v| v.as_str().and_then(|s| Uuid::try_parse(s).ok())).ok_or_else(|| FrameError::invalid(format!("call.signal needs data.{what}")))
            };
            let call_id = id(data.remove("call_id"), "call_id")?;
            let to_user_id = id(data.remove("to_user_id"), "to_user_id")?;
            let signal = match data.remove("signal") {
                Some(v @ Value::Object(_)) => v,
                _ => return Err(FrameError::invalid("call.signal needs data.signal, an object")),
            };
            if signal.to_string().len() > CALL_SIGNAL_MAX_BYTES {
                return Err(FrameError::invalid(format!("a call signal is at most {CALL_SIGNAL_MAX_BYTES} bytes")));
            }
            Ok(ClientFrame::CallSignal { call_id, to_user_id, signal })
        }
    }
}

/// `{"type": …, "data": …}`, with `id` when answering a client frame. The
/// one place a server frame is made: its type is a [`ServerFrame`].
pub fn frame(kind: ServerFrame, data: Value, id: Option<&str>) -> String {
    let mut f = json!({ "type": kind.as_str(), "data": data });
    if let Some(id) = id {
        f["id"] = json!(id);
    }
    f.to_string()
}

pub fn error_frame(e: &FrameError, id: Option<&str>) -> String {
    frame(ServerFrame::Error, json!({ "code": e.code, "kind": e.kind, "message": e.message }), id)
}

/// What to do with a live message for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Send it.
    Deliver,
    /// Already delivered (or held back until the client syncs): drop it.
    Drop,
    /// Fetch the seqs after `after` and before this one first, then send it.
    Fill { after: i64 },
    /// Too far behind to fill: tell the client to sync; hold the conversation back.
    SyncRequired { last: i64 },
}

/// Per connection: the last seq delivered in each conversation, and the
/// conversations held back until the client syncs them.
#[derive(Debug, Default)]
pub struct SeqTracker {
    last: HashMap<String, i64>,
    held: HashSet<String>,
}

impl SeqTracker {
    /// Decides about live message `seq` of `conversation` (see [`Admit`]).
    pub fn admit(&self, conversation: &str, seq: i64) -> Admit {
        if self.held.contains(conversation) {
            return Admit::Drop;
        }
        match self.last.get(conversation) {
            None => Admit::Deliver,
            Some(&last) if seq <= last => Admit::Drop,
            Some(&last) if seq == last + 1 => Admit::Deliver,
            Some(&last) if seq - last - 1 > SYNC_PAGE as i64 => Admit::SyncRequired { last },
            Some(&last) => Admit::Fill { after: last },
        }
    }

    /// Records that everything up to `seq` of `conversation` was delivered (or skipped).
    pub fn delivered(&mut self, conversation: &str, seq: i64) {
        match self.last.get_mut(conversation) {
            Some(last) => *last = (*last).max(seq),
            None => {
                self.last.insert(conversation.to_owned(), seq);
            }
        }
    }

    /// Holds a conversation back until the client syncs it.
    pub fn hold(&mut self, conversation: &str) {
        self.held.insert(conversation.to_owned());
    }

    /// After a sync page: up to `seq` delivered; held while the client has more to fetch.
    pub fn synced(&mut self, conversation: &str, seq: i64, has_more: bool) {
        self.delivered(conversation, seq);
        if has_more {
            self.hold(conversation);
        } else {
            self.held.remove(conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(platform: Platform, device_id: &str) -> Device {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Device { connection_id: Uuid::now_v7(), generation: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed), device_id: device_id.into(), platform }
    }

    #[test]
    fn per_class_policy_kicks_the_older_connection_of_the_same_class_only() {
        let old = device(Platform::Ios, "a");
        let same_class = device(Platform::Android, "b");
        let other_class = device(Platform::Web, "c");
        assert_eq!(kick_reason(DevicePolicy::PerClass, &old, &same_class), Some("signed_in_elsewhere"));
        assert_eq!(kick_reason(DevicePolicy::PerClass, &old, &other_class), None);
        // Never the newer one.
        assert_eq!(kick_reason(DevicePolicy::PerClass, &same_class, &old), None);
    }

    #[test]
    fn a_repeated_device_id_replaces_the_older_connection_under_every_policy() {
        let old = device(Platform::Web, "laptop");
        let new = device(Platform::Desktop, "laptop");
        for policy in [DevicePolicy::PerClass, DevicePolicy::Single, DevicePolicy::Unlimited] {
            assert_eq!(kick_reason(policy, &old, &new), Some("replaced"));
        }
    }

    #[test]
    fn the_order_is_the_shared_generation_not_the_connection_id() {
        // Two nodes, one millisecond: the older connection's UUIDv7 may sort
        // after the newer one's. The generation decides.
        let mut old = device(Platform::Web, "laptop");
        let mut new = device(Platform::Web, "laptop");
        (old.connection_id, new.connection_id) = (new.connection_id, old.connection_id);
        assert!(old.connection_id > new.connection_id && old.generation < new.generation);
        assert_eq!(kick_reason(DevicePolicy::PerClass, &old, &new), Some("replaced"));
        assert_eq!(kick_reason(DevicePolicy::PerClass, &new, &old), None);
    }

    #[test]
    fn single_policy_kicks_everything_older_and_unlimited_nothing() {
        let old = device(Platform::Web, "a");
        let new = device(Platform::Ios, "b");
        assert_eq!(kick_reason(DevicePolicy::Single, &old, &new), Some("signed_in_elsewhere"));
        assert_eq!(kick_reason(DevicePolicy::Unlimited, &old, &new), None);
    }

    #[test]
    fn device_ids_and_platforms_are_checked() {
        assert!(check_device_id("phone-1.a_B").is_ok());
        assert!(check_device_id("").is_err());
        assert!(check_device_id("has space").is_err());
        assert!(check_device_id(&"x".repeat(65)).is_err());
        assert_eq!(check_platform("android"), Ok(Platform::Android));
        assert_eq!(check_platform("windows").unwrap_err().code, 422);
    }

    #[test]
    fn client_frames_parse_with_their_id() {
        let (id, f) = parse_client_frame(r#"{"type":"ping","id":"p1"}"#);
        assert_eq!((id.as_deref(), f), (Some("p1"), Ok(ClientFrame::Ping)));
        let (_, f) = parse_client_frame(r#"{"type":"sync","data":{"conversations":{"group:x":3}}}"#);
        assert_eq!(f, Ok(ClientFrame::Sync { conversations: vec![("group:x".into(), 3)] }));
        let (_, f) = parse_client_frame(r#"{"type":"typing","data":{"conversation_id":"direct:a:b"}}"#);
        assert_eq!(f, Ok(ClientFrame::Typing { conversation_id: "direct:a:b".into() }));
        let (_, f) = parse_client_frame(r#"{"type":"auth","data":{"token":"t","device_id":"d","platform":"web"}}"#);
        assert_eq!(f, Ok(ClientFrame::Auth { token: "t".into(), device_id: "d".into(), platform: Platform::Web }));
    }

    #[test]
    fn bad_client_frames_get_the_documented_error_kinds() {
        let kind = |text: &str| parse_client_frame(text).1.unwrap_err().kind;
        assert_eq!(kind("not json"), "bad_frame");
        assert_eq!(kind("[1,2]"), "bad_frame");
        assert_eq!(kind(r#"{"data":{}}"#), "bad_frame");
        assert_eq!(kind(r#"{"type":"dance"}"#), "unknown_type");
        assert_eq!(kind(r#"{"type":"sync","data":{"conversations":{}}}"#), "validation");
        assert_eq!(kind(r#"{"type":"sync","data":{"conversations":{"c":-1}}}"#), "validation");
        assert_eq!(kind(r#"{"type":"typing","data":{}}"#), "validation");
        assert_eq!(kind(r#"{"type":"send","data":"hi"}"#), "validation");
        assert_eq!(kind(r#"{"type":"auth","data":{"device_id":"d","platform":"web"}}"#), "unauthorized");
    }

    #[test]
    fn live_messages_are_delivered_once_in_order_and_gaps_are_filled_first() {
        let mut t = SeqTracker::default();
        // Unknown conversation: the first live message sets the baseline.
        assert_eq!(t.admit("c", 5), Admit::Deliver);
        t.delivered("c", 5);
        assert_eq!(t.admit("c", 5), Admit::Drop);
        assert_eq!(t.admit("c", 4), Admit::Drop);
        assert_eq!(t.admit("c", 6), Admit::Deliver);
        assert_eq!(t.admit("c", 9), Admit::Fill { after: 5 });
        assert_eq!(t.admit("c", 5 + SYNC_PAGE as i64 + 2), Admit::SyncRequired { last: 5 });
    }

    #[test]
    fn a_sync_with_more_to_fetch_holds_live_messages_back_until_the_last_page() {
        let mut t = SeqTracker::default();
        t.synced("c", 500, true);
        assert_eq!(t.admit("c", 501), Admit::Drop);
        t.synced("c", 700, false);
        assert_eq!(t.admit("c", 701), Admit::Deliver);
        assert_eq!(t.admit("c", 650), Admit::Drop);
    }
}

/// A connection's budget for expensive frames: a token bucket refilled at
/// `per_sec` up to `burst`. A `sync` costs one unit per listed conversation
/// (each is a permission check and a history query), a `send` and a `typing`
/// one each. A frame the budget cannot pay for is refused with a `429`
/// `rate_limited` error frame naming when to retry, and does no work, so one
/// flooding connection cannot take a core of the node and of MariaDB.
#[derive(Clone, Debug)]
pub struct Budget {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl Budget {
    pub fn new(per_sec: u32, burst: u32, now: std::time::Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Budget { per_sec: f64::from(per_sec.max(1)), burst, tokens: burst, at: now }
    }

    /// Takes `cost` units, or says after how many milliseconds it could.
    pub fn spend(&mut self, cost: u32, now: std::time::Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.at = now;
        let cost = f64::from(cost).min(self.burst);
        if self.tokens >= cost {
            self.tokens -= cost;
            Ok(())
        } else {
            Err((((cost - self.tokens) / self.per_sec) * 1000.0).ceil() as u64)
        }
    }
}

/// The error frame for a frame the budget could not pay for.
pub fn rate_limited(retry_after_ms: u64, id: Option<&str>) -> String {
    frame(
        ServerFrame::Error,
        serde_json::json!({ "code": 429, "kind": "rate_limited", "message": "too many expensive frames on this connection; retry later", "retry_after_ms": retry_after_ms }),
        id,
    )
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_burst_is_allowed_then_frames_are_refused_until_the_budget_refills() {
        let t0 = Instant::now();
        let mut b = Budget::new(10, 50, t0);
        assert_eq!(b.spend(50, t0), Ok(()));
        let wait = b.spend(5, t0).unwrap_err();
        assert_eq!(wait, 500);
        assert_eq!(b.spend(5, t0 + Duration::from_millis(500)), Ok(()));
    }

    #[test]
    fn a_frame_costing_more_than_the_burst_needs_a_full_bucket() {
        let t0 = Instant::now();
        let mut b = Budget::new(100, 50, t0);
        assert_eq!(b.spend(200, t0), Ok(()));
        assert!(b.spend(1, t0).is_err());
    }
}

#[cfg(test)]
mod frame_list_tests {
    use super::*;
    use std::{collections::BTreeSet, path::PathBuf};

    fn schemas(side: &str) -> BTreeSet<String> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/frames").join(side);
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| f.unwrap().file_name().into_string().unwrap())
            .map(|name| name.strip_suffix(".json").unwrap_or_else(|| panic!("{side}/{name} is not a .json schema")).to_owned())
            .collect()
    }

    #[test]
    fn the_frame_lists_are_the_enums_spelled_once_each() {
        let server: Vec<&str> = ServerFrame::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(server, SERVER_FRAME_TYPES);
        let client: Vec<&str> = ClientFrameType::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(client, CLIENT_FRAME_TYPES);
        assert_eq!(SERVER_FRAME_TYPES.iter().collect::<BTreeSet<_>>().len(), SERVER_FRAME_TYPES.len(), "a server frame type is listed twice");
        assert_eq!(CLIENT_FRAME_TYPES.iter().collect::<BTreeSet<_>>().len(), CLIENT_FRAME_TYPES.len(), "a client frame type is listed twice");
        for f in ServerFrame::ALL {
            assert_eq!(ServerFrame::parse(f.as_str()), Some(*f));
        }
    }

    #[test]
    fn every_frame_type_has_its_json_schema_and_every_schema_a_frame_type() {
        for (side, list) in [("server", SERVER_FRAME_TYPES), ("client", CLIENT_FRAME_TYPES)] {
            let listed: BTreeSet<String> = list.iter().map(|t| t.to_string()).collect();
            let on_disk = schemas(side);
            let unschemed: Vec<_> = listed.difference(&on_disk).collect();
            let unlisted: Vec<_> = on_disk.difference(&listed).collect();
            assert!(unschemed.is_empty(), "{side} frame types without schemas/frames/{side}/<type>.json: {unschemed:?}");
            assert!(unlisted.is_empty(), "schemas/frames/{side}/ has schemas of frame types ws-push does not have: {unlisted:?}");
        }
    }

    #[test]
    fn every_listed_client_type_is_understood_and_nothing_else() {
        for t in CLIENT_FRAME_TYPES {
            let (_, parsed) = parse_client_frame(&json!({ "type": t, "data": {} }).to_string());
            assert!(parsed.as_ref().err().is_none_or(|e| e.kind != "unknown_type"), "{t} is listed but not parsed: {parsed:?}");
        }
        let actions: Vec<&str> = CLIENT_FRAME_TYPES.iter().filter_map(|t| t.strip_prefix("call.")).filter(|a| *a != "signal").collect();
        assert_eq!(actions, CALL_ACTIONS, "the call.<action> client frame types against CALL_ACTIONS");
        for a in CALL_ACTIONS {
            let (_, parsed) = parse_client_frame(&json!({ "type": format!("call.{a}"), "data": {} }).to_string());
            assert!(matches!(parsed, Ok(ClientFrame::CallAction { action, .. }) if action == *a), "call.{a}: {parsed:?}");
        }
        for t in ["pong", "ready", "call.answer", "call", "call.", "call.ring"] {
            assert_eq!(parse_client_frame(&json!({ "type": t }).to_string()).1.unwrap_err().kind, "unknown_type", "{t}");
        }
    }

    /// `src/*.rs` without its `#[cfg(test)] mod … { … }` blocks.
    fn code_of(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("#[cfg(test)]") {
            out.push_str(&rest[..at]);
            let after = &rest[at..];
            let open = after.find('{').expect("a test module opens");
            let (mut depth, mut end, mut in_str) = (0usize, after.len(), false);
            let bytes = after.as_bytes();
            let mut i = open;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' if in_str => i += 1,
                    b'"' => in_str = !in_str,
                    b'{' if !in_str => depth += 1,
                    b'}' if !in_str => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    }

    /// The typed list cannot be bypassed by [`frame`]; this keeps anyone
    /// from building a frame by hand instead (`json!({"type": …})`, a
    /// formatted string) or spelling a frame type outside the enums.
    #[test]
    fn no_frame_is_built_or_named_outside_the_frame_types() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut hand_built = Vec::new();
        let mut spelled = std::collections::BTreeMap::<&str, usize>::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let code = code_of(&std::fs::read_to_string(&path).unwrap());
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            for (n, line) in code.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
                let squeezed: String = line.split_whitespace().collect();
                let keyed = squeezed.contains("\"type\":") || squeezed.contains("\\\"type\\\":");
                // The one place: `frame` itself.
                if keyed && !(file == "protocol.rs" && squeezed.contains("json!({\"type\":kind.as_str(),\"data\":data})")) {
                    hand_built.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
                let dotted: BTreeSet<&&str> = SERVER_FRAME_TYPES.iter().chain(CLIENT_FRAME_TYPES).filter(|t| t.contains('.')).collect();
                for t in dotted {
                    *spelled.entry(t).or_default() += line.matches(&format!("\"{t}\"")).count();
                }
            }
        }
        assert!(hand_built.is_empty(), "frames built outside protocol::frame: {hand_built:#?}");
        for (t, n) in spelled {
            let lists = usize::from(SERVER_FRAME_TYPES.contains(&t)) + usize::from(CLIENT_FRAME_TYPES.contains(&t));
            assert_eq!(n, lists, "the frame type {t:?} is spelled outside the frame type lists");
        }
    }
}
