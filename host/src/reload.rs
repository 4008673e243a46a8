//! Reloads without a restart: the reloader thread rebuilds what changed and swaps the
//! catalog's table (`catalog.rs`), while requests keep being served from the old one.
//!
//! Two triggers, handled one at a time in arrival order (triggers that queue up during a
//! build are merged):
//! - **Configuration** (SIGHUP, `wsgi-wasm reload` through the admin listener): the server
//!   config and every site.toml are read again. Any error rejects the whole new
//!   configuration: it is logged, and the old table keeps serving untouched. Otherwise sites
//!   are added, removed and changed together in one swap; a site whose configuration and
//!   build inputs are unchanged keeps its live instances.
//! - **Code change** (the file watcher, `watch.rs`): the named sites are rebuilt with their
//!   current configuration when their build inputs' hash changed.
//!
//! A site whose build fails keeps serving its previous version (or stays unserved if it had
//! none); the error and its traceback go to the log and to the site's report.
//! `listen`, `state`, `max_connections`, the admin address and `[log]` are bound at start-up: a
//! reload that changes them says so and keeps the old values.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use tokio::sync::oneshot;

use crate::catalog::{Catalog, Table};
use crate::config::{self, ServerConfig, Site};
use crate::metrics::Metrics;
use crate::sites::{fingerprint, Builder, LiveSite, Loaded};
use crate::watch::{SiteWatcher, WatchSpec};

/// What the reloader is asked to do.
enum Trigger {
    /// Reread every configuration file; the outcome goes to `reply` when someone waits.
    Config {
        reason: String,
        reply: Option<oneshot::Sender<Result<String, String>>>,
    },
    /// Files of these sites changed.
    Changed(Vec<String>),
}

/// Asks the reloader for work; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    triggers: mpsc::Sender<Trigger>,
}

impl Handle {
    /// Rereads the whole configuration; resolves with a summary of what changed, or with
    /// the reason the new configuration was rejected (the old one still serves).
    pub async fn reload(&self, reason: &str) -> Result<String, String> {
        let (reply, outcome) = oneshot::channel();
        let trigger = Trigger::Config {
            reason: reason.to_owned(),
            reply: Some(reply),
        };
        if self.triggers.send(trigger).is_err() {
            return Err("the reloader has stopped".to_owned());
        }
        outcome
            .await
            .unwrap_or_else(|_| Err("the reloader stopped during the reload".to_owned()))
    }

    /// Reports that files of `sites` changed.
    pub fn changed(&self, sites: Vec<String>) {
        let _ = self.triggers.send(Trigger::Changed(sites));
    }
}

/// Loads the server config again, with the command line's overrides applied.
pub type LoadServer = Box<dyn Fn() -> Result<ServerConfig> + Send>;

/// Everything a reload needs; runs on its own thread (builds block for seconds).
pub struct Reloader {
    pub load: LoadServer,
    pub server: ServerConfig,
    pub builder: Builder,
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
    /// Run after every configuration reload, accepted or not (the access log reopens its
    /// files).
    pub after_reload: Vec<Box<dyn Fn() + Send>>,
}

/// Records the outcome of the start-up load in the catalog's reports and the metrics.
pub fn record_loaded(catalog: &Catalog, metrics: &Metrics, loaded: &Loaded) {
    let now = SystemTime::now();
    for (site, names) in &loaded.server_names {
        catalog.report(site, |report| report.server_names = names.clone());
    }
    for site in &loaded.sites {
        catalog.report(&site.config.name, |report| {
            report.serving = Some((site.fingerprint.build.clone().unwrap_or_default(), now));
        });
    }
    for (site, error) in &loaded.failures {
        catalog.report(site, |report| report.error = Some((error.clone(), now)));
    }
    for (site, elapsed, ok) in &loaded.timings {
        catalog.report(site, |report| report.last_build = Some(*elapsed));
        metrics.observe_build(site, *elapsed, *ok);
    }
}

impl Reloader {
    /// Starts the reloader thread and the file watcher; the handle asks it for work.
    pub fn start(self) -> Result<Handle> {
        let (sender, triggers) = mpsc::channel();
        let handle = Handle { triggers: sender };
        let runtime = tokio::runtime::Handle::current();
        let own = handle.clone();
        // Watching starts before `serve` says it serves: no change made after is missed.
        let watcher = self.watch(&handle, &runtime);
        std::thread::Builder::new()
            .name("reloader".into())
            .spawn(move || self.run(triggers, own, runtime, watcher))?;
        Ok(handle)
    }

