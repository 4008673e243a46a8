//! Host folders a guest sees, opened once: the guest standard library, the site's staged
//! python path, its data folders and its scratch `/tmp`.
//!
//! Sits under every instance's WASI context (`store.rs`) and the host's own reads of the
//! same folders (`wsgi/file.rs` for `send-file`, `data_lock.rs` for stale sqlite locks).
//! A folder is opened when its site is brought up and held as a handle; every instance of
//! the site mounts that same folder (wasmtime-wasi 48 takes preopens by path only, so the
//! path given is the handle's `/proc/self/fd/N`, which reopens exactly the folder the handle
//! holds: never a path a tenant could have swapped for a symlink meanwhile).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use cap_std::fs::{Dir, MetadataExt as _};

/// A host folder, opened once (cheap to clone).
#[derive(Debug, Clone)]
pub struct Folder {
    dir: Arc<Dir>,
    /// Where it was opened, for messages only.
    shown: PathBuf,
    /// Its identity on the host (device, inode), the same however it was reached.
    id: (u64, u64),
}

impl Folder {
    /// Opens one of the server's own folders (the state folder's builds, the toolchain).
    pub fn open(path: &Path) -> Result<Folder> {
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        Folder::new(dir, path)
    }

    /// A folder from its handle (a site's data folder, opened beneath the site folder).
    pub fn new(dir: Dir, shown: &Path) -> Result<Folder> {
        let meta = dir
            .dir_metadata()
            .with_context(|| format!("cannot stat `{}`", shown.display()))?;
        Ok(Folder {
            id: (meta.dev(), meta.ino()),
            dir: Arc::new(dir),
            shown: shown.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Where the folder was opened, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// The folder's (device, inode).
    pub fn id(&self) -> (u64, u64) {
        self.id
    }

    /// A path that opens this very folder as long as the handle lives (for wasmtime-wasi's
    /// preopens).
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd()))
    }
}
