//! Quotas on what a site keeps in its scratch `/tmp` and in each of its data folders.
//!
//! Sits under the guest's writes, file creations, folder creations, truncations, unlinks,
//! renames and links in those folders: the linker shadows the `wasi:filesystem` functions
//! that make a folder's files larger or more numerous, and the output-stream writes that
//! reach a file (`file_io` calls [`before_stream_write`]/[`after_stream_write`] from its
//! own `write`). A call that would take an [`Area`] past its quota fails with
//! `insufficient-space`, which is `ENOSPC` for the guest (Python: `OSError` errno 28); a
//! call that frees space or overwrites in place always goes through.
//!
//! What is counted, per folder (an [`Area`]), for every instance of a site together (atomic
//! counters behind an `Arc`, shared by the site's stores):
//! - **bytes**: the apparent sizes of its regular files (their lengths, `st_size`), not the
//!   blocks they take on disk: a sparse file counts its whole length, a small file counts
//!   its few bytes, folders and symlinks count nothing. A file with several hard links counts
//!   once per name, as a walk over the names would.
//! - **files**: its entries: files, folders and symlinks (the folder itself not included).
//!
//! A data folder is measured when the site is loaded (a walk through its handle, no
//! symlink followed, bounded: it stops past the files quota or 64 levels deep, and the
//! folder then counts as full); the scratch `/tmp` starts empty. From there the counters
//! follow the calls: a write or size change adds the file's growth as measured by `fstat`
//! before and after; an open with `truncate` subtracts the old length; an unlink, a
//! folder removal and a rename over an existing entry subtract what went. Renames and hard
//! links between two folders are refused with `cross-device` (`EXDEV`), as between mounts.
//!
//! Limits of the approach: the host or another process changing the folder meanwhile is
//! seen only at the next load; two instances extending the same file at once may count the
//! growth twice, and a file unlinked while still open counts what it grows afterwards; both
//! err towards "fuller" and are corrected by the next load's walk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use anyhow::Result;
use cap_std::fs::Dir;
use wasmtime::component::{Linker, LinkerInstance, Resource, ResourceTable};
use wasmtime::StoreContextMut;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, DescriptorStat, DescriptorType, ErrorCode, HostDescriptor, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p2::bindings::io::streams::{self, HostOutputStream};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::shadow::{answer, shadow, to_guest, FILESYSTEM_TYPES, IO_STREAMS};
use crate::config::Quota;

/// The interface wasmtime-wasi 48 links `wasi:filesystem/preopens` under.
const FILESYSTEM_PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// Deepest folder level the load-time walk descends to.
const WALK_DEPTH: usize = 64;
/// Most entries the walk visits whatever the quota.
const WALK_MAX: u64 = 10_000_000;
/// Most bytes one `write-zeroes` to a counted file may ask for.
const MAX_ZEROES: u64 = 1024 * 1024;

/// What the quota's shadows need of an instance's store data: wasmtime-wasi's view and the
/// instance's [`Tracker`]. A trait of this module's own (wasmtime-wasi's view pattern), so
/// that `runtime` never names the WSGI store that implements it.
pub trait QuotaView: wasmtime_wasi::WasiView + Send + 'static {
    fn quota(&mut self) -> &mut Tracker;
}

/// One folder under a quota, shared by every instance of its site.
#[derive(Debug)]
pub struct Area {
    /// Where the guest sees it (`/tmp`, a data folder's guest path).
    guest: String,
    quota: Quota,
    bytes: AtomicU64,
    files: AtomicU64,
    /// Calls refused for the quota.
    refused: AtomicU64,
    /// The load-time walk stopped at its bound: the folder holds at least what it counted.
    partial: bool,
}

/// An area's numbers, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub mount: String,
    pub bytes: u64,
    pub files: u64,
    pub max_bytes: u64,
    pub max_files: u64,
    pub refused: u64,
    pub partial: bool,
}

impl Area {
    /// A folder known to be empty (a fresh scratch folder).
    pub fn empty(guest: &str, quota: Quota) -> Arc<Area> {
        Arc::new(Area::with(guest, quota, Walked::default()))
    }

