//! A guest's `fsync`/`fdatasync` of a file, run on tokio's blocking pool.
//!
//! Sits under the guest's `os.fsync` and sqlite's commits. Guest file system calls run inline
//! on the worker thread that runs the guest (`StoreState::new` allows it: a local file
//! system answers in microseconds, and reads and writes move at most 64 KiB a call). A sync
//! is the exception: it waits for the disk, milliseconds on a quiet SSD and far more under
//! write load, and every sqlite commit makes two. Run inline it would hold a worker thread,
//! and with it other sites' requests and static files, for that long. So the linker here
//! shadows `sync` and `sync-data` of a *file* to hand the call to the blocking pool while the
//! guest's fiber waits; folders (rarely synced) keep wasmtime-wasi's own call.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{Linker, LinkerInstance, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{ErrorCode, HostDescriptor};
use wasmtime_wasi::p2::FsError;

use super::shadow::{answer, shadow, FILESYSTEM_TYPES};

/// Shadows wasmtime-wasi's `sync` and `sync-data` in `linker`, which must already hold
/// wasmtime-wasi's own `wasi:filesystem`.
pub fn add_to_linker<T: wasmtime_wasi::WasiView + Send + 'static>(
    linker: &mut Linker<T>,
) -> Result<()> {
    shadow(linker, FILESYSTEM_TYPES, "sync calls", define)
}

#[derive(Clone, Copy)]
enum Sync {
    All,
    Data,
}

fn define<T: wasmtime_wasi::WasiView + Send + 'static>(
    types: &mut LinkerInstance<'_, T>,
) -> wasmtime::Result<()> {
    types.func_wrap_async(
        "[method]descriptor.sync",
        |store: StoreContextMut<'_, T>, (fd,): (Resource<Descriptor>,)| {
            Box::new(sync(store, fd.rep(), Sync::All))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.sync-data",
        |store: StoreContextMut<'_, T>, (fd,): (Resource<Descriptor>,)| {
            Box::new(sync(store, fd.rep(), Sync::Data))
        },
    )
}

async fn sync<T: wasmtime_wasi::WasiView + Send + 'static>(
    mut store: StoreContextMut<'_, T>,
    fd: u32,
    how: Sync,
) -> wasmtime::Result<(Result<(), ErrorCode>,)> {
    let state = store.data_mut();
    let file = match state
        .ctx()
        .table
        .get(&Resource::<Descriptor>::new_borrow(fd))?
    {
        Descriptor::File(file) => Arc::clone(&file.file),
        Descriptor::Dir(_) => {
            let mut view = state.filesystem();
            let done = match how {
                Sync::All => view.sync(Resource::new_borrow(fd)).await,
                Sync::Data => view.sync_data(Resource::new_borrow(fd)).await,
            };
            return Ok((answer(done)?,));
        }
    };
    let synced = tokio::task::spawn_blocking(move || match how {
        Sync::All => file.sync_all(),
        Sync::Data => file.sync_data(),
    })
    .await?;
    Ok((answer(synced.map_err(FsError::from))?,))
}
