//! The login session aggregate: one per successful login, living until logout,
//! refresh-token reuse, or expiry of its refresh token.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything that happens to a login session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SessionEvent {
    SessionStarted(SessionStarted),
    SessionRefreshed(SessionRefreshed),
    SessionEnded(SessionEnded),
}

/// A user logged in. Tokens are never in events, only their SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionStarted {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// Hex SHA-256 of the refresh token handed out.
    pub refresh_token_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub refresh_expires_at: OffsetDateTime,
}

/// A refresh token was spent and replaced by a new one (rotation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRefreshed {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// Rotation count: 1 for the first refresh of a session.
    pub generation: u32,
    /// Hex SHA-256 of the token that was spent.
    pub spent_token_hash: String,
    /// Hex SHA-256 of the new refresh token.
    pub refresh_token_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub refresh_expires_at: OffsetDateTime,
}

/// The session is over; its access and refresh tokens stop working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionEnded {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub reason: SessionEndReason,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    /// The user logged out.
    Logout,
    /// A refresh token was presented a second time: it may be stolen, so the
    /// whole session is revoked.
    RefreshTokenReused,
}

impl SessionEndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEndReason::Logout => "logout",
            SessionEndReason::RefreshTokenReused => "refresh_token_reused",
        }
    }
}

impl DomainEvent for SessionEvent {
    const AGGREGATE_TYPE: &'static str = "session";
    const TOPIC: &'static str = topics::SESSIONS;

    fn event_type(&self) -> &'static str {
        match self {
            SessionEvent::SessionStarted(_) => "SessionStarted",
            SessionEvent::SessionRefreshed(_) => "SessionRefreshed",
            SessionEvent::SessionEnded(_) => "SessionEnded",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            SessionEvent::SessionStarted(e) => e.session_id,
            SessionEvent::SessionRefreshed(e) => e.session_id,
            SessionEvent::SessionEnded(e) => e.session_id,
        }
        .to_string()
    }
}
