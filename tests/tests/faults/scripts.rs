//! The deploy scripts never hang: a tier that stops answering makes
//! `deploy/up` give up within its health time-out, naming the tier and its log.

use crate::stack;
use std::{
    process::Command,
    time::{Duration, Instant},
};

/// Resumes a stopped process when dropped, whatever the test's outcome.
struct Frozen(u32);

impl Frozen {
    fn stop(name: &str) -> Self {
        let pid = stack::pid_of(name);
        assert!(Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

#[tokio::test]
#[ignore = "freezes the commands tier: run with --ignored --test-threads=1 after the main suite (deploy/test does)"]
async fn deploy_up_gives_up_on_a_frozen_tier_and_names_it_and_its_log() {
    let frozen = Frozen::stop("commands");
    let started = Instant::now();
    // `timeout` only bounds this test: a hanging script shows as exit 124.
    let out = tokio::task::spawn_blocking(|| {
        Command::new("timeout")
            .args(["180", stack::root().join("deploy/up").to_str().unwrap()])
            .env("BEAVER_HEALTH_TIMEOUT", "5")
            .env("BEAVER_SKIP_BUILD", "1")
            .env("BEAVER_BUILD_PROFILE", stack::running_profile())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    drop(frozen);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(124), "deploy/up hung on a frozen tier:\n{stderr}");
    assert!(!out.status.success(), "deploy/up succeeded with a frozen tier:\n{stderr}");
    assert!(stderr.contains("commands: not healthy"), "the tier is not named:\n{stderr}");
    assert!(stderr.contains("logs/commands.log"), "its log is not named:\n{stderr}");
    println!("deploy/up gave up on the frozen commands tier after {took:?}");
    // The tier serves again once resumed.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let url = stack::health_urls().into_iter().find(|(n, _)| n == "commands").unwrap().1;
    let back = crate::helpers::eventually(Duration::from_secs(30), || async {
        http.get(&url).send().await.ok().filter(|r| r.status() == 200).map(|_| ())
    })
    .await;
    assert!(back.is_some(), "commands not healthy 30 s after it was resumed");
}
