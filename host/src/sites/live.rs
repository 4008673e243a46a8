//! Bringing sites up: a site folder's static root opened, its app's build found in the cache
//! (or built by a build process, `build::child`), loaded, and given an instance pool.
//!
//! [`Builder::prepare`] does what is cheap and never runs tenant code: it opens the static
//! root, hashes the build inputs through the site folder's handle (bounded by
//! `build.max_site_size`), and when the build is cached and compiled, loads it: the site is
//! [`Prepared::Ready`]. Otherwise it is [`Prepared::Build`]: a build process makes it
//! ([`Builder::build`], async, at most `build.jobs` at once) and [`Builder::finish`] loads
//! the result. Until then the site is served as [`LiveSite::starting`]: its static files,
//! and a 503 for its app. The server itself never imports a site's code, never runs pip or
//! componentize-py, and never compiles.
//!
//! Each step is logged with the time since the site's bring-up began, and drawn as a
//! spinner line per site on a terminal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;

use crate::build::{self, toolchain, Artifact, Built, Plan, Sources};
use crate::config::{self, AppConfig, BuildConfig, ConfigError, ServerConfig, Site};
use crate::runtime::engine::is_compiled;
use crate::runtime::folder::Folder;
use crate::runtime::quota::Area;
use crate::runtime::{load_component, Engines};
use crate::static_files::{Aliases, StaticRoot};
use crate::wsgi::pool::SitePool;
use crate::wsgi::store::Sandbox;

/// A site that is up.
pub struct LiveSite {
    pub config: Site,
    pub static_root: Option<StaticRoot>,
    /// `[static.from_packages]`: folders of the vendored packages, tried after the root.
    pub package_static: Aliases,
    pub pool: Option<Arc<SitePool>>,
    /// The app's first build is under way: its requests get a 503 until it is done.
    pub starting: bool,
    /// What this site was made from: a reload keeps the site when it has not changed.
    pub fingerprint: Fingerprint,
    /// A shared lock on the build served (`artifact::lease`): no prune, by this server or
    /// another sharing the state folder, removes it while this site lives.
    pub _lease: Option<std::fs::File>,
}

impl crate::telemetry::observe::SiteName for LiveSite {
    fn site_name(&self) -> &str {
        &self.config.name
    }
}

/// A site's configuration and the content hash of its app's build inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The resolved configuration, printed (every field of it takes part).
    pub config: String,
    /// The build's content hash; `None` for a site without an app.
    pub build: Option<String>,
}

/// A site whose app must be built before it can serve.
pub struct Pending {
    pub site: Site,
    pub plan: Plan,
    pub fingerprint: Fingerprint,
    /// Its static root, opened already.
    static_root: Option<StaticRoot>,
}

/// What [`Builder::prepare`] found. Made once per site and moved on at once: the size of
/// the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Prepared {
    Ready(LiveSite),
    Build(Pending),
}

/// The outcome of bringing every site up.
#[derive(Default)]
pub struct Loaded {
    pub sites: Vec<Arc<LiveSite>>,
    /// One `(site, message)` per site that is not served (for a build, with its traceback).
    pub failures: Vec<(String, String)>,
    /// How long each site took to come up (or to fail), by site.
    pub timings: Vec<(String, Duration, bool)>,
    /// The host names of every site with a valid configuration, served or not.
    pub server_names: Vec<(String, Vec<String>)>,
}

/// Brings sites up, sharing the engines, the sources and the build slots between them.
#[derive(Clone)]
pub struct Builder {
    state: PathBuf,
    /// The server's `[build]` settings (a reload replaces them).
    pub config: BuildConfig,
    engines: Engines,
    sources: Sources,
    /// One permit per build process allowed to run (`build.jobs`).
    jobs: Arc<Semaphore>,
}

