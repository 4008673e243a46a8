//! Site builds: from a site folder to a component the runtime can load, cached by content
//! hash so an unchanged site is never rebuilt. The server decides what to build (`plan.rs`,
//! `artifact.rs`); each build runs in a process of its own, bounded in time and memory
//! (`child.rs` starts it, `worker.rs` is its entry point, `site.rs` its steps).

pub mod artifact;
pub mod child;
pub mod error;
pub mod failures;
pub mod hash;
pub mod native;
pub mod plan;
pub mod process;
pub mod requirements;
pub mod site;
pub mod sources;
pub mod toolchain;
pub mod tree;
pub mod vendor;
pub mod worker;

pub use artifact::{cached, package_folders, Artifact};
pub use plan::{Plan, Sources};
pub use site::Built;
