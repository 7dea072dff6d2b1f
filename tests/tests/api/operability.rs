//! What operators rely on: every tier answers `/healthz` with its checks and
//! `/metrics` in Prometheus format, and the correlation id of a request is
//! echoed back.

use crate::helpers::{unique, Api};
use reqwest::Method;

fn tier(port_var: &str, default: u16) -> String {
    let port = std::env::var(port_var).ok().and_then(|p| p.parse().ok()).unwrap_or(default);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn every_tier_reports_health_with_its_dependency_checks() {
    let http = reqwest::Client::new();
    let expected: [(&str, u16, &[&str]); 4] = [
        ("BEAVER_COMMANDS_PORT", 21081, &["mariadb", "redis", "kafka"]),
        ("BEAVER_QUERY_PORT", 21082, &["mariadb", "redis"]),
        ("BEAVER_PROJECTORS_PORT", 21084, &["mariadb", "redis", "users", "sessions"]),
        ("BEAVER_WS_PORT", 21083, &[]),
    ];
    for (var, port, checks) in expected {
        let url = format!("{}/healthz", tier(var, port));
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let body: serde_json::Value = resp.json().await.unwrap();
        for check in checks {
            assert_eq!(body["data"][check], "ok", "{url}: {body}");
        }
    }
}

#[tokio::test]
async fn metrics_count_requests_and_projected_events() {
    let api = Api::new();
    api.register(&unique("metric")).await;
    let http = reqwest::Client::new();
    let commands = http.get(format!("{}/metrics", tier("BEAVER_COMMANDS_PORT", 21081))).send().await.unwrap().text().await.unwrap();
    assert!(commands.contains("http_requests_total{method=\"POST\",route=\"/api/user/register\""), "{commands}");
    assert!(commands.contains("events_appended_total"), "{commands}");
    let projectors = http.get(format!("{}/metrics", tier("BEAVER_PROJECTORS_PORT", 21084))).send().await.unwrap().text().await.unwrap();
    assert!(projectors.contains("projector_events_applied_total{projector=\"users\""), "{projectors}");
}

#[tokio::test]
async fn the_correlation_id_of_a_request_is_echoed() {
    let api = Api::new();
    let id = unique("corr");
    let resp = api.raw(Method::GET, "/api/user/profile").header("x-correlation-id", &id).send().await.unwrap();
    assert_eq!(resp.headers()["x-correlation-id"], id.as_str());
    let resp = api.raw(Method::GET, "/api/user/profile").send().await.unwrap();
    assert!(!resp.headers()["x-correlation-id"].is_empty(), "one is made when the client sends none");
}