impl Builder {
    /// Writes the embedded bridge and WIT into the state folder (cheap when unchanged).
    pub fn new(state: &Path, config: &BuildConfig, engines: &Engines) -> Result<Builder> {
        Ok(Builder {
            state: state.to_path_buf(),
            config: config.clone(),
            engines: engines.clone(),
            sources: build::sources::materialize(state)?,
            jobs: Arc::new(Semaphore::new(config.jobs)),
        })
    }

    /// The build plan of `site`'s app.
    fn plan(&self, site: &Site, app: &AppConfig) -> Plan {
        Plan::new(site, app, &self.sources, &self.state, &self.config)
    }

    /// What `site` would be made from now: its configuration and its app's build hash.
    pub fn fingerprint(&self, site: &Site) -> Result<Fingerprint> {
        let build = match &site.app {
            Some(app) => Some(self.plan(site, app).hash(&site.root)?),
            None => None,
        };
        Ok(Fingerprint {
            config: format!("{site:?}"),
            build,
        })
    }

    /// Opens the site's static root and finds its build: ready when the cache has it
    /// compiled, else a build to run.
    pub fn prepare(&self, site: Site) -> Result<Prepared> {
        let fingerprint = self.fingerprint(&site)?;
        let static_root = match site
            .static_root
            .as_ref()
            .and_then(|c| Some((c.root.as_ref()?, c)))
        {
            Some((root, config)) => {
                let dir = site.root.open_dir(root).with_context(|| {
                    format!(
                        "cannot open the static root `{}`",
                        site.root.display(root).display()
                    )
                })?;
                Some(StaticRoot::new(
                    dir,
                    config.options.clone(),
                    site.root.owner(),
                )?)
            }
            None => None,
        };
        let (Some(app), Some(hash)) = (&site.app, &fingerprint.build) else {
            return Ok(Prepared::Ready(LiveSite {
                config: site,
                static_root,
                package_static: Aliases::default(),
                pool: None,
                starting: false,
                fingerprint,
                _lease: None,
            }));
        };
        let plan = self.plan(&site, app);
        let engine = self.engines.for_isolation(site.limits.isolation);
        let vendored = app.requirements.is_some();
        let ready = build::cached(&self.state, &site.name, hash, vendored)
            .filter(|artifact| is_compiled(engine, &artifact.dir))
            .zip(toolchain::exported_stdlib(&self.state));
        let pending = Pending {
            site,
            plan,
            fingerprint,
            static_root,
        };
        match ready {
            Some((artifact, stdlib)) => Ok(Prepared::Ready(self.load(pending, artifact, stdlib)?)),
            None => Ok(Prepared::Build(pending)),
        }
    }

    /// Runs the build of `pending` in a build process, once one of the `build.jobs` slots
    /// is free; `progress` is told each step.
    pub async fn build(
        &self,
        pending: &Pending,
        progress: impl FnMut(&str),
    ) -> Result<Built, String> {
        let _slot = self
            .jobs
            .acquire()
            .await
            .map_err(|_| "the server is stopping".to_owned())?;
        build::child::run(&pending.plan, &pending.site.root, progress).await
    }

    /// Loads a finished build of `pending`.
    pub fn finish(&self, pending: Pending, built: Built) -> Result<LiveSite> {
        let vendored = pending.plan.requirements.is_some();
        let artifact = build::cached(&self.state, &pending.site.name, &built.hash, vendored)
            .with_context(|| format!("site `{}`: the build is missing", pending.site.name))?;
        let mut pending = pending;
        if pending.fingerprint.build.as_deref() != Some(built.hash.as_str()) {
            tracing::info!(site = %pending.site.name, "the site's files changed while it was built; serving what was built");
            pending.fingerprint.build = Some(built.hash.clone());
        }
        self.load(pending, artifact, built.stdlib)
    }

