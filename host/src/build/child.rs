//! Build processes: every site build runs in a process of its own, bounded in time, memory
//! and output, so a tenant's code imported at build time (componentize-py runs the app's
//! imports and its warmup URLs) or a tenant's requirements can never hold, grow or stall
//! the server.
//!
//! Sits between the server's reloader (`sites/live.rs`, `sites/reload.rs`), which decides what to
//! build, and the build steps (`site.rs`), which run in the child (`worker.rs` is its entry
//! point: `wsgi-wasm build-site`, hidden). The server passes:
//! - the [`Plan`] as JSON on the child's stdin;
//! - the site folder's handle as file descriptor 3: the child opens every site file beneath
//!   it, never by a path;
//! - a clean environment (`vendor::clean_environment`: `PATH`, proxies, CA bundles).
//!
//! and sets, before the child runs a single instruction of its own:
//! - a process group of its own, killed whole (pip, componentize-py included) when the
//!   build outlives `build.timeout`, and a parent-death signal, so no build outlives the
//!   server;
//! - `RLIMIT_DATA` = the site's `memory` + `build.memory_margin` (each process of the build:
//!   the child, pip, componentize-py and the guest it runs; address space reservations do not
//!   count, what is written does), `RLIMIT_CPU` = the timeout, `RLIMIT_FSIZE` (no file over
//!   4 GiB), no core dumps.
//!
//! The child reports each step as a JSON line on its stdout and ends with its outcome; the
//! server reads at most [`MAX_REPORT`] bytes of it. The builds running at once are bounded by
//! `build.jobs` (the caller's semaphore).

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::plan::Plan;
use super::site::Built;
use crate::config::SiteDir;

/// One line of a build process's report.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// A step began.
    Step(String),
    /// The build finished.
    Done(Built),
    /// The build failed, with the message for the site's author; `lasting` when the
    /// failure is the site's own and would come again from the same files (`failures.rs`).
    Failed { message: String, lasting: bool },
}

/// A build that did not finish: the message for the log and the status page, and whether
/// the same files would fail the same way again.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub lasting: bool,
}

impl Failure {
    /// A failure that may not come again (the build process's bounds, the server's state).
    pub fn passing(message: String) -> Failure {
        Failure {
            message,
            lasting: false,
        }
    }
}

/// The most a build process may write to its report (its failure carries the tail of the
/// Python output).
pub const MAX_REPORT: u64 = 1024 * 1024;

/// The largest file a build may write.
const MAX_FILE: u64 = 4 << 30;

