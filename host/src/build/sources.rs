//! The WIT world and the guest bridge, embedded in the binary at compile time and written
//! out once per content hash under the state folder, where componentize-py reads them.

use std::path::Path;

use anyhow::{Context, Result};

use super::hash::ContentHash;
use super::Sources;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Writes the embedded sources under `state_dir` (once per content) and returns where.
pub fn materialize(state_dir: &Path) -> Result<Sources> {
    let mut hash = ContentHash::new("sources");
    for (label, files) in [("wit", embedded::WIT), ("bridge", embedded::BRIDGE)] {
        for (path, bytes) in files {
            hash.bytes(&format!("{label}/{path}"), bytes);
        }
    }
    let hash = hash.finish();
    let root = state_dir.join("sources").join(&hash[..16]);
    let sources = Sources {
        wit: root.join("wit"),
        bridge: root.join("guest-python"),
        hash,
    };
    if root.join(".complete").is_file() {
        return Ok(sources);
    }
    for (dir, files) in [
        (&sources.wit, embedded::WIT),
        (&sources.bridge, embedded::BRIDGE),
    ] {
        for (path, bytes) in files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            std::fs::write(&target, bytes)
                .with_context(|| format!("cannot write `{}`", target.display()))?;
        }
    }
    std::fs::write(root.join(".complete"), b"")?;
    Ok(sources)
}