    /// A folder measured now by walking it through its handle.
    pub fn measure(dir: &Dir, guest: &str, quota: Quota) -> Arc<Area> {
        let walked = walk(dir, quota.files.saturating_add(1).min(WALK_MAX));
        Arc::new(Area::with(guest, quota, walked))
    }

    fn with(guest: &str, quota: Quota, walked: Walked) -> Area {
        Area {
            guest: guest.to_owned(),
            quota,
            bytes: AtomicU64::new(walked.bytes),
            files: AtomicU64::new(walked.files),
            refused: AtomicU64::new(0),
            partial: walked.partial,
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            mount: self.guest.clone(),
            bytes: self.bytes.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            max_bytes: self.quota.bytes,
            max_files: self.quota.files,
            refused: self.refused.load(Ordering::Relaxed),
            partial: self.partial,
        }
    }

    /// Takes `n` more bytes, unless that goes past the quota (nothing is always allowed).
    fn reserve_bytes(&self, n: u64) -> bool {
        self.reserve(&self.bytes, self.quota.bytes, n)
    }

    fn reserve_files(&self, n: u64) -> bool {
        self.reserve(&self.files, self.quota.files, n)
    }

    fn reserve(&self, counter: &AtomicU64, max: u64, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        let taken = counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                now.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok();
        if !taken {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(mount = %self.guest, "quota reached: refused");
        }
        taken
    }

    fn add_bytes(&self, delta: i128) {
        adjust(&self.bytes, delta);
    }

    fn add_files(&self, delta: i128) {
        adjust(&self.files, delta);
    }

    /// What an entry `stat` describes takes from the area: its bytes and one entry.
    fn release(&self, stat: &DescriptorStat) {
        self.add_files(-1);
        if stat.type_ == DescriptorType::RegularFile {
            self.add_bytes(-i128::from(stat.size));
        }
    }
}

/// Adds `delta` to `counter`, staying within 0..=u64::MAX.
fn adjust(counter: &AtomicU64, delta: i128) {
    if delta == 0 {
        return;
    }
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
        Some((i128::from(now) + delta).clamp(0, i128::from(u64::MAX)) as u64)
    });
}

#[derive(Debug, Default)]
struct Walked {
    bytes: u64,
    files: u64,
    partial: bool,
}

/// Counts the entries beneath `root` and the lengths of its regular files, visiting at most
/// `max_entries` entries and `WALK_DEPTH` levels; symlinks are counted, never followed.
fn walk(root: &Dir, max_entries: u64) -> Walked {
    let mut walked = Walked::default();
    let mut pending: Vec<(PathBuf, usize)> = vec![(PathBuf::new(), 0)];
    while let Some((path, depth)) = pending.pop() {
        let opened = if depth == 0 {
            root.try_clone()
        } else {
            root.open_dir(&path)
        };
        let Ok(entries) = opened.and_then(|dir| dir.entries()) else {
            continue;
        };
        for entry in entries.flatten() {
            if walked.files >= max_entries {
                walked.partial = true;
                return walked;
            }
            walked.files += 1;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_file() {
                if let Ok(meta) = entry.metadata() {
                    walked.bytes = walked.bytes.saturating_add(meta.len());
                }
            } else if kind.is_dir() {
                if depth + 1 < WALK_DEPTH {
                    pending.push((path.join(entry.file_name()), depth + 1));
                } else {
                    walked.partial = true;
                }
            }
        }
    }
    walked
}

/// What one store knows of its guest's handles into areas.
#[derive(Default)]
pub struct Tracker {
    /// The site's areas, in the order of [`Tracker::new`].
    areas: Vec<Arc<Area>>,
    /// Guest paths of the areas' preopens → area.
    mounts: Vec<(String, usize)>,
    /// Descriptor (resource index) → the area it was opened beneath. Every descriptor is
    /// made by `get-directories` or `open-at`, which set or clear its entry.
    descriptors: HashMap<u32, usize>,
    /// Output stream (resource index) → the file it writes, for streams made by
    /// `write-via-stream`/`append-via-stream` on a descriptor of an area.
    streams: HashMap<u32, Stream>,
    /// Size of `streams` when its dead entries were last dropped.
    pruned_at: usize,
}

