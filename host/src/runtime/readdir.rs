//! Directory listings for guests, made safe against entries removed while they are read.
//!
//! Sits under the guest's `os.listdir`/`os.scandir`. wasi-libc lists a folder with
//! `wasi:filesystem`'s `read-directory`, then for each entry `read-directory-entry` followed
//! at once by `metadata-hash-at(entry)` (for `d_ino`). Two steps stat the entry after its
//! name was read: wasmtime-wasi 48 inside `read-directory`, and wasi-libc's hash. When another
//! instance (or the operator) removes the entry in between, either step answers `no-entry`,
//! and wasi-libc fails the whole listing with `ENOENT` for the *folder*. Two requests of one
//! site sharing a `data` folder (a file cache, a session folder) hit this whenever one lists
//! while the other deletes.
//!
//! POSIX lets `readdir` return or omit an entry removed meanwhile, with the inode it had. The
//! linker here shadows three functions to do that:
//! - `read-directory` notes which folder each stream lists;
//! - `read-directory-entry` passes over entries already gone, and hashes each entry it
//!   returns itself, passing over it too if it is gone by then;
//! - `metadata-hash-at` answers the very next hash of that entry in that folder (wasi-libc's)
//!   from the note, so the entry cannot vanish between the two calls.
//!
//! Every other call, and every other error, reaches wasmtime-wasi unchanged.

use std::collections::HashMap;

use anyhow::Result;
use wasmtime::component::{Linker, LinkerInstance, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DirectoryEntry, ErrorCode, HostDescriptor, HostDirectoryEntryStream, MetadataHashValue,
    PathFlags,
};
use wasmtime_wasi::p2::ReaddirIterator;

use super::shadow::{answer, shadow, FILESYSTEM_TYPES};

/// Streams remembered at most; past it the notes are dropped (listings then behave as
/// wasmtime-wasi's own), so a guest that never finishes its listings cannot grow them.
const MAX_STREAMS: usize = 64;

/// What one store remembers of its guest's listings.
#[derive(Default)]
pub struct Listings {
    /// Stream → the folder it lists (resource table indexes).
    folders: HashMap<u32, u32>,
    /// The entry `read-directory-entry` returned last, with its hash, until it is asked for.
    last: Option<Listed>,
}

struct Listed {
    folder: u32,
    name: String,
    hash: MetadataHashValue,
}

type Answer<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;

/// What the listing shadows need of an instance's store data: wasmtime-wasi's view and the
/// instance's [`Listings`] (a trait of this module's own, as [`super::quota::QuotaView`]).
pub trait ListingsView: wasmtime_wasi::WasiView + Send + 'static {
    fn listings(&mut self) -> &mut Listings;
}

/// Shadows wasmtime-wasi's `read-directory`, `read-directory-entry` and `metadata-hash-at` in
/// `linker`, which must already hold wasmtime-wasi's own `wasi:filesystem`.
pub fn add_to_linker<T: ListingsView>(linker: &mut Linker<T>) -> Result<()> {
    shadow(linker, FILESYSTEM_TYPES, "listing calls", define)
}

fn define<T: ListingsView>(types: &mut LinkerInstance<'_, T>) -> wasmtime::Result<()> {
    types.func_wrap_async(
        "[method]descriptor.read-directory",
        |store: StoreContextMut<'_, T>, (folder,): (Resource<Descriptor>,)| {
            Box::new(open(store, folder.rep()))
        },
    )?;
    types.func_wrap_async(
        "[method]directory-entry-stream.read-directory-entry",
        |store: StoreContextMut<'_, T>, (stream,): (Resource<ReaddirIterator>,)| {
            Box::new(next(store, stream.rep()))
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.metadata-hash-at",
        |store: StoreContextMut<'_, T>,
         (folder, flags, path): (Resource<Descriptor>, PathFlags, String)| {
            Box::new(hash_at(store, folder.rep(), flags, path))
        },
    )
}

/// `read-directory`, noting the folder of the new stream.
async fn open<T: ListingsView>(
    mut store: StoreContextMut<'_, T>,
    folder: u32,
) -> Answer<Resource<ReaddirIterator>> {
    let state = store.data_mut();
    let opened = state
        .filesystem()
        .read_directory(Resource::new_borrow(folder))
        .await;
    let stream = match answer(opened)? {
        Ok(stream) => stream,
        Err(code) => return Ok((Err(code),)),
    };
    let folders = &mut state.listings().folders;
    if folders.len() >= MAX_STREAMS {
        folders.clear();
    }
    folders.insert(stream.rep(), folder);
    Ok((Ok(stream),))
}

/// `read-directory-entry`, passing over entries that are gone, and noting the hash of the
/// one returned.
async fn next<T: ListingsView>(
    mut store: StoreContextMut<'_, T>,
    stream: u32,
) -> Answer<Option<DirectoryEntry>> {
    let state = store.data_mut();
    state.listings().last = None;
    let folder = state.listings().folders.get(&stream).copied();
    loop {
        let read = state
            .filesystem()
            .read_directory_entry(Resource::new_borrow(stream))
            .await;
        let entry = match answer(read)? {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                state.listings().folders.remove(&stream);
                return Ok((Ok(None),));
            }
            Err(ErrorCode::NoEntry) => continue,
            Err(code) => return Ok((Err(code),)),
        };
        let Some(folder) = folder else {
            return Ok((Ok(Some(entry)),));
        };
        let hashed = state
            .filesystem()
            .metadata_hash_at(
                Resource::new_borrow(folder),
                PathFlags::empty(),
                entry.name.clone(),
            )
            .await;
        match answer(hashed)? {
            Ok(hash) => {
                state.listings().last = Some(Listed {
                    folder,
                    name: entry.name.clone(),
                    hash,
                });
                return Ok((Ok(Some(entry)),));
            }
            Err(ErrorCode::NoEntry) => continue,
            // Not this module's business: wasi-libc's own hash will meet the same error.
            Err(_) => return Ok((Ok(Some(entry)),)),
        }
    }
}

/// `metadata-hash-at`; the first hash of the entry just listed comes from the listing.
async fn hash_at<T: ListingsView>(
    mut store: StoreContextMut<'_, T>,
    folder: u32,
    flags: PathFlags,
    path: String,
) -> Answer<MetadataHashValue> {
    let state = store.data_mut();
    if let Some(listed) = state.listings().last.take() {
        if listed.folder == folder && flags == PathFlags::empty() && listed.name == path {
            return Ok((Ok(listed.hash),));
        }
    }
    let hashed = state
        .filesystem()
        .metadata_hash_at(Resource::new_borrow(folder), flags, path)
        .await;
    Ok((answer(hashed)?,))
}
