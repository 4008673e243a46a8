//! Light requests first: the scheduling of busy guests.
//!
//! Every guest yields to tokio at each epoch tick (1 ms of running), through tokio's
//! `yield_now`, which lets the scheduler poll for I/O before the guest runs again: a guest
//! in a loop never holds a worker thread from other connections. That alone still lets many
//! busy guests take turns ahead of a light request, one slice each. So a guest whose current
//! request has run longer than [`HEAVY_AFTER`] must also wait for the **heavy lane**: a few
//! permits shared by the whole server (half the worker threads, at least one), handed out in
//! FIFO order. A light request then waits behind at most one heavy slice per permit, however
//! many heavy guests there are; heavy guests share what is left fairly among themselves.
//!
//! A permit covers one slice: a timer task holds it for one tick and drops it, so a heavy
//! guest that blocks (sleeping, waiting for a slow client) never keeps the lane from others.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::engine::EPOCH_TICK;

/// CPU time within one request after which a guest counts as heavy.
pub const HEAVY_AFTER: Duration = Duration::from_millis(10);

fn heavy_lane() -> &'static Arc<Semaphore> {
    static LANE: OnceLock<Arc<Semaphore>> = OnceLock::new();
    LANE.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Semaphore::new((workers / 2).max(1)))
    })
}

/// What a guest does at an epoch tick, given how long its request has run: yield to the
/// scheduler and, when heavy, wait its turn in the heavy lane.
pub fn yield_guest(ran: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    if ran <= HEAVY_AFTER {
        return Box::pin(tokio::task::yield_now());
    }
    Box::pin(async {
        tokio::task::yield_now().await;
        if let Ok(permit) = heavy_lane().clone().acquire_owned().await {
            tokio::spawn(async move {
                tokio::time::sleep(EPOCH_TICK).await;
                drop(permit);
            });
        }
    })
}
