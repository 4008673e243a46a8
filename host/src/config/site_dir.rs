//! A site folder opened once, and everything of the site opened relative to it.
//!
//! A tenant controls every byte of its site folder at any moment, including which of its
//! entries are symlinks, and may swap a folder for a symlink between a check and an open.
//! So the server never opens a site's files by a path it checked before: `load_sites` opens
//! each site folder once, without following a symlink, and every later access — `site.toml`,
//! the static root, the python path and the requirements a build reads, the data folders
//! mounted in the guest — goes through that handle with cap-std, which resolves each path
//! beneath it (Linux `openat2` with `RESOLVE_BENEATH`, or cap-std's own walk): `..`, an
//! absolute path or a symlink that leads out fails at the moment of the open, whatever was
//! true a moment earlier.
//!
//! Hard links are the other way out: a hard link looks like any file of the site. A regular
//! file with more than one link whose owner is not the site folder's owner is refused
//! wherever the server reads a site's file ([`SiteDir::foreign_link`]): a tenant's own hard
//! links work, a link to a host file or another tenant's file does not (see
//! docs/security.md).

use std::fmt;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::{Dir, File, Metadata, MetadataExt as _, OpenOptions};

/// A site folder, opened once (cheap to clone: the handle is shared).
#[derive(Clone)]
pub struct SiteDir {
    dir: Arc<Dir>,
    /// Where it was opened, for messages and the file watcher only: never reopened.
    path: PathBuf,
    /// The folder's owner: files it does not own may not be hard links.
    owner: u32,
}

impl fmt::Debug for SiteDir {
    /// The path only: a site's printed configuration (its fingerprint) must not change
    /// when the same folder is opened again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiteDir({:?})", self.path)
    }
}

impl SiteDir {
    /// Opens the entry `name` of the sites folder `sites` (found at `path`) as a site folder,
    /// refusing a symlink.
    pub fn open(sites: &Dir, name: &str, path: &Path) -> std::io::Result<SiteDir> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(
            sites,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let dir = Dir::from_std_file(std::fs::File::from(fd));
        SiteDir::from_dir(dir, path)
    }

    /// A site folder from an already open handle (a build child gets its site's this way).
    pub fn from_dir(dir: Dir, path: &Path) -> std::io::Result<SiteDir> {
        let owner = dir.dir_metadata()?.uid();
        Ok(SiteDir {
            dir: Arc::new(dir),
            path: path.to_path_buf(),
            owner,
        })
    }

    /// The handle itself.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The folder's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `relative` shown as a path, for messages.
    pub fn display(&self, relative: &Path) -> PathBuf {
        self.path.join(relative)
    }

    /// The uid that owns the site folder.
    pub fn owner(&self) -> u32 {
        self.owner
    }

    /// Opens the folder `relative` beneath the site folder.
    pub fn open_dir(&self, relative: &Path) -> std::io::Result<Dir> {
        if relative.as_os_str().is_empty() || relative == Path::new(".") {
            return self.dir.try_clone();
        }
        self.dir.open_dir(relative)
    }

    /// Reads the regular file `relative` beneath the site folder, at most `max` bytes: a
    /// FIFO, a device, a folder, a foreign hard link or a longer file is refused with the
    /// reason.
    pub fn read_file(&self, relative: &Path, max: u64) -> Result<Vec<u8>, String> {
        let file = open_regular(&self.dir, relative, self.owner)?;
        let mut bytes = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the file: {e}"))?;
        if bytes.len() as u64 > max {
            return Err(format!("the file is over {}", bytesize::ByteSize(max)));
        }
        Ok(bytes)
    }

    /// Whether a file with `meta` is a hard link the site may not use: a regular file with
    /// more than one link, owned by someone other than the site folder's owner.
    pub fn foreign_link(meta: &Metadata, owner: u32) -> bool {
        meta.is_file() && meta.nlink() > 1 && meta.uid() != owner
    }
}

impl AsFd for SiteDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

/// Opens `relative` beneath `dir` for reading, as a regular file that is not a foreign hard
/// link (owner `owner`); never blocks on a FIFO.
pub fn open_regular(dir: &Dir, relative: &Path, owner: u32) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.read(true);
    {
        use cap_std::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = dir
        .open_with(relative, &options)
        .map_err(|e| format!("cannot open the file: {}", describe(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    if SiteDir::foreign_link(&meta, owner) {
        return Err(foreign_link_reason());
    }
    Ok(file)
}

/// Why a foreign hard link is refused, for messages.
pub fn foreign_link_reason() -> String {
    "a hard link to a file the site's owner does not own (refused: it could be a host \
     file or another site's)"
        .to_owned()
}

/// Whether an open failed because its path led out of the folder it was opened beneath
/// (`..`, an absolute symlink, a symlink out).
pub fn is_escape(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::EXDEV)
        || error.to_string().contains("outside of the filesystem")
}

/// An I/O error in words, naming an escape for what it is.
pub fn describe(error: &std::io::Error) -> String {
    if is_escape(error) {
        "it leads outside the site folder through a symlink".to_owned()
    } else if error.raw_os_error() == Some(libc::ELOOP) {
        "it is a symlink, or has too many levels of symlinks".to_owned()
    } else {
        error.to_string()
    }
}
