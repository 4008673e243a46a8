//! The command line: `serve` (the default), `check` and `build`.

pub mod reload_client;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::config::{self, ServerConfig};
use crate::http::listen;
use crate::http::shutdown::Shutdown;
use crate::http::state::ServerState;
use crate::runtime::create_engines;
use crate::sites::catalog::{Catalog, Table};
use crate::sites::live;
use crate::sites::reload::{self, Reloader};
use crate::telemetry::metrics::Metrics;

#[derive(Debug, Parser)]
#[command(
    name = "wsgi-wasm",
    version,
    about = "Host many Python WSGI sites, each sandboxed in WebAssembly"
)]
/// The command line of `wsgi-wasm`, parsed by clap.
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build stale sites, then serve every site (the default command).
    Serve(ServeArgs),
    /// Validate the server config and every site.toml without serving; lists every error.
    Check(ConfigArgs),
    /// Build every stale site and report; exits non-zero if any site fails.
    Build(ConfigArgs),
    /// Ask the running server to reread its configuration and every site.toml (as SIGHUP
    /// does) and print what changed; exits non-zero if the server rejected it.
    Reload(ReloadArgs),
    /// One site build, in a process of its own (started by the server only).
    #[command(hide = true, name = "build-site")]
    BuildSite,
}

#[derive(Debug, Args)]
struct ReloadArgs {
    /// The server's admin listener (default: `admin` in the config file, else
    /// 127.0.0.1:9180).
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// The server config file, to find its admin address and token (default:
    /// `./wsgi-wasm.toml`; not read when `--admin` is given without `--config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A file holding the admin listener's token, sent as `Authorization: Bearer` (default:
    /// `admin_token_file` in the config file, when it is read).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Args)]
struct ConfigArgs {
    /// The server config file (default: `./wsgi-wasm.toml` when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The folder holding one folder per site, each with a `site.toml` (default: `sites`).
    #[arg(long)]
    sites: Option<PathBuf>,
    /// Where builds, compiled components and the guest toolchain are cached
    /// (default: `.wsgi-wasm`).
    #[arg(long)]
    state: Option<PathBuf>,
}

#[derive(Debug, Default, Args)]
struct ServeArgs {
    /// An address to listen on, repeatable (port 0 picks a free port; default:
    /// 127.0.0.1:8080).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// The admin listener's address (health, metrics, status page, reloads), or `off`
    /// (default: `admin` in the config file, else 127.0.0.1:9180).
    #[arg(long, value_name = "ADDR|off", value_parser = admin_arg)]
    admin: Option<AdminArg>,
    #[command(flatten)]
    config: ConfigArgs,
}

/// `--admin`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
struct AdminArg(Option<SocketAddr>);

fn admin_arg(value: &str) -> Result<AdminArg, String> {
    config::admin_address(value).map(AdminArg)
}

impl ConfigArgs {
    /// The server config with the command line's overrides applied.
    fn load(&self) -> Result<ServerConfig> {
        let mut server = config::load_server(self.config.as_deref())?;
        if let Some(sites) = &self.sites {
            server.sites = sites.clone();
        }
        if let Some(state) = &self.state {
            server.state = state.clone();
        }
        Ok(server)
    }

