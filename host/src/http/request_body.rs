//! Step 2 of the app path (`request.rs`): the request body, read whole before the request
//! waits for one of the site's instances, so a client trickling its body holds only its own
//! connection and a few bytes of the site's budget, never an instance.
//!
//! - A `Content-Length` over the site's `max_body` → 413 before a byte is read (and before
//!   hyper sends `100 Continue`); a chunked body that grows past it → 413 at once.
//! - The whole body must arrive within the site's `body_timeout` → 408.
//! - The buffer draws from the site's memory budget as it grows (by its capacity, which
//!   at most doubles ahead of the bytes received); the budget exhausted → 503.
//! - A malformed body (bad chunk framing, forbidden trailer fields) → 400. Trailers are
//!   otherwise dropped: WSGI has no place for them.
//!
//! The app then gets the bytes as one `Full` body, and the reservation lives as long as
//! the request does.
//!
//! The exception is a request with `Expect: 100-continue`: its client waits for the app's
//! word before it sends the body, so the body is not read ahead. [`stream`] hands it to the
//! app as it arrives (hyper answers `100 Continue` when the app first reads), under the same
//! `max_body` and `body_timeout`; a body that breaks one fails the app's read with a
//! [`BodyRefused`] carrying the status the client gets.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::time::{timeout_at, Instant, Sleep};

use super::refusal::Refusal;
pub use crate::response::body::BodyRefused;
use crate::runtime::budget::{MemoryBudget, Reservation};

/// The first allocation for a body whose bytes start to arrive.
const FIRST_CAPACITY: u64 = 16 * 1024;

/// Trailer fields that would change how the request is framed, routed or read (RFC 9110
/// §6.5.1); a request carrying one is refused.
const FORBIDDEN_TRAILERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "content-type",
    "content-encoding",
    "content-range",
    "trailer",
    "authorization",
    "cookie",
    "expect",
    "te",
    "connection",
    "x-forwarded-for",
    "x-real-ip",
];

/// The bounds a site puts on request bodies.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_body: u64,
    pub timeout: Duration,
}

/// A body read whole, and the site budget it holds.
#[derive(Debug)]
pub struct Buffered {
    pub bytes: Bytes,
    pub reservation: Reservation,
}

/// Refuses a body whose declared length is already over the limit, without reading it.
pub fn check_declared(declared: Option<u64>, limits: &BodyLimits) -> Result<(), Refusal> {
    match declared {
        Some(length) if length > limits.max_body => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Content-Length {length} is over max_body {}",
                limits.max_body
            ),
        )),
        _ => Ok(()),
    }
}

/// Reads `body` whole within `limits`, reserving its bytes from `budget`.
pub async fn read<B>(
    body: B,
    declared: Option<u64>,
    limits: &BodyLimits,
    budget: &Arc<MemoryBudget>,
) -> Result<Buffered, Refusal>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    check_declared(declared, limits)?;
    let over_budget = |bytes: u64| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the site's memory budget has no room for a body of {bytes} bytes"),
        )
    };
    let mut reservation = budget.try_reserve(0).ok_or_else(|| over_budget(0))?;
    let mut reserved: u64 = 0;
    let mut buffer: Vec<u8> = Vec::new();
    let ceiling = declared.unwrap_or(limits.max_body).min(limits.max_body);
    let deadline = Instant::now() + limits.timeout;
    let mut body = body;
    while !body.is_end_stream() {
        let frame = match timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(Refusal::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "body not received within body_timeout {:?} ({} bytes so far)",
                        limits.timeout,
                        buffer.len()
                    ),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                return Err(Refusal::bad_request(format!("reading the body: {error}")))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    check_trailers(&trailers)?;
                }
                continue;
            }
        };
        let length = buffer.len() as u64 + data.len() as u64;
        if length > limits.max_body {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body grew past max_body {}", limits.max_body),
            ));
        }
        if length > buffer.capacity() as u64 {
            let wanted = (buffer.capacity() as u64 * 2)
                .max(FIRST_CAPACITY)
                .min(ceiling)
                .max(length);
            if !reservation.grow(wanted - reserved) {
                return Err(over_budget(wanted));
            }
            reserved = wanted;
            buffer.reserve_exact((wanted as usize).saturating_sub(buffer.len()));
        }
        buffer.extend_from_slice(&data);
    }
    // The reservation stays at the capacity held, which `Bytes::from` keeps.
    let bytes = Bytes::from(buffer);
    Ok(Buffered { bytes, reservation })
}

/// The body handed to the app as it arrives, bounded by `limits` from now on.
pub fn stream<B>(body: B, limits: &BodyLimits) -> Streamed<B> {
    Streamed {
        body,
        received: 0,
        max_body: limits.max_body,
        timeout: limits.timeout,
        deadline: Box::pin(tokio::time::sleep(limits.timeout)),
        failed: false,
    }
}

/// A request body read by the app as it arrives, within `max_body` and `body_timeout`.
pub struct Streamed<B> {
    body: B,
    received: u64,
    max_body: u64,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    failed: bool,
}

