//! Fault tests: they stop Kafka, MariaDB or Redis (or a tier) of the running
//! stack and watch how the system answers and recovers. They would break any
//! test running beside them, so every one is `#[ignore]`d: the main suite
//! (`cargo test --workspace`) skips them, and `deploy/test` runs them after
//! it, one at a time:
//! `cargo test -p beaver-tests --test faults -- --ignored --test-threads=1`.
//! They restart what they stopped with the deploy scripts, which find it by
//! its pid file under `$BEAVER_STATE_DIR/run`.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod stack;
#[path = "../api/ws.rs"]
#[allow(dead_code)]
mod ws;

mod dependencies;
mod scripts;
mod suite;
