//! Stopping and restarting parts of the stack `deploy/up` started.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

pub fn root() -> PathBuf {
    std::env::var("BEAVER_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn state_dir() -> PathBuf {
    std::env::var("BEAVER_STATE_DIR").map(PathBuf::from).unwrap_or_else(|_| root().join(".state"))
}

/// The pid the deploy scripts recorded for `name` (`redis`, `kafka`, `mariadb`, `commands`, …).
pub fn pid_of(name: &str) -> u32 {
    let file = state_dir().join("run").join(format!("{name}.pid"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e} (is the stack up?)", file.display()));
    text.trim().parse().unwrap_or_else(|_| panic!("{}: not a pid", file.display()))
}

/// `kill -9` the process recorded for `name` and wait until it is gone.
pub fn kill9(name: &str) {
    let pid = pid_of(name);
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -9 {name} ({pid})");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        assert!(Instant::now() < deadline, "{name} ({pid}) survived kill -9");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` (`STOP`, `CONT`) to the process recorded for `name`.
pub fn signal(name: &str, signal: &str) {
    let pid = pid_of(name);
    let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -{signal} {name} ({pid})");
}

/// The cargo profile of the running tiers (`debug` or `release`), from the
/// binary the query-api process runs, so that a restart starts the same build.
pub fn running_profile() -> String {
    if let Ok(p) = std::env::var("BEAVER_BUILD_PROFILE") {
        return p;
    }
    let exe = std::fs::read_link(format!("/proc/{}/exe", pid_of("query-api"))).unwrap_or_default();
    if exe.to_string_lossy().contains("/target/release/") { "release" } else { "debug" }.to_owned()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(true)
}

/// Runs a deploy script (`infra-up`, `up`) and asserts it succeeded
/// (`deploy/up` reuses the built binaries: BEAVER_SKIP_BUILD=1).
pub fn deploy(script: &str) {
    let out = Command::new(root().join("deploy").join(script))
        .env("BEAVER_SKIP_BUILD", "1")
        .env("BEAVER_BUILD_PROFILE", running_profile())
        .output()
        .expect("run deploy script");
    assert!(
        out.status.success(),
        "deploy/{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The health URL of every tier process: commands, query-api, projectors and each ws-push node.
pub fn health_urls() -> Vec<(String, String)> {
    let port = |var: &str, default: u16| std::env::var(var).ok().and_then(|p| p.parse().ok()).unwrap_or(default);
    let mut urls = vec![
        ("commands".to_owned(), port("BEAVER_COMMANDS_PORT", 21081)),
        ("query-api".to_owned(), port("BEAVER_QUERY_PORT", 21082)),
        ("projectors".to_owned(), port("BEAVER_PROJECTORS_PORT", 21084)),
    ];
    let nodes: u16 = port("BEAVER_WS_NODES", 2);
    for n in 0..nodes {
        urls.push((format!("ws-push-{}", n + 1), port("BEAVER_WS_PORT", 21083) + 100 * n));
    }
    urls.into_iter().map(|(name, p)| (name, format!("http://127.0.0.1:{p}/healthz"))).collect()
}

/// Restarts whatever `name` is: dependencies with `deploy/infra-up`, tiers with `deploy/up`.
pub fn restart(name: &str) {
    match name {
        "kafka" | "mariadb" | "redis" => deploy("infra-up"),
        _ => deploy("up"),
    }
}
