//! The one response body type every layer returns (static files, the WSGI dispatcher, error
//! pages), so the server loop handles a single concrete type.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

/// Error carried by a response body stream: hyper aborts the connection when it sees one,
/// which is how a response that cannot be finished is cut rather than sent malformed.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed response body.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;

/// A body holding `bytes` whole.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
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
/// stream ends when every sender is dropped.
pub fn channel<G: Send + 'static>(receiver: tokio::sync::mpsc::Receiver<Sent<G>>) -> Body {
    ChannelBody { receiver }.boxed_unsync()
}

struct ChannelBody<G> {
    receiver: tokio::sync::mpsc::Receiver<Sent<G>>,
}

impl<G> http_body::Body for ChannelBody<G> {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        self.receiver
            .poll_recv(cx)
            .map(|message| message.map(|sent| sent.map(|(frame, _held)| frame)))
    }
}
