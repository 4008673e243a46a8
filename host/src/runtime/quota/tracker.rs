//! What one instance's store knows of its guest's handles into areas ([`Tracker`]: which
//! descriptors and output streams reach which [`Area`]), the view of the store the shadows
//! get ([`QuotaView`]), and the [`Charge`] of one write: space reserved before it runs,
//! settled with what the file really grew by after.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use wasmtime::StoreContextMut;

use super::area::Area;

/// What the quota's shadows need of an instance's store data: wasmtime-wasi's view and the
/// instance's [`Tracker`]. A trait of this module's own (wasmtime-wasi's view pattern), so
/// that `runtime` never names the WSGI store that implements it.
pub trait QuotaView: wasmtime_wasi::WasiView + Send + 'static {
    fn quota(&mut self) -> &mut Tracker;
}

pub(super) type Store<'a, T> = StoreContextMut<'a, T>;

/// What one store knows of its guest's handles into areas.
#[derive(Default)]
pub struct Tracker {
    /// The site's areas, in the order of [`Tracker::new`].
    pub(super) areas: Vec<Arc<Area>>,
    /// Guest paths of the areas' preopens → area.
    pub(super) mounts: Vec<(String, usize)>,
    /// Descriptor (resource index) → the area it was opened beneath. Every descriptor is
    /// made by `get-directories` or `open-at`, which set or clear its entry.
    pub(super) descriptors: HashMap<u32, usize>,
    /// Output stream (resource index) → the file it writes, for streams made by
    /// `write-via-stream`/`append-via-stream` on a descriptor of an area.
    pub(super) streams: HashMap<u32, Stream>,
    /// Size of `streams` when its dead entries were last dropped.
    pruned_at: usize,
}

pub(super) struct Stream {
    pub(super) area: usize,
    /// The stream's file; dead once the guest closed both the file and the stream.
    pub(super) file: Weak<std::fs::File>,
    /// The position it writes at; `None`: it appends.
    pub(super) at: Option<u64>,
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

    pub(super) fn area_of(&self, descriptor: u32) -> Option<(usize, Arc<Area>)> {
        let index = *self.descriptors.get(&descriptor)?;
        Some((index, self.areas[index].clone()))
    }

    pub(super) fn note_stream(&mut self, stream: u32, stream_info: Stream) {
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
    pub(super) fn begin(
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
    pub(super) fn settle(self, shrinks: bool) {
        let after = length(&self.file).unwrap_or(self.before + self.reserved);
        let mut delta = i128::from(after) - i128::from(self.before);
        if !shrinks {
            delta = delta.max(0);
        }
        self.area.add_bytes(delta - i128::from(self.reserved));
    }
}