struct Stream {
    area: usize,
    /// The stream's file; dead once the guest closed both the file and the stream.
    file: Weak<std::fs::File>,
    /// The position it writes at; `None`: it appends.
    at: Option<u64>,
}

impl Tracker {
    /// A tracker of `areas`, each preopened at its guest path.
    pub fn new(areas: &[Arc<Area>]) -> Tracker {
        Tracker {
            mounts: areas
                .iter()
                .enumerate()
                .map(|(index, area)| (area.guest.clone(), index))
                .collect(),
            areas: areas.to_vec(),
            ..Tracker::default()
        }
    }

    fn area_of(&self, descriptor: u32) -> Option<(usize, Arc<Area>)> {
        let index = *self.descriptors.get(&descriptor)?;
        Some((index, self.areas[index].clone()))
    }

    fn note_stream(&mut self, stream: u32, stream_info: Stream) {
        if self.streams.len() >= self.pruned_at.max(32) * 2 {
            self.streams.retain(|_, s| s.file.strong_count() > 0);
            self.pruned_at = self.streams.len();
        }
        self.streams.insert(stream, stream_info);
    }
}

/// Space taken for one write before it runs; settled with what the file really grew by.
pub struct Charge {
    area: Arc<Area>,
    file: Arc<std::fs::File>,
    before: u64,
    reserved: u64,
}

/// A call refused for the quota.
pub struct Full;

fn length(file: &std::fs::File) -> Option<u64> {
    file.metadata().ok().map(|meta| meta.len())
}

impl Charge {
    /// Reserves what taking `file` to `end(length now)` bytes adds. `None` when its length
    /// cannot be read (the call then meets the same error).
    fn begin(
        area: Arc<Area>,
        file: Arc<std::fs::File>,
        end: impl FnOnce(u64) -> u64,
    ) -> Result<Option<Charge>, Full> {
        let Some(before) = length(&file) else {
            return Ok(None);
        };
        let reserved = end(before).saturating_sub(before);
        if !area.reserve_bytes(reserved) {
            return Err(Full);
        }
        Ok(Some(Charge {
            area,
            file,
            before,
            reserved,
        }))
    }

    /// Counts the file's real change of length instead of the reservation; a write
    /// (`shrinks` false) never makes the count smaller.
    fn settle(self, shrinks: bool) {
        let after = length(&self.file).unwrap_or(self.before + self.reserved);
        let mut delta = i128::from(after) - i128::from(self.before);
        if !shrinks {
            delta = delta.max(0);
        }
        self.area.add_bytes(delta - i128::from(self.reserved));
    }
}

/// The file a descriptor holds, if it is a file.
fn file_of(table: &ResourceTable, fd: u32) -> wasmtime::Result<Option<Arc<std::fs::File>>> {
    Ok(match table.get(&Resource::<Descriptor>::new_borrow(fd))? {
        Descriptor::File(file) => Some(Arc::clone(&file.file)),
        Descriptor::Dir(_) => None,
    })
}

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

/// Shadows the calls that grow or shrink what a folder holds, in `linker`, which must
/// already hold wasmtime-wasi's own `wasi:filesystem` and `wasi:io` (and `file_io`'s
/// `write`, which calls back here).
pub fn add_to_linker<T: QuotaView>(linker: &mut Linker<T>) -> Result<()> {
    shadow(linker, FILESYSTEM_PREOPENS, "preopens", define_preopens)?;
    shadow(linker, FILESYSTEM_TYPES, "quota calls", define_types)?;
    shadow(linker, IO_STREAMS, "quota stream calls", define_streams)
}

type Answer<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;
type StreamAnswer<T> = wasmtime::Result<(Result<T, streams::StreamError>,)>;
type Store<'a, T> = StoreContextMut<'a, T>;

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

