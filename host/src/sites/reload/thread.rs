//! The reloader thread: started with the server, it watches the sites' code and loops over
//! the triggers, handing each pass to `plan.rs` and `apply.rs`.
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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::oneshot;

use crate::config::Site;
use crate::sites::live::{Loaded, Pending};
use crate::sites::watch::{SiteWatcher, WatchSpec};

use super::handle::{Handle, Trigger};
use super::plan::Pass;
use super::state::{Reloader, State};

impl Reloader {
    /// Starts the reloader thread and the file watcher, and the builds of `pending` (the
    /// sites whose builds were not cached at start-up). `ready` is told the outcome of the
    /// start-up once those builds have ended (`loaded` completed with them).
    pub fn start(
        self,
        pending: Vec<Pending>,
        mut loaded: Loaded,
        ready: oneshot::Sender<Loaded>,
    ) -> Result<Handle> {
        let (sender, triggers) = mpsc::channel();
        let handle = Handle { triggers: sender };
        let runtime = tokio::runtime::Handle::current();
        let own = handle.clone();
        // Watching starts before `serve` says it serves: no change made after is missed.
        let names: BTreeSet<String> = pending.iter().map(|p| p.site.name.clone()).collect();
        let unserved = std::mem::take(&mut loaded.unserved)
            .into_iter()
            .map(|site| (site.name.clone(), site))
            .collect();
        let mut state = State {
            building: BTreeMap::new(),
            waiting: Vec::new(),
            initial: Some((names, ready, loaded)),
            unserved,
            rewatch: false,
        };
        let watcher = self.watch(&state, &handle, &runtime);
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
                    state.rewatch = true;
                }
            } else if !changed.is_empty() {
                pass.guarded(|pass| pass.rebuild(changed));
            }
            if std::mem::take(&mut state.rewatch) {
                drop(watcher.take());
                watcher = self.watch(&state, &handle, &rt);
            }
        }
    }

    /// Watches the code of every site that allows it, served or waiting for a build that
    /// works (`State::unserved`); `None` when nothing is watched.
    fn watch(
        &self,
        state: &State,
        handle: &Handle,
        rt: &tokio::runtime::Handle,
    ) -> Option<SiteWatcher> {
        let current = self.catalog.current();
        let specs: Vec<WatchSpec> = current
            .sites
            .iter()
            .map(|site| &site.config)
            .chain(state.unserved.values())
            .filter_map(watch_spec)
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
}

/// What the watcher should watch of a site: its folder, minus what is not code.
fn watch_spec(site: &Site) -> Option<WatchSpec> {
    let app = site.app.as_ref().filter(|app| app.watch)?;
    // Relative to the site folder, as `WatchSpec::ignore` wants them: joined to a relative
    // site folder (`--sites sites`, the default) they would name a folder that is not there
    // and leave the data folders watched (and every sqlite lock folder a watch event).
    let mut ignore: Vec<_> = app.data.iter().map(|(dir, _)| dir.clone()).collect();
    ignore.extend(site.static_root.iter().filter_map(|s| s.root.clone()));
    Some(WatchSpec {
        site: site.name.clone(),
        dir: site.dir.clone(),
        ignore,
    })
}
