//! Dashboards and alerts against the running stack (docs/operations.md,
//! "Dashboards and alerts"): `deploy/observability/check` passes promtool,
//! `deploy/observability/up` starts a real Prometheus that scrapes every
//! tier, every alert rule evaluates without error, every dashboard query is
//! valid, and every metric they name is exported by some tier — so renaming a
//! metric without updating them fails here.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::{befriended, eventually, unique, Api};
use serde_json::{json, Value};
use std::{collections::BTreeSet, path::PathBuf, process::Command, time::Duration};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(script: &str) {
    let out = Command::new(root().join(script)).output().unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(out.status.success(), "{script} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn prometheus() -> String {
    let port = std::env::var("BEAVER_PROMETHEUS_PORT").unwrap_or_else(|_| "9090".into());
    format!("http://127.0.0.1:{port}")
}

async fn query(http: &reqwest::Client, expr: &str) -> Value {
    let answer = http.get(format!("{}/api/v1/query", prometheus())).query(&[("query", expr)]).send().await.expect("Prometheus answers");
    answer.json().await.expect("a JSON answer")
}

/// Names in a PromQL expression that are metrics (by the suffixes Beaver's
/// metrics use), not functions, labels or label values.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const SUFFIXES: [&str; 7] = ["_total", "_bucket", "_seconds", "_lag", "_connections", "_entries", "_per_second"];
    expr.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| *w == "up" || SUFFIXES.iter().any(|s| w.ends_with(s)))
        .map(str::to_owned)
        .collect()
}

/// Some traffic through every tier, so that metrics made on first use (the
/// sequencer's, the projectors', the read barrier's) have samples even on
/// freshly started tiers.
async fn traffic(api: &Api) {
    let (a, b) = befriended(api, "obs").await;
    let body = json!({ "to_user_id": b.id, "client_msg_id": unique("obs"), "type": "text", "content": { "text": "hello" } });
    let sent = api.post("/api/chat/send", Some(&a.token), body).await.expect(200);
    // A read of messages: the read barrier's histogram has a sample.
    let conv = sent.data()["conversation_id"].as_str().unwrap().to_owned();
    api.get(&format!("/api/chat/messages?conversation_id={conv}"), Some(&b.token)).await.expect(200);
}

#[tokio::test]
async fn alert_rules_and_dashboard_queries_evaluate_on_the_live_stack_and_name_only_exported_metrics() {
    run("deploy/observability/check");
    run("deploy/observability/up");
    let api = Api::new();
    traffic(&api).await;
    let http = reqwest::Client::new();

    // Every tier is scraped and up.
    let targets = eventually(Duration::from_secs(60), || {
        let http = http.clone();
        async move {
            let t: Value = http.get(format!("{}/api/v1/targets", prometheus())).send().await.ok()?.json().await.ok()?;
            let active = t["data"]["activeTargets"].as_array()?.clone();
            let jobs: BTreeSet<&str> = active.iter().filter_map(|t| t["labels"]["job"].as_str()).collect();
            (jobs.len() == 5 && active.iter().all(|t| t["health"] == "up")).then_some(active)
        }
    })
    .await
    .expect("every target is scraped and up within 60 s");
    let jobs: BTreeSet<&str> = targets.iter().filter_map(|t| t["labels"]["job"].as_str()).collect();
    assert_eq!(jobs, BTreeSet::from(["commands", "projectors", "query-api", "sequencer", "ws-push"]), "{targets:#?}");

    // Every rule has been evaluated without error.
    let rules = eventually(Duration::from_secs(60), || {
        let http = http.clone();
        async move {
            let r: Value = http.get(format!("{}/api/v1/rules", prometheus())).send().await.ok()?.json().await.ok()?;
            let rules: Vec<Value> = r["data"]["groups"].as_array()?.iter().flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default()).collect();
            (!rules.is_empty() && rules.iter().all(|r| r["health"] == "ok")).then_some(rules)
        }
    })
    .await
    .expect("every alert rule evaluates without error within 60 s");
    assert!(rules.len() >= 10, "the rules of deploy/observability/alerts.yml are loaded: {rules:#?}");

    // Every dashboard query is valid PromQL on this data.
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(root().join("deploy/observability/grafana-dashboard.json")).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 15, "a dashboard, not a stub");
    let mut exprs: Vec<String> = rules.iter().map(|r| r["query"].as_str().unwrap().to_owned()).collect();
    for panel in panels {
        let expr = panel["targets"][0]["expr"].as_str().unwrap_or_else(|| panic!("panel {} has a query", panel["title"]));
        let answer = query(&http, expr).await;
        assert_eq!(answer["status"], "success", "panel {}: {expr}: {answer}", panel["title"]);
        exprs.push(expr.to_owned());
    }

    // Every metric they name is exported by some tier.
    let names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    assert!(names.len() >= 15, "{names:?}");
    let missing_now = || {
        let (http, names) = (http.clone(), names.clone());
        async move {
            let mut missing = Vec::new();
            for name in &names {
                let answer = query(&http, &format!("count({{__name__=\"{name}\"}})")).await;
                if answer["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                    missing.push(name.clone());
                }
            }
            missing
        }
    };
    if eventually(Duration::from_secs(60), || async { missing_now().await.is_empty().then_some(()) }).await.is_none() {
        panic!("metrics named by the rules or the dashboard that no tier exports: {:?}", missing_now().await);
    }
}

#[test]
fn metric_names_are_told_apart_from_functions_labels_and_values() {
    let names = metric_names(r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="commands",route="/api/chat/send"}[5m]))) > up"#);
    assert_eq!(names, BTreeSet::from(["http_request_duration_seconds_bucket".to_owned(), "up".to_owned()]));
}
