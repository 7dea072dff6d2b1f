//! HTTP routes of the read side, one module per resource.

mod chat;
mod friends;
mod groups;
mod users;

use crate::AppState;
use axum::Router;
use beaver_platform::serve::HealthChecks;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(friends::router())
        .merge(chat::router())
        .merge(groups::router())
        .merge(HealthChecks::new().mysql(state.pool.clone()).redis(state.redis.clone()).route())
}
