//! The host side of one request's I/O: the guest's `read-body`, `send-headers`,
//! `send-response`, `write`, `send-file` and `log` calls land here.
//!
//! The request body is handed to the app as it reads (wsgi.input), a piece at a time; a
//! body that breaks the site's limits while the app reads it (one streamed for
//! `Expect: 100-continue`) leaves its status here for the dispatcher. The response goes out
//! through a channel into the hyper response body that holds at most the site's
//! `write_buffer` bytes, each charged to the site's memory budget until it is sent: a slow
//! client fills it and the guest waits in `write` (backpressure, no spinning); a client that
//! went away makes `write` fail so the app stops and its `close()` runs.
//!
//! The body is held to the app's `Content-Length`: bytes past it are cut (and logged), and a
//! body that ends short is reported by [`RequestIo::shortfall`] so the dispatcher closes the
//! connection. The client never sees a malformed stream.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Frame;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::head::{parse_head, promised_length, Head, Whole};
use crate::response::body::BodyRefused;
use crate::response::body::Sent;
use crate::runtime::budget::{MemoryBudget, Reservation};

/// The request body as the app sees it (hyper's `Incoming`, boxed).
pub type RequestBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, crate::response::body::BodyError>;

/// The most bytes one `read-body` call returns, whatever the guest asks for.
const MAX_READ: usize = 1024 * 1024;

/// Why a request has no head from the guest: the status the client gets instead.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub status: StatusCode,
    /// Seconds for a `Retry-After` header (overload).
    pub retry_after: Option<u64>,
    /// The site limit the request ran into, if that is why (a response extension).
    pub breach: Option<crate::telemetry::metrics::Breach>,
}

/// What the dispatcher hears before any body: the guest's head, or a failure.
pub type Reply = Result<Head, Failure>;

/// What a buffered response chunk holds until it leaves for the client.
pub type Held = (OwnedSemaphorePermit, Reservation);

/// Where the response goes: the dispatcher's channels and the limits on buffering.
pub struct ResponseSink {
    pub head: oneshot::Sender<Reply>,
    pub chunks: mpsc::Sender<Sent<Held>>,
    /// Ends the streamed body with an error (see `body::channel`).
    pub cut: oneshot::Sender<String>,
    /// Free bytes of the `write_buffer`.
    pub space: Arc<Semaphore>,
    pub write_buffer: u64,
    pub budget: Arc<MemoryBudget>,
}

/// The I/O state of the request an instance is serving.
pub struct RequestIo {
    /// Site and request id, for log lines.
    pub site: std::sync::Arc<str>,
    pub request_id: u64,
    body: RequestBody,
    pending: Bytes,
    body_done: bool,
    /// The status for a request body that broke a limit while the app read it.
    body_refused: Option<StatusCode>,
    head: Option<oneshot::Sender<Reply>>,
    chunks: mpsc::Sender<Sent<Held>>,
    cut: Option<oneshot::Sender<String>>,
    space: Arc<Semaphore>,
    write_buffer: u64,
    budget: Arc<MemoryBudget>,
    /// HEAD requests run the app as GET would, but its body bytes are dropped.
    discard_body: bool,
    /// The body bytes still owed to the client by the app's `Content-Length`, if it sent one.
    owed: Option<u64>,
    /// Set once bytes past the `Content-Length` were cut (logged once).
    overran: bool,
}

impl RequestIo {
    pub fn new(
        site: std::sync::Arc<str>,
        request_id: u64,
        body: RequestBody,
        discard_body: bool,
        sink: ResponseSink,
    ) -> Self {
        Self {
            site,
            request_id,
            body,
            pending: Bytes::new(),
            body_done: false,
            body_refused: None,
            head: Some(sink.head),
            chunks: sink.chunks,
            cut: Some(sink.cut),
            space: sink.space,
            write_buffer: sink.write_buffer,
            budget: sink.budget,
            discard_body,
            owed: None,
            overran: false,
        }
    }

    /// The head channel, when the guest has not sent its head: the caller answers instead.
    pub fn take_head(&mut self) -> Option<oneshot::Sender<Reply>> {
        self.head.take()
    }

    /// Whether the guest has sent its status and headers.
    pub fn head_sent(&self) -> bool {
        self.head.is_none()
    }

    /// The status for a request body that broke a limit while the app read it.
    pub fn body_refused(&self) -> Option<StatusCode> {
        self.body_refused
    }

