//! Bringing one site up ([`Builder`]), sharing the engines, the sources and the build slots
//! between sites.
//!
//! [`Builder::prepare`] does what is cheap and never runs tenant code: it opens the static
//! root, hashes the build inputs through the site folder's handle (bounded by
//! `build.max_site_size`), and when the build is cached and compiled, loads it: the site is
//! [`Prepared::Ready`]. Otherwise it is [`Prepared::Build`]: a build process makes it
//! ([`Builder::build`], async, at most `build.jobs` at once) and [`Builder::finish`] loads
//! the result. Until then the site is served as [`LiveSite::starting`]: its static files,
//! and a 503 for its app. The server itself never imports a site's code, never runs pip or
//! componentize-py, and never compiles.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::Semaphore;

use crate::build::{self, toolchain, Artifact, Built, Plan, Sources};
use crate::config::{AppConfig, BuildConfig, Site};
use crate::runtime::engine::is_compiled;
use crate::runtime::folder::Folder;
use crate::runtime::quota::Area;
use crate::runtime::{load_component, Engines};
use crate::static_files::{Aliases, StaticRoot};
use crate::wsgi::pool::SitePool;
use crate::wsgi::store::Sandbox;

use super::site::{Fingerprint, LiveSite, Pending, Prepared};

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
        let outcome = build::child::run(&pending.plan, &pending.site.root, progress).await;
        let site = &pending.site.name;
        match (&outcome, &pending.fingerprint.build) {
            (Err(failure), Some(hash)) if failure.lasting => {
                build::failures::remember(&self.state, site, hash, &failure.message);
            }
            (Ok(built), _) => build::failures::forget(&self.state, site, &built.hash),
            _ => {}
        }
        outcome.map_err(|failure| failure.message)
    }

    /// The remembered failure of the build `pending` would run (`build::failures`), with a
    /// line saying so: the site is reported failed at once rather than built again.
    pub fn remembered_failure(&self, pending: &Pending) -> Option<String> {
        let hash = pending.fingerprint.build.as_ref()?;
        let message = build::failures::remembered(&self.state, &pending.site.name, hash)?;
        Some(format!(
            "{message}\n(remembered: these same files failed to build before; they are not \
             built again until they change, or `wsgi-wasm build` is run)"
        ))
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
