//! The output-stream writes that reach a file of an area: `file_io`'s own `write` calls
//! [`before_stream_write`]/[`after_stream_write`] around each write, and the shadowed
//! `blocking-write-and-flush`, `write-zeroes` and `splice` (linked by `linker.rs`) count
//! theirs the same way. A stream is noted when it is opened onto a file of an area
//! (`filesystem.rs`); a write that would pass the quota fails with `ENOSPC`.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io::streams::{self, HostOutputStream};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::tracker::{Charge, Full, QuotaView, Store, Stream};
use crate::runtime::shadow::to_guest;

/// Most bytes one `write-zeroes` to a counted file may ask for.
const MAX_ZEROES: u64 = 1024 * 1024;

type StreamAnswer<T> = wasmtime::Result<(Result<T, streams::StreamError>,)>;

/// Before an output-stream write of `len` bytes: the charge when the stream writes a file
/// of an area, `Err(Full)` when the write would pass its quota.
pub fn before_stream_write<T: QuotaView>(
    state: &mut T,
    stream: u32,
    len: u64,
) -> Result<Option<Charge>, Full> {
    let tracker = state.quota();
    let Some(noted) = tracker.streams.get(&stream) else {
        return Ok(None);
    };
    let Some(file) = noted.file.upgrade() else {
        tracker.streams.remove(&stream);
        return Ok(None);
    };
    let area = tracker.areas[noted.area].clone();
    let at = noted.at;
    Charge::begin(area, file, |now| match at {
        Some(at) => at.saturating_add(len),
        None => now.saturating_add(len),
    })
}

/// After an output-stream write of `len` bytes that `written` says succeeded or not.
pub fn after_stream_write<T: QuotaView>(
    state: &mut T,
    stream: u32,
    len: u64,
    charge: Option<Charge>,
    written: bool,
) {
    if let Some(charge) = charge {
        charge.settle(false);
    }
    if written {
        if let Some(Stream { at: Some(at), .. }) = state.quota().streams.get_mut(&stream) {
            *at = at.saturating_add(len);
        }
    }
}

/// The guest's error for a stream write refused for the quota: `ENOSPC`.
pub fn stream_full(table: &mut ResourceTable) -> wasmtime::Result<streams::StreamError> {
    let error = std::io::Error::from_raw_os_error(libc::ENOSPC);
    Ok(streams::StreamError::LastOperationFailed(
        table.push(wasmtime::Error::from(error))?,
    ))
}

/// A counted write of `bytes` to a noted stream, whole and at once (as `file_io` writes).
async fn counted_write<T: QuotaView>(
    state: &mut T,
    stream: u32,
    bytes: Vec<u8>,
) -> StreamAnswer<()> {
    let len = bytes.len() as u64;
    let charge = match before_stream_write(state, stream, len) {
        Ok(charge) => charge,
        Err(Full) => return Ok((Err(stream_full(state.ctx().table)?),)),
    };
    let table = state.ctx().table;
    let written = table
        .get_mut(&Resource::<DynOutputStream>::new_borrow(stream))?
        .blocking_write_and_flush(bytes.into())
        .await;
    after_stream_write(state, stream, len, charge, written.is_ok());
    match written {
        Ok(()) => Ok((Ok(()),)),
        Err(error) => Ok((Err(to_guest(state.ctx().table, error)?),)),
    }
}

fn noted<T: QuotaView>(state: &mut T, stream: u32) -> bool {
    state.quota().streams.contains_key(&stream)
}

pub(super) async fn blocking_write<T: QuotaView>(
    mut store: Store<'_, T>,
    stream: Resource<DynOutputStream>,
    bytes: Vec<u8>,
) -> StreamAnswer<()> {
    let state = store.data_mut();
    if noted(state, stream.rep()) && bytes.len() <= 4096 {
        return counted_write(state, stream.rep(), bytes).await;
    }
    let table = state.ctx().table;
    let written = HostOutputStream::blocking_write_and_flush(table, stream, bytes).await;
    stream_answer(table, written)
}

pub(super) async fn write_zeroes<T: QuotaView>(
    mut store: Store<'_, T>,
    stream: Resource<DynOutputStream>,
    len: u64,
    blocking: bool,
) -> StreamAnswer<()> {
    let state = store.data_mut();
    if noted(state, stream.rep()) {
        if len > MAX_ZEROES {
            return Ok((Err(stream_full(state.ctx().table)?),));
        }
        return counted_write(state, stream.rep(), vec![0; len as usize]).await;
    }
    let table = state.ctx().table;
    let written = if blocking {
        HostOutputStream::blocking_write_zeroes_and_flush(table, stream, len).await
    } else {
        HostOutputStream::write_zeroes(table, stream, len)
    };
    stream_answer(table, written)
}

/// `splice`/`blocking-splice`; into a noted stream, a read of at most 64 KiB from `src`
/// followed by a counted write.
pub(super) async fn splice<T: QuotaView>(
    mut store: Store<'_, T>,
    dest: Resource<DynOutputStream>,
    src: Resource<DynInputStream>,
    len: u64,
    blocking: bool,
) -> StreamAnswer<u64> {
    let state = store.data_mut();
    if !noted(state, dest.rep()) {
        let table = state.ctx().table;
        let spliced = if blocking {
            HostOutputStream::blocking_splice(table, dest, src, len).await
        } else {
            HostOutputStream::splice(table, dest, src, len)
        };
        return stream_answer(table, spliced);
    }
    let want = usize::try_from(len).unwrap_or(usize::MAX).min(64 * 1024);
    let table = state.ctx().table;
    let input = table.get_mut(&src)?;
    let read = if blocking {
        input.blocking_read(want).await
    } else {
        input.read(want)
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(error) => return Ok((Err(to_guest(table, error)?),)),
    };
    if bytes.is_empty() {
        return Ok((Ok(0),));
    }
    let count = bytes.len() as u64;
    match counted_write(state, dest.rep(), bytes.to_vec()).await?.0 {
        Ok(()) => Ok((Ok(count),)),
        Err(error) => Ok((Err(error),)),
    }
}

fn stream_answer<T>(
    table: &mut ResourceTable,
    result: wasmtime_wasi::p2::StreamResult<T>,
) -> StreamAnswer<T> {
    match result {
        Ok(value) => Ok((Ok(value),)),
        Err(error) => Ok((Err(to_guest(table, error)?),)),
    }
}