    /// What serves `pending` until its build is done: its static files, and 503 for the app.
    pub fn starting(pending: &Pending) -> LiveSite {
        LiveSite {
            config: pending.site.clone(),
            static_root: pending.static_root.clone(),
            package_static: Aliases::default(),
            pool: None,
            starting: true,
            fingerprint: Fingerprint {
                config: pending.fingerprint.config.clone(),
                build: None,
            },
            _lease: None,
        }
    }

    fn load(&self, pending: Pending, artifact: Artifact, stdlib: PathBuf) -> Result<LiveSite> {
        let Pending {
            site,
            fingerprint,
            static_root,
            ..
        } = pending;
        let app = site.app.as_ref().expect("a pending site has an app");
        let engine = self.engines.for_isolation(site.limits.isolation);
        let lease = build::artifact::lease(&artifact.dir)?;
        let component = load_component(engine, &artifact.dir)?;
        let mut data = Vec::new();
        for (relative, guest) in &app.data {
            let shown = site.root.display(relative);
            let dir = site
                .root
                .open_dir(relative)
                .with_context(|| format!("cannot open the data folder `{}`", shown.display()))?;
            data.push((Folder::new(dir, &shown)?, guest.clone()));
        }
        let mut python_dirs = Vec::new();
        for dir in &artifact.python_dirs {
            python_dirs.push(Folder::open(dir)?);
        }
        // `/tmp` starts empty; each data folder is measured once here (`runtime/quota.rs`).
        let mut quotas = vec![Area::empty("/tmp", site.limits.tmp)];
        for (folder, guest) in &data {
            quotas.push(Area::measure(folder.dir(), guest, site.limits.data));
        }
        let sandbox = Sandbox {
            stdlib: Folder::open(&stdlib)?,
            python_dirs,
            env: app
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            data,
            tmp: Sandbox::scratch(&site.name)?,
            quotas,
            owner: site.root.owner(),
        };
        let pool = SitePool::new(
            Arc::from(site.name.as_str()),
            engine,
            &component,
            sandbox,
            site.limits.clone(),
            app.data_lock,
        )?;
        let package_static = match &site.static_root {
            Some(config) => {
                let folders = build::package_folders(&site, &artifact)?;
                Aliases::open(&folders, &config.options)?
            }
            None => Aliases::default(),
        };
        let pool = Arc::new(pool);
        pool.start_reaper();
        Ok(LiveSite {
            config: site,
            static_root,
            package_static,
            pool: Some(pool),
            starting: false,
            fingerprint,
            _lease: Some(lease),
        })
    }

    /// Removes the builds of `site` but `keep` (run off the request path).
    pub fn prune(&self, site: &str, keep: Vec<String>) {
        let state = self.state.clone();
        let site = site.to_owned();
        std::thread::spawn(move || {
            let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
            match build::artifact::prune(&state, &site, &keep) {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(site = %site, removed, "old builds removed"),
                Err(error) => tracing::warn!(site = %site, "cannot remove old builds: {error:#}"),
            }
        });
    }
}

/// Records which site holds which names (`config/names.rs`), once they serve.
pub fn save_held(server: &ServerConfig, held: &config::Held) {
    if let Err(error) = held.save(&server.state, &server.sites) {
        tracing::warn!(
            "cannot record the host names sites hold in `{}`: {error}",
            server.state.display()
        );
    }
}

/// Reads every site and loads the cached ones (`serve` at start-up): the sites ready now,
/// and the builds to run (in the background, by the reloader).
pub fn prepare_all(server: &ServerConfig, builder: &Builder) -> Result<(Loaded, Vec<Pending>)> {
    let (configs, errors, held) = config::read_sites(server)?;
    save_held(server, &held);
    let mut loaded = Loaded::default();
    record_config_errors(&mut loaded, &errors);
    loaded.server_names = configs
        .iter()
        .map(|site| (site.name.clone(), site.server_names.clone()))
        .collect();
    let mut pending = Vec::new();
    for site in configs {
        let started = Instant::now();
        let name = site.name.clone();
        match builder.prepare(site) {
            Ok(Prepared::Ready(live)) => loaded.ready(live, started, None),
            Ok(Prepared::Build(build)) => {
                tracing::info!(site = %name, "not built yet: building in the background");
                pending.push(build);
            }
            Err(error) => loaded.failed(&name, &error, started, None),
        }
    }
    Ok((loaded, pending))
}

