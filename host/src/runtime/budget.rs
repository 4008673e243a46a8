//! A site's memory budget: its instances' linear memories and the host-side buffers held
//! for it (buffered request bodies, response bytes waiting for a slow client) draw from one
//! pool of bytes, `memory × instances`. This is how buffering limits map to the sandbox's
//! memory cap: a site can never make the host hold more for it than it could hold itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bytes one site may hold at once.
#[derive(Debug)]
pub struct MemoryBudget {
    used: AtomicU64,
    cap: u64,
}

/// Bytes taken from a budget; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl MemoryBudget {
    pub fn new(cap: u64) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicU64::new(0),
            cap,
        })
    }

    /// Takes `bytes` if they fit, else `None` (the site is over its budget: 503).
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        self.take(bytes).then(|| Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// The bytes held now (for the admin side).
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes the site may hold.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.cap)
            })
            .is_ok()
    }

    fn give(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl Reservation {
    /// Grows the reservation by `more` bytes if they fit; false leaves it as it was.
    pub fn grow(&mut self, more: u64) -> bool {
        let grown = self.budget.take(more);
        if grown {
            self.bytes += more;
        }
        grown
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryBudget;

    #[test]
    fn budget_reservations_fit_the_cap_and_are_given_back() {
        let budget = MemoryBudget::new(100);
        let mut first = budget.try_reserve(60).expect("fits");
        assert!(budget.try_reserve(50).is_none(), "60 + 50 is over 100");
        assert!(!first.grow(41));
        assert!(first.grow(40));
        assert!(budget.try_reserve(1).is_none(), "the cap is reached");
        drop(first);
        assert!(
            budget.try_reserve(100).is_some(),
            "everything was given back"
        );
    }
}
