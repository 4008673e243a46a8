//! The data lock: keeps the requests of a site with writable data (`app.data`) from writing
//! it at the same time.
//!
//! Where it sits: `wsgi::dispatch` takes it for each request through [`SitePool::admit`],
//! after the request's body was read and before the request waits for an instance, so a
//! request held back by the lock holds no instance. The guard lives in the request's own
//! task and is dropped when that task ends, however it ends (clean, app error, trap,
//! timeout, client gone).
//!
//! What a request takes under the site's mode is in `mode.rs`; the lock itself (waiting,
//! its queue, one lock per set of data folders) in `gate.rs`; clearing the stale sqlite
//! locks a discarded instance leaves behind in `stale.rs`.
//!
//! [`SitePool::admit`]: crate::wsgi::pool::SitePool::admit

mod gate;
mod mode;
mod stale;

pub use gate::{DataGate, DataGuard, Locked};
pub use mode::method_of;