    fn run(
        mut self,
        triggers: mpsc::Receiver<Trigger>,
        handle: Handle,
        rt: tokio::runtime::Handle,
        mut watcher: Option<SiteWatcher>,
    ) {
        // Pools start their reaper tasks on the server's runtime.
        let _runtime = rt.enter();
        while let Ok(first) = triggers.recv() {
            // Whatever queued up meanwhile is done in the same pass.
            let mut replies = Vec::new();
            let mut config: Option<String> = None;
            let mut changed = BTreeSet::new();
            for trigger in std::iter::once(first).chain(triggers.try_iter()) {
                match trigger {
                    Trigger::Config { reason, reply } => {
                        config = Some(match config {
                            Some(before) => format!("{before}, {reason}"),
                            None => reason,
                        });
                        replies.extend(reply);
                    }
                    Trigger::Changed(sites) => changed.extend(sites),
                }
            }
            if let Some(reason) = config {
                let outcome = self.guarded(|this| this.reload_config(&reason));
                if outcome.is_ok() {
                    drop(watcher.take());
                    watcher = self.watch(&handle, &rt);
                }
                for reply in replies {
                    let _ = reply.send(outcome.clone());
                }
            } else {
                let _ = self.guarded(|this| {
                    this.rebuild(changed);
                    Ok(String::new())
                });
            }
        }
    }

