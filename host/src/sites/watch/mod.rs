//! Watching site code for changes: the source of "rebuild this site" beside SIGHUP. It sits
//! outside the request path: requests never look at the file system for it (no polling per
//! request); the kernel (inotify, through the `notify` crate) tells a thread of its own.
//!
//! [`SiteWatcher::start`] watches each site's folder and, once a site's files have been quiet
//! for [`QUIET`], sends the names of the sites that changed, each once per batch. The reload
//! side rebuilds those sites in the background and swaps them in.
//!
//! What counts as a change: a file or folder created, removed, renamed, written (modified or
//! closed after writing) or its metadata changed (`touch`). Reads never count, so a build
//! reading the code does not trigger itself. What is never looked at:
//! - anything under the spec's `ignore` paths (the site's static root and data folders: an
//!   sqlite write must never rebuild a site);
//! - dot-files and dot-folders (`.git`, `.env`, editors' `.app.py.swp`), `__pycache__`,
//!   `*.pyc`/`*.pyo`, editor temp files (`*~`, `*.swp`, vim's `4913`, emacs' `#app.py#`,
//!   JetBrains' `*___jb_tmp___`/`*___jb_old___`);
//! - the site's own `site.toml`: configuration changes apply on SIGHUP, not on save.
//!
//! Folders are watched one by one (non-recursive inotify watches), skipping the ignored
//! ones, so a large static root, a data folder or a `.git` costs no watches and its file
//! reads wake nothing. New folders are watched as they appear; folders removed or renamed
//! away are dropped. A site folder that is deleted or renamed is reported once and then no
//! longer watched (the reload that follows finds it gone).
//!
//! Why not one of `notify`'s debouncers: both expire events per path, tick by tick, so a
//! burst of writes that straddles a tick arrives as two batches (two rebuilds); the mini one
//! also reports file opens as changes, and both are built for a few recursive roots, which
//! would put watches on every static and data folder. The debounce here is per batch: the
//! batch goes out after [`QUIET`] without a relevant event, or [`MAX_DELAY`] after its first
//! one if the files never stop changing.
//!
//! Watch count: one inotify watch per watched folder, shared by all sites under the user's
//! `fs.inotify.max_user_watches` (8192 on older kernels, far more on newer ones). When the
//! kernel refuses a watch for that reason, one error names the limit and the sites left
//! unwatched; the folders already watched stay watched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};

/// How long a batch waits after its last relevant event.
pub const QUIET: Duration = Duration::from_millis(300);
/// A batch goes out at most this long after its first event, even if files keep changing.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// One site to watch.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    /// The name sent when the site changes.
    pub site: String,
    /// The site folder, watched with everything below it.
    pub dir: PathBuf,
    /// Folders (or files) below `dir` whose changes never count, relative to `dir` (an
    /// absolute one is taken as it is).
    pub ignore: Vec<PathBuf>,
}

/// Watches site folders until dropped.
pub struct SiteWatcher {
    control: mpsc::Sender<Message>,
    thread: Option<JoinHandle<()>>,
}

enum Message {
    Event(notify::Result<Event>),
    Stop,
}

impl SiteWatcher {
    /// Watches each spec's dir recursively; after a quiet period (debounce ~300 ms) sends the
    /// names of the sites whose files changed (each name once per batch) on `changed`.
    ///
    /// Folders are walked and watched before this returns, so a change made after it is
    /// seen. Fails only when the watcher itself cannot be made (no inotify instance left).
    pub fn start(
        specs: &[WatchSpec],
        changed: tokio::sync::mpsc::UnboundedSender<Vec<String>>,
    ) -> anyhow::Result<SiteWatcher> {
        Self::start_with(specs, changed, |handler| {
            notify::recommended_watcher(handler).map(|w| Box::new(w) as Box<dyn Watcher + Send>)
        })
    }

