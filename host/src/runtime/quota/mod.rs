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
//! The parts: what is counted per folder (`area.rs`); what one store knows of its guest's
//! handles into areas, and the charge of one write (`tracker.rs`); the shadowed
//! `wasi:filesystem` calls (`filesystem.rs`) and output-stream calls (`streams.rs`); linking
//! them over wasmtime-wasi's own (`linker.rs`).

mod area;
mod filesystem;
mod linker;
mod streams;
mod tracker;

pub use area::{Area, Usage};
pub use linker::add_to_linker;
pub use streams::{after_stream_write, before_stream_write, stream_full};
pub use tracker::{Full, QuotaView, Tracker};
