//! Finished builds in the state folder: `<state>/sites/<name>/<hash>/`, found by content
//! hash, and pruned to the ones a site may still need.
//!
//! Used by the server (is the build cached? what does it mount?) and by the build process
//! (where to put a build, the per-site lock). A build folder holds `component.wasm`, the
//! compiled `component-<engine>.cwasm`, and `py/0`, `py/1`, … (the staged python path the
//! guest mounts read-only at `/0`, `/1`, …).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::{ConfigError, Site, SITE_FILE};

/// A finished build of one site.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The build folder.
    pub dir: PathBuf,
    /// Folders mounted read-only at guest paths `/0`, `/1`, … in this order.
    pub python_dirs: Vec<PathBuf>,
    /// The vendored requirements (the last of `python_dirs`), when the site has any.
    pub packages: Option<PathBuf>,
}

/// Where the builds of site `site` live.
pub fn site_builds(state_dir: &Path, site: &str) -> PathBuf {
    state_dir.join("sites").join(site)
}

/// The finished build of `site` for `hash`, if the cache has it; `vendored` says whether the
/// site has requirements (their folder is the last python folder).
pub fn cached(state_dir: &Path, site: &str, hash: &str, vendored: bool) -> Option<Artifact> {
    let dir = site_builds(state_dir, site).join(hash);
    if !dir.join("component.wasm").is_file() {
        return None;
    }
    let mut python_dirs = Vec::new();
    while dir.join("py").join(python_dirs.len().to_string()).is_dir() {
        python_dirs.push(dir.join("py").join(python_dirs.len().to_string()));
    }
    let packages = python_dirs.last().filter(|_| vendored).cloned();
    Some(Artifact {
        dir,
        python_dirs,
        packages,
    })
}

/// The folders of `[static.from_packages]`, each checked to be a folder inside the site's
/// vendored packages: `(URL prefix segments, packages folder, folder inside it)`.
pub fn package_folders(
    site: &Site,
    artifact: &Artifact,
) -> Result<Vec<(Vec<String>, PathBuf, PathBuf)>, ConfigError> {
    let Some(config) = &site.static_root else {
        return Ok(Vec::new());
    };
    let file = site.dir.join(SITE_FILE);
    let mut found = Vec::new();
    for entry in &config.from_packages {
        let missing = |why: &str| {
            ConfigError::new(
                &file,
                "static.from_packages",
                format!(
                    "`{}` (for `{}`) {why} the site's vendored packages",
                    entry.written, entry.prefix
                ),
            )
        };
        let Some(packages) = &artifact.packages else {
            return Err(missing("cannot be looked up: there are no"));
        };
        // The packages folder is the server's own (pip wrote it, no symlinks); opened
        // beneath it all the same.
        let inside = cap_std::fs::Dir::open_ambient_dir(packages, cap_std::ambient_authority())
            .and_then(|base| base.open_dir(&entry.folder))
            .is_ok();
        if !inside {
            return Err(missing("is not a folder in"));
        }
        found.push((
            entry.segments.clone(),
            packages.clone(),
            entry.folder.clone(),
        ));
    }
    Ok(found)
}

/// Holds the site's build lock (an exclusive file lock) until dropped, so two processes
/// sharing a state folder never build the same site at once.
pub fn lock_site(state_dir: &Path, site: &str) -> Result<std::fs::File> {
    let dir = site_builds(state_dir, site);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(".lock");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    Ok(file)
}

/// The file a serving site holds a shared lock on, in its build folder.
const LEASE_FILE: &str = ".in-use";

/// Takes a shared lock on the build folder `dir` for as long as the file returned is open:
/// [`prune`] skips a build any process holds.
pub fn lease(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(LEASE_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.lock_shared()
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    Ok(file)
}

/// Whether some process serves the build folder `dir` (holds its lease).
fn leased(dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(dir.join(LEASE_FILE)) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Removes the builds of `site` other than `keep` (the one served now and the one served
/// before it) and those a server still serves (leased), and work folders of builds that
/// died. Returns how many were removed.
pub fn prune(state_dir: &Path, site: &str, keep: &[&str]) -> Result<usize> {
    let _lock = lock_site(state_dir, site)?;
    let dir = site_builds(state_dir, site);
    let mut removed = 0;
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot read `{}`", dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_build = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        let is_work = name.contains(".tmp-");
        if !(is_build || is_work) || keep.contains(&name) {
            continue;
        }
        if is_work && work_folder_alive(name) {
            continue;
        }
        if is_build && leased(&entry.path()) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("cannot remove `{}`", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether the build process that owns the work folder `name` (`<hash>.tmp-<pid>`) still
/// runs.
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
fn work_folder_alive(name: &str) -> bool {
    let Some(pid) = name
        .rsplit_once(".tmp-")
        .and_then(|(_, pid)| pid.parse::<i32>().ok())
    else {
        return false;
    };
    // SAFETY: kill with signal 0 only asks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}
