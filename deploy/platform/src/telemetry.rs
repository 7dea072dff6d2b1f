//! Logs and metrics. Logs are JSON lines (one per event) with the fields of
//! the current span, so the `correlation_id` that the HTTP layer puts on its
//! span appears on every line a request causes. `BEAVER_LOG` (or `RUST_LOG`)
//! filters, default `info`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the JSON log subscriber and the metrics recorder. Call once,
/// first thing in `main`.
pub fn init_tracing(service: &'static str) {
    prometheus();
    let filter = std::env::var("BEAVER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let _ = fmt()
        .json()
        .with_env_filter(EnvFilter::new(filter))
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .try_init();
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use (metrics
/// recorded before it exists are dropped, so `init_tracing` and `serve`
/// install it early). Tests that start several tiers in one process share it.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
        PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("static buckets are valid")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}
