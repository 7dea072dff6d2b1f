//! Calls (the seed's "call" service): the lifecycle of WebRTC calls, keyed
//! by call id (docs/services.md, "Calls"). The offers, answers and ICE
//! candidates are relayed between devices and never appear here.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A call's media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = call::Media)]
#[serde(rename_all = "snake_case")]
pub enum Media {
    Audio,
    Video,
}

impl Media {
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Audio => "audio",
            Media::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Media::Audio, Media::Video].into_iter().find(|m| m.as_str() == s)
    }
}

/// How a call ended, as its system notice and history say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    Completed,
    Missed,
    Declined,
    Cancelled,
}

impl CallResult {
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Completed => "completed",
            CallResult::Missed => "missed",
            CallResult::Declined => "declined",
            CallResult::Cancelled => "cancelled",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CallEvent {
    CallStarted(CallStarted),
    CallAccepted(CallDevice),
    CallDeclined(CallUser),
    CallMissed(CallMissed),
    CallCancelled(CallCancelled),
    CallInvited(CallInvited),
    CallJoined(CallDevice),
    CallLeft(CallUser),
    CallEnded(CallEnded),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallStarted {
    pub call_id: Uuid,
    pub conversation_id: String,
    pub caller_id: Uuid,
    pub caller_device_id: String,
    pub media: Media,
    pub invitees: Vec<Uuid>,
    pub ring_timeout_secs: u32,
}

/// A user bound one device to the call (accept, join).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallDevice {
    pub call_id: Uuid,
    pub user_id: Uuid,
    pub device_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallUser {
    pub call_id: Uuid,
    pub user_id: Uuid,
}

/// The ring timed out for these invitees (appended by the ring sweeper).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallMissed {
    pub call_id: Uuid,
    pub user_ids: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallCancelled {
    pub call_id: Uuid,
    pub by: Uuid,
}

/// More members rung for a group call (with what their `call.incoming` shows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallInvited {
    pub call_id: Uuid,
    pub by: Uuid,
    pub user_ids: Vec<Uuid>,
    pub conversation_id: String,
    pub caller_id: Uuid,
    pub media: Media,
    pub ring_timeout_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallEnded {
    pub call_id: Uuid,
    pub result: CallResult,
    pub duration_ms: i64,
}

impl CallEvent {
    pub fn call_id(&self) -> Uuid {
        match self {
            CallEvent::CallStarted(e) => e.call_id,
            CallEvent::CallAccepted(e) | CallEvent::CallJoined(e) => e.call_id,
            CallEvent::CallDeclined(e) | CallEvent::CallLeft(e) => e.call_id,
            CallEvent::CallMissed(e) => e.call_id,
            CallEvent::CallCancelled(e) => e.call_id,
            CallEvent::CallInvited(e) => e.call_id,
            CallEvent::CallEnded(e) => e.call_id,
        }
    }
}

impl DomainEvent for CallEvent {
    const AGGREGATE_TYPE: &'static str = "call";
    const TOPIC: &'static str = topics::CALLS;

    fn event_type(&self) -> &'static str {
        match self {
            CallEvent::CallStarted(_) => "CallStarted",
            CallEvent::CallAccepted(_) => "CallAccepted",
            CallEvent::CallDeclined(_) => "CallDeclined",
            CallEvent::CallMissed(_) => "CallMissed",
            CallEvent::CallCancelled(_) => "CallCancelled",
            CallEvent::CallInvited(_) => "CallInvited",
            CallEvent::CallJoined(_) => "CallJoined",
            CallEvent::CallLeft(_) => "CallLeft",
            CallEvent::CallEnded(_) => "CallEnded",
        }
    }

    fn aggregate_id(&self) -> String {
        self.call_id().to_string()
    }
}
