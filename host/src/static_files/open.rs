//! Steps 4–6 of the pipeline, all on the cap-std `Dir` of the static root: open the target
//! with the symlink rules and tell what it is from `fstat` on the descriptor (as nginx
//! does), resolve a directory to its index file, and pick a precompressed sibling, without
//! ever blocking on a FIFO or device (opened `O_NONBLOCK`, then refused).
//! These are blocking calls, made inline on the calling (tokio worker) thread: see "Blocking
//! file-system calls" in the module documentation of `static_files`.
//!
//! cap-std refuses any `..`, absolute path or symlink that would lead outside the root
//! (`PermissionDenied`, "a path led outside of the filesystem"). With `disable_symlinks`
//! every component is also checked with `symlink_metadata`, so a symlink inside the root is
//! refused too (there is a window between that check and the open in which a symlink
//! swapped in would be followed, but cap-std still keeps it inside the root).
//!
//! Because the kind of a path is learnt by opening it, a FIFO, socket or device inside the
//! root is opened (non-blocking, no controlling terminal) before it is refused, as nginx
//! does; the file served is always the very descriptor that `fstat` checked.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cap_std::fs::{Dir, OpenOptions};

use super::encoding::Coding;
use super::path::RequestPath;
use crate::config::SiteDir;
use crate::config::StaticOptions;

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

/// Whether `err` just means "no such file" (the app gets the request).
fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::InvalidFilename
            | io::ErrorKind::InvalidInput
    )
}

impl From<io::Error> for Miss {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            _ if is_missing(&err) => Miss::Missing,
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

/// What may be served of a root: symlinks inside it (`disable_symlinks`), and hard links
/// to files its site's owner does not own (`owner`: never, for a site's own root).
#[derive(Debug, Clone, Copy)]
struct Rules {
    no_symlinks: bool,
    owner: Option<u32>,
}

/// What opening a path found.
enum Opened {
    /// A regular file, opened and checked with `fstat` on its descriptor.
    File(Representation),
    Dir,
    /// A FIFO, socket or device: never served.
    Other,
}

/// Finds and opens the representation to serve for `path`.
pub fn lookup(
    dir: &Dir,
    path: &RequestPath,
    options: &StaticOptions,
    accepted: &[Coding],
    owner: Option<u32>,
) -> Lookup {
    let rules = Rules {
        no_symlinks: options.disable_symlinks,
        owner,
    };
    let mut target = path.relative();
    let original = match open(dir, &target, rules) {
        Ok(Opened::File(_)) if path.trailing_slash => {
            // `/file.txt/` names no file (the OS would say ENOTDIR).
            return Lookup::Missing;
        }
        Ok(Opened::File(representation)) => representation,
        Ok(Opened::Other) => return Lookup::Forbidden,
        Ok(Opened::Dir) if !path.trailing_slash => return Lookup::Redirect,
        Ok(Opened::Dir) => match find_index(dir, &target, options, rules) {
            Ok((index, representation)) => {
                target = index;
                representation
            }
            Err(miss) => return miss.into(),
        },
        Err(miss) => return miss.into(),
    };

    // Only the siblings the client accepts are looked up (best first), so a client that
    // accepts neither coding costs no extra lookup. A sibling that is missing, refused or
    // not a regular file is just skipped.
    if options.precompressed {
        for &coding in accepted {
            let sibling = sibling_path(&target, coding);
            if let Ok(Opened::File(mut representation)) = open(dir, &sibling, rules) {
                representation.coding = Some(coding);
                return Lookup::Found(Found {
                    original: target,
                    representation,
                });
            }
        }
    }
    Lookup::Found(Found {
        original: target,
        representation: original,
    })
}

/// Opens `rel` (following symlinks that stay inside the root) after refusing any symlink
/// component when `no_symlinks` is set, and tells what it is from `fstat` on the opened
/// descriptor. Open-then-`fstat` is one lookup instead of stat-then-open, and what is
/// served is always what was checked.
///
/// The open is `O_NONBLOCK` (a FIFO opens at once, then is refused). Any failure other than
/// "not found" is settled by a plain cap-std stat instead, so that e.g. a directory we may
/// search but not read still gets its redirect or index, and every error maps as before.
fn open(dir: &Dir, rel: &Path, rules: Rules) -> Result<Opened, Miss> {
    if rel.as_os_str().is_empty() {
        return if dir.dir_metadata()?.is_dir() {
            Ok(Opened::Dir)
        } else {
            Err(Miss::Forbidden)
        };
    }
    if rules.no_symlinks {
        check_no_symlinks(dir, rel)?;
    }
    let file = match dir.open_with(rel, &read_options()) {
        Ok(file) => file,
        Err(err) if is_missing(&err) => return Err(Miss::Missing),
        Err(err) => {
            // Not a plain miss: ask stat what the path is (a directory without read
            // permission, a socket: ENXIO), and report the open's own error otherwise.
            let meta = dir.metadata(rel)?;
            if meta.is_dir() {
                return Ok(Opened::Dir);
            }
            if !meta.is_file() {
                return Ok(Opened::Other);
            }
            return Err(Miss::from(err));
        }
    };
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Ok(Opened::Dir);
    }
    if !meta.is_file() {
        return Ok(Opened::Other);
    }
    if rules
        .owner
        .is_some_and(|owner| SiteDir::foreign_link(&meta, owner))
    {
        // A hard link to a file the site's owner does not own: never served (403, as
        // nginx's `disable_symlinks if_not_owner` answers).
        return Ok(Opened::Other);
    }
    Ok(Opened::File(Representation {
        file: file.into_std(),
        size: meta.len(),
        modified: meta.modified().ok().map(|t| t.into_std()),
        coding: None,
    }))
}

/// With `disable_symlinks`: refuses `rel` when any of its components is a symlink.
fn check_no_symlinks(dir: &Dir, rel: &Path) -> Result<(), Miss> {
    let mut prefix = PathBuf::new();
    for component in rel.components() {
        prefix.push(component);
        if dir.symlink_metadata(&prefix)?.is_symlink() {
            return Err(Miss::Forbidden);
        }
    }
    Ok(())
}

/// The first configured index file under the directory `rel` that is a regular file,
/// opened.
fn find_index(
    dir: &Dir,
    rel: &Path,
    options: &StaticOptions,
    rules: Rules,
) -> Result<(PathBuf, Representation), Miss> {
    for name in &options.index {
        let candidate = rel.join(name);
        match open(dir, &candidate, rules) {
            Ok(Opened::File(representation)) => return Ok((candidate, representation)),
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
    // O_NONBLOCK: opening a FIFO returns at once (the `fstat` then refuses it); it has no
    // effect on reads of a regular file. O_NOCTTY: a terminal device never becomes our
    // controlling terminal.
    {
        use cap_std::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options
}
