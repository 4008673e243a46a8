//! Bringing every site up: at start-up, where `serve` loads the cached sites and leaves the
//! builds to the reloader ([`prepare_all`]), and for the `build` command, which builds them
//! all and waits ([`build_all`]); the outcome of either is [`Loaded`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar};

use crate::config::{self, ConfigError, ServerConfig, Site};
use crate::runtime::Engines;

use super::builder::Builder;
use super::site::{LiveSite, Pending, Prepared};
use super::steps::{spinner, Steps};

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
    /// Sites not served because their build failed before with the same files
    /// (`build::failures`): reported at once, watched for the change that fixes them.
    pub unserved: Vec<Site>,
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
            Ok(Prepared::Build(build)) => match builder.remembered_failure(&build) {
                Some(message) => {
                    loaded.failed(&name, &anyhow::anyhow!(message), started, None);
                    loaded.unserved.push(build.site);
                }
                None => {
                    tracing::info!(site = %name, "not built yet: building in the background");
                    pending.push(build);
                }
            },
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
