//! One site's data lock ([`DataGate`]): a request enters it through `SitePool::admit` with
//! what its method takes (`mode.rs`) and holds the guard while it runs; a request whose
//! instance was discarded recovers it, clearing stale sqlite locks (`stale.rs`).
//!
//! A request waits for the lock at most `queue_timeout`, and at most `queue` requests wait at
//! once; beyond either it is turned away ([`Locked`] → 503 with `Retry-After`, like a full
//! instance queue). The lock is fair: a waiting writer is not starved by a stream of readers.
//!
//! Reloads: a rebuilt site gets a new pool while requests of the old one may still run. The
//! lock belongs to the data folders, not to a pool: every gate over the same folders in this
//! process shares one lock ([`shared_lock`]), and only the first gate over them clears stale
//! locks (a later one would remove the lock folder of an old-version request mid-write).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::config::{DataLock, Limits};
use crate::runtime::folder::Folder;

use super::mode::{access, Access};
use super::stale::{clear_stale_locks, log_removed};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(mode: DataLock, queue: usize) -> DataGate {
        let limits = Limits {
            queue,
            queue_timeout: Duration::from_millis(50),
            ..Limits::default()
        };
        DataGate::new("s", mode, &limits, Vec::new())
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
