//! Reloads without a restart: the reloader thread decides what changed and swaps the
//! catalog's table (`catalog.rs`), while requests keep being served from the old one. Builds
//! never run here: each is a build process (`build::child`), awaited on the server's runtime,
//! whose outcome comes back to this thread as a trigger. So a slow or stuck build delays
//! nothing but its own site: other sites' reloads, code changes and builds go on.
//!
//! The parts: asking the reloader ([`Handle`], `handle.rs`); the reloader's settings and
//! state (`state.rs`); its thread, looping over the triggers (`thread.rs`); planning what a
//! trigger changes (`plan.rs`); swapping the sites in and reporting them (`apply.rs`).

mod apply;
mod handle;
mod plan;
mod state;
mod thread;

pub use apply::record_loaded;
pub use handle::Handle;
pub use state::{LoadServer, Reloader};
