//! The build process's side: `wsgi-wasm build-site` (hidden; only the server starts it, see
//! `child.rs`). Reads the plan from stdin and the site folder's handle from descriptor 3,
//! runs the build (`site.rs`), and reports each step and the outcome as JSON lines on stdout.
//! Its own log lines go to stderr, which is the server's.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

use super::child::Report;
use super::plan::Plan;
use crate::config::SiteDir;

/// A failure's message keeps its start and its end (the traceback) within this size.
const MAX_MESSAGE: usize = 64 * 1024;

/// Runs one build; the exit code says whether it succeeded.
pub fn run() -> std::process::ExitCode {
    let mut out = std::io::stdout().lock();
    let report = |out: &mut dyn Write, report: &Report| {
        if let Ok(line) = serde_json::to_string(report) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let (failed, lasting) = match prepare() {
        Ok((plan, root)) => {
            let mut step = |text: &str| report(&mut out, &Report::Step(text.to_owned()));
            match super::site::build(&plan, &root, &mut step) {
                Ok(built) => {
                    report(&mut out, &Report::Done(built));
                    return std::process::ExitCode::SUCCESS;
                }
                Err(error) => (format!("{error:#}"), lasting(&error)),
            }
        }
        Err(error) => (format!("{error:#}"), false),
    };
    let message = bounded(failed);
    report(&mut out, &Report::Failed { message, lasting });
    std::process::ExitCode::FAILURE
}

/// Whether the same files would fail the same way again: the site's Python, its
/// requirements file, a native extension, a warmup URL. Not pip's resolving (the index or
/// the network may answer next time), nor anything of the build's own machinery.
fn lasting(error: &super::error::BuildError) -> bool {
    use super::error::BuildError;
    matches!(
        error,
        BuildError::Python { .. }
            | BuildError::DataAtBuild { .. }
            | BuildError::Native { .. }
            | BuildError::Warmup { .. }
            | BuildError::RefusedRequirements { .. }
    )
}

/// The plan and the site folder the server passed.
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
fn prepare() -> anyhow::Result<(Plan, SiteDir)> {
    let mut input = String::new();
    std::io::stdin().take(16 << 20).read_to_string(&mut input)?;
    let plan: Plan = serde_json::from_str(&input)?;
    // SAFETY: the server opens descriptor 3 as the site folder for this process
    // (`child.rs`); checked to be open before it is owned.
    let fd = unsafe {
        anyhow::ensure!(
            libc::fcntl(3, libc::F_GETFD) != -1,
            "no site folder on descriptor 3: `build-site` is started by the server only"
        );
        OwnedFd::from_raw_fd(3)
    };
    let dir = cap_std::fs::Dir::from_std_file(std::fs::File::from(fd));
    let root = SiteDir::from_dir(dir, &plan.site_path)?;
    Ok((plan, root))
}

/// `message` cut to its first and last parts when it is longer than [`MAX_MESSAGE`].
fn bounded(message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let head_end = floor_boundary(&message, MAX_MESSAGE / 8);
    let tail_start = floor_boundary(&message, message.len() - MAX_MESSAGE * 7 / 8);
    format!(
        "{}\n[… {} bytes left out …]\n{}",
        &message[..head_end],
        tail_start - head_end,
        &message[tail_start..]
    )
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
