//! The front end: listeners, one connection, and the front checks every request passes
//! before a site sees it. First on the request path; it hands a checked request to `sites`.
//!
//! - [`listen`]: the accept loop (hyper h1/h2c), shared with the admin listener; the
//!   connection caps.
//! - [`conn`]: one connection: a timer for every state, `max_connections_per_ip`.
//! - [`request`]: the steps of one request, and [`state::ServerState`] that every
//!   connection shares.
//! - [`shutdown`]: SIGTERM/SIGINT, draining connections.
//!
//! hyper parses HTTP and enforces the header timeout and head size; everything it leaves to
//! the server is here, in the order `request.rs` applies it:
//!
//! 0. [`sniff`]: a watch on the raw bytes for the ambiguous framing hyper smooths over
//!    (duplicate `Content-Length`, `Content-Length` with `Transfer-Encoding`) → 400.
//! 1. [`checks`]: the head alone (Host, request-target form, framing headers, line sizes)
//!    → 400/405/414/431/501 before any site is chosen.
//! 2. [`request_body`]: once a request is bound for a site's app, its body is read whole,
//!    bounded by the site's `max_body`, `body_timeout` and memory budget → 413/408/503,
//!    before the request waits for one of the site's instances.
//! 3. [`forwarded`]: `REMOTE_ADDR` from `X-Forwarded-For`/`X-Real-IP`, only when the TCP
//!    peer is one of the configured `trusted_proxies`.
//!
//! Every refusal is a [`refusal::Refusal`]: the client gets the fixed page for its status
//! and the connection is closed (its body may be unread); the reason goes to the log with
//! the peer.

pub mod checks;
pub mod conn;
pub mod forwarded;
pub mod listen;
pub mod refusal;
pub mod request;
pub mod request_body;
pub mod shutdown;
pub mod sniff;
pub mod state;
