//! The access log's files, opened by the handle (`handle.rs`) at start and by the writer
//! thread (`writer.rs`) on a reopen: the server's log (stdout, or a file in append mode,
//! `[log] access`) and each site's own `<site>.access.log` in the `[log] sites` folder,
//! opened at the site's first line.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::config::AccessTarget;

/// Room for the lines of a few ticks per file, so a busy tick is one write per file.
const FILE_BUFFER: usize = 64 * 1024;

pub(super) type Sink = Box<dyn Write + Send>;

/// Opens the server's log: stdout, or the file in append mode (its folder created).
pub(super) fn open_target(target: &AccessTarget) -> Result<Sink, String> {
    match target {
        AccessTarget::Stdout => Ok(Box::new(BufWriter::with_capacity(
            FILE_BUFFER,
            std::io::stdout(),
        ))),
        AccessTarget::File(file) => open_append(&file.path)
            .map(|f| Box::new(BufWriter::with_capacity(FILE_BUFFER, f)) as Sink)
            .map_err(|error| {
                format!(
                    "cannot open `{}` ({}): {error}",
                    file.written,
                    file.path.display()
                )
            }),
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The log of `site` in `folder`, or `None` (with an error logged) when it cannot be opened.
pub(super) fn open_site(folder: &Path, site: &str) -> Option<BufWriter<File>> {
    let path = folder.join(format!("{site}.access.log"));
    match open_append(&path) {
        Ok(file) => Some(BufWriter::with_capacity(FILE_BUFFER, file)),
        Err(error) => {
            tracing::error!(
                site,
                "cannot open the site's access log `{}`: {error}; its lines are not written until the next reload",
                path.display()
            );
            None
        }
    }
}
