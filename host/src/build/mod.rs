//! Site builds: from a site folder to a component the runtime can load, cached by content
//! hash so an unchanged site is never rebuilt (see `site.rs` for the steps).

pub mod hash;
pub mod native;
pub mod site;
pub mod sources;
pub mod toolchain;

pub use site::{build, cached, hash_inputs, lock_site, package_folders, Sources};
pub use toolchain::Toolchain;
