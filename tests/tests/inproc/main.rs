//! Tests against an in-process stack (`beaver_tests::stack::TestStack`):
//! every tier runs inside this binary on port 0, in a namespace of its own on
//! the real Kafka, MariaDB and Redis of `deploy/up`, so these tests run
//! beside the gateway suite without touching the live stack.
//!
//! The namespace is process-wide, so this binary has its own small harness
//! (`harness = false` in Cargo.toml): it starts ONE stack, runs the selected
//! tests concurrently against it, shuts the stack down (topics, groups,
//! scratch database and Redis keys removed) and exits non-zero if a test
//! failed. Like libtest it takes name filters (`cargo test -p beaver-tests
//! --test inproc -- messages`), `--exact` and `--list`; other flags are
//! ignored. `TEST_LOG=1` prints the tiers' logs.

mod account;
mod chat;
mod files;
mod isolation;
mod social;

use beaver_tests::stack::TestStack;
use futures::future::BoxFuture;
use std::{
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

/// One test: its name and body.
type Test = (&'static str, fn(Arc<TestStack>) -> BoxFuture<'static, ()>);

/// Longest one test may take (each polls its own conditions with shorter bounds).
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

macro_rules! tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        &[$((concat!(stringify!($module), "::", stringify!($name)), |s| Box::pin($module::$name(s)))),*]
    };
}

const TESTS: &[Test] = tests![
    account::registering_then_logging_in_then_updating_the_profile_reads_each_write_back,
    account::a_wrong_password_is_refused_and_a_logged_out_token_stops_working,
    social::an_accepted_friend_request_puts_each_user_in_the_others_list,
    chat::a_direct_message_sent_over_http_reaches_the_recipients_socket_with_its_seq,
    chat::a_group_message_is_numbered_per_conversation_and_read_back_in_history,
    files::the_sweeper_expires_open_uploads_and_deletes_blobs_no_stored_file_uses,
    isolation::the_stack_writes_only_its_own_topics_database_and_keys,
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&str> = args.iter().filter(|a| !a.starts_with('-')).map(String::as_str).collect();
    let selected: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| if exact { name == f } else { name.contains(f) }))
        .collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    // `--ignored` asks for ignored tests only, and there are none.
    if selected.is_empty() || args.iter().any(|a| a == "--ignored") {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed");
        return ExitCode::SUCCESS;
    }
    if std::env::var_os("TEST_LOG").is_some() {
        beaver_platform::telemetry::init_tracing("inproc");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let failed = runtime.block_on(run(selected));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Starts the stack, runs the tests concurrently, shuts the stack down; true when anything failed.
async fn run(selected: Vec<&'static Test>) -> bool {
    let started = Instant::now();
    let stack = match TestStack::start().await {
        Ok(stack) => Arc::new(stack),
        Err(e) => {
            eprintln!("could not start the in-process stack: {e:#}");
            return true;
        }
    };
    println!("\nrunning {} tests (stack {} up in {:.1} s)", selected.len(), stack.prefix(), started.elapsed().as_secs_f64());
    let runs: Vec<_> = selected
        .iter()
        .map(|(name, test)| {
            let stack = stack.clone();
            (*name, tokio::spawn(async move { tokio::time::timeout(TEST_TIMEOUT, test(stack)).await }))
        })
        .collect();
    let mut failures = Vec::new();
    for (name, run) in runs {
        match run.await {
            Ok(Ok(())) => println!("test {name} ... ok"),
            Ok(Err(_)) => {
                println!("test {name} ... FAILED (timed out after {TEST_TIMEOUT:?})");
                failures.push(name);
            }
            Err(e) => {
                // The panic message was printed by the panic hook as it happened.
                println!("test {name} ... FAILED ({})", if e.is_panic() { "panicked" } else { "cancelled" });
                failures.push(name);
            }
        }
    }
    let stack = Arc::into_inner(stack).expect("every test has finished with the stack");
    let shutdown = stack.shutdown().await;
    let passed = selected.len() - failures.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; finished in {:.1} s",
        if failures.is_empty() { "ok" } else { "FAILED" },
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        println!("failures:\n    {}", failures.join("\n    "));
    }
    if let Err(e) = &shutdown {
        eprintln!("the stack did not shut down cleanly: {e:#}");
    }
    !failures.is_empty() || shutdown.is_err()
}
