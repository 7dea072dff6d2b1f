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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            UserEvent::UserRegistered(e) => e.user_id,
            UserEvent::UserProfileUpdated(e) => e.user_id,
        }
        .to_string()
    }
}
