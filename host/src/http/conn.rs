//! Before hyper: what a connection may hold, however it behaves. Every state of a client
//! connection has a timer, and no client address holds more than its share of them.
//!
//! | state | timer |
//! |---|---|
//! | accepted, protocol not known yet (no byte, or part of the HTTP/2 preface) | `header_timeout` from the accept, then cut ([`Watch`]) |
//! | HTTP/1, waiting for or reading a head (also kept alive between requests) | `header_timeout` (hyper's `header_read_timeout`) |
//! | HTTP/1, reading a body bound for an app | the site's `body_timeout` (`request_body`) |
//! | HTTP/2, no open stream | `idle_timeout` since the last stream ended (or the preface), then GOAWAY; cut if still open with no stream `header_timeout` later |
//! | HTTP/2, streams open | the server PINGs every `idle_timeout`; no answer within `header_timeout` → closed (hyper) |
//!
//! hyper's auto builder reads the first bytes itself to choose HTTP/1 or HTTP/2, with no
//! timer: [`Watched`] follows those bytes so the first row holds.
//!
//! [`PeerCounts`]: `max_connections_per_ip`, counted per client address (IPv4 address,
//! IPv6 /64, an IPv4-mapped IPv6 address as its IPv4 address). A connection beyond it is
//! closed at once, not queued: queueing would let one client fill `max_connections`.
//! Peers in `trusted_proxies` carry many clients and are not counted.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::FrontConfig;
use crate::config::Network;

/// What the HTTP/2 client connection preface starts with (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const OPENING: u8 = 0;
const HTTP1: u8 = 1;
const HTTP2: u8 = 2;

/// What a connection has shown of itself so far, shared by its socket, its requests and
/// its [`Watch`].
#[derive(Clone)]
pub struct Activity {
    shared: Arc<Shared>,
}

struct Shared {
    epoch: Instant,
    protocol: AtomicU8,
    /// Bytes of the HTTP/2 preface seen so far (while `OPENING`).
    preface: AtomicUsize,
    /// Streams (requests) whose responses are not done.
    streams: AtomicUsize,
    /// When the last stream ended, or HTTP/2 began: milliseconds since `epoch`.
    quiet_since: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    pub fn new() -> Self {
        Activity {
            shared: Arc::new(Shared {
                epoch: Instant::now(),
                protocol: AtomicU8::new(OPENING),
                preface: AtomicUsize::new(0),
                streams: AtomicUsize::new(0),
                quiet_since: AtomicU64::new(0),
            }),
        }
    }

    fn now(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    /// Follows bytes the client sent, until they show the protocol.
    fn saw(&self, bytes: &[u8]) {
        let shared = &self.shared;
        if shared.protocol.load(Ordering::Relaxed) != OPENING {
            return;
        }
        let mut seen = shared.preface.load(Ordering::Relaxed);
        for &byte in bytes {
            if byte != PREFACE[seen] {
                shared.protocol.store(HTTP1, Ordering::Relaxed);
                return;
            }
            seen += 1;
            if seen == PREFACE.len() {
                shared.quiet_since.store(self.now(), Ordering::Relaxed);
                shared.protocol.store(HTTP2, Ordering::Relaxed);
                return;
            }
        }
        shared.preface.store(seen, Ordering::Relaxed);
    }

    /// Resolves once no stream has been open for `grace`, counted from this call.
    async fn quiet_for(self, grace: Duration) {
        let shared = &self.shared;
        let from = self.now();
        loop {
            let since = shared.quiet_since.load(Ordering::Relaxed).max(from);
            let deadline = shared.epoch + Duration::from_millis(since) + grace;
            let now = Instant::now();
            if shared.streams.load(Ordering::Relaxed) == 0 && now >= deadline {
                return;
            }
            let nap = deadline.saturating_duration_since(now);
            tokio::time::sleep(nap.clamp(Duration::from_millis(50), Duration::from_secs(1))).await;
        }
    }

    /// A stream (request) begins; it ends when the guard, and the response body it is
    /// put in, are dropped.
    pub fn stream(&self) -> StreamGuard {
        self.shared.streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            activity: self.clone(),
        }
    }
}

