//! wasmtime without WSGI: the engines and compiled components, the site's memory budget,
//! the CPU lanes, the data lock, and the WASI shadows that change a few of wasmtime-wasi's
//! calls (folder listings, fsync, file I/O, disk quotas). The WSGI side of an instance (its
//! store, its pool) is in `wsgi/`; the shadows reach the store only through the view traits
//! they define.

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
