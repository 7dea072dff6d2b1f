//! The REST contract (docs/api.md): `schemas/openapi.json` is the tiers'
//! generated documents merged, the gateway serves it, every documented
//! operation is routed and every route is documented.
//!
//! `BEAVER_BLESS=1 cargo test -p beaver-tests --test openapi` rewrites
//! `schemas/openapi.json` from the code; without it a difference fails.

use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn document_path() -> PathBuf {
    root().join("schemas/openapi.json")
}

fn generated() -> Value {
    beaver_platform::openapi::merge(vec![beaver_commands::http::openapi(), beaver_query_api::http::openapi()])
}

fn gateway() -> String {
    std::env::var("BEAVER_GATEWAY_URL").unwrap_or_else(|_| "http://127.0.0.1:21080".into())
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head"];

/// (method, path) of every documented operation.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys().filter(|m| METHODS.contains(&m.as_str())) {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

#[test]
fn the_checked_in_document_is_the_one_the_code_generates() {
    let doc = generated();
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("BEAVER_BLESS").is_some() {
        std::fs::write(document_path(), &text).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(document_path()).unwrap_or_default();
    assert!(
        on_disk == text,
        "schemas/openapi.json differs from what the handlers generate; run \
         BEAVER_BLESS=1 cargo test -p beaver-tests --test openapi and review the diff"
    );
}

#[test]
fn the_document_is_complete() {
    let doc = generated();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut problems = Vec::new();
    problems.extend(beaver_platform::openapi::undeclared_path_parameters(&doc));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            if op["summary"].as_str().is_none_or(str::is_empty) && op["description"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{method} {path}: no summary (a doc comment on the handler)"));
            }
            if op["tags"].as_array().is_none_or(Vec::is_empty) {
                problems.push(format!("{method} {path}: no tag"));
            }
            let responses = op["responses"].as_object().unwrap();
            let success: Vec<&String> = responses.keys().filter(|s| s.starts_with('2')).collect();
            if success.is_empty() {
                problems.push(format!("{method} {path}: no success answer"));
            }
            for status in ["400", "500", "503"] {
                if !responses.contains_key(status) {
                    problems.push(format!("{method} {path}: no {status}"));
                }
            }
        }
    }
    // every $ref resolves
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
        if !schemas.contains_key(name) {
            problems.push(format!("unresolved {r}"));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// The gateway serves the checked-in document at /api/openapi.json.
#[tokio::test]
async fn the_gateway_serves_the_document() {
    let response = reqwest::get(format!("{}/api/openapi.json", gateway())).await.unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(document_path()).unwrap()).unwrap();
    assert_eq!(served, on_disk, "the gateway serves another document than schemas/openapi.json");
    let page = reqwest::get(format!("{}/api/docs/", gateway())).await.unwrap();
    assert_eq!(page.status(), 200, "the reference page");
    let html = page.text().await.unwrap();
    assert!(html.contains("openapi.json"), "the reference page loads the document: {html}");
}

/// Every documented operation reaches a handler: asked without a token and
/// with made-up ids, it is answered by the handler's rules (401, 404, 422…),
/// never by the router's "no such endpoint" or 405.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let doc = generated();
    let client = reqwest::Client::new();
    let mut unrouted = Vec::new();
    for (method, path) in operations(&doc) {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "0190a0a0-0000-7000-8000-000000000001" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("{}{}", gateway(), concrete);
        let request = client.request(method.to_uppercase().parse().unwrap(), &url).header("content-type", "application/json");
        let request = if method == "get" || method == "head" { request } else { request.body("{}") };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let fallback = status == 405 || (status == 404 && body["message"] == "no such endpoint");
        if fallback {
            unrouted.push(format!("{method} {path} → {status} {body}"));
        }
    }
    assert!(unrouted.is_empty(), "documented but not routed:\n{}", unrouted.join("\n"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Routes are added only with `routes!` from annotated handlers: a plain
/// `.route(` in a tier's HTTP modules would serve an operation the
/// contract does not have (health and metrics excepted: they are not /api).
#[test]
fn no_api_route_bypasses_the_contract() {
    let mut files = Vec::new();
    rust_files(&root().join("commands/src/http"), &mut files);
    rust_files(&root().join("query-api/src/http"), &mut files);
    let mut bypass = Vec::new();
    let mut annotated = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        annotated += text.matches("#[utoipa::path(").count();
        for (n, line) in text.lines().enumerate() {
            if line.contains(".route(\"") && !file.ends_with("health.rs") {
                bypass.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(bypass.is_empty(), "routes added outside the contract:\n{}", bypass.join("\n"));
    let documented = operations(&generated()).len();
    assert_eq!(annotated, documented, "annotated handlers vs documented operations (one is annotated but not routed)");
}

/// Every machine-readable error kind the code can answer with is in the
/// contract's list (`beaver_platform::openapi::ERROR_KINDS`).
#[test]
fn every_error_kind_in_the_code_is_documented() {
    let mut files = Vec::new();
    for dir in ["commands/src", "commands/writemodel/src", "query-api/src", "deploy/platform/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let documented: BTreeSet<&str> = beaver_platform::openapi::ERROR_KINDS.iter().copied().collect();
    // DomainError::Conflict("kind", …) and the domains' conflict("kind", …)
    // helpers; ApiError::Forbidden { kind: "kind", … } (possibly on the next line)
    let calls = ["Conflict(\"", "Forbidden(\"", "Unprocessable(\"", "conflict(\"", "forbidden(\"", "unprocessable(\""];
    let literals = ["ApiError::Conflict {", "ApiError::Forbidden {", "ApiError::Unprocessable {", "ApiError::Unsupported {"];
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    let mut found = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut starts: Vec<usize> = Vec::new();
        for pattern in calls {
            starts.extend(text.match_indices(pattern).map(|(i, _)| i + pattern.len()));
        }
        for pattern in literals {
            for (i, _) in text.match_indices(pattern) {
                let window = &text[i..(i + 200).min(text.len())];
                if let Some(k) = window.find("kind: \"") {
                    starts.push(i + k + "kind: \"".len());
                }
            }
        }
        for start in starts {
            let rest = &text[start..];
            let kind: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if kind.is_empty() || !rest[kind.len()..].starts_with('"') {
                continue;
            }
            found += 1;
            if !documented.contains(kind.as_str()) {
                missing.insert(kind, file.display().to_string());
            }
        }
    }
    assert!(found > 30, "the scan found only {found} kinds: has the code's way of naming them changed?");
    assert!(missing.is_empty(), "error kinds answered by the code but not in ERROR_KINDS: {missing:?}");
}

/// utoipa names a schema by its type's name, and a second type of the same
/// name would silently replace the first in the document: every type that
/// derives `ToSchema` without `as = …` has a name no other has.
#[test]
fn schema_names_are_unique() {
    let mut files = Vec::new();
    for dir in ["commands", "query-api", "events/src", "schemas/readmodel/src", "deploy/platform/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if !(line.contains("#[derive(") && line.contains("ToSchema")) {
                continue;
            }
            // the item follows the derive, after other attributes and doc comments
            let mut renamed = false;
            for next in &lines[n + 1..] {
                let t = next.trim();
                if t.starts_with("#[schema(") && t.contains("as =") {
                    renamed = true;
                }
                if let Some(rest) = t.strip_prefix("pub ").unwrap_or(t).strip_prefix("struct ").or_else(|| t.strip_prefix("pub ").unwrap_or(t).strip_prefix("enum ")) {
                    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !renamed {
                        names.entry(name).or_default().push(format!("{}:{}", file.display(), n + 1));
                    }
                    break;
                }
            }
        }
    }
    let clashes: Vec<String> = names.into_iter().filter(|(_, at)| at.len() > 1).map(|(name, at)| format!("{name}: {at:?}")).collect();
    assert!(clashes.is_empty(), "schema names used twice (rename one with #[schema(as = …)]):\n{}", clashes.join("\n"));
}
