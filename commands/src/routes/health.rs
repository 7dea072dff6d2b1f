//! `/healthz`: MariaDB, Redis and Kafka must answer.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::serve::{check_mysql, check_redis, health_response};

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(s): State<AppState>) -> Response {
    let (db, redis, kafka) = tokio::join!(check_mysql(&s.pool), check_redis(&s.redis), s.producer.ping());
    health_response(vec![("mariadb", db), ("redis", redis), ("kafka", kafka)])
}
