//! The data lock: keeps the requests of a site with writable data (`app.data`) from writing
//! it at the same time.
//!
//! Where it sits: `wsgi::dispatch` takes it for each request through [`SitePool::admit`],
//! after the request's body was read and before the request waits for an instance, so a
//! request held back by the lock holds no instance. The guard lives in the request's own
//! task and is dropped when that task ends, however it ends (clean, app error, trap,
//! timeout, client gone).
//!
//! Why: the guest's sqlite has no file locks on WASI (its locking calls succeed and lock
//! nothing), so two instances writing one database at once lose updates or corrupt the file.
//! The host is the only party that sees every instance, so it does the locking:
//! - `exclusive` (the default for a site with data folders): every request runs alone;
//! - `methods`: GET, HEAD, OPTIONS and TRACE share the lock, every other method runs alone
//!   (for apps that write only in unsafe methods);
//! - `none`: no lock; the app coordinates its own writes.
//!
//! A request waits for the lock at most `queue_timeout`, and at most `queue` requests wait at
//! once; beyond either it is turned away ([`Locked`] → 503 with `Retry-After`, like a full
//! instance queue). The lock is fair: a waiting writer is not starved by a stream of readers.
//!
//! Stale sqlite locks: the guest's sqlite locks a database with a lock folder beside it
//! (`app.db.lock`, made with `mkdir` and removed at the end of each transaction: WASI has
//! no `fcntl` locks). An instance discarded mid-request (timeout, CPU limit, trap, memory)
//! never removes its lock folder, and every later connection would find the database busy
//! forever, across restarts. So the gate removes such folders (empty `<file>.lock` folders
//! beside a file, in the site's data folders) when no guest of the site can be using them:
//! when the pool is made, before any instance exists, and after a discarded instance, under
//! the exclusive lock. The next connection then finds the dead transaction's rollback
//! journal and rolls it back, as sqlite does after a crash.
//!
//! Reloads: a rebuilt site gets a new pool while requests of the old one may still run. The
//! lock belongs to the data folders, not to a pool: every gate over the same folders in this
//! process shares one lock ([`shared_lock`]), and only the first gate over them clears stale
//! locks (a later one would remove the lock folder of an old-version request mid-write).
//!
//! [`SitePool::admit`]: crate::wsgi::pool::SitePool::admit

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use super::folder::Folder;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::config::{DataLock, Limits};

/// What a request with `method` takes under a site's `mode`.
pub fn access(mode: DataLock, method: &str) -> Access {
    match mode {
        DataLock::None => Access::Free,
        DataLock::Exclusive => Access::Exclusive,
        DataLock::Methods if is_safe(method) => Access::Shared,
        DataLock::Methods => Access::Exclusive,
    }
}

/// The methods RFC 9110 calls safe (read-only): they share the lock under `methods`.
fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// What one request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Free,
    Shared,
    Exclusive,
}

/// Why a request did not get the data lock.
#[derive(Debug, thiserror::Error)]
pub enum Locked {
    #[error("{0} requests already wait for the site's data lock")]
    QueueFull(usize),
    #[error("the site's data lock was not free within {0:?}")]
    QueueTimeout(Duration),
}

/// Held by a request for as long as it runs; releases the lock when dropped.
#[derive(Debug)]
pub enum DataGuard {
    Free,
    Shared(OwnedRwLockReadGuard<()>),
    Exclusive(OwnedRwLockWriteGuard<()>),
}

/// One site's data lock.
pub struct DataGate {
    mode: DataLock,
    lock: Arc<RwLock<()>>,
    waiting: AtomicUsize,
    queue: usize,
    timeout: Duration,
    /// The site's data folders, opened beneath the site folder.
    folders: Arc<[Folder]>,
}

impl DataGate {
    /// The lock of a site in `mode` over its data `folders`, waited for within the site's
    /// queue limits. Call it before the site has any instance: it clears the stale sqlite
    /// locks a previous run (a crash, a kill) left behind.
    pub fn new(site: &str, mode: DataLock, limits: &Limits, folders: Vec<Folder>) -> DataGate {
        let (lock, first) = shared_lock(&folders);
        let gate = DataGate {
            mode,
            lock,
            waiting: AtomicUsize::new(0),
            queue: limits.queue,
            timeout: limits.queue_timeout,
            folders: folders.into(),
        };
        if first {
            log_removed(
                site,
                None,
                &clear_stale_locks(&gate.folders),
                "a previous run",
            );
        }
        gate
    }

