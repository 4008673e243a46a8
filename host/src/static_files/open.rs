//! Steps 4–6 of the pipeline, all on the cap-std `Dir` of the static root: stat the target
//! with the symlink rules, resolve a directory to its index file, pick a precompressed
//! sibling, and open the chosen representation without ever blocking on a FIFO or device.
//! These are blocking calls, made inline on the calling (tokio worker) thread: see "Blocking
//! file-system calls" in the module documentation of `static_files`.
//!
//! cap-std refuses any `..`, absolute path or symlink that would lead outside the root
//! (`PermissionDenied`, "a path led outside of the filesystem"). With `disable_symlinks`
//! every component is also checked with `symlink_metadata`, so a symlink inside the root is
//! refused too (there is a window between that check and the open in which a symlink
//! swapped in would be followed, but cap-std still keeps it inside the root).

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cap_std::fs::{Dir, Metadata, OpenOptions};

use super::encoding::Coding;
use super::path::RequestPath;
use super::StaticOptions;

/// One file chosen to answer the request: the original or a precompressed sibling.
#[derive(Debug)]
pub struct Representation {
    /// Opened read-only; its metadata below is from `fstat` on this very descriptor.
    pub file: std::fs::File,
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// `Some` when this is a precompressed sibling served with `Content-Encoding`.
    pub coding: Option<Coding>,
}

/// A static file found for the request.
#[derive(Debug)]
pub struct Found {
    /// Path of the original file inside the root (MIME type comes from its name).
    pub original: PathBuf,
    pub representation: Representation,
}

/// What the root holds for a sanitised path.
#[derive(Debug)]
pub enum Lookup {
    Found(Found),
    /// A directory asked for without its trailing slash.
    Redirect,
    /// Nothing to serve: the app gets the request.
    Missing,
    /// A refused symlink, a path escaping the root, or not a regular file: 403.
    Forbidden,
    /// An unexpected I/O error: 500.
    Failed(io::Error),
}

/// Why one stat or open did not give us a usable file.
enum Miss {
    Missing,
    Forbidden,
    Failed(io::Error),
}

impl From<io::Error> for Miss {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::InvalidFilename
            | io::ErrorKind::InvalidInput => Miss::Missing,
            io::ErrorKind::PermissionDenied => Miss::Forbidden,
            // `ErrorKind::FilesystemLoop` is unstable: a symlink loop is matched by errno.
            _ if err.raw_os_error().is_some_and(|code| code == libc::ELOOP) => Miss::Forbidden,
            _ => Miss::Failed(err),
        }
    }
}

impl From<Miss> for Lookup {
    fn from(miss: Miss) -> Self {
        match miss {
            Miss::Missing => Lookup::Missing,
            Miss::Forbidden => Lookup::Forbidden,
            Miss::Failed(err) => Lookup::Failed(err),
        }
    }
}

/// Finds and opens the representation to serve for `path`.
pub fn lookup(
    dir: &Dir,
    path: &RequestPath,
    options: &StaticOptions,
    accepted: &[Coding],
) -> Lookup {
    let mut target = path.relative();
    let meta = match stat(dir, &target, options.disable_symlinks) {
        Ok(meta) => meta,
        Err(miss) => return miss.into(),
    };
    if meta.is_dir() {
        if !path.trailing_slash {
            return Lookup::Redirect;
        }
        match find_index(dir, &target, options) {
            Ok(index) => target = index,
            Err(miss) => return miss.into(),
        }
    } else if !meta.is_file() {
        return Lookup::Forbidden;
    } else if path.trailing_slash {
        // `/file.txt/` names no file (the OS would say ENOTDIR).
        return Lookup::Missing;
    }

    // Only the siblings the client accepts are looked up (best first), so a client that
    // accepts neither coding costs no extra stat.
    if options.precompressed {
        for &coding in accepted {
            let sibling = sibling_path(&target, coding);
            if !matches!(stat(dir, &sibling, options.disable_symlinks), Ok(m) if m.is_file()) {
                continue;
            }
            // A sibling that vanished or changed kind since the stat is just skipped.
            if let Ok(representation) = open_regular(dir, &sibling, Some(coding)) {
                return Lookup::Found(Found {
                    original: target,
                    representation,
                });
            }
        }
    }
    match open_regular(dir, &target, None) {
        Ok(representation) => Lookup::Found(Found {
            original: target,
            representation,
        }),
        Err(miss) => miss.into(),
    }
}

/// Metadata of `rel` (following symlinks that stay inside the root), after refusing any
/// symlink component when `no_symlinks` is set.
fn stat(dir: &Dir, rel: &Path, no_symlinks: bool) -> Result<Metadata, Miss> {
    if rel.as_os_str().is_empty() {
        return Ok(dir.dir_metadata()?);
    }
    if no_symlinks {
        let mut prefix = PathBuf::new();
        for component in rel.components() {
            prefix.push(component);
            if dir.symlink_metadata(&prefix)?.is_symlink() {
                return Err(Miss::Forbidden);
            }
        }
    }
    Ok(dir.metadata(rel)?)
}

/// The first configured index file under the directory `rel` that is a regular file.
fn find_index(dir: &Dir, rel: &Path, options: &StaticOptions) -> Result<PathBuf, Miss> {
    for name in &options.index {
        let candidate = rel.join(name);
        match stat(dir, &candidate, options.disable_symlinks) {
            Ok(meta) if meta.is_file() => return Ok(candidate),
            Ok(_) | Err(Miss::Missing) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(Miss::Missing)
}

/// `dir/name.ext` → `dir/name.ext.br`.
fn sibling_path(target: &Path, coding: Coding) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".");
    name.push(coding.extension());
    PathBuf::from(name)
}

fn read_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true);
    // O_NONBLOCK: opening a FIFO swapped in after the stat returns at once (the `fstat`
    // below then refuses it); it has no effect on reads of a regular file.
    {
        use cap_std::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options
}

/// Opens `rel` read-only and checks, on the open descriptor, that it is a regular file.
fn open_regular(dir: &Dir, rel: &Path, coding: Option<Coding>) -> Result<Representation, Miss> {
    let file = dir.open_with(rel, &read_options())?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Miss::Forbidden);
    }
    Ok(Representation {
        file: file.into_std(),
        size: meta.len(),
        modified: meta.modified().ok().map(|t| t.into_std()),
        coding,
    })
}
