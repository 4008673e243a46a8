//! Replacing single WASI functions of wasmtime-wasi's, for the modules that do
//! (`readdir`, `fsync`, `file_io`).
//!
//! Sits at link time: `SitePool::new` links wasmtime-wasi's WASI, then these modules shadow
//! the few functions whose behaviour under a shared, concurrent server they change. Each
//! shadowing function calls wasmtime-wasi's own implementation for the real work.

use anyhow::Result;
use wasmtime::component::{Linker, LinkerInstance};
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
use wasmtime_wasi::p2::bindings::io::streams;
use wasmtime_wasi::p2::{FsError, StreamError};

/// The interface wasmtime-wasi 48 links `wasi:filesystem/types` under (every guest 0.2.x
/// import resolves to it).
pub const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
/// The interface wasmtime-wasi 48 links `wasi:io/streams` under.
pub const IO_STREAMS: &str = "wasi:io/streams@0.2.12";

/// Runs `define` on `interface` of `linker` with shadowing allowed, so the functions it
/// defines replace wasmtime-wasi's; `what` names them in the error.
pub fn shadow<T: 'static>(
    linker: &mut Linker<T>,
    interface: &str,
    what: &str,
    define: impl FnOnce(&mut LinkerInstance<'_, T>) -> wasmtime::Result<()>,
) -> Result<()> {
    linker.allow_shadowing(true);
    let defined = linker
        .instance(interface)
        .and_then(|mut instance| define(&mut instance));
    linker.allow_shadowing(false);
    defined.map_err(|e| anyhow::anyhow!("cannot replace `{interface}` {what}: {e}"))
}

/// A wasmtime-wasi file system result as the guest sees it: a value or an error code; a trap
/// stays a trap.
pub fn answer<T>(result: Result<T, FsError>) -> wasmtime::Result<Result<T, ErrorCode>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => Ok(Err(error.downcast()?)),
    }
}

/// A stream error as the guest sees it: closed, or failed with an error resource; a trap
/// stays a trap.
pub fn to_guest(
    table: &mut wasmtime::component::ResourceTable,
    error: StreamError,
) -> wasmtime::Result<streams::StreamError> {
    Ok(match error {
        StreamError::Closed => streams::StreamError::Closed,
        StreamError::LastOperationFailed(e) => {
            streams::StreamError::LastOperationFailed(table.push(e)?)
        }
        StreamError::Trap(e) => return Err(e),
    })
}
