//! The WSGI layer of the request path: environ in, response out, through a site's guest.

pub mod bindings;
pub mod crypto;
pub mod dispatch;
pub mod environ;
pub mod file;
pub mod head;
pub mod host;
pub mod io;
pub mod pool;
pub mod store;

pub use dispatch::{dispatch, AppRequest};
