//! Before hyper: what a connection may hold, however it behaves. Every state of a client
//! connection has a timer (`watch.rs`, from what the connection has shown of itself so far,
//! `activity.rs`), and no client address holds more than its share of them (`peers.rs`).

mod activity;
mod peers;
mod watch;

pub use activity::{Activity, Tracked};
pub use peers::PeerCounts;
pub use watch::{Expired, Watch, Watched};
