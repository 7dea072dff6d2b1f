//! The HTTP surface of the write side, one module per URL resource. Handlers
//! only extract the request (the caller's [`crate::app::Origin`], path and
//! body), call one app function and return its typed answer; errors are
//! `ApiError`s, rendered in the one envelope by beaver-platform.

mod auth;
mod call;
mod chat;
mod emoji;
mod feedback;
mod files;
mod friend;
mod group;
mod health;
mod moment;
mod notification;
mod track;
mod user;

use crate::AppState;
use axum::Router;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(user::router())
        .merge(auth::router())
        .merge(friend::router())
        .merge(chat::router())
        .merge(group::router())
        .merge(track::router())
        .merge(feedback::router())
        .merge(files::router())
        .merge(emoji::router())
        .merge(notification::router())
        .merge(moment::router())
        .merge(call::router())
        .merge(health::router(state))
}
