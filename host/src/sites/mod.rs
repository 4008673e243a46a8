//! The sites served now: the catalog every request routes through, the router (Host →
//! site), bringing sites up from their builds, and changing them while serving (reload,
//! watch). After `http` on the request path; a routed request goes on to `static_files`,
//! then `wsgi`.

pub mod catalog;
pub mod live;
pub mod reload;
pub mod router;
pub mod watch;
