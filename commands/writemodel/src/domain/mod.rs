//! Pure decisions of the write side: given the request and the state the
//! handler loaded, decide which events to append — or why not. No I/O here,
//! so every rule is unit-tested directly.

pub mod accounts;
pub mod chat;
pub mod friends;
pub mod groups;
pub mod sessions;

/// A rule the request broke. Handlers map each to a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field is not acceptable: (field, why).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The target does not exist for this user.
    #[error("{0}")]
    NotFound(String),
    /// The user may not do this: (machine-readable kind, why).
    #[error("{1}")]
    Forbidden(&'static str, String),
    /// The current state does not allow it: (machine-readable kind, why).
    #[error("{1}")]
    Conflict(&'static str, String),
}
