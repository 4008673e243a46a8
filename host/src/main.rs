//! `wsgi-wasm`: many Python WSGI sites on one machine, each sandboxed in WebAssembly.
//!
//! The request path: `server` (hyper, checks) → `router` (Host → site) → `wsgi` (environ,
//! dispatch) → `runtime` (wasmtime instances of the site's component) → the Python bridge in
//! `guest-python/`. Sites are made ready by `config` (site.toml) and `build` (componentize-py,
//! cached by content hash) through `sites`.

mod body;
mod build;
mod cli;
mod config;
mod front;
mod pages;
mod request;
mod router;
mod runtime;
mod server;
mod sites;
mod static_files;
mod wsgi;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
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
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
