//! `/healthz`: MariaDB, Redis and Kafka must answer.

use crate::AppState;
use axum::Router;
use beaver_platform::serve::HealthChecks;

pub fn router(s: &AppState) -> Router<AppState> {
    let producer = s.producer.clone();
    HealthChecks::new()
        .mysql(s.pool.clone())
        .redis(s.redis.clone())
        .check("kafka", move || {
            let producer = producer.clone();
            async move { producer.ping().await }
        })
        .route()
}
