//! HTTP routes of the read side, one module per resource.

mod chat;
mod friends;
mod groups;
mod users;

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::serve::{check_mysql, check_redis, health_response};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(friends::router())
        .merge(chat::router())
        .merge(groups::router())
        .route("/healthz", get(healthz))
}

async fn healthz(State(s): State<AppState>) -> Response {
    let (db, redis) = tokio::join!(check_mysql(&s.pool), check_redis(&s.redis));
    health_response(vec![("mariadb", db), ("redis", redis)])
}
