//! The WebAssembly side of the server: one engine, one component per site, and per-site
//! pools of instances that run the guest bridge.

pub mod bindings;
pub mod budget;
pub mod data_lock;
pub mod engine;
pub mod lane;
pub mod pool;
pub mod store;

pub use engine::{create_engine, load_component};
pub use pool::SitePool;
pub use store::Sandbox;
