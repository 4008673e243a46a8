//! Reloads without a restart: the reloader thread decides what changed and swaps the
//! catalog's table (`catalog.rs`), while requests keep being served from the old one. Builds
//! never run here: each is a build process (`build::child`), awaited on the server's runtime,
//! whose outcome comes back to this thread as a trigger. So a slow or stuck build delays
//! nothing but its own site: other sites' reloads, code changes and builds go on.
//!
//! Triggers, handled one at a time in arrival order (triggers that queue up meanwhile are
//! merged):
//! - **Configuration** (SIGHUP, `wsgi-wasm reload` through the admin listener): the server
//!   config and every site.toml are read again. An error in the server config rejects the
//!   reload whole. An error in a site.toml refuses that site only: it keeps serving its last
//!   good configuration, and every valid site is applied (one tenant's broken file never
//!   blocks another's changes). Sites whose configuration and build inputs are unchanged
//!   keep their live instances; the others are swapped in as soon as they are ready (at
//!   once when their build is cached). The caller hears the outcome once the builds this
//!   reload started have ended.
//! - **Code change** (the file watcher, `watch.rs`): the named sites are rebuilt with their
//!   current configuration when their build inputs' hash changed.
//! - **Built**: a build process ended; its site is swapped in (or its error reported, the
//!   previous version serving on).
//!
//! A site builds at most once at a time; a change that arrives during its build is built
//! after it. `listen`, `state`, `max_connections`, the admin address, `admin_hosts`,
//! `admin_token_file` and `[log]` are bound at start-up: a reload that changes them says so
//! and keeps the old values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use tokio::sync::oneshot;

use crate::config::{self, ServerConfig, Site};
use crate::sites::catalog::{Catalog, Table};
use crate::sites::live::{Builder, LiveSite, Loaded, Pending, Prepared, Steps};
use crate::sites::watch::{SiteWatcher, WatchSpec};
use crate::telemetry::metrics::Metrics;

/// A reload's outcome: what changed, or why (part of) the configuration was refused.
pub type Outcome = Result<String, String>;

/// What the reloader is asked to do.
enum Trigger {
    /// Reread every configuration file; the outcome goes to `reply` when someone waits.
    Config {
        reason: String,
        reply: Option<oneshot::Sender<Outcome>>,
    },
    /// Files of these sites changed.
    Changed(Vec<String>),
    /// The build of a site ended.
    Built {
        site: String,
        pending: Box<Pending>,
        outcome: Result<crate::build::Built, String>,
        started: Instant,
    },
}

/// Asks the reloader for work; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    triggers: mpsc::Sender<Trigger>,
}

