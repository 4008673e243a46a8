//! Step 8 of the pipeline: turn a `Range` header into the byte ranges to send.
//!
//! Syntax is checked by `http-range-header`; its `validate` is not used because it refuses
//! overlaps and out-of-bounds suffixes that RFC 9110 §14.1.2 accepts. The policy here:
//! * a malformed header, a range unit other than `bytes`, or a reversed range (`5-2`) is
//!   ignored (200 with the whole representation), as RFC 9110 allows;
//! * more than [`MAX_RANGES`] ranges: ignored likewise (200), a cheap guard against
//!   requests built to multiply the response;
//! * ranges starting at or past the end are dropped; if none is left → 416;
//! * the rest are sorted and overlapping or adjacent ones coalesced, so the bytes sent
//!   never exceed the representation's size whatever the request asked for.

use http_range_header::{EndPosition, StartPosition};

/// The most ranges one request may ask for before the header is ignored.
pub const MAX_RANGES: usize = 16;

/// An inclusive byte range `first..=last` of the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// The `Content-Range` value for a representation of `size` bytes.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{}", self.first, self.last, size)
    }
}

/// What to send for a `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangePlan {
    /// 200 with the whole representation.
    Full,
    /// 206 with these ranges: sorted, disjoint, non-adjacent, never empty.
    Partial(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Plans the answer to the `Range` header value `header` for `size` bytes.
pub fn plan(header: &str, size: u64) -> RangePlan {
    let Ok(parsed) = http_range_header::parse_range_header(header.trim()) else {
        return RangePlan::Full;
    };
    if parsed.ranges.len() > MAX_RANGES {
        return RangePlan::Full;
    }
    let mut ranges = Vec::with_capacity(parsed.ranges.len());
    for spec in &parsed.ranges {
        let (first, last) = match (spec.start, spec.end) {
            // `-N`: the final N bytes (all of them when N exceeds the size).
            (StartPosition::FromLast(n), _) => {
                if n == 0 || size == 0 {
                    continue;
                }
                (size.saturating_sub(n), size - 1)
            }
            (StartPosition::Index(first), EndPosition::LastByte) => (first, u64::MAX),
            (StartPosition::Index(first), EndPosition::Index(last)) => {
                if last < first {
                    return RangePlan::Full;
                }
                (first, last)
            }
        };
        if first >= size {
            continue;
        }
        ranges.push(ByteRange {
            first,
            last: last.min(size - 1),
        });
    }
    if ranges.is_empty() {
        return RangePlan::Unsatisfiable;
    }
    RangePlan::Partial(coalesce(ranges))
}

/// Sorts the ranges and merges the ones that overlap or touch.
fn coalesce(mut ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    ranges.sort_by_key(|r| r.first);
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(prev) if range.first <= prev.last.saturating_add(1) => {
                prev.last = prev.last.max(range.last);
            }
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: u64, last: u64) -> ByteRange {
        ByteRange { first, last }
    }

    #[test]
    fn static_range_plans() {
        assert_eq!(plan("bytes=0-9", 100), RangePlan::Partial(vec![r(0, 9)]));
        assert_eq!(plan("bytes=90-", 100), RangePlan::Partial(vec![r(90, 99)]));
        assert_eq!(plan("bytes=-10", 100), RangePlan::Partial(vec![r(90, 99)]));
        assert_eq!(plan("bytes=-500", 100), RangePlan::Partial(vec![r(0, 99)]));
        assert_eq!(
            plan("bytes=50-500", 100),
            RangePlan::Partial(vec![r(50, 99)])
        );
        assert_eq!(
            plan("bytes=0-0,-1", 100),
            RangePlan::Partial(vec![r(0, 0), r(99, 99)])
        );
        assert_eq!(
            plan("bytes=20-29, 0-9", 100),
            RangePlan::Partial(vec![r(0, 9), r(20, 29)])
        );
    }

    #[test]
    fn static_range_coalesces_overlaps() {
        assert_eq!(
            plan("bytes=0-9,5-19", 100),
            RangePlan::Partial(vec![r(0, 19)])
        );
        assert_eq!(
            plan("bytes=0-9,10-19", 100),
            RangePlan::Partial(vec![r(0, 19)])
        );
        assert_eq!(
            plan("bytes=0-,0-,0-,0-", 100),
            RangePlan::Partial(vec![r(0, 99)])
        );
        assert_eq!(
            plan("bytes=30-39,0-4,2-3,35-50", 100),
            RangePlan::Partial(vec![r(0, 4), r(30, 50)])
        );
    }

    #[test]
    fn static_range_unsatisfiable_and_ignored() {
        assert_eq!(plan("bytes=100-", 100), RangePlan::Unsatisfiable);
        assert_eq!(plan("bytes=100-200,300-", 100), RangePlan::Unsatisfiable);
        assert_eq!(plan("bytes=-5", 0), RangePlan::Unsatisfiable);
        assert_eq!(plan("bytes=0-", 0), RangePlan::Unsatisfiable);
        // A satisfiable range among unsatisfiable ones is served.
        assert_eq!(
            plan("bytes=200-300,5-6", 100),
            RangePlan::Partial(vec![r(5, 6)])
        );
        assert_eq!(plan("bytes=9-5", 100), RangePlan::Full);
        assert_eq!(plan("bytes=abc", 100), RangePlan::Full);
        assert_eq!(plan("items=0-5", 100), RangePlan::Full);
        assert_eq!(plan("bytes=", 100), RangePlan::Full);
        assert_eq!(plan("bytes=-0", 100), RangePlan::Full);
        let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert_eq!(
            plan(&format!("bytes={}", many.join(",")), 100),
            RangePlan::Full
        );
        let sixteen: Vec<String> = (0..16).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert!(
            matches!(plan(&format!("bytes={}", sixteen.join(",")), 100), RangePlan::Partial(v) if v.len() == 16)
        );
    }
}
