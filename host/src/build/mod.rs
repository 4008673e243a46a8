//! Site builds: from a site folder to a component the runtime can load, cached by content
//! hash so an unchanged site is never rebuilt. The server decides what to build (`plan.rs`,
//! `artifact.rs`); each build runs in a process of its own, bounded in time and memory
//! (`child.rs` starts it, `worker.rs` is its entry point, `site.rs` its steps).

pub mod artifact;
pub mod child;
pub mod hash;
pub mod native;
pub mod plan;
pub mod requirements;
pub mod site;
pub mod sources;
pub mod toolchain;
pub mod tree;
pub mod vendor;
pub mod worker;

pub use artifact::{cached, package_folders, Artifact};
pub use plan::{Plan, Sources};
pub use site::Built;

/// Makes a build's child process (componentize-py, pip) end with its parent: a build
/// stopped mid-way leaves no tool running on (Linux's parent-death signal).
pub fn dies_with_server(command: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: only an async-signal-safe system call runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