    /// [`Self::start`] with the watcher made by `make` (tests put a limit on it).
    fn start_with(
        specs: &[WatchSpec],
        changed: tokio::sync::mpsc::UnboundedSender<Vec<String>>,
        make: impl FnOnce(
            Box<dyn FnMut(notify::Result<Event>) + Send>,
        ) -> notify::Result<Box<dyn Watcher + Send>>,
    ) -> anyhow::Result<SiteWatcher> {
        let (control, inbox) = mpsc::channel();
        let events = control.clone();
        let watcher = make(Box::new(move |event| {
            let _ = events.send(Message::Event(event));
        }))
        .context("cannot start watching site folders for code changes")?;
        let mut state = State::new(specs, watcher);
        for index in 0..state.sites.len() {
            let dir = state.sites[index].dir.clone();
            state.watch_tree(&dir);
        }
        tracing::info!(
            sites = state.sites.len(),
            folders = state.watched.len(),
            "watching site code for changes"
        );
        let thread = std::thread::Builder::new()
            .name("site-watcher".into())
            .spawn(move || state.run(&inbox, &changed))
            .context("cannot start the site watcher thread")?;
        Ok(SiteWatcher {
            control,
            thread: Some(thread),
        })
    }
}

impl Drop for SiteWatcher {
    fn drop(&mut self) {
        let _ = self.control.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A site as the watcher sees it: paths made absolute and resolved, so they compare with
/// the paths events carry.
struct Site {
    name: String,
    dir: PathBuf,
    ignore: Vec<PathBuf>,
}

struct State {
    sites: Vec<Site>,
    watcher: Box<dyn Watcher + Send>,
    /// Every folder with a watch of ours, and the site it belongs to.
    watched: BTreeMap<PathBuf, usize>,
    /// Set once the kernel refused a watch for the watch limit: no more are tried.
    exhausted: bool,
}

impl State {
    fn new(specs: &[WatchSpec], watcher: Box<dyn Watcher + Send>) -> State {
        let sites = specs
            .iter()
            .map(|spec| {
                let dir = resolve(&spec.dir);
                let ignore = spec
                    .ignore
                    .iter()
                    .map(|path| resolve(&spec.dir.join(path)))
                    // The site folder itself (a static root of ".") leaves the code watched.
                    .filter(|path| path != &dir && path.starts_with(&dir))
                    .collect();
                Site {
                    name: spec.site.clone(),
                    dir,
                    ignore,
                }
            })
            .collect();
        State {
            sites,
            watcher,
            watched: BTreeMap::new(),
            exhausted: false,
        }
    }

    fn run(
        mut self,
        inbox: &mpsc::Receiver<Message>,
        changed: &tokio::sync::mpsc::UnboundedSender<Vec<String>>,
    ) {
        let mut pending: BTreeSet<usize> = BTreeSet::new();
        let mut first = Instant::now();
        let mut last = Instant::now();
        loop {
            let message = if pending.is_empty() {
                inbox
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                let due = (last + QUIET).min(first + MAX_DELAY);
                match due.checked_duration_since(Instant::now()) {
                    Some(wait) if !wait.is_zero() => inbox.recv_timeout(wait),
                    _ => Err(mpsc::RecvTimeoutError::Timeout),
                }
            };
            match message {
                Ok(Message::Event(Ok(event))) => {
                    let before = pending.len();
                    let touched = self.handle(&event, &mut pending);
                    if touched {
                        if before == 0 {
                            first = Instant::now();
                        }
                        last = Instant::now();
                    }
                }
                Ok(Message::Event(Err(error))) => {
                    tracing::warn!("watching site code: {error}");
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let names: Vec<String> = std::mem::take(&mut pending)
                        .into_iter()
                        .map(|index| self.sites[index].name.clone())
                        .collect();
                    tracing::debug!(sites = ?names, "site code changed");
                    if changed.send(names).is_err() {
                        break;
                    }
                }
                Ok(Message::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// Applies one event: keeps the watches in step with the folders and adds the sites it
    /// changes to `pending`. Returns whether it changed any site.
    fn handle(&mut self, event: &Event, pending: &mut BTreeSet<usize>) -> bool {
        if event.need_rescan() {
            // The kernel's queue overflowed: events were lost, any site may have changed.
            tracing::warn!(
                "watching site code: the kernel dropped events (inotify queue overflow); \
                 every watched site is reported as changed"
            );
            pending.extend(0..self.sites.len());
            return true;
        }
        if !counts(&event.kind) {
            return false;
        }
        let mut touched = false;
        for path in &event.paths {
            let Some(index) = self.site_of(path) else {
                continue;
            };
            if !self.sites[index].relevant(path) {
                continue;
            }
            touched = true;
            pending.insert(index);
            let renamed = matches!(event.kind, EventKind::Modify(ModifyKind::Name(_)));
            if matches!(event.kind, EventKind::Create(_) | EventKind::Remove(_)) || renamed {
                // Keep the watches in step: a folder that is here now (created, renamed here)
                // is watched; one that is gone (removed, renamed away) loses its watches (the
                // kernel's are gone, or follow the folder to where it went).
                if path.is_dir() && !path.is_symlink() {
                    self.watch_tree(path);
                } else {
                    self.unwatch_tree(path);
                }
            }
        }
        touched
    }

    /// The site whose folder holds `path` (the deepest, should one site folder hold another).
    fn site_of(&self, path: &Path) -> Option<usize> {
        (0..self.sites.len())
            .filter(|&i| path.starts_with(&self.sites[i].dir))
            .max_by_key(|&i| self.sites[i].dir.components().count())
    }

    /// Watches `dir` and every folder below it that is not ignored.
    fn watch_tree(&mut self, dir: &Path) {
        let Some(index) = self.site_of(dir) else {
            return;
        };
        let mut stack = vec![dir.to_path_buf()];
        while let Some(folder) = stack.pop() {
            if self.exhausted {
                return;
            }
            if !self.sites[index].watchable(&folder) || self.watched.contains_key(&folder) {
                continue;
            }
            match self.watcher.watch(&folder, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(folder.clone(), index);
                }
                Err(error) if matches!(error.kind, notify::ErrorKind::MaxFilesWatch) => {
                    self.limit_reached(index, &folder);
                    return;
                }
                Err(error) => {
                    // Gone meanwhile, or unreadable: nothing to watch there.
                    tracing::debug!("not watching `{}`: {error}", folder.display());
                    continue;
                }
            }
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }

    /// Drops the watches of `path` and every folder below it.
    fn unwatch_tree(&mut self, path: &Path) {
        let below: Vec<PathBuf> = self
            .watched
            .range(path.to_path_buf()..)
            .map(|(folder, _)| folder)
            .take_while(|folder| folder.starts_with(path))
            .cloned()
            .collect();
        for folder in below {
            self.watched.remove(&folder);
            // The kernel may have dropped it already (a deleted folder): not an error.
            let _ = self.watcher.unwatch(&folder);
        }
    }

    fn limit_reached(&mut self, index: usize, folder: &Path) {
        self.exhausted = true;
        let watched_sites: BTreeSet<usize> = self.watched.values().copied().collect();
        let unwatched: Vec<&str> = (0..self.sites.len())
            .filter(|i| *i == index || !watched_sites.contains(i))
            .map(|i| self.sites[i].name.as_str())
            .collect();
        tracing::error!(
            "cannot watch `{}` for code changes: the inotify watch limit \
             (fs.inotify.max_user_watches) is reached after {} folders; changes to the code of \
             {} site(s) ({}) are not seen until a reload; raise the limit, e.g. \
             `sysctl fs.inotify.max_user_watches=524288`",
            folder.display(),
            self.watched.len(),
            unwatched.len(),
            unwatched.join(", "),
        );
    }
}

impl Site {
    fn ignored(&self, path: &Path) -> bool {
        self.ignore.iter().any(|ignored| path.starts_with(ignored))
    }

    /// Whether a change at `path` (inside the site folder) counts.
    fn relevant(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.dir) else {
            return false;
        };
        if relative == Path::new(crate::config::SITE_FILE) || self.ignored(path) {
            return false;
        }
        relative
            .components()
            .all(|part| part.as_os_str().to_str().is_some_and(kept_name))
    }

    /// Whether `folder` (inside the site folder) gets a watch.
    fn watchable(&self, folder: &Path) -> bool {
        folder == self.dir || self.relevant(folder)
    }
}

/// Whether a file or folder name can hold site code: not a dot-file, byte-code cache or
/// editor temp file.
fn kept_name(name: &str) -> bool {
    let editor_temp = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___");
    !name.starts_with('.')
        && name != "__pycache__"
        && !name.ends_with(".pyc")
        && !name.ends_with(".pyo")
        && !editor_temp
}

/// Whether an event of this kind is a change (reads and opens are not).
fn counts(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// `path` absolute with symlinks resolved, as event paths are; as given when it does not
/// exist (yet).
fn resolve(path: &Path) -> PathBuf {
    path.canonicalize()
        .unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

#[cfg(test)]
mod tests;