    /// Takes the lock for a request with `method`: at once when it is free, else after
    /// waiting in the queue.
    pub async fn enter(&self, method: &str, site: &str, request: u64) -> Result<DataGuard, Locked> {
        let access = access(self.mode, method);
        let now = match access {
            Access::Free => return Ok(DataGuard::Free),
            Access::Shared => self
                .lock
                .clone()
                .try_read_owned()
                .ok()
                .map(DataGuard::Shared),
            Access::Exclusive => self
                .lock
                .clone()
                .try_write_owned()
                .ok()
                .map(DataGuard::Exclusive),
        };
        if let Some(guard) = now {
            return Ok(guard);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Locked::QueueFull(self.queue));
        }
        tracing::debug!(
            site,
            request,
            ?access,
            "the request waits for the site's data lock"
        );
        let lock = self.lock.clone();
        let waited = tokio::time::timeout(self.timeout, async move {
            match access {
                Access::Shared => DataGuard::Shared(lock.read_owned().await),
                _ => DataGuard::Exclusive(lock.write_owned().await),
            }
        })
        .await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        waited.map_err(|_| Locked::QueueTimeout(self.timeout))
    }

    /// Called by a request whose instance was discarded (it may have died holding sqlite's
    /// lock folders): takes the lock exclusively (a shared holder first lets go and waits
    /// its turn), then clears stale sqlite locks. Under `none` no guest is known to be idle,
    /// so nothing is touched.
    pub async fn recover(&self, guard: DataGuard, site: &str, request: u64) {
        let held = match guard {
            DataGuard::Free => return,
            DataGuard::Exclusive(held) => held,
            DataGuard::Shared(shared) => {
                drop(shared);
                self.lock.clone().write_owned().await
            }
        };
        let folders = self.folders.clone();
        match tokio::task::spawn_blocking(move || clear_stale_locks(&folders)).await {
            Ok(removed) => log_removed(site, Some(request), &removed, "the discarded instance"),
            Err(error) => {
                tracing::error!(site, request, "clearing stale sqlite locks failed: {error}")
            }
        }
        drop(held);
    }
}

/// The lock of a set of data folders, shared by every gate over them while one lives; `true`
/// when no gate over them existed (so no guest of this process can be using them).
/// A gate without folders (a site without data) shares nothing.
pub fn shared_lock(folders: &[Folder]) -> (Arc<RwLock<()>>, bool) {
    if folders.is_empty() {
        return (Arc::new(RwLock::new(())), true);
    }
    // Keyed by what the folders are, not by how they were reached.
    let folders: Vec<(u64, u64)> = folders.iter().map(Folder::id).collect();
    type Registry = HashMap<Vec<(u64, u64)>, Weak<RwLock<()>>>;
    static LOCKS: Mutex<Option<Registry>> = Mutex::new(None);
    let mut locks = LOCKS.lock().expect("data lock registry");
    let locks = locks.get_or_insert_with(HashMap::new);
    locks.retain(|_, lock| lock.strong_count() > 0);
    if let Some(lock) = locks.get(&folders).and_then(Weak::upgrade) {
        return (lock, false);
    }
    let lock = Arc::new(RwLock::new(()));
    locks.insert(folders, Arc::downgrade(&lock));
    (lock, true)
}

fn log_removed(site: &str, request: Option<u64>, removed: &[PathBuf], by: &str) {
    for path in removed {
        tracing::warn!(
            site,
            request,
            "removed the stale sqlite lock `{}` left by {by}",
            path.display()
        );
    }
}

/// How deep into a data folder stale locks are looked for, and how many entries are read.
const MAX_DEPTH: usize = 16;
const MAX_ENTRIES: usize = 100_000;

/// Removes every sqlite lock folder in `folders`: an empty folder `<name>.lock` beside a
/// file `<name>`. Symlinks are not followed, and every folder is read beneath its data
/// folder's handle. Returns the folders removed.
pub fn clear_stale_locks(folders: &[Folder]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut budget = MAX_ENTRIES;
    for folder in folders {
        clear_in(folder.dir(), folder.shown(), 0, &mut budget, &mut removed);
    }
    removed
}

