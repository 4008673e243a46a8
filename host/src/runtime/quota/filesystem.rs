//! The shadowed `wasi:filesystem` calls: `get-directories` (noting which preopens are
//! areas), `open-at` with create or truncate, the calls that make, link, remove or rename an
//! entry, `write`, `set-size`, and opening a stream onto a file (whose writes `streams.rs`
//! counts). Each checks the quota of the descriptor's [`Area`], then calls wasmtime-wasi's
//! own implementation; linked by `linker.rs`.
//!
//! The counters follow the calls: a write or size change adds the file's growth as measured
//! by `fstat` before and after; an open with `truncate` subtracts the old length; an unlink,
//! a folder removal and a rename over an existing entry subtract what went. Renames and hard
//! links between two folders are refused with `cross-device` (`EXDEV`), as between mounts.
//!
//! Limits of the approach: the host or another process changing the folder meanwhile is
//! seen only at the next load; two instances extending the same file at once may count the
//! growth twice, and a file unlinked while still open counts what it grows afterwards; both
//! err towards "fuller" and are corrected by the next load's walk.
//!
//! [`Area`]: super::area::Area

use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, DescriptorStat, DescriptorType, ErrorCode, HostDescriptor, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p2::DynOutputStream;

use super::tracker::{Charge, Full, QuotaView, Store, Stream};
use crate::runtime::shadow::answer;

type Answer<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;

/// The file a descriptor holds, if it is a file.
fn file_of(table: &ResourceTable, fd: u32) -> wasmtime::Result<Option<Arc<std::fs::File>>> {
    Ok(match table.get(&Resource::<Descriptor>::new_borrow(fd))? {
        Descriptor::File(file) => Some(Arc::clone(&file.file)),
        Descriptor::Dir(_) => None,
    })
}

/// `get-directories`, noting which preopens are areas.
pub(super) async fn get_directories<T: QuotaView>(
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

pub(super) async fn open_at<T: QuotaView>(
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

pub(super) async fn create_directory_at<T: QuotaView>(
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

pub(super) async fn symlink_at<T: QuotaView>(
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

pub(super) async fn link_at<T: QuotaView>(
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

pub(super) async fn unlink_file_at<T: QuotaView>(
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

pub(super) async fn remove_directory_at<T: QuotaView>(
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

pub(super) async fn rename_at<T: QuotaView>(
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
pub(super) async fn write_at<T: QuotaView>(
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
pub(super) async fn set_size<T: QuotaView>(
    mut store: Store<'_, T>,
    fd: u32,
    size: u64,
) -> Answer<()> {
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
pub(super) async fn open_stream<T: QuotaView>(
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
