//! The processes a build starts (componentize-py, pip): they end with the server.

/// Makes a build's child process (componentize-py, pip) end with its parent: a build
/// stopped mid-way leaves no tool running on (Linux's parent-death signal).
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
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
