//! Site builds: from a site folder to a component the runtime can load, cached by content
//! hash so an unchanged site is never rebuilt (see `site.rs` for the steps).

pub mod hash;
pub mod native;
pub mod site;
pub mod sources;
pub mod toolchain;

pub use site::{build, cached, hash_inputs, lock_site, package_folders, Sources};
pub use toolchain::Toolchain;

/// Makes a build's child process (componentize-py, pip) end with the server: a server
/// stopped mid-build leaves no build running on (Linux's parent-death signal).
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
