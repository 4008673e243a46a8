//! The files a site build takes in, listed and read through the site folder's handle.
//!
//! Sits under the build hash (`hash.rs`, in the server) and the staging copy (`site.rs`, in
//! the build process): both see exactly the same files, in the same order. Every folder and
//! file is opened beneath the site folder's handle (`config::SiteDir`), so a symlink out of
//! the site, or a folder swapped for one after the configuration was checked, fails the
//! open itself; symlinks that stay inside the site are followed.
//!
//! The walk lists first and reads second: every file's apparent size and the number of
//! files are counted against the build's limits (`build.max_site_size`,
//! `build.max_site_files`) before a byte is read, so a sparse 3 GB file in a 12 KB site is
//! refused at once. A file is then read through a bounded buffer, and never past the size
//! that was counted, so a file that grows meanwhile cannot push the server past the limit.
//! Hard links to files the site's owner does not own are refused (`SiteDir::foreign_link`).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cap_std::fs::Dir;

use crate::config::site_dir::{describe, foreign_link_reason, is_escape, open_regular, SiteDir};

/// How much a build may read of a site's own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeLimits {
    /// Total apparent size of the files, in bytes.
    pub max_bytes: u64,
    /// Number of files.
    pub max_files: u64,
}

/// Deeper than this a tree is taken for a symlink loop.
const MAX_DEPTH: usize = 64;

/// One file of a tree: its path below the tree's folder (`/`-separated) and its size when
/// listed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub relative: String,
    pub size: u64,
}

/// What has been counted so far against the limits, across the trees of one build.
#[derive(Debug, Default)]
pub struct Tally {
    pub bytes: u64,
    pub files: u64,
}

/// Whether a directory entry belongs to what a site build takes in.
pub fn is_build_input(name: &str) -> bool {
    !name.starts_with('.') && name != "__pycache__" && !name.ends_with(".pyc")
}

/// Lists the build inputs of the folder `folder` (relative to the site folder), sorted,
/// leaving out the folders in `skip` (relative to the site folder) and counting every file
/// into `tally` against `limits`.
pub fn list(
    site: &SiteDir,
    folder: &Path,
    skip: &[PathBuf],
    limits: &TreeLimits,
    tally: &mut Tally,
) -> Result<Vec<Listed>> {
    let dir = site.open_dir(folder).map_err(|error| {
        anyhow::anyhow!(
            "cannot open `{}`: {}",
            site.display(folder).display(),
            describe(&error)
        )
    })?;
    let mut files = Vec::new();
    let walk = Walk { site, skip, limits };
    let top = Place {
        at: folder,
        prefix: "",
        depth: 0,
    };
    walk.folder(&dir, top, tally, &mut files)?;
    files.sort();
    Ok(files)
}

struct Walk<'a> {
    site: &'a SiteDir,
    skip: &'a [PathBuf],
    limits: &'a TreeLimits,
}

/// Where a folder of the walk is: `at`, relative to the site folder; `prefix`, its path
/// below the tree's root; `depth`, how many folders below the root.
#[derive(Clone, Copy)]
struct Place<'p> {
    at: &'p Path,
    prefix: &'p str,
    depth: usize,
}

impl Walk<'_> {
    /// Lists `dir`, the folder at `place`.
    fn folder(
        &self,
        dir: &Dir,
        place: Place<'_>,
        tally: &mut Tally,
        files: &mut Vec<Listed>,
    ) -> Result<()> {
        let Place { at, prefix, depth } = place;
        if depth > MAX_DEPTH {
            bail!(
                "`{}` is nested more than {MAX_DEPTH} folders deep (a symlink loop?)",
                self.site.display(at).display()
            );
        }
        let entries = dir
            .entries()
            .with_context(|| format!("cannot read `{}`", self.site.display(at).display()))?;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("cannot read `{}`", self.site.display(at).display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                bail!(
                    "`{}` has a name that is not UTF-8",
                    self.site.display(&at.join(&name)).display()
                );
            };
            if !is_build_input(name) {
                continue;
            }
            let path = at.join(name);
            if self.skip.iter().any(|skip| skip == &path) {
                continue;
            }
            let shown = || self.site.display(&path).display().to_string();
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot stat `{}`", shown()))?;
            // A symlink is followed, beneath the site folder; a dangling one is no input.
            let meta = match dir.metadata(name) {
                Ok(meta) => meta,
                Err(error) if kind.is_symlink() && is_escape(&error) => {
                    bail!(
                        "`{}` is a symlink that leads outside the site folder",
                        shown()
                    )
                }
                Err(error) if kind.is_symlink() && error.kind() == std::io::ErrorKind::NotFound => {
                    continue
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("cannot stat `{}`", shown()))
                }
            };
            let relative = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            if meta.is_dir() {
                let sub = dir.open_dir(name).map_err(|error| {
                    anyhow::anyhow!("cannot open `{}`: {}", shown(), describe(&error))
                })?;
                let place = Place {
                    at: &path,
                    prefix: &relative,
                    depth: depth + 1,
                };
                self.folder(&sub, place, tally, files)?;
            } else if meta.is_file() {
                if SiteDir::foreign_link(&meta, self.site.owner()) {
                    bail!("`{}` is {}", shown(), foreign_link_reason());
                }
                tally.files += 1;
                tally.bytes = tally.bytes.saturating_add(meta.len());
                self.check(tally)?;
                files.push(Listed {
                    relative,
                    size: meta.len(),
                });
            }
        }
        Ok(())
    }

    fn check(&self, tally: &Tally) -> Result<()> {
        if tally.files > self.limits.max_files {
            bail!(
                "the site's files are more than `build.max_site_files` = {} (leave generated \
                 files out of the python path, or ask the operator for a higher limit)",
                self.limits.max_files
            );
        }
        if tally.bytes > self.limits.max_bytes {
            bail!(
                "the site's files are larger than `build.max_site_size` = {} (apparent size, \
                 sparse files counted whole)",
                bytesize::ByteSize(self.limits.max_bytes)
            );
        }
        Ok(())
    }
}

/// Reads the listed file `file` of the folder `folder` (relative to the site folder) in
/// pieces of at most 64 KiB, handing each to `sink`, and never more than its listed size.
pub fn read(
    site: &SiteDir,
    folder: &Path,
    file: &Listed,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let path = folder.join(&file.relative);
    let shown = || site.display(&path).display().to_string();
    let opened = open_regular(site.dir(), &path, site.owner())
        .map_err(|reason| anyhow::anyhow!("`{}`: {reason}", shown()))?;
    let meta = opened
        .metadata()
        .with_context(|| format!("cannot stat `{}`", shown()))?;
    if meta.len() > file.size {
        bail!(
            "`{}` grew while the build read it; it is built again at its next change",
            shown()
        );
    }
    let mut reader = opened.take(file.size);
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let read = reader
            .read(&mut buffer)
            .with_context(|| format!("cannot read `{}`", shown()))?;
        if read == 0 {
            break;
        }
        total += read as u64;
        sink(&buffer[..read])?;
    }
    if total != file.size {
        bail!(
            "`{}` shrank while the build read it; it is built again at its next change",
            shown()
        );
    }
    Ok(())
}
