//! The one response body type every layer returns (static files, the WSGI dispatcher, error
//! pages), so the server loop handles a single concrete type; and the error a request body
//! carries when the front end stops it.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

/// Error carried by a response body stream: hyper aborts the connection when it sees one,
/// which is how a response that cannot be finished is cut rather than sent malformed.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The error a request body stream carries when the front end stopped it while the app
/// read it (`max_body`, `body_timeout`): the status the client gets, and why.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct BodyRefused {
    pub status: http::StatusCode,
    pub reason: String,
}

/// A boxed response body.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;

/// A body holding `bytes` whole.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body of `bytes` that then fails, so hyper closes the connection: for a response whose
/// body ended short of its `Content-Length`.
pub fn cut_short(bytes: Bytes) -> Body {
    CutShort {
        bytes: Some(bytes),
        failing: Failing::default(),
    }
    .boxed_unsync()
}

struct CutShort {
    bytes: Option<Bytes>,
    failing: Failing,
}

impl http_body::Body for CutShort {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        if let Some(bytes) = self.bytes.take() {
            self.failing.reason = Some("the body ended short of its Content-Length".into());
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes))));
        }
        self.failing.poll(cx)
    }
}

/// An error the body is about to end with. hyper drops what it has buffered but not yet
/// written when a body fails, so the body first answers `Pending` once (waking itself at
/// once): hyper flushes then, and the client gets the bytes sent so far before the close.
#[derive(Default)]
struct Failing {
    reason: Option<String>,
    flushed: bool,
}

impl Failing {
    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        let Some(reason) = self.reason.take() else {
            return std::task::Poll::Ready(None);
        };
        if !self.flushed {
            self.flushed = true;
            self.reason = Some(reason);
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(Some(Err(reason.into())))
    }
}

/// A body with no bytes (HEAD, 204, 304).
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// One message of a [`channel`] body: a frame and what it holds until it is sent (buffer
/// space, memory budget), released when the frame leaves the channel.
pub type Sent<G> = Result<(hyper::body::Frame<Bytes>, G), BodyError>;

/// A body fed by a channel: each message is a frame, an error cuts the response, and the
/// stream ends when every sender is dropped. A reason sent on `cut` before the senders go
/// makes it end with an error after the queued frames instead, so hyper closes the
/// connection rather than end the response as if it were whole.
pub fn channel<G: Send + 'static>(
    receiver: tokio::sync::mpsc::Receiver<Sent<G>>,
    cut: tokio::sync::oneshot::Receiver<String>,
) -> Body {
    ChannelBody {
        receiver,
        cut: Some(cut),
        failing: Failing::default(),
    }
    .boxed_unsync()
}

struct ChannelBody<G> {
    receiver: tokio::sync::mpsc::Receiver<Sent<G>>,
    cut: Option<tokio::sync::oneshot::Receiver<String>>,
    failing: Failing,
}

impl<G> http_body::Body for ChannelBody<G> {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        if self.failing.reason.is_some() {
            return self.failing.poll(cx);
        }
        // Queued chunks go out first: a response that fails after them is cut, not shortened.
        match self.receiver.poll_recv(cx) {
            std::task::Poll::Ready(Some(sent)) => {
                std::task::Poll::Ready(Some(sent.map(|(frame, _held)| frame)))
            }
            std::task::Poll::Ready(None) => {
                // Every sender is gone: a reason on `cut` ends the body with an error.
                match self.cut.take().map(|mut cut| cut.try_recv()) {
                    Some(Ok(reason)) => {
                        self.failing.reason = Some(reason);
                        self.failing.poll(cx)
                    }
                    _ => std::task::Poll::Ready(None),
                }
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}
