//! What each instance's `Store` holds: its WASI context (the only capabilities the guest
//! has), its resource table, and the I/O of the request it is serving now.
//!
//! The limiter caps each of the instance's memories at the site's `memory` limit and draws
//! every byte from the site's memory budget; a refused growth is a failed `malloc` for Python
//! (MemoryError), not a trap. CPU time is counted in epoch ticks spent running guest code.
//!
//! The WASI context grants read-only directories, the declared data folders read-write, a
//! scratch folder of the site's own at `/tmp` (where Werkzeug and Django spool large
//! uploads), and the site's own variables, nothing else: the guest standard library at
//! `/python` and the site's staged python path at `/0`, `/1`, …, the same paths the build
//! used. The environment is the site's `app.env` only; no arguments, no network
//! (wasmtime-wasi denies every socket address unless told otherwise), no stdin; stdout and
//! stderr go to the site's log.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::runtime::readdir::Listings;
use anyhow::Result;
use wasmtime::component::ResourceTable;
use wasmtime::error::Context as _;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use wasmtime::ResourceLimiter;

use crate::runtime::budget::{MemoryBudget, Reservation};
use crate::runtime::engine::MAX_TABLE_ELEMENTS;
use crate::runtime::folder::Folder;
use crate::runtime::quota::{Area, Tracker};
use crate::wsgi::file::Mount;
use crate::wsgi::io::RequestIo;

/// What a site's guests are given: read-only folders and the site's own environment. Every
/// folder is a handle opened once (`folder.rs`), never a path reopened per instance.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Mounted at `/python`.
    pub stdlib: Folder,
    /// Mounted at `/0`, `/1`, … in order.
    pub python_dirs: Vec<Folder>,
    /// The site's `app.env`: the guest's whole environment (never the host's).
    pub env: Vec<(String, String)>,
    /// Mounted read-write at the given guest paths (`app.data`), opened beneath the site
    /// folder.
    pub data: Vec<(Folder, String)>,
    /// The site's scratch folder, mounted read-write at `/tmp`: private to the site and to
    /// this server process, removed when the site's pool goes or at a clean stop
    /// ([`remove_own_scratch`]).
    pub tmp: Arc<tempfile::TempDir>,
    /// The quotas of `/tmp` (first) and of each data folder (in `data`'s order), shared by
    /// every instance of the site (`quota.rs`).
    pub quotas: Vec<Arc<Area>>,
    /// The site folder's owner: a data folder's file that is a hard link it does not own is
    /// not sent (`send-file`).
    pub owner: u32,
}

impl Sandbox {
    /// A fresh scratch folder for `site` in the host's temp folder, named after this process
    /// (`wsgi-wasm-<pid>-<site>-…`). The first call also removes the scratch folders of
    /// server processes that are gone (killed before they could remove their own).
    pub fn scratch(site: &str) -> Result<Arc<tempfile::TempDir>> {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_scratch);
        let dir = tempfile::Builder::new()
            .prefix(&format!("wsgi-wasm-{}-{site}-", std::process::id()))
            .tempdir()
            .with_context(|| format!("cannot create a temp folder for site `{site}`"))?;
        Ok(Arc::new(dir))
    }
}

/// The `wsgi-wasm-<pid>-…` folders in the temp folder, with their pid.
fn scratch_folders() -> Vec<(i32, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix("wsgi-wasm-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<i32>().ok())?;
            Some((pid, entry.path()))
        })
        .collect()
}

/// Removes `wsgi-wasm-<pid>-…` folders in the temp folder whose process no longer runs.
#[allow(unsafe_code)] // each `unsafe` block below says why it holds
fn sweep_scratch() {
    for (pid, path) in scratch_folders() {
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Removes every scratch folder of this process, at a clean stop once the requests in
/// flight are done: the sites' pools may still be held by tasks the runtime drops later
/// (or never, past `shutdown_timeout`), so their folders are not left to the pools' drops.
/// Returns how many were removed.
pub fn remove_own_scratch() -> usize {
    let me = std::process::id() as i32;
    scratch_folders()
        .into_iter()
        .filter(|(pid, _)| *pid == me)
        .filter(|(_, path)| match std::fs::remove_dir_all(path) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    "cannot remove the scratch folder `{}`: {error}",
                    path.display()
                );
                false
            }
        })
        .count()
}

/// The data of one instance's store.
pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The request being served, set for the duration of one `handle` call.
    pub request: Option<RequestIo>,
    /// That request's id (0 between requests), for the lines of the guest's stdout/stderr.
    pub request_id: Arc<AtomicU64>,
    /// The site's own folders, which `send-file` may stream from.
    pub files: Arc<[Mount]>,
    pub limiter: MemoryLimiter,
    /// Epoch ticks the guest has run during the current request, and its allowance.
    pub cpu_ticks: u64,
    pub cpu_allowance: u64,
    /// Set when the current request ran out of CPU time.
    pub cpu_exceeded: bool,
    /// The guest's folder listings in progress (see `readdir`).
    pub listings: Listings,
    /// The guest's handles into folders under a quota (see `quota`).
    pub quota: Tracker,
}

