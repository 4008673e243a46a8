//! The `wsgi-wasm` binary: logging, the async runtime, and the command line
//! ([`wsgi_wasm::cli`]). Everything else is the library (`lib.rs`).

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    // Every error wasmtime returns to a guest (a `stat` of a missing file, a closed stream)
    // captures a backtrace when RUST_BACKTRACE is set: ~20 µs each, paid by the guest's
    // system calls, and never printed. Errors capture none unless the operator asks with
    // RUST_LIB_BACKTRACE; panics still follow RUST_BACKTRACE. Set before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .init();
    let cli = wsgi_wasm::cli::Cli::parse();
    if wsgi_wasm::cli::is_build_site(&cli) {
        return wsgi_wasm::cli::build_site();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(wsgi_wasm::cli::run(cli));
    // Dropping the runtime would wait for every blocking task (a build, a password hash) to
    // end. Past shutdown_timeout nothing is waited for: tasks still running (connections
    // being cut, a guest mid-request) are dropped, blocking threads left behind.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether log lines carry ANSI colours: only on a terminal, and not when `NO_COLOR` is set
/// to anything (no-color.org). A log written to a file, a pipe or journald is plain text.
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
