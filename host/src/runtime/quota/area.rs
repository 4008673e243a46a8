//! One folder under a quota (an [`Area`]) and what it holds: the counters every shadowed
//! call (`filesystem.rs`, `streams.rs`) takes from or gives back to, and the walk that
//! measures a data folder when the site is loaded.
//!
//! What is counted, per folder, for every instance of a site together (atomic counters
//! behind an `Arc`, shared by the site's stores):
//! - **bytes**: the apparent sizes of its regular files (their lengths, `st_size`), not the
//!   blocks they take on disk: a sparse file counts its whole length, a small file counts
//!   its few bytes, folders and symlinks count nothing. A file with several hard links counts
//!   once per name, as a walk over the names would.
//! - **files**: its entries: files, folders and symlinks (the folder itself not included).
//!
//! A data folder is measured when the site is loaded (a walk through its handle, no
//! symlink followed, bounded: it stops past the files quota or 64 levels deep, and the
//! folder then counts as full); the scratch `/tmp` starts empty.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cap_std::fs::Dir;
use wasmtime_wasi::p2::bindings::filesystem::types::{DescriptorStat, DescriptorType};

use crate::config::Quota;

/// Deepest folder level the load-time walk descends to.
const WALK_DEPTH: usize = 64;
/// Most entries the walk visits whatever the quota.
const WALK_MAX: u64 = 10_000_000;

/// One folder under a quota, shared by every instance of its site.
#[derive(Debug)]
pub struct Area {
    /// Where the guest sees it (`/tmp`, a data folder's guest path).
    pub(super) guest: String,
    quota: Quota,
    bytes: AtomicU64,
    files: AtomicU64,
    /// Calls refused for the quota.
    refused: AtomicU64,
    /// The load-time walk stopped at its bound: the folder holds at least what it counted.
    partial: bool,
}

/// An area's numbers, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub mount: String,
    pub bytes: u64,
    pub files: u64,
    pub max_bytes: u64,
    pub max_files: u64,
    pub refused: u64,
    pub partial: bool,
}

impl Area {
    /// A folder known to be empty (a fresh scratch folder).
    pub fn empty(guest: &str, quota: Quota) -> Arc<Area> {
        Arc::new(Area::with(guest, quota, Walked::default()))
    }

    /// A folder measured now by walking it through its handle.
    pub fn measure(dir: &Dir, guest: &str, quota: Quota) -> Arc<Area> {
        let walked = walk(dir, quota.files.saturating_add(1).min(WALK_MAX));
        Arc::new(Area::with(guest, quota, walked))
    }

    fn with(guest: &str, quota: Quota, walked: Walked) -> Area {
        Area {
            guest: guest.to_owned(),
            quota,
            bytes: AtomicU64::new(walked.bytes),
            files: AtomicU64::new(walked.files),
            refused: AtomicU64::new(0),
            partial: walked.partial,
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            mount: self.guest.clone(),
            bytes: self.bytes.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            max_bytes: self.quota.bytes,
            max_files: self.quota.files,
            refused: self.refused.load(Ordering::Relaxed),
            partial: self.partial,
        }
    }

    /// Takes `n` more bytes, unless that goes past the quota (nothing is always allowed).
    pub(super) fn reserve_bytes(&self, n: u64) -> bool {
        self.reserve(&self.bytes, self.quota.bytes, n)
    }

    pub(super) fn reserve_files(&self, n: u64) -> bool {
        self.reserve(&self.files, self.quota.files, n)
    }

    fn reserve(&self, counter: &AtomicU64, max: u64, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        let taken = counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                now.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok();
        if !taken {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(mount = %self.guest, "quota reached: refused");
        }
        taken
    }

    pub(super) fn add_bytes(&self, delta: i128) {
        adjust(&self.bytes, delta);
    }

    pub(super) fn add_files(&self, delta: i128) {
        adjust(&self.files, delta);
    }

    /// What an entry `stat` describes takes from the area: its bytes and one entry.
    pub(super) fn release(&self, stat: &DescriptorStat) {
        self.add_files(-1);
        if stat.type_ == DescriptorType::RegularFile {
            self.add_bytes(-i128::from(stat.size));
        }
    }
}

/// Adds `delta` to `counter`, staying within 0..=u64::MAX.
fn adjust(counter: &AtomicU64, delta: i128) {
    if delta == 0 {
        return;
    }
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
        Some((i128::from(now) + delta).clamp(0, i128::from(u64::MAX)) as u64)
    });
}

#[derive(Debug, Default)]
struct Walked {
    bytes: u64,
    files: u64,
    partial: bool,
}

/// Counts the entries beneath `root` and the lengths of its regular files, visiting at most
/// `max_entries` entries and `WALK_DEPTH` levels; symlinks are counted, never followed.
fn walk(root: &Dir, max_entries: u64) -> Walked {
    let mut walked = Walked::default();
    let mut pending: Vec<(PathBuf, usize)> = vec![(PathBuf::new(), 0)];
    while let Some((path, depth)) = pending.pop() {
        let opened = if depth == 0 {
            root.try_clone()
        } else {
            root.open_dir(&path)
        };
        let Ok(entries) = opened.and_then(|dir| dir.entries()) else {
            continue;
        };
        for entry in entries.flatten() {
            if walked.files >= max_entries {
                walked.partial = true;
                return walked;
            }
            walked.files += 1;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_file() {
                if let Ok(meta) = entry.metadata() {
                    walked.bytes = walked.bytes.saturating_add(meta.len());
                }
            } else if kind.is_dir() {
                if depth + 1 < WALK_DEPTH {
                    pending.push((path.join(entry.file_name()), depth + 1));
                } else {
                    walked.partial = true;
                }
            }
        }
    }
    walked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_walk_counts_file_lengths_and_entries_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a"), vec![1; 1000]).unwrap();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::write(root.join("sub/deeper/b"), vec![2; 24]).unwrap();
        // Sparse: its length counts, not its blocks.
        let sparse = std::fs::File::create(root.join("sparse")).unwrap();
        sparse.set_len(1 << 20).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![0; 5000]).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let handle = Dir::open_ambient_dir(root, cap_std::ambient_authority()).unwrap();
        let quota = Quota {
            bytes: u64::MAX,
            files: 100,
        };
        let usage = Area::measure(&handle, "/data", quota).usage();
        assert_eq!(usage.bytes, 1000 + 24 + (1 << 20));
        // a, sub, sub/deeper, sub/deeper/b, sparse, link
        assert_eq!(usage.files, 6);
        assert!(!usage.partial);

        let small = Quota {
            bytes: u64::MAX,
            files: 2,
        };
        let usage = Area::measure(&handle, "/data", small).usage();
        assert_eq!(usage.files, 3, "the walk stops one past the quota");
        assert!(usage.partial);
    }

    #[test]
    fn quota_reservations_stop_at_the_quota_and_nothing_always_fits() {
        let area = Area::empty(
            "/tmp",
            Quota {
                bytes: 100,
                files: 1,
            },
        );
        assert!(area.reserve_bytes(60));
        assert!(!area.reserve_bytes(41));
        assert!(area.reserve_bytes(40));
        assert!(area.reserve_bytes(0));
        assert!(area.reserve_files(1));
        assert!(!area.reserve_files(1));
        area.add_bytes(-1000);
        assert_eq!(area.usage().bytes, 0, "never below zero");
        assert_eq!(area.usage().refused, 2);
    }
}
