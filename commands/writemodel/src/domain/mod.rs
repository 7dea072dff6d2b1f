//! Pure decisions of the write side, one module per aggregate. Each has the
//! same shape:
//!
//! - a `…Command` enum: what a client asked for, already parsed;
//! - a `…State` struct: what the decision needs to know about the aggregate,
//!   loaded by the app layer (commands' `app` module) from the read models;
//! - `decide(&State, Command, &Ctx) -> Result<Vec<Event>, DomainError>`: the
//!   events to append (none when the command changes nothing), or the rule it
//!   broke.
//!
//! No I/O here: the time and new ids come in [`Ctx`], so every rule is
//! tested as given (state) / when (command) / then (events or error).
//!
//! | aggregate    | keyed by          | events                  |
//! |--------------|-------------------|-------------------------|
//! | [`user`]     | user id           | `UserEvent`             |
//! | [`session`]  | session id        | `SessionEvent`          |
//! | [`relation`] | the pair of users | `RelationEvent`         |
//! | [`group`]    | group id          | `GroupEvent`            |
//! | [`conversation`] | conversation id | `MessageEvent`        |
//! | [`settings`] | user id           | `UserEvent` (`UserSettingsChanged`) |
//! | [`feedback`] | feedback id       | `FeedbackEvent`         |
//! | [`files`]    | file id           | `FileEvent`             |
//! | [`emoji`]    | user id, pack id  | `EmojiEvent`            |
//! | [`system`]   | app+platform, announcement | `SystemEvent`  |
//! | [`call`]     | call id           | `CallEvent`             |
//! | [`moment`]   | moment id         | `MomentEvent`           |
//! | [`notification`] | user id       | `NotificationEvent` (items derived by [`notification::derive`]) |

pub mod call;
pub mod conversation;
pub mod emoji;
pub mod feedback;
pub mod files;
pub mod group;
pub mod moment;
pub mod notification;
pub mod relation;
pub mod session;
pub mod settings;
pub mod system;
pub mod track;
pub mod user;

use std::sync::Mutex;
use time::OffsetDateTime;
use uuid::Uuid;

/// A rule the request broke. The HTTP layer maps each to a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field is not acceptable: (field, why).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// A value inside a document is not acceptable: (its JSON path, why).
    #[error("{1}")]
    InvalidAt(String, String),
    /// The target does not exist for this user.
    #[error("{0}")]
    NotFound(String),
    /// The user may not do this: (machine-readable kind, why).
    #[error("{1}")]
    Forbidden(&'static str, String),
    /// The current state does not allow it: (machine-readable kind, why).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// Well-formed, but the content breaks a rule that is no single field's: (kind, why).
    #[error("{1}")]
    Unprocessable(&'static str, String),
    /// The credential presented does not authenticate (why).
    #[error("{0}")]
    Unauthorized(String),
}

impl DomainError {
    /// The machine-readable kind (for `Invalid`, the field; for
    /// `InvalidAt`, `invalid_field`: see [`Self::field`]): what tests compare.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainError::Invalid(field, _) => field,
            DomainError::InvalidAt(..) => "invalid_field",
            DomainError::NotFound(_) => "not_found",
            DomainError::Unauthorized(_) => "unauthorized",
            DomainError::Forbidden(kind, _) | DomainError::Conflict(kind, _) | DomainError::Unprocessable(kind, _) => kind,
        }
    }
}

impl DomainError {
    /// The field or JSON path an invalid value is at.
    pub fn field(&self) -> Option<&str> {
        match self {
            DomainError::Invalid(field, _) => Some(field),
            DomainError::InvalidAt(path, _) => Some(path),
            _ => None,
        }
    }
}

/// Who decides, when, and where new ids come from: everything a decision
/// would otherwise take from the world.
pub struct Ctx {
    /// The user the command acts for.
    pub actor: Uuid,
    pub now: OffsetDateTime,
    ids: Mutex<Box<dyn FnMut() -> Uuid + Send>>,
}

impl Ctx {
    pub fn new(actor: Uuid, now: OffsetDateTime, ids: impl FnMut() -> Uuid + Send + 'static) -> Self {
        Ctx { actor, now, ids: Mutex::new(Box::new(ids)) }
    }

    /// The live context: the clock now (at the read models' precision) and time-ordered (v7) ids.
    pub fn live(actor: Uuid) -> Self {
        Ctx::new(actor, beaver_events::stored_precision(OffsetDateTime::now_utc()), Uuid::now_v7)
    }

    /// A fresh id for something the decision creates (a request, a group…).
    pub fn new_id(&self) -> Uuid {
        (self.ids.lock().expect("id source poisoned"))()
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("actor", &self.actor).field("now", &self.now).finish_non_exhaustive()
    }
}

/// Given/when/then helpers for the aggregates' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A context at a fixed instant whose ids are 1, 2, 3… (as UUIDs).
    pub fn ctx(actor: Uuid) -> Ctx {
        let mut next = 0u128;
        Ctx::new(actor, OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(), move || {
            next += 1;
            Uuid::from_u128(next)
        })
    }

    /// The n-th id [`ctx`] hands out.
    pub fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A fresh random user.
    pub fn user() -> Uuid {
        Uuid::now_v7()
    }
}
