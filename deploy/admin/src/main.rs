use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Like any Unix filter, end quietly when the reader of stdout goes away (`| head`).
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Quiet by default: stdout carries the output, stderr the progress bars.
    // librdkafka reports "end of partition" (which `tail --no-follow` waits for) as an error log.
    let filter = std::env::var("BEAVER_LOG").unwrap_or_else(|_| "warn,rdkafka::client=off".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
    let cli = beaver_admin::Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(beaver_admin::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("beaver-admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}
