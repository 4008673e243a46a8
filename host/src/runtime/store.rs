//! What each instance's `Store` holds: its WASI context (the only capabilities the guest
//! has), its resource table, and the I/O of the request it is serving now.
//!
//! The WASI context grants read-only directories and the site's own variables, nothing else: the guest standard
//! library at `/python` and the site's staged python path at `/0`, `/1`, …, the same paths the
//! build used. The environment is the site's `app.env` only; no arguments, no network (wasmtime-wasi denies every
//! socket address unless told otherwise), no stdin; stdout and stderr go to the site's log.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Result;
use wasmtime::component::ResourceTable;
use wasmtime::error::Context as _;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use crate::wsgi::io::RequestIo;

/// What a site's guests are given: read-only folders and the site's own environment.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Host folder mounted at `/python`.
    pub stdlib: PathBuf,
    /// Host folders mounted at `/0`, `/1`, … in order.
    pub python_dirs: Vec<PathBuf>,
    /// The site's `app.env`: the guest's whole environment (never the host's).
    pub env: Vec<(String, String)>,
}

/// The data of one instance's store.
pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The request being served, set for the duration of one `handle` call.
    pub request: Option<RequestIo>,
}

impl StoreState {
    pub fn new(site: &Arc<str>, sandbox: &Sandbox) -> Result<Self> {
        let mut builder = WasiCtx::builder();
        builder.allow_blocking_current_thread(false);
        builder
            .preopened_dir(&sandbox.stdlib, "/python", FsPerms::ReadOnly)
            .with_context(|| format!("cannot mount `{}`", sandbox.stdlib.display()))?;
        for (index, dir) in sandbox.python_dirs.iter().enumerate() {
            builder
                .preopened_dir(dir, format!("/{index}"), FsPerms::ReadOnly)
                .with_context(|| format!("cannot mount `{}`", dir.display()))?;
        }
        builder.envs(&sandbox.env);
        builder.stdout(SiteLog {
            site: site.clone(),
            stream: "stdout",
        });
        builder.stderr(SiteLog {
            site: site.clone(),
            stream: "stderr",
        });
        Ok(Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            request: None,
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

/// The guest's stdout or stderr: each line becomes a log event tagged with the site.
#[derive(Clone)]
struct SiteLog {
    site: Arc<str>,
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
            tracing::info!(target: "site", site = %self.log.site, stream = self.log.stream, "{}", text.trim_end());
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

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}
