//! HTTP routes of the write side, one module per resource.

mod auth;
mod chat;
mod friends;
mod groups;
mod health;
mod users;

use crate::{domain::DomainError, AppState};
use axum::Router;
use beaver_platform::http::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(auth::router())
        .merge(friends::router())
        .merge(chat::router())
        .merge(groups::router())
        .merge(health::router())
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(field, message) => ApiError::invalid(field, message),
            DomainError::NotFound(message) => ApiError::NotFound(message),
            DomainError::Forbidden(kind, message) => ApiError::Forbidden { kind, message },
            DomainError::Conflict(kind, message) => ApiError::Conflict { kind, message },
        }
    }
}