impl Handle {
    /// Rereads the whole configuration; resolves with a summary of what changed, or with
    /// the reason (part of) the new configuration was refused.
    pub async fn reload(&self, reason: &str) -> Outcome {
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

/// Everything a reload needs; runs on its own thread.
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

/// A reload whose builds are still running: its caller hears once they end.
struct Waiting {
    /// The sites it waits for, each `true` when the reload added it.
    sites: BTreeMap<String, bool>,
    summary: Summary,
    refused: Vec<String>,
    replies: Vec<oneshot::Sender<Outcome>>,
}

/// The reloader's own state, beside the catalog.
struct State {
    /// Sites with a build process running, each with the configuration to bring up once
    /// it ends, when another change came in meanwhile.
    building: BTreeMap<String, Option<Site>>,
    waiting: Vec<Waiting>,
    /// Told once the builds started at start-up have all ended.
    initial: Option<(BTreeSet<String>, oneshot::Sender<Loaded>, Loaded)>,
}

/// Records the outcome of the start-up load in the catalog's reports and the metrics.
pub fn record_loaded(catalog: &Catalog, metrics: &Metrics, loaded: &Loaded) {
    let now = SystemTime::now();
    for (site, names) in &loaded.server_names {
        catalog.report(site, |report| report.server_names = names.clone());
    }
    for site in loaded.sites.iter().filter(|site| !site.starting) {
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
    /// Starts the reloader thread and the file watcher, and the builds of `pending` (the
    /// sites whose builds were not cached at start-up). `ready` is told the outcome of the
    /// start-up once those builds have ended (`loaded` completed with them).
    pub fn start(
        self,
        pending: Vec<Pending>,
        loaded: Loaded,
        ready: oneshot::Sender<Loaded>,
    ) -> Result<Handle> {
        let (sender, triggers) = mpsc::channel();
        let handle = Handle { triggers: sender };
        let runtime = tokio::runtime::Handle::current();
        let own = handle.clone();
        // Watching starts before `serve` says it serves: no change made after is missed.
        let watcher = self.watch(&handle, &runtime);
        let names: BTreeSet<String> = pending.iter().map(|p| p.site.name.clone()).collect();
        let mut state = State {
            building: BTreeMap::new(),
            waiting: Vec::new(),
            initial: Some((names, ready, loaded)),
        };
        for pending in pending {
            self.spawn_build(&mut state, &handle, &runtime, pending, Instant::now());
        }
        self.check_initial(&mut state);
        std::thread::Builder::new()
            .name("reloader".into())
            .spawn(move || self.run(triggers, own, runtime, watcher, state))?;
        Ok(handle)
    }

    fn run(
        mut self,
        triggers: mpsc::Receiver<Trigger>,
        handle: Handle,
        rt: tokio::runtime::Handle,
        mut watcher: Option<SiteWatcher>,
        mut state: State,
    ) {
        // Pools start their reaper tasks on the server's runtime.
        let _runtime = rt.enter();
        while let Ok(first) = triggers.recv() {
            // Whatever queued up meanwhile is done in the same pass.
            let mut replies = Vec::new();
            let mut config: Option<String> = None;
            let mut changed = BTreeSet::new();
            let mut built = Vec::new();
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
                    Trigger::Built {
                        site,
                        pending,
                        outcome,
                        started,
                    } => built.push((site, pending, outcome, started)),
                }
            }
            let mut pass = Pass {
                reloader: &mut self,
                state: &mut state,
                handle: &handle,
                rt: &rt,
            };
            for (site, pending, outcome, started) in built {
                pass.guarded(|pass| pass.built(&site, *pending, outcome, started));
            }
            if let Some(reason) = config {
                let mut reloaded = false;
                pass.guarded(|pass| {
                    reloaded = pass.reload_config(&reason, replies);
                });
                if reloaded {
                    drop(watcher.take());
                    watcher = self.watch(&handle, &rt);
                }
            } else if !changed.is_empty() {
                pass.guarded(|pass| pass.rebuild(changed));
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

    /// Starts the build of `pending` on the server's runtime; its end comes back as a
    /// [`Trigger::Built`].
    fn spawn_build(
        &self,
        state: &mut State,
        handle: &Handle,
        rt: &tokio::runtime::Handle,
        pending: Pending,
        started: Instant,
    ) {
        let site = pending.site.name.clone();
        state.building.insert(site.clone(), None);
        self.catalog.report(&site, |report| {
            report.building = Some(SystemTime::now());
            report.server_names = pending.site.server_names.clone();
        });
        let builder = self.builder.clone();
        let triggers = handle.triggers.clone();
        rt.spawn(async move {
            let steps = Steps::new(&site, None, started);
            let outcome = builder.build(&pending, |step| steps.show(step)).await;
            let _ = triggers.send(Trigger::Built {
                site,
                pending: Box::new(pending),
                outcome,
                started,
            });
        });
    }

    /// Tells `serve` the start-up is over once its builds have all ended.
    fn check_initial(&self, state: &mut State) {
        if state
            .initial
            .as_ref()
            .is_some_and(|(left, _, _)| left.is_empty())
        {
            let (_, ready, loaded) = state.initial.take().expect("checked");
            let _ = ready.send(loaded);
        }
    }
}

/// One pass of the reloader over the triggers that arrived together.
struct Pass<'a> {
    reloader: &'a mut Reloader,
    state: &'a mut State,
    handle: &'a Handle,
    rt: &'a tokio::runtime::Handle,
}

impl Pass<'_> {
    /// Runs `step`; a panic in it (a bug) is logged and the reloader goes on with the next
    /// trigger and the table it had.
    fn guarded(&mut self, step: impl FnOnce(&mut Self)) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(self))).is_err() {
            tracing::error!("the reloader hit an internal error (see the log); nothing changed");
        }
    }

    /// Rereads every configuration file and applies every valid site; `true` when the
    /// server config was accepted. The replies are sent once the builds it started end.
    fn reload_config(&mut self, reason: &str, replies: Vec<oneshot::Sender<Outcome>>) -> bool {
        tracing::info!("reloading the configuration ({reason})");
        let outcome = self.try_reload_config(replies);
        // Even a refused reload reopens the logs: logrotate's SIGHUP must not leave the
        // server writing to the moved file because some site.toml has a typo.
        for hook in &self.reloader.after_reload {
            hook();
        }
        outcome
    }

    fn try_reload_config(&mut self, replies: Vec<oneshot::Sender<Outcome>>) -> bool {
        let server = match (self.reloader.load)() {
            Ok(server) => server,
            Err(error) => {
                let message = format!("{error:#}");
                tracing::error!(
                    "configuration rejected; still serving the previous one:\n{message}"
                );
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
                return false;
            }
        };
        self.reloader.warn_fixed(&server);
        self.reloader.builder.config = server.build.clone();
        let (configs, errors) = match config::read_sites(&server) {
            Ok((configs, errors, held)) => {
                crate::sites::live::save_held(&server, &held);
                (configs, errors)
            }
            Err(error) => {
                let message = format!("{error:#}");
                tracing::error!(
                    "configuration rejected; still serving the previous one:\n{message}"
                );
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
                return false;
            }
        };
        self.reloader.server = server;
        let now = SystemTime::now();
        let mut refused = Vec::new();
        let mut refused_sites = BTreeSet::new();
        for error in &errors {
            let message = error.to_string();
            tracing::error!("site refused; it keeps its last good configuration: {message}");
            refused_sites.insert(error.site());
            self.reloader.catalog.report(&error.site(), |report| {
                report.error = Some((message.clone(), now))
            });
            refused.push(message);
        }
        let current = self.reloader.catalog.current();
        let mut summary = Summary::default();
        let mut waiting = BTreeMap::new();
        let mut sites: BTreeMap<String, Arc<LiveSite>> = BTreeMap::new();
        let configured: BTreeSet<String> = configs.iter().map(|s| s.name.clone()).collect();
        for site in configs {
            let name = site.name.clone();
            let old = current.site(&name).cloned();
            let fingerprint = self.reloader.builder.fingerprint(&site);
            // A site whose first build runs is unchanged when its configuration is: the
            // reload does not wait for that build (the watcher rebuilds for code changes).
            let building = self.state.building.contains_key(&name);
            let unchanged =
                old.as_ref()
                    .zip(fingerprint.as_ref().ok())
                    .is_some_and(|(old, now)| match old.starting {
                        true => building && old.fingerprint.config == now.config,
                        false => &old.fingerprint == now,
                    });
            if let (true, Some(old)) = (unchanged, &old) {
                sites.insert(name, old.clone());
                summary.unchanged += 1;
                continue;
            }
            let is_new = old.is_none();
            match self.bring_up(site, old.is_some()) {
                Ready::Now(live) => {
                    match old {
                        Some(_) => summary.changed.push(name.clone()),
                        None => summary.added.push(name.clone()),
                    }
                    sites.insert(name, live);
                }
                Ready::Later(placeholder) => {
                    waiting.insert(name.clone(), is_new);
                    if let Some(live) = old.or(placeholder) {
                        sites.insert(name, live);
                    }
                }
                Ready::Failed => {
                    summary.failed.push(name.clone());
                    sites.extend(old.map(|old| (name, old)));
                }
            }
        }
        // A site refused keeps what it served; a site gone from the sites folder is removed.
        for site in &current.sites {
            let name = &site.config.name;
            if configured.contains(name) {
                continue;
            }
            if refused_sites.contains(name) {
                sites.insert(name.clone(), site.clone());
            } else {
                summary.removed.push(name.clone());
            }
        }
        let keep: BTreeSet<String> = sites.keys().cloned().chain(refused_sites).collect();
        self.reloader.catalog.swap(Table::new(
            sites.into_values().collect(),
            &self.reloader.server,
        ));
        self.reloader.catalog.retain(|name| keep.contains(name));
        let reload = Waiting {
            sites: waiting,
            summary,
            refused,
            replies,
        };
        self.state.waiting.push(reload);
        self.answer_waiting();
        true
    }

    /// Rebuilds the named sites whose build inputs changed.
    fn rebuild(&mut self, names: BTreeSet<String>) {
        let current = self.reloader.catalog.current();
        for name in names {
            let Some(old) = current.site(&name) else {
                continue;
            };
            match self.reloader.builder.fingerprint(&old.config) {
                Ok(now) if now == old.fingerprint => {
                    tracing::debug!(site = %name, "files changed, but no build input did");
                    continue;
                }
                _ => {}
            }
            tracing::info!(site = %name, "files changed: rebuilding in the background");
            if let Ready::Now(live) = self.bring_up(old.config.clone(), true) {
                self.install(live);
            }
        }
    }

    /// Brings one site up: at once when its build is cached, else by starting its build
    /// (`Later`, with what serves it meanwhile when it has nothing yet).
    fn bring_up(&mut self, site: Site, has_version: bool) -> Ready {
        let name = site.name.clone();
        if let Some(next) = self.state.building.get_mut(&name) {
            // One build of a site at a time: this change is brought up after the running one.
            *next = Some(site);
            return Ready::Later(None);
        }
        let started = Instant::now();
        match self.reloader.builder.prepare(site) {
            Ok(Prepared::Ready(live)) => {
                self.served(&name, &live, started);
                Ready::Now(Arc::new(live))
            }
            Ok(Prepared::Build(pending)) => {
                let placeholder = (!has_version).then(|| Arc::new(Builder::starting(&pending)));
                self.reloader
                    .spawn_build(self.state, self.handle, self.rt, pending, started);
                Ready::Later(placeholder)
            }
            Err(error) => {
                self.failed(&name, &format!("{error:#}"), started);
                Ready::Failed
            }
        }
    }

    /// A build process ended: swap the site in, or report why not.
    fn built(
        &mut self,
        site: &str,
        pending: Pending,
        outcome: Result<crate::build::Built, String>,
        started: Instant,
    ) {
        let next = self.state.building.remove(site).flatten();
        let current = self.reloader.catalog.current();
        let old = current.site(site).cloned();
        let finished = outcome
            .map_err(anyhow::Error::msg)
            .and_then(|built| self.reloader.builder.finish(pending, built));
        let installed = match finished {
            // A site taken out of the configuration meanwhile is not served again.
            Ok(_) if old.is_none() => {
                tracing::info!(site = %site, "built a site that was removed meanwhile; not served");
                None
            }
            Ok(live) => {
                self.served(site, &live, started);
                let previous = old.as_ref().and_then(|old| old.fingerprint.build.clone());
                let keep: Vec<String> = [live.fingerprint.build.clone(), previous]
                    .into_iter()
                    .flatten()
                    .collect();
                let live = Arc::new(live);
                let first = old.as_ref().is_some_and(|old| old.starting);
                self.install(live.clone());
                self.reloader.builder.prune(site, keep);
                if first {
                    tracing::info!(site = %site, "first build done: the app serves");
                } else {
                    tracing::info!(site = %site, "swapped in the new version; requests in flight finish on the old one");
                }
                Some(live)
            }
            Err(error) => {
                let message = format!("{error:#}");
                self.failed(site, &message, started);
                if let Some((_, _, loaded)) = self.state.initial.as_mut() {
                    loaded.failures.push((site.to_owned(), message));
                }
                // A first build that failed leaves nothing to serve: its names are free.
                if old.as_ref().is_some_and(|old| old.starting) {
                    self.remove(site);
                }
                None
            }
        };
        if let Some((left, _, loaded)) = self.state.initial.as_mut() {
            if left.remove(site) {
                let ok = installed.is_some();
                loaded
                    .timings
                    .push((site.to_owned(), started.elapsed(), ok));
                loaded.sites.extend(installed.clone());
            }
        }
        self.reloader.check_initial(self.state);
        for waiting in &mut self.state.waiting {
            if let Some(is_new) = waiting.sites.remove(site) {
                let list = match (installed.is_some(), is_new) {
                    (true, true) => &mut waiting.summary.added,
                    (true, false) => &mut waiting.summary.changed,
                    (false, _) => &mut waiting.summary.failed,
                };
                list.push(site.to_owned());
            }
        }
        self.answer_waiting();
        // A change that came in during the build is brought up now, unless it is what was
        // just built.
        if let Some(next) = next {
            let same = installed.as_ref().is_some_and(|live| {
                self.reloader.builder.fingerprint(&next).ok().as_ref() == Some(&live.fingerprint)
            });
            if !same {
                if let Ready::Now(live) = self.bring_up(next, true) {
                    self.install(live);
                }
            }
        }
    }

    /// Sends the outcome of every reload whose builds have all ended.
    fn answer_waiting(&mut self) {
        let (done, left): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut self.state.waiting)
            .into_iter()
            .partition(|waiting| waiting.sites.is_empty());
        self.state.waiting = left;
        for waiting in done {
            let summary = waiting.summary.to_string();
            let outcome = if waiting.refused.is_empty() {
                tracing::info!("configuration reloaded: {summary}");
                Ok(summary)
            } else {
                let refused = waiting.refused.join("\n");
                tracing::warn!("configuration reloaded but for the sites refused: {summary}");
                Err(format!(
                    "refused (these sites keep their last good configuration):\n{refused}\n\
                     applied: {summary}"
                ))
            };
            for reply in waiting.replies {
                let _ = reply.send(outcome.clone());
            }
        }
    }

    /// Puts `live` in the table in place of the site of the same name (or beside the
    /// others).
    fn install(&self, live: Arc<LiveSite>) {
        let current = self.reloader.catalog.current();
        let mut sites: Vec<Arc<LiveSite>> = current
            .sites
            .iter()
            .filter(|site| site.config.name != live.config.name)
            .cloned()
            .collect();
        sites.push(live);
        self.reloader
            .catalog
            .swap(Table::new(sites, &self.reloader.server));
    }

    /// Takes the site called `site` out of the table.
    fn remove(&self, site: &str) {
        let current = self.reloader.catalog.current();
        let sites = current
            .sites
            .iter()
            .filter(|live| live.config.name != site)
            .cloned()
            .collect();
        self.reloader
            .catalog
            .swap(Table::new(sites, &self.reloader.server));
    }

    /// Reports a site that came up.
    fn served(&self, site: &str, live: &LiveSite, started: Instant) {
        let elapsed = started.elapsed();
        tracing::info!(site = %site, "ready in {:.1}s", elapsed.as_secs_f64());
        self.reloader.metrics.observe_build(site, elapsed, true);
        let version = live.fingerprint.build.clone().unwrap_or_default();
        self.reloader.catalog.report(site, |report| {
            report.building = None;
            report.error = None;
            report.serving = Some((version, SystemTime::now()));
            report.last_build = Some(elapsed);
            report.server_names = live.config.server_names.clone();
        });
    }

    /// Reports a site whose bring-up failed (its previous version, if any, serves on).
    fn failed(&self, site: &str, message: &str, started: Instant) {
        let elapsed = started.elapsed();
        tracing::error!(site = %site, "build failed after {:.1}s; the previous version (if any) keeps serving: {message}", elapsed.as_secs_f64());
        self.reloader.metrics.observe_build(site, elapsed, false);
        self.reloader.catalog.report(site, |report| {
            report.building = None;
            report.error = Some((message.to_owned(), SystemTime::now()));
            report.last_build = Some(elapsed);
        });
    }
}

/// How a site's bring-up went, from the reloader's side.
enum Ready {
    Now(Arc<LiveSite>),
    /// Its build runs; served meanwhile by its old version, or by this placeholder.
    Later(Option<Arc<LiveSite>>),
    Failed,
}

impl Reloader {
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
            ("admin_hosts", old.admin_hosts != new.admin_hosts),
            ("admin_token_file", old.admin_token != new.admin_token),
            ("[log]", old.log != new.log),
            ("build.jobs", old.build.jobs != new.build.jobs),
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
    let mut ignore: Vec<_> = app.data.iter().map(|(dir, _)| site.dir.join(dir)).collect();
    ignore.extend(
        site.static_root
            .iter()
            .filter_map(|s| s.root.as_ref().map(|root| site.dir.join(root))),
    );
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
