//! Notifications (the seed's "notification" service): a user's inbox of
//! things that happened to them outside their chats, their push tokens, and
//! the offline push jobs made for them. Keyed by the recipient user, so one
//! user's inbox changes are in order on one partition.
//!
//! `NotificationCreated` is derived: the notifier reads the relations and
//! groups topics and appends one per recipient, with an id derived from the
//! source event and the recipient ([`notification_id`]), so a source read
//! twice makes the same item. `PushJobQueued` (on [`topics::PUSH`]) is
//! derived the same way by the push worker.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The namespace of derived notification and push-job ids.
const DERIVED: Uuid = Uuid::from_u128(0x5c1d_4a8e_9b3f_4f0e_8a61_2d7c_b0e4_9a13);

/// The id of the item made for `recipient` from the event `source`.
pub fn notification_id(source: Uuid, recipient: Uuid) -> Uuid {
    derived("notification", source, recipient)
}

/// The id of the push job made for `recipient` from the event `source`.
pub fn push_job_id(source: Uuid, recipient: Uuid) -> Uuid {
    derived("push", source, recipient)
}

fn derived(kind: &str, source: Uuid, recipient: Uuid) -> Uuid {
    Uuid::new_v5(&DERIVED, format!("{kind}:{source}:{recipient}").as_bytes())
}

/// The inbox's categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = notification::Category)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Social,
    Group,
    Moment,
    Call,
    System,
}

impl Category {
    pub const ALL: [Category; 5] = [Category::Social, Category::Group, Category::Moment, Category::Call, Category::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Social => "social",
            Category::Group => "group",
            Category::Moment => "moment",
            Category::Call => "call",
            Category::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What an item is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Uuid,
}

/// Everything the notifications topic carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum NotificationEvent {
    NotificationCreated(NotificationCreated),
    NotificationsRead(NotificationsRead),
    NotificationDeleted(NotificationDeleted),
    PushTokenRegistered(PushTokenRegistered),
    PushTokenRevoked(PushTokenRevoked),
}

/// An inbox item for `user_id`, derived from `source_event_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationCreated {
    pub notification_id: Uuid,
    pub user_id: Uuid,
    pub category: Category,
    /// `friend_request`, `friend_accepted`, `added`, `removed`,
    /// `join_request`, `join_approved`, `join_rejected`.
    pub kind: String,
    pub actor_id: Uuid,
    pub target: Target,
    pub text: String,
    pub source_event_id: Uuid,
    /// Items with the same key merge while unread (e.g. `join_request:<group>`).
    pub group_key: Option<String>,
}

/// The user marked items read: all of them, a category, every item up to a
/// position, or the listed ids (exactly one of these is set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationsRead {
    pub user_id: Uuid,
    #[serde(default)]
    pub all: bool,
    pub category: Option<Category>,
    pub up_to: Option<i64>,
    #[serde(default)]
    pub ids: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationDeleted {
    pub user_id: Uuid,
    pub notification_id: Uuid,
}

/// Push services a token can belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    Apns,
    Fcm,
    Webpush,
}

impl PushPlatform {
    pub fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Apns => "apns",
            PushPlatform::Fcm => "fcm",
            PushPlatform::Webpush => "webpush",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PushPlatform::Apns, PushPlatform::Fcm, PushPlatform::Webpush].into_iter().find(|p| p.as_str() == s)
    }
}

/// A device's push token, usable while the registering session lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushTokenRegistered {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub device_id: String,
    pub platform: PushPlatform,
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushTokenRevoked {
    pub user_id: Uuid,
    pub device_id: String,
}

impl DomainEvent for NotificationEvent {
    const AGGREGATE_TYPE: &'static str = "notifications";
    const TOPIC: &'static str = topics::NOTIFICATIONS;

    fn event_type(&self) -> &'static str {
        match self {
            NotificationEvent::NotificationCreated(_) => "NotificationCreated",
            NotificationEvent::NotificationsRead(_) => "NotificationsRead",
            NotificationEvent::NotificationDeleted(_) => "NotificationDeleted",
            NotificationEvent::PushTokenRegistered(_) => "PushTokenRegistered",
            NotificationEvent::PushTokenRevoked(_) => "PushTokenRevoked",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            NotificationEvent::NotificationCreated(e) => e.user_id,
            NotificationEvent::NotificationsRead(e) => e.user_id,
            NotificationEvent::NotificationDeleted(e) => e.user_id,
            NotificationEvent::PushTokenRegistered(e) => e.user_id,
            NotificationEvent::PushTokenRevoked(e) => e.user_id,
        }
        .to_string()
    }
}

/// The offline push topic's one event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PushEvent {
    PushJobQueued(PushJobQueued),
}

/// One push device of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTarget {
    pub device_id: String,
    pub platform: PushPlatform,
    pub token: String,
}

/// What a push sender should deliver to a user who is not connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushJobQueued {
    pub job_id: Uuid,
    pub user_id: Uuid,
    /// `message` or `notification`.
    pub reason: String,
    pub source_event_id: Uuid,
    pub tokens: Vec<PushTarget>,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    pub badge: i64,
}

impl DomainEvent for PushEvent {
    const AGGREGATE_TYPE: &'static str = "push";
    const TOPIC: &'static str = topics::PUSH;

    fn event_type(&self) -> &'static str {
        match self {
            PushEvent::PushJobQueued(_) => "PushJobQueued",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            PushEvent::PushJobQueued(e) => e.user_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_depend_on_source_recipient_and_kind() {
        let (s, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(notification_id(s, a), notification_id(s, a));
        assert_ne!(notification_id(s, a), notification_id(s, b));
        assert_ne!(notification_id(s, a), push_job_id(s, a));
    }
}