/// `get-directories`, noting which preopens are areas.
async fn get_directories<T: QuotaView>(
    mut store: Store<'_, T>,
) -> wasmtime::Result<(Vec<(Resource<Descriptor>, String)>,)> {
    let state = store.data_mut();
    let dirs = preopens::Host::get_directories(&mut state.filesystem())?;
    let tracker = state.quota();
    for (fd, name) in &dirs {
        match tracker.mounts.iter().find(|(guest, _)| guest == name) {
            Some(&(_, index)) => tracker.descriptors.insert(fd.rep(), index),
            None => tracker.descriptors.remove(&fd.rep()),
        };
    }
    Ok((dirs,))
}

/// `stat-at` of `path` beneath `fd`: `None` when there is nothing (or it cannot be told).
async fn stat_at<T: QuotaView>(
    state: &mut T,
    fd: u32,
    flags: PathFlags,
    path: &str,
) -> wasmtime::Result<Option<DescriptorStat>> {
    let stat = state
        .filesystem()
        .stat_at(Resource::new_borrow(fd), flags, path.to_owned())
        .await;
    Ok(answer(stat)?.ok())
}

async fn open_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    path_flags: PathFlags,
    path: String,
    oflags: OpenFlags,
    flags: DescriptorFlags,
) -> Answer<Resource<Descriptor>> {
    let state = store.data_mut();
    let area = state.quota().area_of(fd);
    let mut before = None;
    let mut reserved = false;
    if let Some((_, area)) = &area {
        if oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE) {
            before = stat_at(state, fd, path_flags, &path).await?;
        }
        if oflags.contains(OpenFlags::CREATE) && before.is_none() {
            if !area.reserve_files(1) {
                return Ok((Err(ErrorCode::InsufficientSpace),));
            }
            reserved = true;
        }
    }
    let opened = state
        .filesystem()
        .open_at(Resource::new_borrow(fd), path_flags, path, oflags, flags)
        .await;
    let opened = answer(opened)?;
    match (&opened, area) {
        (Ok(new), Some((index, area))) => {
            state.quota().descriptors.insert(new.rep(), index);
            if let Some(stat) = before.filter(|s| s.type_ == DescriptorType::RegularFile) {
                if oflags.contains(OpenFlags::TRUNCATE) {
                    area.add_bytes(-i128::from(stat.size));
                }
            }
        }
        (Ok(new), None) => {
            state.quota().descriptors.remove(&new.rep());
        }
        (Err(_), Some((_, area))) if reserved => area.add_files(-1),
        (Err(_), _) => {}
    }
    Ok((opened,))
}

/// Runs `call`, which makes one entry beneath `fd`, if the area has room for it.
async fn create_entry<T: QuotaView, F>(state: &mut T, fd: u32, call: F) -> Answer<()>
where
    F: AsyncFnOnce(&mut T) -> wasmtime::Result<Result<(), ErrorCode>>,
{
    let area = state.quota().area_of(fd);
    if let Some((_, area)) = &area {
        if !area.reserve_files(1) {
            return Ok((Err(ErrorCode::InsufficientSpace),));
        }
    }
    let made = call(state).await?;
    if let (Err(_), Some((_, area))) = (&made, area) {
        area.add_files(-1);
    }
    Ok((made,))
}

async fn create_directory_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    path: String,
) -> Answer<()> {
    create_entry(store.data_mut(), fd, async |state: &mut T| {
        let made = state
            .filesystem()
            .create_directory_at(Resource::new_borrow(fd), path)
            .await;
        answer(made)
    })
    .await
}

async fn symlink_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    old: String,
    new: String,
) -> Answer<()> {
    create_entry(store.data_mut(), fd, async |state: &mut T| {
        let made = state
            .filesystem()
            .symlink_at(Resource::new_borrow(fd), old, new)
            .await;
        answer(made)
    })
    .await
}

