//! What the reloader works with: its settings ([`Reloader`]), its own state beside the
//! catalog (the builds running, the reloads waiting for them), starting a build process,
//! and the summary a configuration reload answers with.
//!
//! `listen`, `state`, `max_connections`, the admin address, `admin_hosts`,
//! `admin_token_file` and `[log]` are bound at start-up: a reload that changes them says so
//! and keeps the old values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use tokio::sync::oneshot;

use crate::config::{ServerConfig, Site};
use crate::sites::catalog::Catalog;
use crate::sites::live::{Builder, Loaded, Pending, Steps};
use crate::telemetry::metrics::Metrics;

use super::handle::{Handle, Outcome, Trigger};

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
pub(super) struct Waiting {
    /// The sites it waits for, each `true` when the reload added it.
    pub(super) sites: BTreeMap<String, bool>,
    pub(super) summary: Summary,
    pub(super) refused: Vec<String>,
    pub(super) replies: Vec<oneshot::Sender<Outcome>>,
}

/// The reloader's own state, beside the catalog.
pub(super) struct State {
    /// Sites with a build process running, each with the configuration to bring up once
    /// it ends, when another change came in meanwhile.
    pub(super) building: BTreeMap<String, Option<Site>>,
    pub(super) waiting: Vec<Waiting>,
    /// Told once the builds started at start-up have all ended.
    pub(super) initial: Option<(BTreeSet<String>, oneshot::Sender<Loaded>, Loaded)>,
    /// Sites whose first build failed: nothing of them is served, but their files are
    /// watched like any site's, and a change brings them up again (a reload starts over).
    pub(super) unserved: BTreeMap<String, Site>,
    /// Set when `unserved` changed: the watcher is started again over the new set.
    pub(super) rewatch: bool,
}

impl Reloader {
    /// Starts the build of `pending` on the server's runtime; its end comes back as a
    /// [`Trigger::Built`].
    pub(super) fn spawn_build(
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
    pub(super) fn check_initial(&self, state: &mut State) {
        if state
            .initial
            .as_ref()
            .is_some_and(|(left, _, _)| left.is_empty())
        {
            let (_, ready, loaded) = state.initial.take().expect("checked");
            let _ = ready.send(loaded);
        }
    }

    /// Says which changed settings need a restart.
    pub(super) fn warn_fixed(&self, new: &ServerConfig) {
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

/// What a configuration reload did.
#[derive(Default)]
pub(super) struct Summary {
    pub(super) added: Vec<String>,
    pub(super) changed: Vec<String>,
    pub(super) removed: Vec<String>,
    pub(super) failed: Vec<String>,
    pub(super) unchanged: usize,
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