/// Runs the build of `plan` in a build process over the site folder `root`; `progress` is
/// told each step as it begins. The error is the message for the log and the status page.
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
pub async fn run(
    plan: &Plan,
    root: &SiteDir,
    mut progress: impl FnMut(&str),
) -> Result<Built, Failure> {
    let site_fd = root
        .dir()
        .try_clone()
        .map_err(|e| Failure::passing(format!("cannot pass the site folder to the build: {e}")))?;
    let site_fd: OwnedFd = site_fd.into_std_file().into();
    // Above the child's standard streams, so that dup2 onto 3 always makes a new descriptor
    // (a dup2 of a descriptor onto itself would keep its close-on-exec flag).
    let site_fd = rustix::io::fcntl_dupfd_cloexec(&site_fd, 10)
        .map_err(|e| Failure::passing(format!("cannot pass the site folder to the build: {e}")))?;
    let input = serde_json::to_vec(plan)
        .map_err(|e| Failure::passing(format!("cannot describe the build: {e}")))?;
    let mut command = tokio::process::Command::new("/proc/self/exe");
    command.arg("build-site");
    let home = plan.state.join("cache").join("home");
    let _ = std::fs::create_dir_all(&home);
    command.env_clear().envs(super::vendor::clean_env(&home));
    for name in [
        "RUST_LOG",
        "NO_COLOR",
        "RUST_BACKTRACE",
        "RUST_LIB_BACKTRACE",
    ] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let limits = ChildLimits {
        fd: site_fd.as_raw_fd(),
        memory: plan.limits.memory,
        cpu_seconds: plan.limits.timeout.as_secs().max(1),
    };
    // SAFETY: the closure makes only async-signal-safe system calls (dup2, setpgid, prctl,
    // setrlimit) between fork and exec, and touches no memory of the parent but `limits`.
    unsafe {
        command.pre_exec(move || limits.apply());
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| Failure::passing(format!("cannot start the build process: {e}")))?;
    drop(site_fd);
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let exchange = async {
        stdin.write_all(&input).await.ok();
        drop(stdin);
        let mut lines = BufReader::new(tokio::io::AsyncReadExt::take(stdout, MAX_REPORT)).lines();
        let mut outcome = None;
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Report>(&line) {
                Ok(Report::Step(step)) => progress(&step),
                Ok(Report::Done(built)) => outcome = Some(Ok(built)),
                Ok(Report::Failed { message, lasting }) => {
                    outcome = Some(Err(Failure { message, lasting }))
                }
                Err(_) => tracing::debug!(site = %plan.site, "build process: {line}"),
            }
        }
        let status = child.wait().await;
        (outcome, status)
    };
    let finished = tokio::time::timeout(plan.limits.timeout, exchange).await;
    match finished {
        Ok((Some(outcome), _)) => outcome,
        Ok((None, status)) => Err(Failure::passing(died(plan, status))),
        Err(_) => {
            kill_group(pid);
            Err(Failure::passing(format!(
                "site `{}`: the build took longer than `build.timeout` = {} and was stopped \
                 (code imported at build time must not loop or wait)",
                plan.site,
                humantime::format_duration(plan.limits.timeout)
            )))
        }
    }
}

/// Why a build process ended without an outcome.
fn died(plan: &Plan, status: std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let memory = bytesize::ByteSize(plan.limits.memory);
    let reason = match status {
        Ok(status) => match status.signal() {
            Some(libc::SIGXCPU) => "it used up its CPU time (`build.timeout`)".to_owned(),
            Some(libc::SIGABRT) | Some(libc::SIGSEGV) => format!(
                "it ran out of memory or crashed (a build may use the site's `memory` plus \
                 `build.memory_margin`: {memory})"
            ),
            Some(libc::SIGXFSZ) => "it wrote a file over 4 GiB".to_owned(),
            Some(signal) => format!("it was killed by signal {signal}"),
            None => format!("it exited with {status}"),
        },
        Err(error) => format!("its status is unknown: {error}"),
    };
    format!("site `{}`: the build process failed: {reason}", plan.site)
}

/// Kills the build process and everything it started (its process group).
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: kill only sends a signal, to the process group the child leads.
        unsafe {
            libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
        }
    }
}

/// What `pre_exec` sets up in the child.
#[derive(Clone, Copy)]
struct ChildLimits {
    fd: i32,
    memory: u64,
    cpu_seconds: u64,
}

impl ChildLimits {
    #[allow(unsafe_code)] // each `unsafe` block below says why it holds
    fn apply(self) -> std::io::Result<()> {
        let check = |result: libc::c_int| {
            if result == -1 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let limit = |resource, soft: u64, hard: u64| {
            let value = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: setrlimit reads the struct it is given.
            check(unsafe { libc::setrlimit(resource, &value) })
        };
        // SAFETY: async-signal-safe system calls on the child's own process.
        unsafe {
            check(libc::dup2(self.fd, 3))?;
            check(libc::setpgid(0, 0))?;
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
        }
        limit(libc::RLIMIT_DATA, self.memory, self.memory)?;
        limit(libc::RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 5)?;
        limit(libc::RLIMIT_FSIZE, MAX_FILE, MAX_FILE)?;
        limit(libc::RLIMIT_CORE, 0, 0)?;
        Ok(())
    }
}