async fn link_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    flags: PathFlags,
    old: String,
    new_fd: u32,
    new: String,
) -> Answer<()> {
    let state = store.data_mut();
    let (from, to) = (state.quota().area_of(fd), state.quota().area_of(new_fd));
    if from.as_ref().map(|a| a.0) != to.as_ref().map(|a| a.0) {
        return Ok((Err(ErrorCode::CrossDevice),));
    }
    let mut taken = 0;
    if let Some((_, area)) = &to {
        let size = match stat_at(state, fd, flags, &old).await? {
            Some(stat) if stat.type_ == DescriptorType::RegularFile => stat.size,
            _ => 0,
        };
        if !area.reserve_files(1) {
            return Ok((Err(ErrorCode::InsufficientSpace),));
        }
        if !area.reserve_bytes(size) {
            area.add_files(-1);
            return Ok((Err(ErrorCode::InsufficientSpace),));
        }
        taken = size;
    }
    let linked = state
        .filesystem()
        .link_at(
            Resource::new_borrow(fd),
            flags,
            old,
            Resource::new_borrow(new_fd),
            new,
        )
        .await;
    let linked = answer(linked)?;
    if let (Err(_), Some((_, area))) = (&linked, to) {
        area.add_files(-1);
        area.add_bytes(-i128::from(taken));
    }
    Ok((linked,))
}

async fn unlink_file_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    path: String,
) -> Answer<()> {
    let state = store.data_mut();
    let area = state.quota().area_of(fd);
    let before = match area {
        Some(_) => stat_at(state, fd, PathFlags::empty(), &path).await?,
        None => None,
    };
    let removed = state
        .filesystem()
        .unlink_file_at(Resource::new_borrow(fd), path)
        .await;
    let removed = answer(removed)?;
    if let (Ok(()), Some((_, area)), Some(stat)) = (&removed, area, before) {
        area.release(&stat);
    }
    Ok((removed,))
}

async fn remove_directory_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    path: String,
) -> Answer<()> {
    let state = store.data_mut();
    let area = state.quota().area_of(fd);
    let removed = state
        .filesystem()
        .remove_directory_at(Resource::new_borrow(fd), path)
        .await;
    let removed = answer(removed)?;
    if let (Ok(()), Some((_, area))) = (&removed, area) {
        area.add_files(-1);
    }
    Ok((removed,))
}

async fn rename_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    old: String,
    new_fd: u32,
    new: String,
) -> Answer<()> {
    let state = store.data_mut();
    let (from, to) = (state.quota().area_of(fd), state.quota().area_of(new_fd));
    if from.as_ref().map(|a| a.0) != to.as_ref().map(|a| a.0) {
        return Ok((Err(ErrorCode::CrossDevice),));
    }
    // What the rename replaces, unless the two names are one file already (then POSIX
    // leaves both).
    let mut replaced = None;
    if to.is_some() {
        replaced = stat_at(state, new_fd, PathFlags::empty(), &new).await?;
        if replaced.is_some() {
            let mut fs = state.filesystem();
            let a = fs
                .metadata_hash_at(Resource::new_borrow(fd), PathFlags::empty(), old.clone())
                .await;
            let b = fs
                .metadata_hash_at(
                    Resource::new_borrow(new_fd),
                    PathFlags::empty(),
                    new.clone(),
                )
                .await;
            if let (Ok(Ok(a)), Ok(Ok(b))) = (answer(a), answer(b)) {
                if (a.lower, a.upper) == (b.lower, b.upper) {
                    replaced = None;
                }
            }
        }
    }
    let renamed = state
        .filesystem()
        .rename_at(
            Resource::new_borrow(fd),
            old,
            Resource::new_borrow(new_fd),
            new,
        )
        .await;
    let renamed = answer(renamed)?;
    if let (Ok(()), Some((_, area)), Some(stat)) = (&renamed, to, replaced) {
        area.release(&stat);
    }
    Ok((renamed,))
}

/// `descriptor.write` (`pwrite`).
async fn write_at<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    bytes: Vec<u8>,
    offset: u64,
) -> Answer<u64> {
    let state = store.data_mut();
    let len = bytes.len() as u64;
    let charge = match state.quota().area_of(fd) {
        Some((_, area)) => match file_of(state.ctx().table, fd)? {
            Some(file) => match Charge::begin(area, file, |_| offset.saturating_add(len)) {
                Ok(charge) => charge,
                Err(Full) => return Ok((Err(ErrorCode::InsufficientSpace),)),
            },
            None => None,
        },
        None => None,
    };
    let written = state
        .filesystem()
        .write(Resource::new_borrow(fd), bytes, offset)
        .await;
    if let Some(charge) = charge {
        charge.settle(false);
    }
    Ok((answer(written)?,))
}