    /// Like [`Self::load`], with the state folder created and made absolute.
    fn load_for_build(&self) -> Result<ServerConfig> {
        let mut server = self.load()?;
        std::fs::create_dir_all(&server.state).with_context(|| {
            format!(
                "cannot create the state folder `{}`",
                server.state.display()
            )
        })?;
        server.state = server.state.canonicalize()?;
        Ok(server)
    }
}

/// Whether the command line asks for a site build (`build-site`, see `build::worker`), which
/// runs without the server's async runtime.
/// The hidden `build-site` command: one site build in this process, started by the server
/// (`build::child`); it runs before any async runtime exists.
pub fn build_site() -> std::process::ExitCode {
    crate::build::worker::run()
}

/// Whether the command line is the hidden `build-site` command, which must run before the
/// async runtime starts ([`build_site`]).
pub fn is_build_site(cli: &Cli) -> bool {
    matches!(cli.command, Some(Command::BuildSite))
}

/// Runs the command the command line names (`serve` when it names none).
pub async fn run(cli: Cli) -> Result<()> {
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::default()))
    {
        Command::Serve(args) => serve(args).await,
        Command::Check(args) => check(&args),
        Command::Build(args) => build(args).await,
        Command::Reload(args) => reload_command(args).await,
        Command::BuildSite => unreachable!("`build-site` runs before the async runtime starts"),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let mut server = args.config.load_for_build()?;
    if !args.listen.is_empty() {
        server.listen = args.listen.clone();
    }
    if let Some(AdminArg(admin)) = args.admin {
        server.admin = admin;
        server
            .check_admin_exposure()
            .map_err(|reason| anyhow::anyhow!("`--admin`: {reason}"))?;
    }
    let access_log = crate::telemetry::access_log::AccessLog::open(&server.log)?;
    let engines = create_engines()?;
    // From here SIGTERM/SIGINT stop the server cleanly, even during the first builds.
    let shutdown = Shutdown::install()?;
    let builder = live::Builder::new(&server.state, &server.build, &engines)?;
    // Configurations read and cached builds loaded; nothing is built here (builds run in
    // build processes, in the background, once the server serves).
    let loading = {
        let (builder, server) = (builder.clone(), server.clone());
        tokio::task::spawn_blocking(move || live::prepare_all(&server, &builder))
    };
    let (loaded, pending) = tokio::select! {
        loaded = loading => loaded??,
        () = shutdown.signalled() => {
            tracing::info!("stopped before serving");
            crate::wsgi::store::remove_own_scratch();
            return Ok(());
        }
    };
    // Sites whose remembered build failure keeps them out are waited for, as a first build
    // that fails is: the fix comes through the watcher.
    if loaded.sites.is_empty() && pending.is_empty() && loaded.unserved.is_empty() {
        anyhow::bail!("no site could be served from `{}`", server.sites.display());
    }
    let mut served = loaded.sites.clone();
    served.extend(pending.iter().map(|p| Arc::new(live::Builder::starting(p))));
    let catalog = Arc::new(Catalog::new(Table::new(served, &server)));
    let metrics = Arc::new(Metrics::new());
    reload::record_loaded(&catalog, &metrics, &loaded);
    let app =
        ServerState::new(catalog.clone(), metrics.clone()).with_access_log(access_log.clone());
    let app = Arc::new(app);
    for site in catalog.current().sites.iter() {
        let names = &site.config.server_names;
        tracing::info!(site = %site.config.name, ?names, default = site.config.default, starting = site.starting, "serving");
    }
    let reloader = Reloader {
        load: reload_loader(&args),
        builder,
        server: server.clone(),
        catalog: catalog.clone(),
        metrics: metrics.clone(),
        after_reload: vec![Box::new({
            let access_log = access_log.clone();
            move || access_log.reopen()
        })],
    };
    let (ready, initial) = tokio::sync::oneshot::channel();
    let reload = reloader.start(pending, loaded, ready)?;
    // Registered before the first `Serving` line: from then on a SIGHUP reloads, never kills.
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot handle SIGHUP")?;
    tokio::spawn(reload_on_hangup(hangups, reload.clone()));
    let mut listeners = Vec::new();
    for address in &server.listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on `{address}`"))?;
        listeners.push(listener);
    }
    let admin = match server.admin {
        Some(address) => Some(crate::admin::bind(address).await?),
        None => None,
    };
    let mut running = Vec::new();
    if let Some(listener) = admin {
        println!("Admin on http://{}/", listener.local_addr()?);
        let serving = crate::admin::serve(
            listener,
            app.clone(),
            reload.clone(),
            crate::admin::Access::of(&server),
            shutdown.signalled(),
        );
        tokio::spawn(serving);
    }
    for listener in listeners {
        println!("Serving HTTP on http://{}/", listener.local_addr()?);
        running.push(tokio::spawn(listen::serve(
            listener,
            app.clone(),
            shutdown.clone(),
        )));
    }
    // Once the start-up's builds have ended: every site that could be is served.
    tokio::spawn(async move {
        if let Ok(loaded) = initial.await {
            let (served, failed) = (loaded.sites.len(), loaded.failures.len());
            tracing::info!(served, failed, "start-up builds done");
            println!("Sites ready: {served} serving, {failed} failed");
        }
    });
    for task in running {
        task.await?;
    }
    // Listeners closed; the connections they accepted finish, up to shutdown_timeout.
    shutdown.finish(app.front().shutdown_timeout).await;
    // The sites' scratch `/tmp` folders go with the process.
    let removed = crate::wsgi::store::remove_own_scratch();
    tracing::debug!(removed, "scratch folders removed");
    // The last requests' access log lines are written before the process exits.
    access_log.flush(std::time::Duration::from_secs(5));
    tracing::info!("stopped");
    Ok(())
}

