//! One pass of the reloader over the triggers that arrived together ([`Pass`]), and what
//! it plans: rereading the configuration and telling which sites changed, rebuilding the
//! sites whose code changed, bringing a site up (at once from a cached build, or by starting
//! its build). Swapping the sites in is `apply.rs`.
//!
//! A site builds at most once at a time; a change that arrives during its build is built
//! after it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::oneshot;

use crate::config::{self, Site};
use crate::sites::catalog::Table;
use crate::sites::live::{Builder, LiveSite, Prepared};

use super::handle::{Handle, Outcome};
use super::state::{Reloader, State, Summary, Waiting};

/// One pass of the reloader over the triggers that arrived together.
pub(super) struct Pass<'a> {
    pub(super) reloader: &'a mut Reloader,
    pub(super) state: &'a mut State,
    pub(super) handle: &'a Handle,
    pub(super) rt: &'a tokio::runtime::Handle,
}

impl Pass<'_> {
    /// Runs `step`; a panic in it (a bug) is logged and the reloader goes on with the next
    /// trigger and the table it had.
    pub(super) fn guarded(&mut self, step: impl FnOnce(&mut Self)) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(self))).is_err() {
            tracing::error!("the reloader hit an internal error (see the log); nothing changed");
        }
    }

    /// Rereads every configuration file and applies every valid site; `true` when the
    /// server config was accepted. The replies are sent once the builds it started end.
    pub(super) fn reload_config(
        &mut self,
        reason: &str,
        replies: Vec<oneshot::Sender<Outcome>>,
    ) -> bool {
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
        // Sites left unserved by a failed first build are planned again like new ones.
        if !self.state.unserved.is_empty() {
            self.state.unserved.clear();
            self.state.rewatch = true;
        }
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
        let mut reload = Waiting {
            sites: waiting,
            summary,
            refused,
            replies,
        };
        if !reload.sites.is_empty() {
            self.answer_early(&mut reload);
        }
        self.state.waiting.push(reload);
        self.answer_waiting();
        true
    }

    /// Rebuilds the named sites whose build inputs changed.
    pub(super) fn rebuild(&mut self, names: BTreeSet<String>) {
        let current = self.reloader.catalog.current();
        for name in names {
            let Some(old) = current.site(&name) else {
                self.retry(&name);
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

    /// Builds again a site whose first build failed (`State::unserved`), after its files
    /// changed; served by a placeholder meanwhile, as a first build is.
    fn retry(&mut self, name: &str) {
        let Some(site) = self.state.unserved.get(name).cloned() else {
            return;
        };
        tracing::info!(site = %name, "files changed: building again (its last build failed)");
        match self.bring_up(site, false) {
            Ready::Now(live) => {
                self.state.unserved.remove(name);
                self.state.rewatch = true;
                self.install(live);
                tracing::info!(site = %name, "first build done: the app serves");
            }
            Ready::Later(Some(placeholder)) => self.install(placeholder),
            Ready::Later(None) | Ready::Failed => {}
        }
    }

    /// Brings one site up: at once when its build is cached, else by starting its build
    /// (`Later`, with what serves it meanwhile when it has nothing yet).
    pub(super) fn bring_up(&mut self, site: Site, has_version: bool) -> Ready {
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
                if let Some(message) = self.reloader.builder.remembered_failure(&pending) {
                    self.failed(&name, &message, started);
                    // Nothing to serve: watched, so the change that fixes it builds it.
                    if !has_version && self.state.unserved.insert(name, pending.site).is_none() {
                        self.state.rewatch = true;
                    }
                    return Ready::Failed;
                }
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
}

/// How a site's bring-up went, from the reloader's side.
pub(super) enum Ready {
    Now(Arc<LiveSite>),
    /// Its build runs; served meanwhile by its old version, or by this placeholder.
    Later(Option<Arc<LiveSite>>),
    Failed,
}