    /// Ends the streamed response with an error, so hyper cuts the connection instead of
    /// ending a response that is not whole as if it were.
    pub fn abort(&mut self, reason: &str) {
        if let Some(cut) = self.cut.take() {
            let _ = cut.send(reason.to_owned());
        }
    }

    /// Whether the client stopped reading the response (it disconnected).
    pub fn client_gone(&self) -> bool {
        self.chunks.is_closed()
    }

    /// Why a response that ended cleanly is still not whole: the app sent fewer bytes than
    /// its `Content-Length`.
    pub fn shortfall(&self) -> Option<String> {
        self.owed
            .filter(|&owed| owed > 0)
            .map(|owed| format!("the app's body ended {owed} bytes short of its Content-Length"))
    }

    pub fn send_head(
        &mut self,
        status: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(), String> {
        let Some(sender) = self.head.take() else {
            return Err("the headers were already sent".into());
        };
        let mut head = match parse_head(status, headers) {
            Ok(head) => head,
            Err(reason) => {
                self.head = Some(sender);
                return Err(reason);
            }
        };
        self.owed = promised_length(&head, self.discard_body);
        head.body = body.map(|bytes| {
            let bytes = if self.discard_body {
                Bytes::new()
            } else {
                self.clip(Bytes::from(bytes))
            };
            Whole {
                bytes,
                short: self.owed.is_some_and(|owed| owed > 0),
            }
        });
        // The dispatcher may be gone (client disconnected); later calls report that.
        let _ = sender.send(Ok(head));
        Ok(())
    }

    /// The part of `bytes` the `Content-Length` still allows; logs the first cut.
    fn clip(&mut self, mut bytes: Bytes) -> Bytes {
        let Some(owed) = self.owed.as_mut() else {
            return bytes;
        };
        if bytes.len() as u64 > *owed {
            bytes.truncate(*owed as usize);
            if !self.overran {
                self.overran = true;
                tracing::warn!(site = %self.site, request = self.request_id,
                    "response cut: the app sent more bytes than its Content-Length");
            }
        }
        *owed -= bytes.len() as u64;
        bytes
    }

    /// Queues one body chunk for the client, waiting for room in the write buffer.
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), String> {
        if !self.head_sent() {
            return Err("body sent before the headers".into());
        }
        if self.discard_body {
            return Ok(());
        }
        let chunk = self.clip(chunk);
        if chunk.is_empty() {
            return Ok(());
        }
        if self.chunks.is_closed() {
            return Err("the client went away".into());
        }
        // Wait for room in the write buffer (a chunk larger than the buffer takes all of it).
        let room = (chunk.len() as u64).min(self.write_buffer) as u32;
        let Ok(space) = self.space.clone().acquire_many_owned(room).await else {
            return Err("the response was closed".into());
        };
        let Some(held) = self.budget.try_reserve(chunk.len() as u64) else {
            return Err("the site's memory budget is full".into());
        };
        match self
            .chunks
            .send(Ok((Frame::data(chunk), (space, held))))
            .await
        {
            Ok(()) => Ok(()),
            Err(_) => Err("the client went away".into()),
        }
    }

    /// Whether the request is still for a client that reads (false for HEAD).
    pub fn sends_body(&self) -> bool {
        !self.discard_body
    }

    /// How many body bytes the app may still send, if its `Content-Length` says.
    pub fn owed(&self) -> Option<u64> {
        self.owed
    }

    /// Up to `max` bytes of the request body (at most `MAX_READ`); empty at its end. A body
    /// the front end stopped fails, and the status it deserves is kept for the response.
    pub async fn read_body(&mut self, max: u32) -> Result<Vec<u8>, String> {
        let max = (max as usize).clamp(1, MAX_READ);
        loop {
            if !self.pending.is_empty() {
                let n = max.min(self.pending.len());
                return Ok(self.pending.split_to(n).to_vec());
            }
            if self.body_done {
                return Ok(Vec::new());
            }
            match self.body.frame().await {
                None => self.body_done = true,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending = data;
                    }
                }
                Some(Err(error)) => {
                    self.body_done = true;
                    self.body_refused = Some(match error.downcast_ref::<BodyRefused>() {
                        Some(refused) => refused.status,
                        None => StatusCode::BAD_REQUEST,
                    });
                    return Err(format!("cannot read the request body: {error}"));
                }
            }
        }
    }
}
