//! A site's recent history for the status page: requests and 5xx answers per bucket of
//! [`SERIES_STEP`] seconds, the last [`SERIES_LEN`] buckets, recorded lock-free on the
//! request path (`Metrics::observe_request`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Seconds per bucket of the status page's history.
pub const SERIES_STEP: u64 = 5;
/// Buckets in the status page's history (5 minutes).
pub const SERIES_LEN: usize = 60;

/// One bucket of a site's history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Point {
    pub requests: u64,
    pub errors: u64,
}

/// Requests and errors per bucket, in a ring of [`SERIES_LEN`] slots. Each slot packs the
/// bucket it counts (high 32 bits) with its count (low 32 bits), so a request landing in a
/// new bucket resets the slot in the same atomic step that counts it.
pub struct Series {
    requests: [AtomicU64; SERIES_LEN],
    errors: [AtomicU64; SERIES_LEN],
}

impl Default for Series {
    fn default() -> Self {
        Series {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Series {
    pub fn record(&self, tick: u64, error: bool) {
        let slot = tick as usize % SERIES_LEN;
        bump(&self.requests[slot], tick);
        if error {
            bump(&self.errors[slot], tick);
        }
    }

    /// The buckets up to `now`, oldest first.
    pub fn read(&self, now: u64) -> Vec<Point> {
        (0..SERIES_LEN as u64)
            .rev()
            .map(|back| {
                let Some(tick) = now.checked_sub(back).filter(|t| *t > 0) else {
                    return Point::default();
                };
                let slot = tick as usize % SERIES_LEN;
                Point {
                    requests: count_at(&self.requests[slot], tick),
                    errors: count_at(&self.errors[slot], tick),
                }
            })
            .collect()
    }
}

const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

fn bump(slot: &AtomicU64, tick: u64) {
    let stamp = tick & COUNT_MASK;
    let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
        Some(if packed >> COUNT_BITS == stamp {
            (stamp << COUNT_BITS) | (packed & COUNT_MASK).saturating_add(1).min(COUNT_MASK)
        } else {
            (stamp << COUNT_BITS) | 1
        })
    });
}

fn count_at(slot: &AtomicU64, tick: u64) -> u64 {
    let packed = slot.load(Ordering::Relaxed);
    if packed >> COUNT_BITS == tick & COUNT_MASK {
        packed & COUNT_MASK
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_series_counts_per_bucket_and_forgets_old_ones() {
        let series = Series::default();
        series.record(3, false);
        series.record(3, true);
        series.record(4, false);
        let read = series.read(4);
        assert_eq!(read.len(), SERIES_LEN);
        assert_eq!(
            read[SERIES_LEN - 2],
            Point {
                requests: 2,
                errors: 1
            }
        );
        assert_eq!(
            read[SERIES_LEN - 1],
            Point {
                requests: 1,
                errors: 0
            }
        );
        // A full turn later the slot of bucket 3 counts bucket 3 + SERIES_LEN from zero.
        let later = 3 + SERIES_LEN as u64;
        series.record(later, false);
        let read = series.read(later);
        assert_eq!(
            read[SERIES_LEN - 1],
            Point {
                requests: 1,
                errors: 0
            }
        );
        assert_eq!(
            read[SERIES_LEN - 2],
            Point::default(),
            "bucket 3 + LEN - 1 had none"
        );
        assert_eq!(read[0].requests, 1, "bucket 4 is the oldest shown");
        let total: u64 = read.iter().map(|p| p.requests).sum();
        assert_eq!(total, 2, "bucket 3's two requests are forgotten: {read:?}");
    }
}
