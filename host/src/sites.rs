//! Bringing sites up: a site folder's static root opened, and its app built when the cache
//! is stale, compiled, and given an instance pool. At start-up every site is brought up
//! ([`load_all`]); a reload (`reload.rs`) brings up only the sites whose configuration or
//! code changed ([`Builder::bring_up`]), and keeps the others as they are ([`fingerprint`]).
//!
//! A site that fails at any step is reported with the reason (for a build, the Python
//! traceback) and skipped; the others are served. Each step is logged with the time since
//! the site's bring-up began, and drawn as a spinner line per site on a terminal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::build::{self, toolchain, Sources, Toolchain};
use crate::config::{self, AppConfig, ServerConfig, Site};
use crate::runtime::{load_component, Engines, Sandbox, SitePool};
use crate::static_files::{Aliases, StaticRoot};

/// A site that is up.
pub struct LiveSite {
    pub config: Site,
    pub static_root: Option<StaticRoot>,
    /// `[static.from_packages]`: folders of the vendored packages, tried after the root.
    pub package_static: Aliases,
    pub pool: Option<Arc<SitePool>>,
    /// What this site was made from: a reload keeps the site when it has not changed.
    pub fingerprint: Fingerprint,
}

/// A site's configuration and the content hash of its app's build inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The resolved configuration, printed (every field of it takes part).
    config: String,
    /// The build's content hash; `None` for a site without an app.
    pub build: Option<String>,
}

/// What `site` would be made from now: its configuration and its app's build hash.
pub fn fingerprint(site: &Site, sources: &Sources) -> Result<Fingerprint> {
    let build = match &site.app {
        Some(app) => Some(build::hash_inputs(site, app, sources)?),
        None => None,
    };
    Ok(Fingerprint {
        config: format!("{site:?}"),
        build,
    })
}

/// The outcome of bringing every site up.
pub struct Loaded {
    pub sites: Vec<Arc<LiveSite>>,
    /// One `(site, message)` per site that is not served (for a build, with its traceback).
    pub failures: Vec<(String, String)>,
    /// How long each site took to come up (or to fail), by site.
    pub timings: Vec<(String, Duration, bool)>,
    /// The host names of every site with a valid configuration, served or not.
    pub server_names: Vec<(String, Vec<String>)>,
}

/// Brings sites up one after another, sharing the guest toolchain between them.
pub struct Builder {
    state: PathBuf,
    engines: Engines,
    sources: Sources,
    toolchain: Option<Toolchain>,
}

impl Builder {
    /// Writes the embedded bridge and WIT into the state folder (cheap when unchanged).
    pub fn new(state: &Path, engines: &Engines) -> Result<Builder> {
        Ok(Builder {
            state: state.to_path_buf(),
            engines: engines.clone(),
            sources: build::sources::materialize(state)?,
            toolchain: None,
        })
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Brings one site up; `bar` draws its steps on a terminal, when there is one.
    pub fn bring_up(&mut self, site: Site, bar: Option<&ProgressBar>) -> Result<LiveSite> {
        let steps = Steps {
            site: &site.name,
            bar,
            started: Instant::now(),
        };
        let fingerprint = fingerprint(&site, &self.sources)?;
        let static_root = match site
            .static_root
            .as_ref()
            .and_then(|c| Some((c.root.as_ref()?, c)))
        {
            Some((root, config)) => Some(StaticRoot::open(root, config.options.clone())?),
            None => None,
        };
        let mut package_static = Aliases::default();
        let pool = match (&site.app, &fingerprint.build) {
            (Some(app), Some(hash)) => {
                let (pool, artifact) = self.app_pool(&site, app, hash, &steps)?;
                if let Some(config) = &site.static_root {
                    let folders = build::package_folders(&site, &artifact)?;
                    package_static = Aliases::open(&folders, &config.options)?;
                }
                let pool = Arc::new(pool);
                pool.start_reaper();
                Some(pool)
            }
            _ => None,
        };
        Ok(LiveSite {
            config: site,
            static_root,
            package_static,
            pool,
            fingerprint,
        })
    }

    fn tools(&mut self, steps: &Steps) -> Result<Toolchain> {
        if let Some(tools) = &self.toolchain {
            return Ok(tools.clone());
        }
        steps.show("preparing the guest toolchain");
        let tools = toolchain::provision(&self.state, &self.sources.wit)?;
        Ok(self.toolchain.insert(tools).clone())
    }

    fn app_pool(
        &mut self,
        site: &Site,
        app: &AppConfig,
        hash: &str,
        steps: &Steps,
    ) -> Result<(SitePool, build::site::Artifact)> {
        // Another server sharing the state folder may be building the same site right now.
        let _lock = build::lock_site(&self.state, site)?;
        let artifact = match build::cached(&self.state, site, hash) {
            Some(artifact) => artifact,
            None => {
                let tools = self.tools(steps)?;
                steps.show("building the component (componentize-py)");
                build::build(&self.state, site, app, hash, &self.sources, &tools)?
            }
        };
        let stdlib = match toolchain::exported_stdlib(&self.state) {
            Some(dir) => dir,
            None => self.tools(steps)?.stdlib,
        };
        steps.show("compiling / loading the component");
        let engine = self.engines.for_isolation(site.limits.isolation);
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
}

/// Reads, builds and loads every site of the server's sites folder.
pub fn load_all(server: &ServerConfig, engines: &Engines) -> Result<Loaded> {
    let (configs, errors) = config::load_sites(&server.sites, &server.defaults)?;
    let mut failures: Vec<(String, String)> = Vec::new();
    for error in &errors {
        tracing::error!("site skipped: {error}");
        failures.push((error.site(), error.to_string()));
    }
    let mut builder = Builder::new(&server.state, engines)?;
    let progress = MultiProgress::new();
    let mut sites = Vec::new();
    let mut timings = Vec::new();
    let server_names = configs
        .iter()
        .map(|site| (site.name.clone(), site.server_names.clone()))
        .collect();
    for site in configs {
        let bar = progress.add(spinner(&site.name));
        let started = Instant::now();
        let name = site.name.clone();
        let outcome = builder.bring_up(site, Some(&bar));
        let elapsed = started.elapsed();
        timings.push((name.clone(), elapsed, outcome.is_ok()));
        match outcome {
            Ok(live) => {
                let message = format!("ready in {:.1}s", elapsed.as_secs_f64());
                tracing::info!(site = %name, "{message}");
                bar.finish_with_message(message);
                sites.push(Arc::new(live));
            }
            Err(error) => {
                bar.finish_with_message(format!("failed after {:.1}s", elapsed.as_secs_f64()));
                tracing::error!(site = %name, "site skipped: {error:#}");
                failures.push((name, format!("{error:#}")));
            }
        }
    }
    Ok(Loaded {
        sites,
        failures,
        timings,
        server_names,
    })
}

/// A spinner line for one site: its current step and the time since it began.
pub fn spinner(site: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold}: {msg} [{elapsed}]")
            .expect("a valid progress template"),
    );
    bar.set_prefix(site.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The steps of one site's bring-up, shown on its spinner and in the log with the time
/// since the bring-up began (the log is what an operator sees without a terminal).
struct Steps<'a> {
    site: &'a str,
    bar: Option<&'a ProgressBar>,
    started: Instant,
}

impl Steps<'_> {
    fn show(&self, message: &'static str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        tracing::info!(site = %self.site, "{message} ({elapsed:.1}s)");
        if let Some(bar) = self.bar {
            bar.set_message(message);
        }
    }
}
