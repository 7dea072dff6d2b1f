//! The user aggregate.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Everything that happens to a user account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    UserRegistered(UserRegistered),
    UserProfileUpdated(UserProfileUpdated),
    UserSettingsChanged(UserSettingsChanged),
}

/// The user changed their settings; `settings` is the whole new document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserSettingsChanged {
    pub user_id: Uuid,
    pub settings: Settings,
}

/// A user's settings (docs/services.md, "Settings"). Every field has a
/// default, so a document written before a field existed reads with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = settings::Settings)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub privacy: Privacy,
    pub notifications: Notifications,
    /// The client app's own settings, stored as given (an object).
    #[schema(value_type = Object)]
    pub client: serde_json::Map<String, serde_json::Value>,
}

/// What other users may do and see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = settings::Privacy)]
#[serde(default, deny_unknown_fields)]
pub struct Privacy {
    pub friend_requests: FriendRequestPolicy,
    pub searchable_by_email: bool,
    pub searchable_by_phone: bool,
    pub show_online: bool,
    pub read_receipts: bool,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy { friend_requests: FriendRequestPolicy::Everyone, searchable_by_email: true, searchable_by_phone: true, show_online: true, read_receipts: true }
    }
}

/// Who may send the user a friend request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = settings::FriendRequestPolicy)]
#[serde(rename_all = "snake_case")]
pub enum FriendRequestPolicy {
    #[default]
    Everyone,
    FriendsOfFriends,
    Nobody,
}

impl FriendRequestPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FriendRequestPolicy::Everyone => "everyone",
            FriendRequestPolicy::FriendsOfFriends => "friends_of_friends",
            FriendRequestPolicy::Nobody => "nobody",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "everyone" => FriendRequestPolicy::Everyone,
            "friends_of_friends" => FriendRequestPolicy::FriendsOfFriends,
            "nobody" => FriendRequestPolicy::Nobody,
            _ => return None,
        })
    }
}

/// How the user wants to be notified (read by the notifications service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = settings::Notifications)]
#[serde(default, deny_unknown_fields)]
pub struct Notifications {
    pub push: PushLevel,
    pub previews: bool,
    pub categories: Categories,
    pub do_not_disturb: DoNotDisturb,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications { push: PushLevel::All, previews: true, categories: Categories::default(), do_not_disturb: DoNotDisturb::default() }
    }
}

/// Which messages may reach the user as an offline push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = settings::PushLevel)]
#[serde(rename_all = "snake_case")]
pub enum PushLevel {
    #[default]
    All,
    Mentions,
    None,
}

/// Per-category switches of notifications.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = settings::Categories)]
#[serde(default, deny_unknown_fields)]
pub struct Categories {
    pub messages: bool,
    pub groups: bool,
    pub friends: bool,
    /// Likes, comments and replies on moments.
    pub moments: bool,
    /// Missed calls.
    pub calls: bool,
    pub system: bool,
}

impl Default for Categories {
    fn default() -> Self {
        Categories { messages: true, groups: true, friends: true, moments: true, calls: true, system: true }
    }
}

/// Quiet hours, `HH:MM` to `HH:MM` in an IANA time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = settings::DoNotDisturb)]
#[serde(default, deny_unknown_fields)]
pub struct DoNotDisturb {
    pub enabled: bool,
    pub start: String,
    pub end: String,
    pub time_zone: String,
}

impl Default for DoNotDisturb {
    fn default() -> Self {
        DoNotDisturb { enabled: false, start: "22:00".into(), end: "07:00".into(), time_zone: "UTC".into() }
    }
}

/// A new account exists.
///
/// The password is carried as an argon2id PHC string, never in clear; still,
/// restrict read access to `beaver.users.v1` to trusted consumers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    /// Unique, normalised to lower case.
    pub username: String,
    /// argon2id hash in PHC string format.
    pub password_hash: String,
    pub nickname: String,
    /// Unique when present, normalised to lower case.
    pub email: Option<String>,
    /// Unique when present, E.164 (`+` and digits).
    pub phone: Option<String>,
}

/// Some public profile fields changed; absent fields kept their value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserProfileUpdated {
    pub user_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
}

/// Self-declared gender shown on the profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    #[default]
    Unspecified,
    Male,
    Female,
    Other,
}

impl Gender {
    /// The name stored in read models and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Unspecified => "unspecified",
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Other => "other",
        }
    }
}

impl DomainEvent for UserEvent {
    const AGGREGATE_TYPE: &'static str = "user";
    const TOPIC: &'static str = topics::USERS;

    fn event_type(&self) -> &'static str {
        match self {
            UserEvent::UserRegistered(_) => "UserRegistered",
            UserEvent::UserProfileUpdated(_) => "UserProfileUpdated",
            UserEvent::UserSettingsChanged(_) => "UserSettingsChanged",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            UserEvent::UserRegistered(e) => e.user_id,
            UserEvent::UserProfileUpdated(e) => e.user_id,
            UserEvent::UserSettingsChanged(e) => e.user_id,
        }
        .to_string()
    }
}
