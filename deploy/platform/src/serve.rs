//! Serving a tier's router: the shared layers, `/metrics`, `/healthz`
//! helpers, and graceful shutdown.

use crate::http::{self, MAX_BODY_BYTES};
use axum::{extract::DefaultBodyLimit, http::StatusCode, middleware, response::Response, routing::get, Router};
use serde_json::{json, Map, Value};
use std::future::Future;
use tokio::net::TcpListener;

/// Adds what every HTTP tier has: `/metrics`, the envelope for unknown routes
/// (404) and for known routes asked with another method (405), the body
/// limit, correlation ids and request metrics.
pub fn with_common_layers(app: Router) -> Router {
    app.route("/metrics", get(|| async { crate::telemetry::prometheus().render() }))
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(http::observe))
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    crate::telemetry::prometheus();
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, with_common_layers(app)).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// Serves `app` (with the common layers) like [`serve`], but a client must
/// send a complete HTTP request head within `header_timeout` or its
/// connection is closed: a node port that holds long-lived WebSockets must
/// not keep half-sent handshakes (slowloris) open for ever, and
/// `axum::serve` sets no such deadline. `on_accept` tunes each socket.
/// WebSocket upgrades are served; on `shutdown` connections still reading
/// a request are closed gracefully (upgraded sockets are the caller's).
pub async fn serve_with_header_deadline(
    listener: TcpListener,
    app: Router,
    header_timeout: std::time::Duration,
    on_accept: impl Fn(&tokio::net::TcpStream) + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::conn::auto::Builder,
        service::TowerToHyperService,
    };
    crate::telemetry::prometheus();
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let app = with_common_layers(app);
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // e.g. out of file descriptors: do not spin
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        on_accept(&tcp);
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = closing_tx.send(true);
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested");
}

/// One named health check: a fresh future per `/healthz` request.
type Check = std::sync::Arc<dyn Fn() -> futures::future::BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// A tier's `/healthz`, built from named checks that run concurrently on
/// every request: 200 `healthy` with `"ok"` per check when all pass, 503
/// `unhealthy` naming each failure otherwise. Every tier builds its own from
/// the dependencies it really uses:
///
/// ```ignore
/// let health = HealthChecks::new().mysql(pool.clone()).redis(redis.clone()).check("kafka", move || kafka.check_async());
/// let app = Router::new().merge(health.route()).route(...);
/// ```
#[derive(Clone, Default)]
pub struct HealthChecks {
    checks: Vec<(&'static str, Check)>,
}

impl HealthChecks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check named `name`.
    pub fn check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.checks.push((name, std::sync::Arc::new(move || Box::pin(check()))));
        self
    }

    /// `mariadb`: a round trip to the pool.
    pub fn mysql(self, pool: sqlx::MySqlPool) -> Self {
        self.check("mariadb", move || {
            let pool = pool.clone();
            async move { check_mysql(&pool).await }
        })
    }

    /// `redis`: a `PING`.
    pub fn redis(self, redis: redis::aio::ConnectionManager) -> Self {
        self.check("redis", move || {
            let redis = redis.clone();
            async move { check_redis(&redis).await }
        })
    }

    /// Runs every check and answers.
    pub async fn respond(&self) -> Response {
        let results = futures::future::join_all(self.checks.iter().map(|(_, check)| check())).await;
        health_response(self.checks.iter().map(|(name, _)| *name).zip(results).collect())
    }

    /// The `/healthz` route, for any router state.
    pub fn route<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        let checks = std::sync::Arc::new(self);
        Router::new().route(
            "/healthz",
            get(move || {
                let checks = checks.clone();
                async move { checks.respond().await }
            }),
        )
    }
}

/// Builds the `/healthz` answer from named dependency checks: 200 when all
/// pass, 503 naming the failures otherwise.
fn health_response(checks: Vec<(&'static str, anyhow::Result<()>)>) -> Response {
    let mut details = Map::new();
    let mut healthy = true;
    for (name, result) in checks {
        let value = match result {
            Ok(()) => json!("ok"),
            Err(e) => {
                healthy = false;
                json!(format!("{e:#}"))
            }
        };
        details.insert(name.to_owned(), value);
    }
    let (status, message) = if healthy {
        (StatusCode::OK, "healthy")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    };
    http::respond(status, message, Value::Object(details))
}

/// Health check helper: a MariaDB round trip.
async fn check_mysql(pool: &sqlx::MySqlPool) -> anyhow::Result<()> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Health check helper: a Redis round trip.
async fn check_redis(redis: &redis::aio::ConnectionManager) -> anyhow::Result<()> {
    let _: String = redis::cmd("PING").query_async(&mut redis.clone()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn healthz(checks: HealthChecks) -> (StatusCode, Value) {
        let app: Router = checks.route();
        let response = app.oneshot(axum::http::Request::get("/healthz").body(axum::body::Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn healthz_is_200_only_when_every_check_passes_and_names_each_failure() {
        let (status, body) = healthz(HealthChecks::new().check("a", || async { Ok(()) }).check("b", || async { Ok(()) })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"], json!({ "a": "ok", "b": "ok" }));

        let failing = HealthChecks::new().check("a", || async { Ok(()) }).check("b", || async { Err(anyhow::anyhow!("b is down")) });
        let (status, body) = healthz(failing).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["message"], "unhealthy");
        assert_eq!(body["data"], json!({ "a": "ok", "b": "b is down" }));
    }
}