/// How the reloader reads the server config again: the same file and command-line
/// overrides as at start-up.
fn reload_loader(args: &ServeArgs) -> reload::LoadServer {
    let config = ConfigArgs {
        config: args.config.config.clone(),
        sites: args.config.sites.clone(),
        state: args.config.state.clone(),
    };
    let listen = args.listen.clone();
    let admin = args.admin;
    Box::new(move || {
        let mut server = config.load_for_build()?;
        if !listen.is_empty() {
            server.listen = listen.clone();
        }
        if let Some(AdminArg(admin)) = admin {
            server.admin = admin;
        }
        Ok(server)
    })
}

/// Rereads the configuration on every SIGHUP (the reloader logs the outcome).
async fn reload_on_hangup(mut hangups: tokio::signal::unix::Signal, reload: reload::Handle) {
    while hangups.recv().await.is_some() {
        let _ = reload.reload("SIGHUP").await;
    }
}

async fn reload_command(args: ReloadArgs) -> Result<()> {
    let server = match (args.admin, &args.config) {
        (Some(_), None) => None,
        _ => Some(config::load_server(args.config.as_deref())?),
    };
    let admin = match (args.admin, &server) {
        (Some(admin), _) => admin,
        (None, server) => server
            .as_ref()
            .and_then(|server| server.admin)
            .context("the server config turns the admin listener off (`admin = \"off\"`): send the server SIGHUP instead")?,
    };
    let token = match &args.admin_token_file {
        Some(file) => Some(
            config::AdminToken::read(file)
                .map_err(|reason| anyhow::anyhow!("`--admin-token-file`: {reason}"))?,
        ),
        None => server.and_then(|server| server.admin_token),
    };
    let summary = crate::cli::reload_client::reload(admin, token.as_ref()).await?;
    println!("{summary}");
    Ok(())
}

fn check(args: &ConfigArgs) -> Result<()> {
    let server = args.load()?;
    let (sites, errors, _) = config::read_sites(&server)?;
    for site in &sites {
        println!(
            "ok      {} ({})",
            site.name,
            site.dir.join(config::SITE_FILE).display()
        );
    }
    for error in &errors {
        println!("error   {error}");
    }
    if errors.is_empty() {
        println!("{} site(s), no errors", sites.len());
        Ok(())
    } else {
        anyhow::bail!("{} error(s) in the configuration", errors.len())
    }
}

async fn build(args: ConfigArgs) -> Result<()> {
    let server = args.load_for_build()?;
    let engines = create_engines()?;
    let loaded = live::build_all(&server, &engines).await?;
    for site in &loaded.sites {
        println!("ok      {}", site.config.name);
    }
    for (_, failure) in &loaded.failures {
        println!("FAILED  {failure}");
    }
    if loaded.failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} site(s) failed", loaded.failures.len())
    }
}