fn clear_in(dir: &Dir, shown: &Path, depth: usize, budget: &mut usize, removed: &mut Vec<PathBuf>) {
    let Ok(entries) = dir.entries() else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let is_file = |stem: &str| dir.symlink_metadata(stem).is_ok_and(|m| m.is_file());
        let locked = name
            .to_str()
            .and_then(|n| n.strip_suffix(".lock"))
            .filter(|stem| !stem.is_empty());
        match locked {
            // `remove_dir` only removes an empty folder, so nothing inside is ever lost.
            Some(stem) if is_file(stem) => {
                if let Ok(()) = dir.remove_dir(&name) {
                    removed.push(shown.join(&name));
                }
            }
            _ if depth < MAX_DEPTH => {
                if let Ok(sub) = dir.open_dir(&name) {
                    clear_in(&sub, &shown.join(&name), depth + 1, budget, removed);
                }
            }
            _ => {}
        }
    }
}

/// The request's method, from its environ.
pub fn method_of(environ: &[(String, String)]) -> &str {
    environ
        .iter()
        .find(|(key, _)| key == "REQUEST_METHOD")
        .map_or("", |(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lock_defaults_to_exclusive_with_data_and_none_without() {
        assert_eq!(DataLock::resolve(None, true), Ok(DataLock::Exclusive));
        assert_eq!(DataLock::resolve(None, false), Ok(DataLock::None));
        assert_eq!(
            DataLock::resolve(Some("methods"), true),
            Ok(DataLock::Methods)
        );
        assert_eq!(
            DataLock::resolve(Some("exclusive"), true),
            Ok(DataLock::Exclusive)
        );
        assert_eq!(DataLock::resolve(Some("none"), true), Ok(DataLock::None));
    }

    #[test]
    fn data_lock_rejects_unknown_modes_and_a_lock_without_data() {
        let unknown = DataLock::resolve(Some("sometimes"), true).unwrap_err();
        assert!(unknown.contains("`sometimes`"), "{unknown}");
        assert!(
            unknown.contains("`exclusive`, `methods` or `none`"),
            "{unknown}"
        );
        // Case matters, as for every other mode-like key.
        assert!(DataLock::resolve(Some("Exclusive"), true).is_err());
        for value in ["exclusive", "methods", "none"] {
            let alone = DataLock::resolve(Some(value), false).unwrap_err();
            assert!(alone.contains(&format!("`{value}`")), "{alone}");
            assert!(alone.contains("no `app.data` folders"), "{alone}");
        }
    }

    #[test]
    fn data_lock_access_follows_the_mode_and_method() {
        for method in [
            "GET", "HEAD", "OPTIONS", "TRACE", "POST", "PUT", "PATCH", "DELETE",
        ] {
            assert_eq!(access(DataLock::None, method), Access::Free, "{method}");
            assert_eq!(
                access(DataLock::Exclusive, method),
                Access::Exclusive,
                "{method}"
            );
        }
        for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            assert_eq!(
                access(DataLock::Methods, method),
                Access::Shared,
                "{method}"
            );
        }
        // Anything not known to be safe writes: unsafe methods, extensions, odd spellings.
        for method in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "get", ""] {
            assert_eq!(
                access(DataLock::Methods, method),
                Access::Exclusive,
                "{method:?}"
            );
        }
    }

    #[test]
    fn data_lock_method_comes_from_the_environ() {
        let environ = vec![
            ("PATH_INFO".to_owned(), "/x".to_owned()),
            ("REQUEST_METHOD".to_owned(), "PUT".to_owned()),
        ];
        assert_eq!(method_of(&environ), "PUT");
        assert_eq!(method_of(&[]), "");
    }

    fn gate(mode: DataLock, queue: usize) -> DataGate {
        let limits = Limits {
            queue,
            queue_timeout: Duration::from_millis(50),
            ..Limits::default()
        };
        DataGate::new("s", mode, &limits, Vec::new())
    }

    #[test]
    fn data_lock_clears_only_empty_lock_folders_beside_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let make = |folder: &str| std::fs::create_dir_all(data.join(folder)).unwrap();
        let touch = |file: &str| std::fs::write(data.join(file), b"x").unwrap();
        make("");
        touch("app.db");
        make("app.db.lock");
        make("sub/deeper");
        touch("sub/deeper/other.sqlite");
        make("sub/deeper/other.sqlite.lock");
        // Not sqlite's: no file beside it, or not empty, or a file named `.lock`.
        make("orphan.lock");
        touch("full.db");
        make("full.db.lock");
        touch("full.db.lock/keep");
        touch("plain.lock");
        // A symlink to a folder elsewhere is not followed.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("x.lock")).unwrap();
        std::fs::write(outside.join("x"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();

        let folder = Folder::open(&data).unwrap();
        let mut removed = clear_stale_locks(std::slice::from_ref(&folder));
        removed.sort();
        assert_eq!(
            removed,
            [
                data.join("app.db.lock"),
                data.join("sub/deeper/other.sqlite.lock")
            ]
        );
        assert!(!data.join("app.db.lock").exists());
        assert!(data.join("app.db").is_file());
        assert!(data.join("orphan.lock").is_dir());
        assert!(data.join("full.db.lock/keep").is_file());
        assert!(data.join("plain.lock").is_file());
        assert!(outside.join("x.lock").is_dir());
    }

    #[tokio::test]
    async fn data_lock_recovery_waits_for_shared_holders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.db"), b"x").unwrap();
        let limits = Limits {
            queue_timeout: Duration::from_millis(50),
            ..Limits::default()
        };
        let gate = Arc::new(DataGate::new(
            "s",
            DataLock::Methods,
            &limits,
            vec![Folder::open(dir.path()).unwrap()],
        ));
        let other = gate.enter("GET", "s", 1).await.unwrap();
        let dying = gate.enter("GET", "s", 2).await.unwrap();
        // The dying request's guest left a lock folder; another reader still runs.
        std::fs::create_dir(dir.path().join("app.db.lock")).unwrap();
        let recovering = tokio::spawn({
            let gate = gate.clone();
            async move { gate.recover(dying, "s", 2).await }
        });
        tokio::task::yield_now().await;
        assert!(
            dir.path().join("app.db.lock").is_dir(),
            "nothing is removed while a reader may use it"
        );
        drop(other);
        recovering.await.unwrap();
        assert!(!dir.path().join("app.db.lock").exists());
        gate.enter("POST", "s", 3).await.unwrap();
    }

    #[tokio::test]
    async fn data_lock_readers_share_and_writers_wait() {
        let gate = gate(DataLock::Methods, 8);
        let first = gate.enter("GET", "s", 1).await.unwrap();
        let second = gate.enter("HEAD", "s", 2).await.unwrap();
        assert!(matches!(first, DataGuard::Shared(_)));
        assert!(matches!(second, DataGuard::Shared(_)));
        // A writer cannot enter while readers hold the lock: it waits out the timeout.
        let writer = gate.enter("POST", "s", 3).await.unwrap_err();
        assert!(matches!(writer, Locked::QueueTimeout(_)), "{writer}");
        drop((first, second));
        let writer = gate.enter("POST", "s", 4).await.unwrap();
        assert!(matches!(writer, DataGuard::Exclusive(_)));
        let reader = gate.enter("GET", "s", 5).await.unwrap_err();
        assert!(matches!(reader, Locked::QueueTimeout(_)), "{reader}");
        drop(writer);
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
        gate.enter("GET", "s", 6).await.unwrap();
    }

    #[tokio::test]
    async fn data_lock_queue_is_bounded() {
        let gate = Arc::new(gate(DataLock::Exclusive, 0));
        let held = gate.enter("GET", "s", 1).await.unwrap();
        let full = gate.enter("GET", "s", 2).await.unwrap_err();
        assert!(matches!(full, Locked::QueueFull(0)), "{full}");
        drop(held);
        gate.enter("GET", "s", 3).await.unwrap();
    }

    #[tokio::test]
    async fn data_lock_none_never_waits() {
        let gate = gate(DataLock::None, 0);
        let guards: Vec<DataGuard> = vec![
            gate.enter("POST", "s", 1).await.unwrap(),
            gate.enter("POST", "s", 2).await.unwrap(),
        ];
        assert!(guards.iter().all(|g| matches!(g, DataGuard::Free)));
    }
}
