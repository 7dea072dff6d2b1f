//! The HTTP surface of the read side, one module per URL resource (named as in beaver-commands).

mod call;
mod chat;
mod emoji;
mod feedback;
mod files;
mod friend;
mod group;
mod moment;
mod notification;
mod system;
mod user;

use crate::AppState;
use axum::Router;
use beaver_platform::serve::HealthChecks;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(user::router())
        .merge(friend::router())
        .merge(chat::router())
        .merge(group::router())
        .merge(feedback::router())
        .merge(files::router())
        .merge(emoji::router())
        .merge(system::router())
        .merge(notification::router())
        .merge(moment::router())
        .merge(call::router())
        .merge(HealthChecks::new().mysql(state.pool.clone()).redis(state.redis.clone()).route())
}
