//! Stale sqlite locks: the guest's sqlite locks a database with a lock folder beside it
//! (`app.db.lock`, made with `mkdir` and removed at the end of each transaction: WASI has
//! no `fcntl` locks). An instance discarded mid-request (timeout, CPU limit, trap, memory)
//! never removes its lock folder, and every later connection would find the database busy
//! forever, across restarts. So the gate (`gate.rs`) removes such folders (empty
//! `<file>.lock` folders beside a file, in the site's data folders) when no guest of the site
//! can be using them: when the pool is made, before any instance exists, and after a
//! discarded instance, under the exclusive lock. The next connection then finds the dead
//! transaction's rollback journal and rolls it back, as sqlite does after a crash.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use crate::runtime::folder::Folder;

pub(super) fn log_removed(site: &str, request: Option<u64>, removed: &[PathBuf], by: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
