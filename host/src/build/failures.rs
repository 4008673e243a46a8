//! Failed builds remembered by build hash: `<state>/sites/<name>/<hash>.failed` holds the
//! message of a build of exactly those inputs that failed for a reason of the site's own
//! (its Python, its requirements file, a native extension, a warmup URL). A start-up or a
//! reload that finds the same hash reports that failure at once instead of building it
//! again; any change to the site's build inputs is a new hash and builds. Failures that may
//! pass on another try (pip and the network, a build killed by its time or memory bound, the
//! server stopping) are not remembered. `wsgi-wasm build` always builds.
//!
//! Used by the server's builder (`sites::live::builder`), beside the finished builds of
//! `artifact.rs`.

use std::path::{Path, PathBuf};

use super::artifact::site_builds;

/// Failure records kept per site: the newest few (a site being fixed fails a few times).
const KEPT: usize = 4;
/// The longest message remembered.
const MAX_MESSAGE: u64 = 64 * 1024;

fn record(state: &Path, site: &str, hash: &str) -> PathBuf {
    site_builds(state, site).join(format!("{hash}.failed"))
}

/// The remembered failure of `site`'s build `hash`, if there is one.
pub fn remembered(state: &Path, site: &str, hash: &str) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(record(state, site, hash)).ok()?;
    let mut message = String::new();
    file.take(MAX_MESSAGE).read_to_string(&mut message).ok()?;
    Some(message)
}

/// Remembers that `site`'s build `hash` failed with `message`, and forgets the oldest
/// records beyond the newest few. Best effort: a record that cannot be written only means
/// the next start builds again.
pub fn remember(state: &Path, site: &str, hash: &str, message: &str) {
    let dir = site_builds(state, site);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let temp = dir.join(format!(".{hash}.failed.tmp"));
    let written = std::fs::write(&temp, message)
        .and_then(|()| std::fs::rename(&temp, record(state, site, hash)));
    if let Err(error) = written {
        tracing::debug!(site = %site, "cannot remember the failed build: {error}");
        let _ = std::fs::remove_file(&temp);
        return;
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut records: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".failed"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    records.sort();
    let excess = records.len().saturating_sub(KEPT);
    for (_, path) in records.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

/// Forgets the failure of `site`'s build `hash` (it built after all: `wsgi-wasm build`).
pub fn forget(state: &Path, site: &str, hash: &str) {
    let _ = std::fs::remove_file(record(state, site, hash));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_remembered_by_hash_and_the_newest_kept() {
        let state = tempfile::tempdir().unwrap();
        let state = state.path();
        assert_eq!(remembered(state, "blog", "aaaa"), None);
        remember(state, "blog", "aaaa", "SyntaxError: invalid syntax");
        assert_eq!(
            remembered(state, "blog", "aaaa").as_deref(),
            Some("SyntaxError: invalid syntax")
        );
        assert_eq!(remembered(state, "blog", "bbbb"), None, "another hash");
        assert_eq!(remembered(state, "shop", "aaaa"), None, "another site");
        for (index, hash) in ["b1", "b2", "b3", "b4", "b5"].iter().enumerate() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            remember(state, "blog", hash, &format!("failure {index}"));
        }
        assert_eq!(
            remembered(state, "blog", "aaaa"),
            None,
            "the oldest is forgotten"
        );
        assert_eq!(
            remembered(state, "blog", "b5").as_deref(),
            Some("failure 4")
        );
        forget(state, "blog", "b5");
        assert_eq!(remembered(state, "blog", "b5"), None);
    }
}
