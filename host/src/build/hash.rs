//! Content hashes of build inputs: the cache key of a site's component.
//!
//! Everything that can change the component goes in: the toolchain version, the WIT world,
//! the bridge, the site's resolved app settings, every file on the site's python path and its
//! requirements. Dot-files and byte-code caches are left out, both here and in the staged
//! copy, so what is hashed is exactly what is built.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// An incremental hash over named parts, each length-prefixed so parts cannot run together.
pub struct ContentHash(Sha256);

impl ContentHash {
    pub fn new(purpose: &str) -> Self {
        let mut hash = Self(Sha256::new());
        hash.text("purpose", purpose);
        hash
    }

    pub fn bytes(&mut self, label: &str, bytes: &[u8]) {
        for part in [label.as_bytes(), bytes] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }

    pub fn text(&mut self, label: &str, text: &str) {
        self.bytes(label, text.as_bytes());
    }

    /// Adds every file below `dir` that [`is_build_input`] keeps, by relative path and
    /// content, leaving out the folder `skip` (a static root inside the python path).
    pub fn tree(&mut self, label: &str, dir: &Path, skip: &[&Path]) -> Result<()> {
        let mut files = Vec::new();
        walk(dir, dir, skip, &mut files)?;
        files.sort();
        self.text(label, &files.len().to_string());
        let mut buffer = Vec::new();
        for relative in files {
            buffer.clear();
            let path = dir.join(&relative);
            fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut buffer))
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            self.bytes(&relative, &buffer);
        }
        Ok(())
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Whether a directory entry belongs to what a site build takes in.
pub fn is_build_input(name: &str) -> bool {
    !name.starts_with('.') && name != "__pycache__" && !name.ends_with(".pyc")
}

fn walk(root: &Path, dir: &Path, skip: &[&Path], files: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read `{}`", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            anyhow::bail!("`{}` has a name that is not UTF-8", entry.path().display());
        };
        if !is_build_input(name) {
            continue;
        }
        let path = entry.path();
        if skip.contains(&path.as_path()) {
            continue;
        }
        let kind =
            fs::metadata(&path).with_context(|| format!("cannot stat `{}`", path.display()))?;
        if kind.is_dir() {
            walk(root, &path, skip, files)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).expect("walk stays below its root");
            files.push(relative.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Fails when a symlink below `dir` leads outside `boundary` (the site folder) or the tree
/// nests deeper than a real project would (a symlink loop): a tenant must never get host
/// files copied into its component by linking to them.
pub fn confine(boundary: &Path, dir: &Path, skip: &[&Path]) -> Result<()> {
    let boundary = boundary
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", boundary.display()))?;
    confine_below(&boundary, dir, skip, 0)
}

const MAX_DEPTH: usize = 64;

fn confine_below(boundary: &Path, dir: &Path, skip: &[&Path], depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        anyhow::bail!(
            "`{}` is nested more than {MAX_DEPTH} folders deep (a symlink loop?)",
            dir.display()
        );
    }
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read `{}`", dir.display()))?;
        if !entry.file_name().to_str().is_some_and(is_build_input) {
            continue;
        }
        let path = entry.path();
        if skip.contains(&path.as_path()) {
            continue;
        }
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot stat `{}`", path.display()))?;
        if kind.is_symlink() {
            let target = path.canonicalize().ok();
            if !target.as_ref().is_some_and(|t| t.starts_with(boundary)) {
                anyhow::bail!(
                    "`{}` is a symlink that leads outside the site folder",
                    path.display()
                );
            }
        }
        if path.is_dir() {
            confine_below(boundary, &path, skip, depth + 1)?;
        }
    }
    Ok(())
}

/// Copies the build inputs below `from` into `to` (which must not exist yet), leaving out
/// the folder `skip`.
pub fn copy_tree(from: &Path, to: &Path, skip: &[&Path]) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create `{}`", to.display()))?;
    let entries =
        fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_build_input) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if skip.contains(&source.as_path()) {
            continue;
        }
        let kind =
            fs::metadata(&source).with_context(|| format!("cannot stat `{}`", source.display()))?;
        if kind.is_dir() {
            copy_tree(&source, &target, skip)?;
        } else if kind.is_file() {
            fs::copy(&source, &target).with_context(|| {
                format!(
                    "cannot copy `{}` to `{}`",
                    source.display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}
