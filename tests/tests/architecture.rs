//! The dependency rule, read from `cargo metadata` (docs/architecture.md,
//! "Crates and the dependency rule"):
//!
//! events ← readmodel ← platform ← writemodel, and every tier depends only on
//! those shared crates — no tier crate depends on another tier crate. Tools
//! (the operator CLI, the load generator, the tests) may depend on anything.
//!
//! Alongside it, two source checks keep the read models named in one place:
//! the serving tiers write no SQL against a read-model table (commands'
//! own write-side tables excepted) and no tier spells a Redis key.

use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

/// What each workspace crate is. A new crate must be added here, which is
/// the moment to decide what it may depend on.
fn role(name: &str) -> Option<Role> {
    Some(match name {
        "beaver-events" | "beaver-readmodel" | "beaver-platform" | "beaver-writemodel" => Role::Shared,
        "beaver-commands" | "beaver-projectors" | "beaver-sequencer" | "beaver-query-api" | "beaver-ws-push" => Role::Tier,
        "beaver-admin" | "beaver-bench" | "beaver-tests" => Role::Tool,
        _ => return None,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Shared,
    Tier,
    Tool,
}

/// The workspace crates each shared crate may use: the layers below it.
fn allowed_shared(name: &str) -> &'static [&'static str] {
    match name {
        "beaver-events" => &[],
        "beaver-readmodel" => &["beaver-events"],
        "beaver-platform" => &["beaver-events", "beaver-readmodel"],
        "beaver-writemodel" => &["beaver-events", "beaver-readmodel", "beaver-platform"],
        _ => &[],
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// Workspace crate → the workspace crates it depends on (normal and build
/// dependencies; dev-dependencies are test-only and not part of the rule).
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> = packages.iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str())
                .filter(|d| members.contains(*d))
                .map(str::to_owned)
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// The rule's violations in a dependency map (empty when it holds).
fn violations(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (krate, uses) in deps {
        let Some(kind) = role(krate) else {
            found.push(format!("{krate} is not classified in tests/tests/architecture.rs"));
            continue;
        };
        for dep in uses {
            match (kind, role(dep)) {
                (Role::Tool, _) => {}
                (_, Some(Role::Tier)) => found.push(format!("{krate} depends on the tier crate {dep}")),
                (_, Some(Role::Tool)) => found.push(format!("{krate} depends on the tool crate {dep}")),
                (Role::Shared, _) if !allowed_shared(krate).contains(&dep.as_str()) => {
                    found.push(format!("{krate} depends on {dep}, which is not below it"))
                }
                _ => {}
            }
        }
    }
    found
}

#[test]
fn no_tier_crate_depends_on_another_tier_crate() {
    let deps = workspace_dependencies();
    for expected in ["beaver-commands", "beaver-query-api", "beaver-ws-push", "beaver-projectors", "beaver-readmodel"] {
        assert!(deps.contains_key(expected), "{expected} is missing from the workspace: {deps:?}");
    }
    let found = violations(&deps);
    assert!(found.is_empty(), "the dependency rule is broken:\n{}", found.join("\n"));
}

#[test]
fn the_rule_catches_a_tier_reaching_into_another() {
    let mut deps = BTreeMap::new();
    deps.insert("beaver-ws-push".to_owned(), BTreeSet::from(["beaver-query-api".to_owned(), "beaver-readmodel".to_owned()]));
    deps.insert("beaver-readmodel".to_owned(), BTreeSet::from(["beaver-platform".to_owned()]));
    deps.insert("beaver-new-service".to_owned(), BTreeSet::new());
    deps.insert("beaver-tests".to_owned(), BTreeSet::from(["beaver-ws-push".to_owned()]));
    let found = violations(&deps);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.iter().any(|v| v.contains("beaver-ws-push depends on the tier crate beaver-query-api")));
    assert!(found.iter().any(|v| v.contains("beaver-readmodel depends on beaver-platform")));
    assert!(found.iter().any(|v| v.contains("beaver-new-service is not classified")));
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Lines of `dir`'s sources that look like SQL naming a table.
fn sql_lines(dir: &Path) -> Vec<String> {
    let sql = ["FROM ", "JOIN ", "INSERT INTO ", "UPDATE ", "DELETE FROM "];
    let mut found = Vec::new();
    for file in sources(dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if sql.iter().any(|k| code.contains(k)) && code.contains('"') {
                found.push(format!("{}:{}: {}", file.strip_prefix(root()).unwrap_or(&file).display(), n + 1, code));
            }
        }
    }
    found
}

#[test]
fn the_serving_tiers_read_the_read_models_only_through_beaver_readmodel() {
    let root = root();
    let mut found = Vec::new();
    for dir in ["query-api/src", "ws-push/src", "commands/writemodel/src", "deploy/platform/src"] {
        found.extend(sql_lines(&root.join(dir)));
    }
    // commands' own write-side tables (the claims and aggregate heads) are
    // not read models: commands alone reads and writes them.
    found.extend(sql_lines(&root.join("commands/src")).into_iter().filter(|l| !(l.contains("cmd_claims") || l.contains("cmd_aggregate_heads"))));
    assert!(found.is_empty(), "SQL outside beaver-readmodel:\n{}", found.join("\n"));
}

#[test]
fn only_beaver_readmodel_spells_a_redis_key() {
    let root = root();
    let mut found = Vec::new();
    for dir in ["commands", "query-api/src", "ws-push/src", "projectors", "deploy/platform/src", "deploy/admin/src"] {
        for file in sources(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.contains("\"beaver:") && !line.trim_start().starts_with("//") {
                    found.push(format!("{}:{}: {}", file.strip_prefix(&root).unwrap_or(&file).display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "Redis keys named outside schemas/readmodel/src/keys.rs:\n{}", found.join("\n"));
}
