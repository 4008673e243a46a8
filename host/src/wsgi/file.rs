//! `wsgi.file_wrapper` without copies: when the app returns a real file of the site's own
//! folders wrapped in `wsgi.file_wrapper`, the bridge asks the host (`send-file`) to stream it
//! from disk into the response, so its bytes never pass through the guest's memory.
//!
//! The guest names the file by its guest path. Only the site's own mounts qualify (its code
//! and vendored packages at `/0`, `/1`, …, and its `data` folders); the standard library is
//! not the site's to serve. The path is opened relative to the mount's folder with cap-std,
//! so `..` and symlinks cannot lead out of it. The bytes go through the same write buffer,
//! memory budget and `Content-Length` checks as `write`.

use std::path::Path;

use crate::config::site_dir::{foreign_link_reason, SiteDir};
use crate::runtime::folder::Folder;
use bytes::BytesMut;
use tokio::io::AsyncReadExt;

use super::io::RequestIo;
use crate::wsgi::bindings::host::{ResponseHead, SendFileError};

/// The most bytes read from the file per chunk.
const CHUNK: usize = 256 * 1024;

/// A folder of the site the guest sees at `guest` (an absolute path without trailing `/`).
#[derive(Debug, Clone)]
pub struct Mount {
    pub guest: String,
    /// The folder itself, opened once: files are opened beneath it.
    pub folder: Folder,
    /// For a folder the tenant writes to (a data folder): its files must not be hard links
    /// this owner does not own (`config::SiteDir::foreign_link`).
    pub owner: Option<u32>,
}

/// Sends `head` (unless already sent), then `length` bytes (or the rest) of the file at
/// guest path `path` from `offset`.
pub async fn send(
    io: &mut RequestIo,
    mounts: &[Mount],
    head: Option<ResponseHead>,
    path: &str,
    offset: u64,
    length: Option<u64>,
) -> wasmtime::Result<Result<u64, SendFileError>> {
    if io.head_sent() == head.is_some() {
        let reason = match head {
            Some(_) => "send-file with a head after the headers were sent",
            None => "send-file without a head before the headers were sent",
        };
        return Ok(Err(SendFileError::Refused(reason.into())));
    }
    let (file, size) = match open(mounts, path).await {
        Ok(opened) => opened,
        Err(reason) => return Ok(Err(SendFileError::Refused(reason))),
    };
    if let Some(head) = head {
        if let Err(reason) = io.send_head(&head.status, &head.headers, None) {
            return Ok(Err(SendFileError::Refused(reason)));
        }
    }
    let available = size.saturating_sub(offset);
    let mut left = length.map_or(available, |wanted| wanted.min(available));
    if let Some(owed) = io.owed() {
        left = left.min(owed.saturating_add(1)); // one byte over lets `push` log the cut
    }
    if !io.sends_body() {
        return Ok(Ok(left));
    }
    Ok(stream(io, file, offset, left).await)
}

/// Reads `left` bytes of `file` from `offset` into the response.
async fn stream(
    io: &mut RequestIo,
    file: std::fs::File,
    offset: u64,
    mut left: u64,
) -> Result<u64, SendFileError> {
    let failed = |reason: String| SendFileError::Failed(reason);
    let mut file = tokio::fs::File::from_std(file);
    if offset > 0 {
        use tokio::io::AsyncSeekExt;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| failed(format!("cannot seek the file: {e}")))?;
    }
    let mut sent = 0;
    while left > 0 {
        let mut buffer = BytesMut::with_capacity(CHUNK.min(left as usize));
        let read = file
            .read_buf(&mut buffer)
            .await
            .map_err(|e| failed(format!("cannot read the file: {e}")))?;
        if read == 0 {
            break; // the file shrank while it was sent
        }
        buffer.truncate(read.min(left as usize));
        left -= buffer.len() as u64;
        sent += buffer.len() as u64;
        io.push(buffer.freeze()).await.map_err(failed)?;
        if io.owed() == Some(0) {
            break;
        }
    }
    Ok(sent)
}

/// Opens the regular file at guest path `path` inside one of `mounts`: the file and its size.
async fn open(mounts: &[Mount], path: &str) -> Result<(std::fs::File, u64), String> {
    let (mount, relative) = locate(mounts, path)
        .ok_or_else(|| format!("`{path}` is not in one of the site's own folders"))?;
    let folder = mount.folder.clone();
    let owner = mount.owner;
    let relative = relative.to_owned();
    let shown = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = folder
            .dir()
            .open(&relative)
            .map_err(|e| format!("cannot open `{shown}`: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot stat `{shown}`: {e}"))?;
        if !meta.is_file() {
            return Err(format!("`{shown}` is not a regular file"));
        }
        if owner.is_some_and(|owner| SiteDir::foreign_link(&meta, owner)) {
            return Err(format!("`{shown}` is {}", foreign_link_reason()));
        }
        Ok((file.into_std(), meta.len()))
    })
    .await
    .map_err(|e| format!("cannot open `{path}`: {e}"))?
}

/// The mount holding guest path `path` (the longest match) and the path inside it.
fn locate<'a>(mounts: &'a [Mount], path: &'a str) -> Option<(&'a Mount, &'a str)> {
    if !path.starts_with('/') || path.contains('\0') {
        return None;
    }
    mounts
        .iter()
        .filter_map(|mount| {
            let rest = path.strip_prefix(mount.guest.as_str())?;
            let rest = rest.strip_prefix('/')?;
            (!rest.is_empty()).then_some((mount, rest))
        })
        .max_by_key(|(mount, _)| mount.guest.len())
        .filter(|(_, rest)| Path::new(rest).is_relative())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts() -> Vec<Mount> {
        let folder = Folder::open(&std::env::temp_dir()).unwrap();
        ["/0", "/1", "/data", "/data/inner"]
            .iter()
            .map(|guest| Mount {
                guest: guest.to_string(),
                folder: folder.clone(),
                owner: None,
            })
            .collect()
    }

    #[test]
    fn file_locates_the_longest_mount() {
        let mounts = mounts();
        let found = |path| locate(&mounts, path).map(|(m, rest)| (m.guest.clone(), rest));
        assert_eq!(
            found("/0/static/a.css"),
            Some(("/0".into(), "static/a.css"))
        );
        assert_eq!(found("/data/inner/x"), Some(("/data/inner".into(), "x")));
        assert_eq!(found("/data/x"), Some(("/data".into(), "x")));
        assert_eq!(found("/python/os.py"), None, "not the site's");
        assert_eq!(found("/00/x"), None, "a prefix of a name is not a folder");
        assert_eq!(found("/0"), None, "a folder is not a file");
        assert_eq!(found("0/x"), None, "relative");
        assert_eq!(found("/0//etc/passwd"), None, "absolute inside");
    }
}
