//! [`PeerCounts`]: `max_connections_per_ip`, counted per client address (IPv4 address,
//! IPv6 /64, an IPv4-mapped IPv6 address as its IPv4 address). A connection beyond it is
//! closed at once, not queued: queueing would let one client fill `max_connections`.
//! Peers in `trusted_proxies` carry many clients and are not counted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::FrontConfig;
use crate::config::Network;

/// Open connections per client address (`max_connections_per_ip`), shared by every
/// listener.
#[derive(Default)]
pub struct PeerCounts {
    open: Mutex<HashMap<PeerKey, usize>>,
    /// Connections refused since the last warning, and when that was.
    refused: Mutex<(u64, Option<Instant>)>,
}

/// How often at most the refusals are logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A client address as counted: IPv4 as is, IPv6 by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKey {
    V4(Ipv4Addr),
    V6(u64),
}

impl PeerKey {
    pub fn of(ip: IpAddr) -> PeerKey {
        match ip {
            IpAddr::V4(v4) => PeerKey::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => PeerKey::V4(v4),
                None => PeerKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

impl std::fmt::Display for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerKey::V4(v4) => write!(f, "{v4}"),
            PeerKey::V6(prefix) => {
                let net = std::net::Ipv6Addr::from(u128::from(*prefix) << 64);
                write!(f, "{net}/64")
            }
        }
    }
}

impl PeerCounts {
    /// Counts a new connection from `ip`; `None` (and a warning, at most every 10 s) when
    /// that address already holds `front.max_connections_per_ip`.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        front: &FrontConfig,
        trusted: &[Network],
    ) -> Option<PeerSlot> {
        if trusted.iter().any(|network| network.contains(ip)) {
            return Some(PeerSlot { counts: None });
        }
        let key = PeerKey::of(ip);
        {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let count = open.entry(key).or_insert(0);
            if *count < front.max_connections_per_ip {
                *count += 1;
                return Some(PeerSlot {
                    counts: Some((self.clone(), key)),
                });
            }
        }
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.0 += 1;
        let due = refused.1.is_none_or(|last| last.elapsed() >= WARN_EVERY);
        if due {
            tracing::warn!(
                peer = %key,
                "max_connections_per_ip ({}) reached: new connections from it are closed \
                 ({} refused since the last warning)",
                front.max_connections_per_ip,
                refused.0
            );
            *refused = (0, Some(Instant::now()));
        }
        None
    }

    /// Connections open from `ip`'s address (as counted).
    #[cfg(test)]
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&PeerKey::of(ip)).copied().unwrap_or(0)
    }
}

/// One counted connection; dropped when it closes.
pub struct PeerSlot {
    counts: Option<(Arc<PeerCounts>, PeerKey)>,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Some((counts, key)) = self.counts.take() {
            let mut open = counts.open.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = open.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_peers_are_counted_per_address_and_per_ipv6_64() {
        let counts = Arc::new(PeerCounts::default());
        let front = FrontConfig {
            max_connections_per_ip: 2,
            ..FrontConfig::default()
        };
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let first = counts.admit(a, &front, &[]).unwrap();
        let _second = counts.admit(b, &front, &[]).unwrap();
        assert!(counts.admit(a, &front, &[]).is_none(), "same /64");
        assert!(counts.admit(other, &front, &[]).is_some(), "another /64");
        drop(first);
        assert!(counts.admit(a, &front, &[]).is_some());
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let _m = counts.admit(mapped, &front, &[]).unwrap();
        let _v = counts.admit(v4, &front, &[]).unwrap();
        assert_eq!(counts.open(v4), 2);
        assert!(counts.admit(v4, &front, &[]).is_none());
        let trusted = ["10.0.0.0/8".parse::<Network>().unwrap()];
        assert!(counts.admit(v4, &front, &trusted).is_some());
    }
}
