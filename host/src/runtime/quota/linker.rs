//! Linking the quota's shadows: at link time (`SitePool::new`), after wasmtime-wasi's own
//! `wasi:filesystem` and `wasi:io`, the functions that make a folder's files larger or more
//! numerous (`filesystem.rs`) and the output-stream writes that reach a file (`streams.rs`)
//! are replaced by the quota's.

use anyhow::Result;
use wasmtime::component::{Linker, LinkerInstance, Resource};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::filesystem::{
    create_directory_at, get_directories, link_at, open_at, open_stream, remove_directory_at,
    rename_at, set_size, symlink_at, unlink_file_at, write_at,
};
use super::streams::{blocking_write, splice, write_zeroes};
use super::tracker::{QuotaView, Store};
use crate::runtime::shadow::{shadow, FILESYSTEM_TYPES, IO_STREAMS};

/// The interface wasmtime-wasi 48 links `wasi:filesystem/preopens` under.
const FILESYSTEM_PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// Shadows the calls that grow or shrink what a folder holds, in `linker`, which must
/// already hold wasmtime-wasi's own `wasi:filesystem` and `wasi:io` (and `file_io`'s
/// `write`, which calls back here).
pub fn add_to_linker<T: QuotaView>(linker: &mut Linker<T>) -> Result<()> {
    shadow(linker, FILESYSTEM_PREOPENS, "preopens", define_preopens)?;
    shadow(linker, FILESYSTEM_TYPES, "quota calls", define_types)?;
    shadow(linker, IO_STREAMS, "quota stream calls", define_streams)
}

fn define_preopens<T: QuotaView>(preopens: &mut LinkerInstance<'_, T>) -> wasmtime::Result<()> {
    preopens.func_wrap_async("get-directories", |store: Store<'_, T>, (): ()| {
        Box::new(get_directories(store))
    })
}

fn define_types<T: QuotaView>(types: &mut LinkerInstance<'_, T>) -> wasmtime::Result<()> {
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |store: Store<'_, T>,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| { Box::new(open_at(store, fd.rep(), path_flags, path, oflags, flags)) },
    )?;
    types.func_wrap_async(
        "[method]descriptor.create-directory-at",
        |store: Store<'_, T>, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(create_directory_at(store, fd.rep(), path))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |store: Store<'_, T>, (fd, old, new): (Resource<Descriptor>, String, String)| {
            Box::new(symlink_at(store, fd.rep(), old, new))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.link-at",
        |store: Store<'_, T>,
         (fd, flags, old, new_fd, new): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| { Box::new(link_at(store, fd.rep(), flags, old, new_fd.rep(), new)) },
    )?;
    types.func_wrap_async(
        "[method]descriptor.unlink-file-at",
        |store: Store<'_, T>, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(unlink_file_at(store, fd.rep(), path))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.remove-directory-at",
        |store: Store<'_, T>, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(remove_directory_at(store, fd.rep(), path))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.rename-at",
        |store: Store<'_, T>,
         (fd, old, new_fd, new): (Resource<Descriptor>, String, Resource<Descriptor>, String)| {
            Box::new(rename_at(store, fd.rep(), old, new_fd.rep(), new))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.write",
        |store: Store<'_, T>, (fd, bytes, offset): (Resource<Descriptor>, Vec<u8>, u64)| {
            Box::new(write_at(store, fd.rep(), bytes, offset))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.set-size",
        |store: Store<'_, T>, (fd, size): (Resource<Descriptor>, u64)| {
            Box::new(set_size(store, fd.rep(), size))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.write-via-stream",
        |store: Store<'_, T>, (fd, offset): (Resource<Descriptor>, u64)| {
            Box::new(open_stream(store, fd.rep(), Some(offset)))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.append-via-stream",
        |store: Store<'_, T>, (fd,): (Resource<Descriptor>,)| {
            Box::new(open_stream(store, fd.rep(), None))
        },
    )
}

fn define_streams<T: QuotaView>(streams: &mut LinkerInstance<'_, T>) -> wasmtime::Result<()> {
    streams.func_wrap_async(
        "[method]output-stream.blocking-write-and-flush",
        |store: Store<'_, T>, (stream, bytes): (Resource<DynOutputStream>, Vec<u8>)| {
            Box::new(blocking_write(store, stream, bytes))
        },
    )?;
    streams.func_wrap_async(
        "[method]output-stream.write-zeroes",
        |store: Store<'_, T>, (stream, len): (Resource<DynOutputStream>, u64)| {
            Box::new(write_zeroes(store, stream, len, false))
        },
    )?;
    streams.func_wrap_async(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |store: Store<'_, T>, (stream, len): (Resource<DynOutputStream>, u64)| {
            Box::new(write_zeroes(store, stream, len, true))
        },
    )?;
    streams.func_wrap_async(
        "[method]output-stream.splice",
        |store: Store<'_, T>,
         (dest, src, len): (Resource<DynOutputStream>, Resource<DynInputStream>, u64)| {
            Box::new(splice(store, dest, src, len, false))
        },
    )?;
    streams.func_wrap_async(
        "[method]output-stream.blocking-splice",
        |store: Store<'_, T>,
         (dest, src, len): (Resource<DynOutputStream>, Resource<DynInputStream>, u64)| {
            Box::new(splice(store, dest, src, len, true))
        },
    )
}
