//! `wsgi-wasm`: many Python WSGI sites on one machine, each sandboxed in WebAssembly.
//!
//! The request path: `server` (accept loop, hyper h1/h2c, connection cap) → `request` (the
//! steps of one request) → `front` (head checks, forwarded addresses, the bounded request
//! body) → `router` (Host → site) → `static_files` (the site's static root) → `wsgi`
//! (environ, dispatch) → `runtime` (the site's instance pool, limits and budget, wasmtime)
//! → the Python bridge in `guest-python/`. Sites are made ready by `config` (wsgi-wasm.toml,
//! site.toml) and `build` (componentize-py, cached by content hash) through `sites`;
//! `cli` is the command line, `pages` the fixed error pages, `body` the response body type.
//! Every request routes through the `catalog` (the sites served now, swapped whole) and ends
//! in `observe` (the access log, `access_log`, and the `metrics`). Beside the request path:
//! `reload` (the reloader thread: SIGHUP, `watch` for code changes, rebuilds and swaps),
//! `shutdown` (SIGTERM/SIGINT, draining connections), `admin` (the admin listener: health,
//! metrics, the `status_page`, reloads) and `remote` (`wsgi-wasm reload`).

mod access_log;
mod admin;
mod body;
mod build;
mod catalog;
mod cli;
mod config;
mod front;
mod metrics;
mod observe;
mod pages;
mod reload;
mod remote;
mod request;
mod router;
mod runtime;
mod server;
mod shutdown;
mod sites;
mod static_files;
mod status_page;
mod watch;
mod wsgi;

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
        .init();
    let cli = cli::Cli::parse();
    if cli::is_build_site(&cli) {
        return build::worker::run();
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
    let outcome = runtime.block_on(cli::run(cli));
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