/// Reads every site, loads the cached ones, and builds the others, `build.jobs` at once,
/// waiting for all (the `build` command).
pub async fn build_all(server: &ServerConfig, engines: &Engines) -> Result<Loaded> {
    let (configs, errors, _) = config::read_sites(server)?;
    let builder = Builder::new(&server.state, &server.build, engines)?;
    let mut loaded = Loaded::default();
    record_config_errors(&mut loaded, &errors);
    loaded.server_names = configs
        .iter()
        .map(|site| (site.name.clone(), site.server_names.clone()))
        .collect();
    let progress = MultiProgress::new();
    let mut builds = tokio::task::JoinSet::new();
    for site in configs {
        let started = Instant::now();
        let name = site.name.clone();
        let bar = progress.add(spinner(&name));
        let prepared = builder.prepare(site);
        match prepared {
            Ok(Prepared::Ready(live)) => loaded.ready(live, started, Some(&bar)),
            Ok(Prepared::Build(pending)) => {
                let builder = builder.clone();
                builds.spawn(async move {
                    let steps = Steps::new(&pending.site.name, Some(bar.clone()), started);
                    let built = builder.build(&pending, |step| steps.show(step)).await;
                    let live = built
                        .map_err(anyhow::Error::msg)
                        .and_then(|built| builder.finish(pending, built));
                    (name, live, started, bar)
                });
            }
            Err(error) => loaded.failed(&name, &error, started, Some(&bar)),
        }
    }
    while let Some(joined) = builds.join_next().await {
        let (name, live, started, bar) = joined?;
        match live {
            Ok(live) => loaded.ready(live, started, Some(&bar)),
            Err(error) => loaded.failed(&name, &error, started, Some(&bar)),
        }
    }
    Ok(loaded)
}

/// Notes each configuration error as a site that is not served.
pub fn record_config_errors(loaded: &mut Loaded, errors: &[ConfigError]) {
    for error in errors {
        tracing::error!("site skipped: {error}");
        loaded.failures.push((error.site(), error.to_string()));
    }
}

impl Loaded {
    /// Notes a site that came up.
    pub fn ready(&mut self, live: LiveSite, started: Instant, bar: Option<&ProgressBar>) {
        let elapsed = started.elapsed();
        let name = live.config.name.clone();
        let message = format!("ready in {:.1}s", elapsed.as_secs_f64());
        tracing::info!(site = %name, "{message}");
        if let Some(bar) = bar {
            bar.finish_with_message(message);
        }
        self.timings.push((name, elapsed, true));
        self.sites.push(Arc::new(live));
    }

    /// Notes a site that failed to come up.
    pub fn failed(
        &mut self,
        name: &str,
        error: &anyhow::Error,
        started: Instant,
        bar: Option<&ProgressBar>,
    ) {
        let elapsed = started.elapsed();
        if let Some(bar) = bar {
            bar.finish_with_message(format!("failed after {:.1}s", elapsed.as_secs_f64()));
        }
        tracing::error!(site = %name, "site skipped: {error:#}");
        self.timings.push((name.to_owned(), elapsed, false));
        self.failures.push((name.to_owned(), format!("{error:#}")));
    }
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
pub struct Steps {
    site: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Steps {
    pub fn new(site: &str, bar: Option<ProgressBar>, started: Instant) -> Steps {
        Steps {
            site: site.to_owned(),
            bar,
            started,
        }
    }

    pub fn show(&self, message: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        tracing::info!(site = %self.site, "{message} ({elapsed:.1}s)");
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }
}
