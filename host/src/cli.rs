//! The command line: `serve` (the main job) and `build`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::runtime::create_engine;
use crate::server::{self, App};
use crate::sites::{self, Paths};

#[derive(Debug, Parser)]
#[command(
    name = "wsgi-wasm",
    version,
    about = "Host many Python WSGI sites, each sandboxed in WebAssembly"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build stale sites, then serve every site (the default command).
    Serve(ServeArgs),
    /// Build every stale site and report; exits non-zero if any site fails.
    Build(SiteArgs),
}

#[derive(Debug, Args)]
struct SiteArgs {
    /// The folder holding one folder per site, each with a `site.toml`.
    #[arg(long, default_value = "sites")]
    sites: PathBuf,
    /// Where builds, compiled components and the guest toolchain are cached.
    #[arg(long, default_value = ".wsgi-wasm")]
    state: PathBuf,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    paths: SiteArgs,
}

impl SiteArgs {
    fn paths(&self) -> Result<Paths> {
        std::fs::create_dir_all(&self.state).with_context(|| {
            format!("cannot create the state folder `{}`", self.state.display())
        })?;
        let state = self.state.canonicalize()?;
        Ok(Paths {
            sites: self.sites.clone(),
            state,
        })
    }
}

pub async fn run(cli: Cli) -> Result<()> {
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs {
        listen: "127.0.0.1:8080".parse().expect("a valid address"),
        paths: SiteArgs {
            sites: "sites".into(),
            state: ".wsgi-wasm".into(),
        },
    }));
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Build(args) => build(args).await,
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let paths = args.paths.paths()?;
    let engine = create_engine()?;
    let loaded = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || sites::load_all(&paths, &engine)).await??
    };
    if loaded.sites.is_empty() {
        anyhow::bail!(
            "no site could be served from `{}`",
            args.paths.sites.display()
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.listen))?;
    let address = listener.local_addr()?;
    let app = Arc::new(App::new(&loaded.sites));
    for site in &loaded.sites {
        tracing::info!(site = %site.config.name, names = ?site.config.server_names, default = site.config.default, "serving");
    }
    println!("Serving HTTP on http://{address}/");
    server::serve(listener, app, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn build(args: SiteArgs) -> Result<()> {
    let paths = args.paths()?;
    let engine = create_engine()?;
    let loaded = tokio::task::spawn_blocking(move || sites::load_all(&paths, &engine)).await??;
    for site in &loaded.sites {
        println!("ok      {}", site.config.name);
    }
    for failure in &loaded.failures {
        println!("FAILED  {failure}");
    }
    if loaded.failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} site(s) failed to build", loaded.failures.len())
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