impl crate::runtime::readdir::ListingsView for StoreState {
    fn listings(&mut self) -> &mut Listings {
        &mut self.listings
    }
}

impl crate::runtime::quota::QuotaView for StoreState {
    fn quota(&mut self) -> &mut Tracker {
        &mut self.quota
    }
}

/// Caps each memory of an instance and charges its growth to the site's budget.
pub struct MemoryLimiter {
    cap: u64,
    held: Reservation,
    /// Set when a growth was refused since the flag was last cleared.
    pub refused: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed =
            desired as u64 <= self.cap && self.held.grow(desired.saturating_sub(current) as u64);
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl StoreState {
    pub fn new(
        site: &Arc<str>,
        sandbox: &Sandbox,
        budget: &Arc<MemoryBudget>,
        memory_cap: u64,
    ) -> Result<Self> {
        let mut builder = WasiCtx::builder();
        // File system calls run inline on the worker thread: a local file system answers in
        // microseconds, while a hop to the blocking pool and back cost 50-190 µs per `os.stat`
        // (file reads and writes: `file_io`; syncs still go to the pool: `fsync`).
        builder.allow_blocking_current_thread(true);
        let mut mount = |folder: &Folder, guest: &str, perms| {
            builder
                .preopened_dir(folder.proc_path(), guest, perms)
                .map(|_| ())
                .with_context(|| format!("cannot mount `{}`", folder.shown().display()))
        };
        mount(&sandbox.stdlib, "/python", FsPerms::ReadOnly)?;
        for (index, dir) in sandbox.python_dirs.iter().enumerate() {
            mount(dir, &format!("/{index}"), FsPerms::ReadOnly)?;
        }
        for (dir, guest) in &sandbox.data {
            mount(dir, guest, FsPerms::ReadWrite)?;
        }
        builder
            .preopened_dir(sandbox.tmp.path(), "/tmp", FsPerms::ReadWrite)
            .with_context(|| format!("cannot mount `{}`", sandbox.tmp.path().display()))?;
        builder.envs(&sandbox.env);
        let request_id = Arc::new(AtomicU64::new(0));
        builder.stdout(SiteLog {
            site: site.clone(),
            request: request_id.clone(),
            stream: "stdout",
        });
        builder.stderr(SiteLog {
            site: site.clone(),
            request: request_id.clone(),
            stream: "stderr",
        });
        let held = budget
            .try_reserve(0)
            .expect("an empty reservation always fits");
        let code = sandbox
            .python_dirs
            .iter()
            .enumerate()
            .map(|(index, dir)| Mount {
                guest: format!("/{index}"),
                folder: dir.clone(),
                owner: None,
            });
        let data = sandbox.data.iter().map(|(dir, guest)| Mount {
            guest: guest.trim_end_matches('/').to_owned(),
            folder: dir.clone(),
            owner: Some(sandbox.owner),
        });
        Ok(Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            request: None,
            request_id,
            files: code.chain(data).collect(),
            limiter: MemoryLimiter {
                cap: memory_cap,
                held,
                refused: false,
            },
            cpu_ticks: 0,
            cpu_allowance: u64::MAX,
            cpu_exceeded: false,
            listings: Listings::default(),
            quota: Tracker::new(&sandbox.quotas),
        })
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The guest's stdout or stderr: each line becomes a log event tagged with the site and
/// the request the instance is serving.
#[derive(Clone)]
struct SiteLog {
    site: Arc<str>,
    /// The store's current request id (0: none).
    request: Arc<AtomicU64>,
    stream: &'static str,
}

impl IsTerminal for SiteLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for SiteLog {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineLogger {
            log: self.clone(),
            line: Vec::new(),
        })
    }
}

/// Longest line kept before it is logged anyway, so a guest cannot grow host memory.
const MAX_LINE: usize = 16 * 1024;

struct LineLogger {
    log: SiteLog,
    line: Vec<u8>,
}

impl LineLogger {
    fn emit(&mut self) {
        if !self.line.is_empty() {
            let text = String::from_utf8_lossy(&self.line);
            let request = Some(self.log.request.load(Ordering::Relaxed)).filter(|&id| id != 0);
            tracing::info!(target: "site", site = %self.log.site, request, stream = self.log.stream, "{}", text.trim_end());
            self.line.clear();
        }
    }
}

impl tokio::io::AsyncWrite for LineLogger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' || self.line.len() >= MAX_LINE {
                self.emit();
            }
            if byte != b'\n' {
                self.line.push(byte);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    /// WASI flushes after every write (CPython's stderr writes each piece of a `print`
    /// separately), so a flush keeps a partial line: it is logged whole at its newline.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineLogger {
    /// A last line without its newline is logged when the stream goes (with its instance).
    fn drop(&mut self) {
        self.emit();
    }
}