/// One open stream of a connection ([`Activity::stream`]).
pub struct StreamGuard {
    activity: Activity,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let shared = &self.activity.shared;
        shared
            .quiet_since
            .store(self.activity.now(), Ordering::Relaxed);
        shared.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that holds its stream open until it is done.
pub struct Tracked<B> {
    inner: B,
    _stream: StreamGuard,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, stream: StreamGuard) -> Self {
        Tracked {
            inner,
            _stream: stream,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose inbound bytes tell the connection's [`Activity`] which protocol it speaks.
pub struct Watched<I> {
    inner: I,
    activity: Activity,
}

impl<I> Watched<I> {
    pub fn new(inner: I, activity: Activity) -> Self {
        Watched { inner, activity }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            self.activity.saw(&buf.filled()[before..]);
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// What a connection's [`Watch`] decided once one of its timers ran out.
pub enum Expired {
    /// Close it now, without a word (it has not shown a protocol).
    Cut,
    /// Send GOAWAY (graceful shutdown); cut it once `cut` resolves: when it is still open
    /// with no stream for `header_timeout` (a stream that slipped in before the GOAWAY
    /// finishes first).
    GoAway {
        cut: Pin<Box<dyn Future<Output = ()> + Send>>,
    },
}

/// The timers hyper does not run for a connection (see the table above).
pub struct Watch {
    activity: Activity,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Watch {
    pub fn new(activity: &Activity, front: &FrontConfig) -> Self {
        Watch {
            activity: activity.clone(),
            header_timeout: front.header_timeout,
            idle_timeout: front.idle_timeout,
        }
    }

    /// Resolves when a timer of the connection ran out; never, once it speaks HTTP/1.
    pub async fn expired(self) -> Expired {
        let shared = &self.activity.shared;
        loop {
            match shared.protocol.load(Ordering::Relaxed) {
                OPENING => {
                    let deadline = shared.epoch + self.header_timeout;
                    if Instant::now() >= deadline {
                        return Expired::Cut;
                    }
                    // Rechecked often enough to stop watching soon after the protocol shows.
                    let nap = (deadline - Instant::now()).min(Duration::from_millis(250));
                    tokio::time::sleep(nap).await;
                }
                HTTP2 => {
                    let quiet = shared.quiet_since.load(Ordering::Relaxed);
                    let deadline = shared.epoch + Duration::from_millis(quiet) + self.idle_timeout;
                    if shared.streams.load(Ordering::Relaxed) > 0 {
                        // A stream that ends moves `quiet_since` on: look again then at
                        // the latest.
                        tokio::time::sleep(self.idle_timeout.min(Duration::from_secs(1))).await;
                    } else if Instant::now() >= deadline {
                        let (activity, grace) = (self.activity.clone(), self.header_timeout);
                        return Expired::GoAway {
                            cut: Box::pin(activity.quiet_for(grace)),
                        };
                    } else {
                        let nap = (deadline - Instant::now()).min(Duration::from_secs(1));
                        tokio::time::sleep(nap).await;
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        }
    }
}

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
    fn conn_preface_bytes_show_the_protocol() {
        let h1 = Activity::new();
        h1.saw(b"GET / HTTP/1.1\r\n");
        assert_eq!(h1.shared.protocol.load(Ordering::Relaxed), HTTP1);
        let h2 = Activity::new();
        h2.saw(&PREFACE[..10]);
        assert_eq!(h2.shared.protocol.load(Ordering::Relaxed), OPENING);
        h2.saw(&PREFACE[10..]);
        assert_eq!(h2.shared.protocol.load(Ordering::Relaxed), HTTP2);
        let partial = Activity::new();
        partial.saw(b"PRI * HTTP/2.0\r\n\r\nSX");
        assert_eq!(partial.shared.protocol.load(Ordering::Relaxed), HTTP1);
    }

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
