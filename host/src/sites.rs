//! Bringing sites up: every site folder is read, its static root opened, and its app built
//! when the cache is stale, compiled, and given an instance pool. A site that fails at any
//! step is reported with the reason (for a build, the Python traceback) and skipped; the
//! others are served.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use wasmtime::Engine;

use crate::build::{self, toolchain, Sources, Toolchain};
use crate::config::{self, AppConfig, ServerConfig, Site};
use crate::runtime::{load_component, Sandbox, SitePool};
use crate::static_files::{Aliases, StaticRoot};

/// A site that is up.
pub struct LiveSite {
    pub config: Site,
    pub static_root: Option<StaticRoot>,
    /// `[static.from_packages]`: folders of the vendored packages, tried after the root.
    pub package_static: Aliases,
    pub pool: Option<Arc<SitePool>>,
}

/// The outcome of bringing sites up.
pub struct Loaded {
    pub sites: Vec<Arc<LiveSite>>,
    /// One message (for a build, with its traceback) per site that is not served.
    pub failures: Vec<String>,
}

/// Reads, builds and loads every site of the server's sites folder.
pub fn load_all(server: &ServerConfig, engine: &Engine) -> Result<Loaded> {
    let (configs, errors) = config::load_sites(&server.sites, &server.defaults)?;
    let mut failures: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for error in &errors {
        tracing::error!("site skipped: {error}");
    }
    let sources = build::sources::materialize(&server.state)?;
    let progress = MultiProgress::new();
    let mut toolchain: Option<Toolchain> = None;
    let mut sites = Vec::new();
    for site in configs {
        let bar = progress.add(spinner(&site.name));
        let started = Instant::now();
        match bring_up(
            site.clone(),
            &server.state,
            &sources,
            engine,
            &mut toolchain,
            &bar,
        ) {
            Ok(live) => {
                let message = format!("ready in {:.1}s", started.elapsed().as_secs_f64());
                tracing::info!(site = %site.name, "{message}");
                bar.finish_with_message(message);
                sites.push(Arc::new(live));
            }
            Err(error) => {
                bar.finish_with_message("failed");
                tracing::error!(site = %site.name, "site skipped: {error:#}");
                failures.push(format!("{error:#}"));
            }
        }
    }
    Ok(Loaded { sites, failures })
}

fn bring_up(
    site: Site,
    state: &Path,
    sources: &Sources,
    engine: &Engine,
    toolchain: &mut Option<Toolchain>,
    bar: &ProgressBar,
) -> Result<LiveSite> {
    let static_root = match site
        .static_root
        .as_ref()
        .and_then(|c| Some((c.root.as_ref()?, c)))
    {
        Some((root, config)) => Some(StaticRoot::open(root, config.options.clone())?),
        None => None,
    };
    let mut package_static = Aliases::default();
    let pool = match &site.app {
        Some(app) => {
            let (pool, artifact) = app_pool(&site, app, state, sources, engine, toolchain, bar)?;
            if let Some(config) = &site.static_root {
                let folders = build::package_folders(&site, &artifact)?;
                package_static = Aliases::open(&folders, &config.options)?;
            }
            let pool = Arc::new(pool);
            pool.start_reaper();
            Some(pool)
        }
        None => None,
    };
    Ok(LiveSite {
        config: site,
        static_root,
        package_static,
        pool,
    })
}

fn app_pool(
    site: &Site,
    app: &AppConfig,
    state: &Path,
    sources: &Sources,
    engine: &Engine,
    toolchain: &mut Option<Toolchain>,
    bar: &ProgressBar,
) -> Result<(SitePool, build::site::Artifact)> {
    let mut tools = |bar: &ProgressBar| -> Result<Toolchain> {
        if let Some(tools) = toolchain {
            return Ok(tools.clone());
        }
        step(bar, site, "preparing the guest toolchain");
        Ok(toolchain
            .insert(toolchain::provision(state, &sources.wit)?)
            .clone())
    };
    let hash = build::hash_inputs(site, app, sources)?;
    // Another server sharing the state folder may be building the same site right now.
    let _lock = build::lock_site(state, site)?;
    let artifact = match build::cached(state, site, &hash) {
        Some(artifact) => artifact,
        None => {
            let tools = tools(bar)?;
            step(bar, site, "building the component (componentize-py)");
            build::build(state, site, app, &hash, sources, &tools)?
        }
    };
    let stdlib = match toolchain::exported_stdlib(state) {
        Some(dir) => dir,
        None => tools(bar)?.stdlib,
    };
    step(bar, site, "compiling / loading the component");
    let component = load_component(engine, &artifact.dir, &artifact.component)?;
    let env = app
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let sandbox = Sandbox {
        stdlib,
        python_dirs: artifact.python_dirs.clone(),
        env,
        data: app.data.clone(),
        tmp: Sandbox::scratch(&site.name)?,
    };
    let pool = SitePool::new(
        Arc::from(site.name.as_str()),
        engine,
        &component,
        sandbox,
        site.limits.clone(),
        app.data_lock,
    )?;
    Ok((pool, artifact))
}

fn spinner(site: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold}: {msg} [{elapsed}]")
            .expect("a valid progress template"),
    );
    bar.set_prefix(site.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Shows a build step on the terminal and in the log.
fn step(bar: &ProgressBar, site: &Site, message: &'static str) {
    tracing::info!(site = %site.name, "{message}");
    bar.set_message(message);
}
