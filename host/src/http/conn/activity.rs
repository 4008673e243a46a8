//! What a connection has shown of itself so far ([`Activity`]): the protocol its first
//! bytes name, and its open streams, held by each response body ([`Tracked`]) until it is
//! done. The connection's timers (`watch.rs`) read it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body, Frame, SizeHint};

/// What the HTTP/2 client connection preface starts with (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub(super) const OPENING: u8 = 0;
const HTTP1: u8 = 1;
pub(super) const HTTP2: u8 = 2;

/// What a connection has shown of itself so far, shared by its socket, its requests and
/// its [`Watch`].
///
/// [`Watch`]: super::watch::Watch
#[derive(Clone)]
pub struct Activity {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) epoch: Instant,
    pub(super) protocol: AtomicU8,
    /// Bytes of the HTTP/2 preface seen so far (while `OPENING`).
    preface: AtomicUsize,
    /// Streams (requests) whose responses are not done.
    pub(super) streams: AtomicUsize,
    /// When the last stream ended, or HTTP/2 began: milliseconds since `epoch`.
    pub(super) quiet_since: AtomicU64,
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
    pub(super) fn saw(&self, bytes: &[u8]) {
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
    pub(super) async fn quiet_for(self, grace: Duration) {
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
}
