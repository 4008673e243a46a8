//! A guest's file reads and writes, done in the call that asks for them.
//!
//! Sits under every `read`/`pread`/`write`/`pwrite` of the guest's wasi-libc: a file is read
//! through a `wasi:io` input stream (`read`; when that returns nothing yet, `subscribe` +
//! `block`, then `read` again) and written through an output stream (`write`, then
//! `blocking-flush`). wasmtime-wasi 48 hands every such stream read and write of a file to
//! tokio's blocking pool, whatever the store allows, so each one costs two thread switches
//! and up to four host calls; sqlite makes dozens per query.
//!
//! The streams a guest has here are files (at most 64 KiB a call, from the local file system,
//! which answers in microseconds, like the other file system calls run inline: see
//! `StoreState::new`), an empty stdin, and stdout/stderr into the server log. So the linker
//! shadows `input-stream.read` with the stream's own `blocking-read` and `output-stream.write`
//! with its `blocking-write-and-flush`: a file is read or written at once, inline, and the
//! guest's `subscribe`/`block`/`blocking-flush` that follow find the stream ready. A regular
//! file is always ready in POSIX terms, so a read that returns data at once is what `read`
//! promises; the log streams were flushed on every line anyway.

use anyhow::Result;
use wasmtime::component::{Linker, LinkerInstance, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::bindings::io::streams;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::quota;
use super::quota::QuotaView;
use super::shadow::{shadow, to_guest, IO_STREAMS};

/// Shadows `input-stream.read` and `output-stream.write` in `linker`, which must already hold
/// wasmtime-wasi's own `wasi:io`.
pub fn add_to_linker<T: QuotaView>(linker: &mut Linker<T>) -> Result<()> {
    shadow(linker, IO_STREAMS, "read and write", define)
}

type Answer<T> = wasmtime::Result<(Result<T, streams::StreamError>,)>;

fn define<T: QuotaView>(streams: &mut LinkerInstance<'_, T>) -> wasmtime::Result<()> {
    streams.func_wrap_async(
        "[method]input-stream.read",
        |store: StoreContextMut<'_, T>, (stream, len): (Resource<DynInputStream>, u64)| {
            Box::new(read(store, stream, len))
        },
    )?;
    streams.func_wrap_async(
        "[method]output-stream.write",
        |store: StoreContextMut<'_, T>, (stream, bytes): (Resource<DynOutputStream>, Vec<u8>)| {
            Box::new(write(store, stream, bytes))
        },
    )
}

async fn read<T: QuotaView>(
    mut store: StoreContextMut<'_, T>,
    stream: Resource<DynInputStream>,
    len: u64,
) -> Answer<Vec<u8>> {
    let state = store.data_mut();
    let table = state.ctx().table;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let read = table.get_mut(&stream)?.blocking_read(len).await;
    match read {
        Ok(bytes) => Ok((Ok(bytes.into()),)),
        Err(error) => Ok((Err(to_guest(state.ctx().table, error)?),)),
    }
}

async fn write<T: QuotaView>(
    mut store: StoreContextMut<'_, T>,
    stream: Resource<DynOutputStream>,
    bytes: Vec<u8>,
) -> Answer<()> {
    let state = store.data_mut();
    // A write to a file of `/tmp` or a data folder counts against its quota (`quota.rs`).
    let (rep, len) = (stream.rep(), bytes.len() as u64);
    let charge = match quota::before_stream_write(state, rep, len) {
        Ok(charge) => charge,
        Err(quota::Full) => return Ok((Err(quota::stream_full(state.ctx().table)?),)),
    };
    let table = state.ctx().table;
    let written = table
        .get_mut(&stream)?
        .blocking_write_and_flush(bytes.into())
        .await;
    quota::after_stream_write(state, rep, len, charge, written.is_ok());
    match written {
        Ok(()) => Ok((Ok(()),)),
        Err(error) => Ok((Err(to_guest(state.ctx().table, error)?),)),
    }
}
