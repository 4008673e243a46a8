//! Bringing sites up: every site folder is read, built when its cache is stale, compiled,
//! and given an instance pool. A site that fails at any step is reported with the reason
//! (for a build, the Python traceback) and skipped; the others are served.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use wasmtime::Engine;

use crate::build::{self, toolchain, Artifact, Sources, Toolchain};
use crate::config::{self, Site};
use crate::runtime::{load_component, Sandbox, SitePool};

/// A site that is up: its configuration and its instances.
pub struct LiveSite {
    pub config: Site,
    pub pool: Arc<SitePool>,
}

/// Where things are.
pub struct Paths {
    pub sites: PathBuf,
    pub state: PathBuf,
}

/// The outcome of bringing sites up.
pub struct Loaded {
    pub sites: Vec<Arc<LiveSite>>,
    /// One line (or traceback) per site that is not served.
    pub failures: Vec<String>,
}

/// Reads, builds and loads every site under `paths.sites`.
pub fn load_all(paths: &Paths, engine: &Engine) -> Result<Loaded> {
    let (configs, errors) = config::load_sites(&paths.sites)?;
    let mut failures: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for error in &errors {
        tracing::error!("site skipped: {error}");
    }
    let sources = build::sources::materialize(&paths.state)?;
    let progress = MultiProgress::new();
    let mut toolchain: Option<Toolchain> = None;
    let mut sites = Vec::new();
    for site in configs {
        let bar = progress.add(spinner(&site.name));
        let started = Instant::now();
        match bring_up(&site, paths, &sources, engine, &mut toolchain, &bar) {
            Ok(pool) => {
                let message = format!("ready in {:.1}s", started.elapsed().as_secs_f64());
                tracing::info!(site = %site.name, "{message}");
                bar.finish_with_message(message);
                sites.push(Arc::new(LiveSite {
                    config: site,
                    pool: Arc::new(pool),
                }));
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
    site: &Site,
    paths: &Paths,
    sources: &Sources,
    engine: &Engine,
    toolchain: &mut Option<Toolchain>,
    bar: &ProgressBar,
) -> Result<SitePool> {
    let hash = build::hash_inputs(site, sources)?;
    // Another server sharing the state folder may be building the same site right now.
    let _lock = build::lock_site(&paths.state, site)?;
    let artifact = match build::cached(&paths.state, site, &hash) {
        Some(artifact) => artifact,
        None => {
            let tools = match toolchain {
                Some(tools) => tools,
                None => {
                    step(bar, site, "preparing the guest toolchain");
                    toolchain.insert(toolchain::provision(&paths.state, &sources.wit)?)
                }
            };
            step(bar, site, "building the component (componentize-py)");
            build::build(&paths.state, site, &hash, sources, tools)?
        }
    };
    if toolchain::exported_stdlib(&paths.state).is_none() && toolchain.is_none() {
        step(bar, site, "preparing the guest toolchain");
        *toolchain = Some(toolchain::provision(&paths.state, &sources.wit)?);
    }
    step(bar, site, "compiling / loading the component");
    pool_for(site, &artifact, engine, &paths.state)
}

fn pool_for(site: &Site, artifact: &Artifact, engine: &Engine, state: &Path) -> Result<SitePool> {
    let component = load_component(engine, &artifact.dir, &artifact.component)?;
    let stdlib = toolchain::exported_stdlib(state).ok_or_else(|| {
        anyhow::anyhow!("the guest standard library is missing from the state folder")
    })?;
    let env = site
        .app
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let sandbox = Sandbox {
        stdlib,
        python_dirs: artifact.python_dirs.clone(),
        env,
    };
    SitePool::new(Arc::from(site.name.as_str()), engine, &component, sandbox)
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
