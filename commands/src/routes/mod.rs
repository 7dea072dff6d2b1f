//! HTTP routes of the write side, one module per resource.

mod auth;
mod chat;
mod friends;
mod groups;
mod health;
mod users;

use crate::AppState;
use axum::Router;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(auth::router())
        .merge(friends::router())
        .merge(chat::router())
        .merge(groups::router())
        .merge(health::router(state))
}
