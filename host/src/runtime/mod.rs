//! The WebAssembly side of the server: its engines, one component per site, and per-site
//! pools of instances that run the guest bridge.

pub mod budget;
pub mod data_lock;
pub mod engine;
pub mod file_io;
pub mod folder;
pub mod fsync;
pub mod lane;
pub mod quota;
pub mod readdir;
pub mod shadow;

pub use engine::{create_engines, load_component, Engines};
