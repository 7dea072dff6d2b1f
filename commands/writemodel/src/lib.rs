//! Beaver's write model: the aggregates' pure decisions every command goes
//! through ([`domain`]) and the chat send path ([`send`]). The commands tier serves
//! them over HTTP; ws-push accepts `send` frames through the same [`send`], so a
//! socket send reaches the log without an HTTP hop. Neither tier depends on
//! the other: both depend on this crate.
//!
//! # Layout
//! - [`domain`]: one module per aggregate, each with a `decide(&State,
//!   Command, &Ctx) -> Result<Vec<Event>, DomainError>`, tested as
//!   given/when/then without I/O.
//! - [`send`]: the send path's app step: the sender's standing from Redis,
//!   `domain::conversation::decide`, the append and the sequencer's answer.

pub mod domain;
pub mod send;

use beaver_platform::http::ApiError;
use domain::DomainError;

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(field, message) => ApiError::invalid(field, message),
            DomainError::InvalidAt(path, message) => ApiError::invalid(&path, message),
            DomainError::NotFound(message) => ApiError::NotFound(message),
            DomainError::Forbidden(kind, message) => ApiError::Forbidden { kind, message },
            DomainError::Conflict(kind, message) => ApiError::Conflict { kind, message },
            DomainError::Unprocessable(kind, message) => ApiError::Unprocessable { kind, message },
            DomainError::Unauthorized(message) => ApiError::Unauthorized(message),
        }
    }
}