/// `descriptor.set-size` (`ftruncate`).
async fn set_size<T: QuotaView>(mut store: Store<'_, T>, fd: u32, size: u64) -> Answer<()> {
    let state = store.data_mut();
    let charge = match state.quota().area_of(fd) {
        Some((_, area)) => match file_of(state.ctx().table, fd)? {
            Some(file) => match Charge::begin(area, file, |_| size) {
                Ok(charge) => charge,
                Err(Full) => return Ok((Err(ErrorCode::InsufficientSpace),)),
            },
            None => None,
        },
        None => None,
    };
    let done = state
        .filesystem()
        .set_size(Resource::new_borrow(fd), size)
        .await;
    if let Some(charge) = charge {
        charge.settle(true);
    }
    Ok((answer(done)?,))
}

/// `write-via-stream` (`at`: its offset) or `append-via-stream` (`at` `None`), noting the
/// stream when it writes a file of an area.
async fn open_stream<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    at: Option<u64>,
) -> Answer<Resource<DynOutputStream>> {
    let state = store.data_mut();
    let opened = match at {
        Some(offset) => state
            .filesystem()
            .write_via_stream(Resource::new_borrow(fd), offset),
        None => state
            .filesystem()
            .append_via_stream(Resource::new_borrow(fd)),
    };
    let opened = answer(opened)?;
    if let Ok(stream) = &opened {
        match state.quota().area_of(fd) {
            Some((area, _)) => {
                if let Some(file) = file_of(state.ctx().table, fd)? {
                    let noted = Stream {
                        area,
                        file: Arc::downgrade(&file),
                        at,
                    };
                    state.quota().note_stream(stream.rep(), noted);
                }
            }
            None => {
                state.quota().streams.remove(&stream.rep());
            }
        }
    }
    Ok((opened,))
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

async fn blocking_write<T: QuotaView>(
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

async fn write_zeroes<T: QuotaView>(
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
async fn splice<T: QuotaView>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_walk_counts_file_lengths_and_entries_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a"), vec![1; 1000]).unwrap();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::write(root.join("sub/deeper/b"), vec![2; 24]).unwrap();
        // Sparse: its length counts, not its blocks.
        let sparse = std::fs::File::create(root.join("sparse")).unwrap();
        sparse.set_len(1 << 20).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![0; 5000]).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let handle = Dir::open_ambient_dir(root, cap_std::ambient_authority()).unwrap();
        let quota = Quota {
            bytes: u64::MAX,
            files: 100,
        };
        let usage = Area::measure(&handle, "/data", quota).usage();
        assert_eq!(usage.bytes, 1000 + 24 + (1 << 20));
        // a, sub, sub/deeper, sub/deeper/b, sparse, link
        assert_eq!(usage.files, 6);
        assert!(!usage.partial);

        let small = Quota {
            bytes: u64::MAX,
            files: 2,
        };
        let usage = Area::measure(&handle, "/data", small).usage();
        assert_eq!(usage.files, 3, "the walk stops one past the quota");
        assert!(usage.partial);
    }

    #[test]
    fn quota_reservations_stop_at_the_quota_and_nothing_always_fits() {
        let area = Area::empty(
            "/tmp",
            Quota {
                bytes: 100,
                files: 1,
            },
        );
        assert!(area.reserve_bytes(60));
        assert!(!area.reserve_bytes(41));
        assert!(area.reserve_bytes(40));
        assert!(area.reserve_bytes(0));
        assert!(area.reserve_files(1));
        assert!(!area.reserve_files(1));
        area.add_bytes(-1000);
        assert_eq!(area.usage().bytes, 0, "never below zero");
        assert_eq!(area.usage().refused, 2);
    }
}