    /// Runs one pass; a panic in it (a bug) is logged and the reloader goes on serving the
    /// next trigger with the table it had.
    fn guarded(
        &mut self,
        pass: impl FnOnce(&mut Self) -> Result<String, String>,
    ) -> Result<String, String> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pass(self))) {
            Ok(outcome) => outcome,
            Err(_) => {
                let message =
                    "the reload failed on an internal error (see the log); nothing changed";
                tracing::error!("{message}");
                Err(message.to_owned())
            }
        }
    }

    /// Watches the code of every served site that allows it; `None` when nothing is watched.
    fn watch(&self, handle: &Handle, rt: &tokio::runtime::Handle) -> Option<SiteWatcher> {
        let specs: Vec<WatchSpec> = self
            .catalog
            .current()
            .sites
            .iter()
            .filter_map(|site| watch_spec(&site.config))
            .collect();
        if specs.is_empty() {
            return None;
        }
        let (sender, mut changes) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
        let handle = handle.clone();
        rt.spawn(async move {
            while let Some(sites) = changes.recv().await {
                handle.changed(sites);
            }
        });
        match SiteWatcher::start(&specs, sender) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::error!(
                    "cannot watch the sites' files; code changes need a reload: {error:#}"
                );
                None
            }
        }
    }

    /// Rereads every configuration file and swaps in the new table, or rejects it whole.
    fn reload_config(&mut self, reason: &str) -> Result<String, String> {
        tracing::info!("reloading the configuration ({reason})");
        let outcome = self.try_reload_config();
        // Even a rejected reload reopens the logs: logrotate's SIGHUP must not leave the
        // server writing to the moved file because some site.toml has a typo.
        for hook in &self.after_reload {
            hook();
        }
        match &outcome {
            Ok(summary) => tracing::info!("configuration reloaded: {summary}"),
            Err(error) => {
                tracing::error!("configuration rejected; still serving the previous one:\n{error}")
            }
        }
        outcome
    }

    fn try_reload_config(&mut self) -> Result<String, String> {
        let server = (self.load)().map_err(|error| format!("{error:#}"))?;
        self.warn_fixed(&server);
        let (configs, errors) = config::load_sites(&server.sites, &server.defaults)
            .map_err(|error| format!("{error:#}"))?;
        if !errors.is_empty() {
            let now = SystemTime::now();
            for error in &errors {
                let message = error.to_string();
                self.catalog
                    .report(&error.site(), |report| report.error = Some((message, now)));
            }
            let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            return Err(lines.join("\n"));
        }
        let current = self.catalog.current();
        let mut summary = Summary::default();
        let mut sites = Vec::new();
        let names: BTreeSet<String> = configs.iter().map(|s| s.name.clone()).collect();
        for site in configs {
            let old = current.site(&site.name).cloned();
            let unchanged = old.as_ref().is_some_and(|old| {
                fingerprint(&site, self.builder.sources()).ok().as_ref() == Some(&old.fingerprint)
            });
            if let (true, Some(old)) = (unchanged, &old) {
                sites.push(old.clone());
                summary.unchanged += 1;
                continue;
            }
            let name = site.name.clone();
            match self.bring_up(site) {
                Some(live) => {
                    match old {
                        Some(_) => summary.changed.push(name),
                        None => summary.added.push(name),
                    }
                    sites.push(live);
                }
                None => {
                    summary.failed.push(name);
                    sites.extend(old);
                }
            }
        }
        summary.removed = current
            .sites
            .iter()
            .map(|s| s.config.name.clone())
            .filter(|name| !names.contains(name))
            .collect();
        self.catalog.swap(Table::new(sites, &server));
        self.catalog.retain(|name| names.contains(name));
        self.server = server;
        Ok(summary.to_string())
    }

    /// Rebuilds the named sites whose build inputs changed, and swaps them in together.
    fn rebuild(&mut self, names: BTreeSet<String>) {
        let current = self.catalog.current();
        let mut replaced: Vec<Arc<LiveSite>> = Vec::new();
        for name in names {
            let Some(old) = current.site(&name) else {
                continue;
            };
            match fingerprint(&old.config, self.builder.sources()) {
                Ok(now) if now == old.fingerprint => {
                    tracing::debug!(site = %name, "files changed, but no build input did");
                    continue;
                }
                _ => {}
            }
            tracing::info!(site = %name, "files changed: rebuilding in the background");
            if let Some(live) = self.bring_up(old.config.clone()) {
                replaced.push(live);
            }
        }
        if replaced.is_empty() {
            return;
        }
        let sites = current
            .sites
            .iter()
            .map(|site| {
                replaced
                    .iter()
                    .find(|new| new.config.name == site.config.name)
                    .unwrap_or(site)
                    .clone()
            })
            .collect();
        self.catalog.swap(Table::new(sites, &self.server));
        for site in &replaced {
            tracing::info!(site = %site.config.name, "swapped in the new version; requests in flight finish on the old one");
        }
    }

    /// Brings one site up, reporting the build in the catalog and the metrics; `None` (with
    /// the error logged and reported) when it fails.
    fn bring_up(&mut self, site: Site) -> Option<Arc<LiveSite>> {
        let name = site.name.clone();
        let started = Instant::now();
        self.catalog.report(&name, |report| {
            report.building = Some(SystemTime::now());
            report.server_names = site.server_names.clone();
        });
        let outcome = self.builder.bring_up(site, None);
        let elapsed = started.elapsed();
        self.metrics.observe_build(&name, elapsed, outcome.is_ok());
        let now = SystemTime::now();
        match outcome {
            Ok(live) => {
                tracing::info!(site = %name, "ready in {:.1}s", elapsed.as_secs_f64());
                let version = live.fingerprint.build.clone().unwrap_or_default();
                self.catalog.report(&name, |report| {
                    report.building = None;
                    report.error = None;
                    report.serving = Some((version, now));
                    report.last_build = Some(elapsed);
                });
                Some(Arc::new(live))
            }
            Err(error) => {
                let message = format!("{error:#}");
                tracing::error!(site = %name, "build failed after {:.1}s; the previous version (if any) keeps serving: {message}", elapsed.as_secs_f64());
                self.catalog.report(&name, |report| {
                    report.building = None;
                    report.error = Some((message, now));
                    report.last_build = Some(elapsed);
                });
                None
            }
        }
    }

    /// Says which changed settings need a restart.
    fn warn_fixed(&self, new: &ServerConfig) {
        let old = &self.server;
        let fixed = [
            ("listen", old.listen != new.listen),
            ("state", old.state != new.state),
            (
                "max_connections",
                old.front.max_connections != new.front.max_connections,
            ),
            ("admin", old.admin != new.admin),
            ("[log]", old.log != new.log),
        ];
        for (key, changed) in fixed {
            if changed {
                tracing::warn!("`{key}` changed: it takes effect at the next restart");
            }
        }
    }
}

/// What the watcher should watch of a site: its folder, minus what is not code.
fn watch_spec(site: &Site) -> Option<WatchSpec> {
    let app = site.app.as_ref().filter(|app| app.watch)?;
    let mut ignore: Vec<_> = app.data.iter().map(|(dir, _)| dir.clone()).collect();
    ignore.extend(site.static_root.iter().filter_map(|s| s.root.clone()));
    Some(WatchSpec {
        site: site.name.clone(),
        dir: site.dir.clone(),
        ignore,
    })
}

/// What a configuration reload did.
#[derive(Default)]
struct Summary {
    added: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
    failed: Vec<String>,
    unchanged: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (what, names) in [
            ("added", &self.added),
            ("changed", &self.changed),
            ("removed", &self.removed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what}: {}", names.join(", ")));
            }
        }
        if !self.failed.is_empty() {
            parts.push(format!(
                "failed (previous version kept): {}",
                self.failed.join(", ")
            ));
        }
        parts.push(format!("{} unchanged", self.unchanged));
        write!(f, "{}", parts.join("; "))
    }
}