impl<B> Body for Streamed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = crate::response::body::BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let refuse = |this: &mut Self, refusal: Refusal| {
            this.failed = true;
            let refused = BodyRefused {
                status: refusal.status,
                reason: refusal.reason,
            };
            Poll::Ready(Some(Err(Box::new(refused) as Self::Error)))
        };
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if this.received > this.max_body {
                        let reason = format!("body grew past max_body {}", this.max_body);
                        return refuse(this, Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, reason));
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    if let Err(refusal) = check_trailers(trailers) {
                        return refuse(this, refusal);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                let reason = format!("reading the body: {error}");
                refuse(this, Refusal::bad_request(reason))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let reason = format!(
                        "body not received within body_timeout {:?} ({} bytes so far)",
                        this.timeout, this.received
                    );
                    refuse(this, Refusal::new(StatusCode::REQUEST_TIMEOUT, reason))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.body.is_end_stream()
    }
}

fn check_trailers(trailers: &HeaderMap) -> Result<(), Refusal> {
    for name in trailers.keys() {
        if FORBIDDEN_TRAILERS.contains(&name.as_str()) {
            return Err(Refusal::bad_request(format!(
                "forbidden trailer field `{name}`"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::{stream, StreamExt};
    use http_body::Frame;
    use http_body_util::{Full, StreamBody};

    use super::*;

    fn limits(max_body: u64) -> BodyLimits {
        BodyLimits {
            max_body,
            timeout: Duration::from_millis(200),
        }
    }

    fn chunks(
        parts: Vec<&'static [u8]>,
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Unpin>
    {
        StreamBody::new(stream::iter(
            parts
                .into_iter()
                .map(|p| Ok(Frame::data(Bytes::from_static(p)))),
        ))
    }

    #[tokio::test]
    async fn body_is_buffered_and_its_bytes_reserved() {
        let budget = MemoryBudget::new(1 << 20);
        let body = chunks(vec![b"hello", b" ", b"world"]);
        let read = read(body, None, &limits(1000), &budget).await.unwrap();
        assert_eq!(&read.bytes[..], b"hello world");
        assert!(
            budget.try_reserve((1 << 20) - 1000).is_some(),
            "at most max_body held"
        );
        assert!(
            budget.try_reserve((1 << 20) - 10).is_none(),
            "the bytes are held"
        );
        drop(read);
        assert!(
            budget.try_reserve(1 << 20).is_some(),
            "given back with the request"
        );
    }

    #[tokio::test]
    async fn body_over_the_limit_is_413_declared_or_not() {
        let budget = MemoryBudget::new(1 << 20);
        let declared = read(Full::new(Bytes::new()), Some(11), &limits(10), &budget).await;
        assert_eq!(declared.unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
        let grown = read(
            chunks(vec![b"12345", b"678901"]),
            None,
            &limits(10),
            &budget,
        )
        .await;
        assert_eq!(grown.unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            budget.try_reserve(1 << 20).is_some(),
            "a refused body gives its bytes back"
        );
    }

    #[tokio::test]
    async fn body_over_the_budget_is_503() {
        let budget = MemoryBudget::new(4);
        let refused = read(chunks(vec![b"12345"]), Some(5), &limits(10), &budget).await;
        assert_eq!(refused.unwrap_err().status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(budget.try_reserve(4).is_some());
    }

    #[tokio::test]
    async fn stalled_body_is_408() {
        let budget = MemoryBudget::new(1 << 20);
        let first = stream::iter(vec![Ok::<_, Infallible>(Frame::data(Bytes::from_static(
            b"x",
        )))]);
        let stalled = StreamBody::new(first.chain(stream::pending()));
        let refused = read(stalled, Some(10), &limits(10), &budget).await;
        assert_eq!(refused.unwrap_err().status, StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn streamed_body_is_refused_past_max_body_and_on_stall() {
        let mut grown = stream(chunks(vec![b"12345", b"678901"]), &limits(10));
        assert!(grown.frame().await.unwrap().is_ok());
        let error = grown.frame().await.unwrap().unwrap_err();
        let refused = error.downcast_ref::<BodyRefused>().expect("a BodyRefused");
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(grown.frame().await.is_none(), "nothing after the refusal");

        let first = stream::iter(vec![Ok::<_, Infallible>(Frame::data(Bytes::from_static(
            b"x",
        )))]);
        let mut stalled =
            super::stream(StreamBody::new(first.chain(stream::pending())), &limits(10));
        assert!(stalled.frame().await.unwrap().is_ok());
        let error = stalled.frame().await.unwrap().unwrap_err();
        let refused = error.downcast_ref::<BodyRefused>().unwrap();
        assert_eq!(refused.status, StatusCode::REQUEST_TIMEOUT);

        let mut whole = super::stream(chunks(vec![b"hello"]), &limits(10));
        assert_eq!(
            &whole.frame().await.unwrap().unwrap().into_data().unwrap()[..],
            b"hello"
        );
        assert!(whole.frame().await.is_none());
    }

    #[tokio::test]
    async fn forbidden_trailers_are_400() {
        let budget = MemoryBudget::new(1 << 20);
        let mut trailers = HeaderMap::new();
        trailers.insert("host", "evil.example".parse().unwrap());
        let frames = vec![
            Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"hi"))),
            Ok(Frame::trailers(trailers)),
        ];
        let body = StreamBody::new(stream::iter(frames));
        let refused = read(body, None, &limits(10), &budget).await;
        assert_eq!(refused.unwrap_err().status, StatusCode::BAD_REQUEST);
    }
}
