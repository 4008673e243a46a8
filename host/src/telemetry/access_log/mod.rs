//! Access logs: one line per request, written off the request path.
//!
//! Where it sits: when a response ends (`observe.rs`, the request-end hook), the request's
//! [`Entry`] is handed to [`AccessLog::log`], which only queues it (`handle.rs`): a bounded
//! channel feeds one writer thread (`writer.rs`) that formats the line (`line.rs`) and
//! writes it to the server's log (a file or stdout, `[log] access`) and to the site's own
//! `<site>.access.log` in the `[log] sites` folder (`files.rs`). A slow disk never slows a
//! request.

mod files;
mod handle;
mod line;
mod writer;

pub use handle::AccessLog;
pub use line::Entry;
