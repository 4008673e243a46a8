//! The timers of a connection that hyper does not run ([`Watch`]), and the socket wrapper
//! that shows them the protocol ([`Watched`]).
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

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::FrontConfig;

use super::activity::{Activity, HTTP2, OPENING};

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
