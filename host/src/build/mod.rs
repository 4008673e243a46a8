//! Site builds: from a site folder to a component the runtime can load, cached by content
//! hash so an unchanged site is never rebuilt (see `site.rs` for the steps).

pub mod hash;
pub mod sources;
pub mod site;
pub mod toolchain;

pub use site::{build, cached, hash_inputs, Artifact, Sources};
pub use toolchain::Toolchain;
